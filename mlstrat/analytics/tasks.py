from celery import shared_task

from mlstrat.celery import CRASH_SAFE

from . import services


@shared_task(**CRASH_SAFE)
def recompute_snapshot(run_id: int) -> bool:
    """Recompute a run's dashboard figures (coalesced: see services._enqueue_recompute).
    Idempotent: a retry recomputes from the database, or does nothing if up to date."""
    return services.snapshot_recompute_if_stale(run_id=run_id)
