"""A synthesis job on a real Celery worker whose pool process is SIGKILLed mid-job: the
chunk in flight is given back and run again, and the dump is the same as an uninterrupted
job's."""

import json
import time

import pytest
from django.core.files.storage import default_storage

from mlstrat.mismatch import services
from mlstrat.mismatch.models import JobStatus, SynthesisJob
from tests.celery_worker import celery_worker  # noqa: F401  (fixture)

from .builders import make_dataset

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BLUR = [
    {"name": "GaussianBlur", "params": {"sigma": "match"}},
    {"name": "GaussNoise", "params": {"std_range": [0.01, 0.05]}},
]


def wait(job, predicate, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = SynthesisJob.objects.get(pk=job.pk)
        if predicate(job):
            return job
        time.sleep(0.02)
    pytest.fail(f"job {job.pk} never got there: {job.status} {job.done}/{job.total}")


def rows(job):
    return [
        (row["source"], row["transforms"])
        for chunk in range((job.total + job.chunk_size - 1) // job.chunk_size)
        for row in json.loads(default_storage.open(f"{job.folder}/rows/{chunk:05d}.json").read())
    ]


def test_a_job_whose_worker_is_killed_finishes_with_the_same_dump(
    celery_worker,  # noqa: F811
    project,
    bob,
):
    dataset, _ = make_dataset(project)
    recipe = services.recipe_create(
        dataset=dataset, created_by=bob, name="blurry", transforms=BLUR, count=2000, seed=8
    )
    job = services.synthesis_job_create(recipe=recipe, created_by=bob, enqueue=False)
    services.synthesis_job_enqueue(job=job)
    job = wait(job, lambda j: j.done >= 200 or j.is_finished)
    assert not job.is_finished, "finished before the kill: make the job longer"
    assert celery_worker.kill_pool(), "no pool process to kill"
    job = wait(job, lambda j: j.is_finished)
    assert job.status == JobStatus.SUCCEEDED, (job.message, celery_worker.output()[-3000:])
    assert job.done == 2000 and sorted(job.chunks_done) == list(range(10))

    again = services.synthesis_job_create(recipe=recipe, created_by=bob, enqueue=False)
    services.synthesis_job_enqueue(job=again)
    again = wait(again, lambda j: j.is_finished)
    assert rows(job) == rows(again)
