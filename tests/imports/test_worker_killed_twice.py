"""A worker SIGKILLed twice during one import (while it checks the rows, then while it
makes thumbnails): the import still ends with every row exactly once and every thumbnail.
The long version (10 imports of 50,000 rows, random kill points) is bench/import_kill.py."""

import time

import pytest

from mlstrat.datasets.models import Example, ModelRun, Prediction, RunStatus
from mlstrat.imports.models import ImportJob, JobStatus
from tests.celery_worker import celery_worker  # noqa: F401  (fixture)

from .test_real_worker import big_zip, start

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROWS = 3000


def kill_when(worker, job, predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = ImportJob.objects.get(pk=job.pk)
        if predicate(job):
            assert worker.kill_pool(), "no pool process to kill"
            return job
        if job.is_finished:
            pytest.fail(f"finished before the kill: {job.status} {job.message}")
        time.sleep(0.01)
    pytest.fail(f"never reached the kill point; job is {job.status}")


def test_an_import_killed_while_checking_and_while_making_thumbnails_ends_whole(
    celery_worker,  # noqa: F811
    project,
    alice,
):
    job = start(project, alice, big_zip(ROWS))
    kill_when(celery_worker, job, lambda j: j.status == JobStatus.VALIDATING)
    kill_when(
        celery_worker,
        job,
        lambda j: j.status == JobStatus.THUMBNAILS and j.thumbnails_done < j.thumbnails_total,
    )
    deadline = time.monotonic() + 240
    while not (job := ImportJob.objects.get(pk=job.pk)).is_finished:
        assert time.monotonic() < deadline, f"stuck at {job.status}"
        time.sleep(0.1)
    assert job.status == JobStatus.SUCCEEDED, (job.message, celery_worker.output()[-3000:])
    assert job.attempts == 2
    run = ModelRun.objects.get(status=RunStatus.READY)
    assert ModelRun.objects.count() == 1
    assert Prediction.objects.count() == run.predictions.count() == ROWS
    assert Example.objects.count() == ROWS
    assert Example.objects.filter(thumbnail="").count() == 0
    assert job.thumbnails_done == ROWS
