"""Celery tasks of the imports concern: thin wrappers around services.

Both are `acks_late` with `reject_on_worker_lost`: a worker killed mid-task gives the
message back to the queue, and the services start over cleanly (idempotent).
"""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import services

# The database gone for a moment (restart, failover) is worth another try, later.
DB_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "retry_backoff_max": 120,
    "max_retries": 5,
}


@shared_task(name="imports.run_job", acks_late=True, reject_on_worker_lost=True, **DB_RETRY)
def import_job_run_task(job_id: int) -> None:
    services.import_job_run(job_id=job_id)


@shared_task(name="imports.make_thumbnails", acks_late=True, reject_on_worker_lost=True, **DB_RETRY)
def thumbnails_make_task(job_id: int, example_ids: list[int]) -> None:
    services.thumbnails_make(job_id=job_id, example_ids=example_ids)
