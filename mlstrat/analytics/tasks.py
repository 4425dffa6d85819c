from celery import shared_task

from . import services


@shared_task(acks_late=True, ignore_result=True)
def recompute_snapshot(run_id: int) -> bool:
    """Recompute a run's dashboard figures (coalesced: see services._enqueue_recompute)."""
    return services.snapshot_recompute_if_stale(run_id=run_id)
