"""Celery tasks of the imports concern: thin wrappers around services.

Both are `acks_late` with `reject_on_worker_lost`: a worker killed mid-task gives the
message back to the queue, and the services start over cleanly (idempotent).
"""

from celery import shared_task

from mlstrat.celery import CRASH_SAFE

from . import services, uploads


@shared_task(name="imports.run_job", **CRASH_SAFE)
def import_job_run_task(job_id: int) -> None:
    services.import_job_run(job_id=job_id)


@shared_task(name="imports.make_thumbnails", **CRASH_SAFE)
def thumbnails_make_task(job_id: int, example_ids: list[int]) -> None:
    services.thumbnails_make(job_id=job_id, example_ids=example_ids)


@shared_task(name="imports.check_leases", **CRASH_SAFE)
def check_leases_task() -> int:
    """Run by Celery beat (docker-compose's `beat` service) every 30 s."""
    return services.import_jobs_check_leases()


@shared_task(name="imports.expire_uploads", **CRASH_SAFE)
def expire_uploads_task() -> int:
    """Run by Celery beat every hour: chunked uploads abandoned for a day."""
    return uploads.import_uploads_expire()


@shared_task(name="imports.discard_kept_dumps", **CRASH_SAFE)
def discard_kept_dumps_task() -> int:
    """Run by Celery beat every hour: dumps kept for a retry that nobody asked for."""
    return services.import_jobs_discard_kept_dumps()
