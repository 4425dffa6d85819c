"""Staleness in one place: a run's figures are out of date from the moment anything they
read changes.

Every write that changes what a figure reads (reviews created, extended or deleted,
reviewed marks, ticks, comments, labels, imports, a lead's settings) calls
`figures_stale` (or `dataset_figures_stale`). It lives here, below every app that calls
it (datasets is the bottom of review, labels, analytics and imports), and imports none of
them: the analytics app hands it its recompute task when Django starts
(AnalyticsConfig.ready calls `use_recompute_task`).

A run's FigureState holds `requested_at` (the figures are out of date since then) and
`enqueued_at` (a recompute is waiting in the queue, so a burst of changes enqueues one
task, not one per change). The snapshot's `computed_at` says what the figures saw.
"""

import logging
import time
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import Dataset, FigureState, ModelRun, RunStatus

logger = logging.getLogger(__name__)

# The Celery task that recomputes a run's figures (set by the analytics app at start-up).
_recompute_task = None
# Changes within this window share one recompute.
RECOMPUTE_DELAY_SECONDS = 2
# A task enqueued this long ago and never started is presumed lost (e.g. Redis restarted
# without its data); enqueue another. A duplicate is harmless: it finds nothing stale.
ENQUEUED_EXPIRES = timedelta(minutes=2)
# After the broker refused a task, changes do not try it again for this long (each try
# costs the publish retries); the dashboard's next read after that queues the recompute.
BROKER_BACKOFF_SECONDS = 5.0
_broker_down_until = 0.0


def use_recompute_task(task) -> None:
    """The task `enqueue_recompute` queues (analytics registers its own)."""
    global _recompute_task
    _recompute_task = task


def figures_stale(*, run: ModelRun) -> None:
    """Mark a run's figures as out of date; a worker recomputes them once the caller's
    transaction commits. Cheap (one UPDATE) and safe inside any transaction."""
    mark_requested(run_id=run.pk)
    transaction.on_commit(lambda: enqueue_recompute(run_id=run.pk))


def dataset_figures_stale(*, dataset: Dataset | int) -> None:
    """figures_stale for every visible run of a dataset (a label, a category, a setting)."""
    dataset_id = dataset if isinstance(dataset, int) else dataset.pk
    for run in ModelRun.objects.filter(dataset_id=dataset_id, status=RunStatus.READY):
        figures_stale(run=run)


def figures_recompute_now(*, run: ModelRun) -> None:
    """A lead's "Recompute now": mark the figures out of date and queue the recompute,
    raising the broker's error when the queue is down (the caller answers 503), where a
    tick stays silent and lets the next read of the dashboard ask again."""
    mark_requested(run_id=run.pk)
    enqueue_recompute(run_id=run.pk, raise_unavailable=True)


def mark_requested(*, run_id: int) -> None:
    """The figures are out of date from now (one UPDATE; the row is made on first use)."""
    now = timezone.now()
    if not FigureState.objects.filter(run_id=run_id).update(requested_at=now):
        FigureState.objects.get_or_create(run_id=run_id, defaults={"requested_at": now})


def state_for(*, run_id: int) -> FigureState:
    state, _ = FigureState.objects.get_or_create(run_id=run_id)
    return state


def is_stale(*, state: FigureState | None, computed_at) -> bool:
    """Never computed, or asked for again since the last computation started."""
    if computed_at is None:
        return True
    return state is not None and state.requested_at is not None and state.requested_at > computed_at


def is_enqueued(state: FigureState) -> bool:
    return state.enqueued_at is not None and state.enqueued_at > timezone.now() - ENQUEUED_EXPIRES


def release_claim(*, run_id: int) -> None:
    """The worker started: the next change must queue another recompute."""
    FigureState.objects.filter(run_id=run_id).update(enqueued_at=None)


def enqueue_recompute(*, run_id: int, raise_unavailable: bool = False) -> None:
    """Queue one recompute unless one is already waiting (an atomic compare-and-set on
    `enqueued_at`): a burst of changes coalesces into the task already queued."""
    global _broker_down_until
    if _recompute_task is None:
        raise RuntimeError("No recompute task: the analytics app is not installed.")
    if not raise_unavailable and time.monotonic() < _broker_down_until:
        return
    now = timezone.now()
    claimed = (
        FigureState.objects.filter(run_id=run_id)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - ENQUEUED_EXPIRES))
        .update(enqueued_at=now)
    )
    if not claimed:
        return
    try:
        _recompute_task.apply_async(args=[run_id], countdown=RECOMPUTE_DELAY_SECONDS)
    except Exception as exc:
        # Broker down: release the claim; the dashboard asks again when it is next read.
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning("Could not queue the recompute of run %s: %s", run_id, exc)
        FigureState.objects.filter(run_id=run_id, enqueued_at=now).update(enqueued_at=None)
        if raise_unavailable:
            raise
