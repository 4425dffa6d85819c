"""Writes of the analytics concern: compute a run's snapshot, and the lead's settings.

Whether figures are out of date is decided in one place below every app
(mlstrat/datasets/staleness.py); this module computes them when they are.
"""

import time

from django.db import transaction
from django.utils import timezone

from mlstrat.datasets import staleness
from mlstrat.datasets.models import Dataset, ModelRun, RunStatus
from mlstrat.datasets.services import dataset_set_human_level_error

from . import snapshot
from .models import AnalysisSettings, AnalysisSnapshot, TeamRule


def snapshot_ensure(*, run: ModelRun) -> AnalysisSnapshot:
    """The run's snapshot; if it was never computed or is stale with nothing queued
    (e.g. the broker was down), ask for a recompute."""
    snap, _ = AnalysisSnapshot.objects.get_or_create(run=run)
    state = staleness.state_for(run_id=run.pk)
    outdated = snap.computed_at is not None and snap.figures.get("schema") != snapshot.SCHEMA
    if outdated and not staleness.is_stale(state=state, computed_at=snap.computed_at):
        # Stored in an older shape of the snapshot: compute it again.
        staleness.mark_requested(run_id=run.pk)
        state = staleness.state_for(run_id=run.pk)
    if staleness.is_stale(state=state, computed_at=snap.computed_at) and not staleness.is_enqueued(
        state
    ):
        if state.requested_at is None:
            staleness.mark_requested(run_id=run.pk)
        staleness.enqueue_recompute(run_id=run.pk)
        snap.refresh_from_db()
    return snap


def dataset_snapshots_ensure(*, dataset: Dataset) -> None:
    """snapshot_ensure for every visible run of a dataset (for runs compared)."""
    for run in ModelRun.objects.filter(dataset=dataset, status=RunStatus.READY):
        snapshot_ensure(run=run)


def snapshot_recompute_if_stale(*, run_id: int) -> bool:
    """The worker's entry point: release the queue claim, then recompute if anything
    changed since the last computation. A change that lands while this runs queues the
    next recompute, so the last change is never lost. Returns whether it computed."""
    staleness.release_claim(run_id=run_id)
    run = ModelRun.objects.filter(pk=run_id).first()
    if run is None:
        return False
    computed_at = (
        AnalysisSnapshot.objects.filter(run_id=run_id).values_list("computed_at", flat=True).first()
    )
    state = staleness.state_for(run_id=run_id)
    if not staleness.is_stale(state=state, computed_at=computed_at):
        return False
    snapshot_compute(run=run, full=False)
    return True


def snapshot_compute(*, run: ModelRun, full: bool = True) -> AnalysisSnapshot:
    """Compute a run's figures from SQL aggregates and store them with the time the
    computation started (so changes made meanwhile leave the snapshot stale).
    `full=True` counts the predictions again from scratch (analytics/counts.py); the
    worker's `full=False` reads the counts kept in step with the labels, and reuses the
    snapshot's own when no prediction or label changed."""
    started_at = timezone.now()
    started = time.perf_counter()
    previous = None
    if not full:
        previous = (
            AnalysisSnapshot.objects.filter(run=run).values_list("figures", flat=True).first()
        )
    figures = snapshot.build(run=run, previous=previous, rebuild=full)
    seconds = time.perf_counter() - started
    snap, _ = AnalysisSnapshot.objects.update_or_create(
        run=run,
        defaults={"figures": figures, "computed_at": started_at, "compute_seconds": seconds},
    )
    return snap


@transaction.atomic
def team_rule_set(*, dataset: Dataset, rule: str, user) -> AnalysisSettings:
    """How several annotators' reviews and ticks count on this dataset's dashboards."""
    if rule not in TeamRule.values:
        raise ValueError(f"Unknown team rule “{rule}”: choose majority or any.")
    settings, _ = AnalysisSettings.objects.update_or_create(
        dataset=dataset, defaults={"team_rule": rule, "updated_by": user}
    )
    staleness.dataset_figures_stale(dataset=dataset)
    return settings


@transaction.atomic
def human_level_error_set(
    *, dataset: Dataset, error: float | None, by_source: dict | None = None
) -> Dataset:
    """Set the dataset's human-level error (overall and per source)."""
    return dataset_set_human_level_error(dataset=dataset, error=error, by_source=by_source)
