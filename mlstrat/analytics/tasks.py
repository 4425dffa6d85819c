from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import services


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=5,
)
def recompute_snapshot(run_id: int) -> bool:
    """Recompute a run's dashboard figures (coalesced: see services._enqueue_recompute).
    Idempotent: a retry recomputes from the database, or does nothing if up to date."""
    return services.snapshot_recompute_if_stale(run_id=run_id)
