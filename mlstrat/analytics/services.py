import logging
import time
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from mlstrat.datasets.models import Dataset, ModelRun, RunStatus
from mlstrat.datasets.services import dataset_set_human_level_error

from . import snapshot
from .models import AnalysisSettings, AnalysisSnapshot, TeamRule

logger = logging.getLogger(__name__)

# Changes within this window share one recompute.
RECOMPUTE_DELAY_SECONDS = 2
# A task enqueued this long ago and never started is presumed lost (e.g. Redis restarted
# without its data); enqueue another. A duplicate is harmless: it finds nothing stale.
ENQUEUED_EXPIRES = timedelta(minutes=2)
# After the broker refused a task, changes do not try it again for this long (each try
# costs the publish retries); the dashboard's next read after that queues the recompute.
BROKER_BACKOFF_SECONDS = 5.0
_broker_down_until = 0.0


def snapshot_request(*, run: ModelRun) -> None:
    """Mark a run's figures as out of date; a worker recomputes them.

    Called by every write that changes what the dashboard shows (tags, labels, imports).
    Cheap and safe inside the caller's transaction.
    """
    _mark_requested(run=run)
    transaction.on_commit(lambda: _enqueue_recompute(run_id=run.pk))


def snapshot_recompute_now(*, run: ModelRun) -> None:
    """A lead's "Recompute now": mark the figures out of date and queue the recompute,
    raising the broker's error when the queue is down (the caller answers 503), where a
    tick would stay silent and let the next read of the dashboard ask again."""
    _mark_requested(run=run)
    _enqueue_recompute(run_id=run.pk, raise_unavailable=True)


def _mark_requested(*, run: ModelRun) -> None:
    """The figures are out of date from now (one UPDATE; the row is made on first use)."""
    now = timezone.now()
    updated = AnalysisSnapshot.objects.filter(run=run).update(requested_at=now)
    if not updated:
        AnalysisSnapshot.objects.get_or_create(run=run, defaults={"requested_at": now})


def snapshot_ensure(*, run: ModelRun) -> AnalysisSnapshot:
    """The run's snapshot; if it was never computed or is stale with nothing queued
    (e.g. the broker was down), ask for a recompute."""
    snap, created = AnalysisSnapshot.objects.get_or_create(
        run=run, defaults={"requested_at": timezone.now()}
    )
    outdated = snap.computed_at is not None and snap.figures.get("schema") != snapshot.SCHEMA
    if outdated and not snap.is_stale:
        # Stored by an older version of the snapshot's shape: compute it again.
        _mark_requested(run=run)
        snap.refresh_from_db()
    if snap.is_stale and not _is_enqueued(snap):
        if snap.requested_at is None:
            AnalysisSnapshot.objects.filter(pk=snap.pk).update(requested_at=timezone.now())
        _enqueue_recompute(run_id=run.pk)
        snap.refresh_from_db()
    return snap


def dataset_snapshots_ensure(*, dataset: Dataset) -> None:
    """snapshot_ensure for every visible run of a dataset (for runs compared)."""
    for run in ModelRun.objects.filter(dataset=dataset, status=RunStatus.READY):
        snapshot_ensure(run=run)


def _is_enqueued(snap: AnalysisSnapshot) -> bool:
    return snap.enqueued_at is not None and snap.enqueued_at > timezone.now() - ENQUEUED_EXPIRES


def _enqueue_recompute(*, run_id: int, raise_unavailable: bool = False) -> None:
    """Queue one recompute unless one is already waiting (an atomic compare-and-set on
    `enqueued_at`): a burst of changes coalesces into the task already queued."""
    from .tasks import recompute_snapshot

    global _broker_down_until
    if not raise_unavailable and time.monotonic() < _broker_down_until:
        return
    now = timezone.now()
    claimed = (
        AnalysisSnapshot.objects.filter(run_id=run_id)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - ENQUEUED_EXPIRES))
        .update(enqueued_at=now)
    )
    if not claimed:
        return
    try:
        recompute_snapshot.apply_async(args=[run_id], countdown=RECOMPUTE_DELAY_SECONDS)
    except Exception as exc:
        # Broker down: release the claim; the dashboard asks again when it is next read.
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning("Could not queue the recompute of run %s: %s", run_id, exc)
        AnalysisSnapshot.objects.filter(run_id=run_id, enqueued_at=now).update(enqueued_at=None)
        if raise_unavailable:
            raise


def snapshot_recompute_if_stale(*, run_id: int) -> bool:
    """The worker's entry point: release the queue claim, then recompute if anything
    changed since the last computation. A change that lands while this runs queues the
    next recompute, so the last change is never lost. Returns whether it computed."""
    AnalysisSnapshot.objects.filter(run_id=run_id).update(enqueued_at=None)
    snap = AnalysisSnapshot.objects.filter(run_id=run_id).select_related("run").first()
    if snap is None or not snap.is_stale:
        return False
    snapshot_compute(run=snap.run, full=False)
    return True


def snapshot_compute(*, run: ModelRun, full: bool = True) -> AnalysisSnapshot:
    """Compute a run's figures from SQL aggregates and store them with the time the
    computation started (so changes made meanwhile leave the snapshot stale).
    `full=False` reuses the prediction counts when no prediction or label changed."""
    started_at = timezone.now()
    started = time.perf_counter()
    previous = None
    if not full:
        previous = (
            AnalysisSnapshot.objects.filter(run=run).values_list("figures", flat=True).first()
        )
    figures = snapshot.build(run=run, previous=previous)
    seconds = time.perf_counter() - started
    snap, _ = AnalysisSnapshot.objects.update_or_create(
        run=run,
        defaults={"figures": figures, "computed_at": started_at, "compute_seconds": seconds},
    )
    return snap


@transaction.atomic
def team_rule_set(*, dataset: Dataset, rule: str, user) -> AnalysisSettings:
    """How several annotators' ticks count on this dataset's dashboards."""
    if rule not in TeamRule.values:
        raise ValueError(f"Unknown team rule “{rule}”: choose majority or any.")
    settings, _ = AnalysisSettings.objects.update_or_create(
        dataset=dataset, defaults={"team_rule": rule, "updated_by": user}
    )
    return settings


@transaction.atomic
def human_level_error_set(
    *, dataset: Dataset, error: float | None, by_source: dict | None = None
) -> Dataset:
    """Set the dataset's human-level error (overall and per source). The decomposition is
    derived from it when read, so dashboards show it at once."""
    return dataset_set_human_level_error(dataset=dataset, error=error, by_source=by_source)
