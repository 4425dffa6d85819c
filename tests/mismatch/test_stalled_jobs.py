"""A synthesis job whose worker died is noticed by beat and finished, or failed honestly."""

from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from mlstrat.mismatch import services
from mlstrat.mismatch.models import JobStatus, SynthesisJob
from mlstrat.mismatch.tasks import check_stalled_jobs_task
from tests.services import private_redis  # noqa: F401  (a fixture)

from .builders import make_dataset


@pytest.fixture
def recipe(project, bob):
    dataset = make_dataset(project)[0]
    return services.recipe_create(
        dataset=dataset,
        created_by=bob,
        name="blurry",
        transforms=[{"name": "GaussianBlur", "params": {"sigma": "match"}}],
        count=30,
        seed=9,
    )


@pytest.fixture
def idle_queue(monkeypatch):
    monkeypatch.setattr(services, "_tasks_waiting", lambda: 0)


def job_left_by_a_dead_worker(recipe, bob, *, quiet_minutes, attempts=1):
    """One chunk of three done, then nothing: the worker holding the others died."""
    job = services.synthesis_job_create(recipe=recipe, created_by=bob, enqueue=False)
    SynthesisJob.objects.filter(pk=job.pk).update(chunk_size=10)
    services.synthesis_chunk_run(job_id=job.pk, chunk=0)
    SynthesisJob.objects.filter(pk=job.pk).update(
        attempts=attempts, progress_at=timezone.now() - timedelta(minutes=quiet_minutes)
    )
    return SynthesisJob.objects.get(pk=job.pk)


def test_a_job_silent_past_the_stall_time_gets_its_missing_chunks_again(recipe, bob, idle_queue):
    job = job_left_by_a_dead_worker(recipe, bob, quiet_minutes=6)
    assert job.status == JobStatus.RUNNING and job.done == 10

    assert check_stalled_jobs_task() == 1  # tasks run eagerly here: the chunks run now

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.done == 30
    assert job.attempts == 2


def test_a_job_still_within_the_stall_time_is_left_alone(recipe, bob, idle_queue):
    job = job_left_by_a_dead_worker(recipe, bob, quiet_minutes=4)
    assert check_stalled_jobs_task() == 0
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.done == 10


def test_a_job_waiting_behind_other_work_is_not_stalled(recipe, bob, monkeypatch):
    monkeypatch.setattr(services, "_tasks_waiting", lambda: 5000)
    job = job_left_by_a_dead_worker(recipe, bob, quiet_minutes=60)
    assert check_stalled_jobs_task() == 0
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING


def test_a_job_that_keeps_stalling_fails_with_the_reason(recipe, bob, idle_queue, settings):
    job = job_left_by_a_dead_worker(
        recipe, bob, quiet_minutes=6, attempts=settings.MLSTRAT_SYNTHESIS_MAX_ATTEMPTS
    )
    assert check_stalled_jobs_task() == 1
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.finished_at
    assert "No progress for 6 min" in job.message and "workers running" in job.message


def test_the_waiting_tasks_are_counted_on_a_real_broker(private_redis, settings):  # noqa: F811
    url = private_redis.url
    assert services._tasks_waiting(broker_url=url) == 0
    redis.Redis.from_url(url).lpush(settings.CELERY_TASK_DEFAULT_QUEUE, b"{}", b"{}")
    assert services._tasks_waiting(broker_url=url) == 2
