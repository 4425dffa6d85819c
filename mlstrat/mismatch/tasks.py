"""Celery tasks of the data-mismatch concern: thin wrappers around services, crash safe
(a worker killed mid-task gives the message back; the services are idempotent)."""

from celery import shared_task

from mlstrat.celery import CRASH_SAFE

from . import services


@shared_task(name="mismatch.measure_examples", **CRASH_SAFE)
def characteristics_measure_task(example_ids: list[int]) -> None:
    services.characteristics_measure(example_ids=example_ids)


@shared_task(name="mismatch.synthesis_chunk", **CRASH_SAFE)
def synthesis_chunk_task(job_id: int, chunk: int) -> None:
    services.synthesis_chunk_run(job_id=job_id, chunk=chunk)


@shared_task(name="mismatch.check_stalled_jobs", **CRASH_SAFE)
def check_stalled_jobs_task() -> int:
    """Run by Celery beat every minute: synthesis jobs whose worker died."""
    return services.synthesis_jobs_check_stalled()
