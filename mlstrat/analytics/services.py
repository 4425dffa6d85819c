from django.db import transaction
from django.utils import timezone

from mlstrat.datasets.models import ModelRun

from .models import AnalysisSnapshot


def snapshot_request(*, run: ModelRun) -> None:
    """Mark a run's figures as out of date; a worker recomputes them.

    Called by every write that changes what the dashboard shows (tags, labels, imports).
    Cheap and safe inside the caller's transaction.
    """
    now = timezone.now()
    updated = AnalysisSnapshot.objects.filter(run=run).update(requested_at=now)
    if not updated:
        AnalysisSnapshot.objects.get_or_create(run=run, defaults={"requested_at": now})
    transaction.on_commit(lambda: _enqueue_recompute(run_id=run.pk))


def _enqueue_recompute(*, run_id: int) -> None:
    """Hand the recompute to a worker (coalesced there); see analytics/tasks.py."""
