"""Imports run by a real `celery worker` process on PostgreSQL + Redis, and survive its death."""

import io
import time
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mlstrat.datasets.models import Example, ModelRun, Prediction, RunStatus
from mlstrat.imports import services
from mlstrat.imports.models import ImportJob, JobStatus

from .builders import csv_text, png_bytes, rows

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def big_zip(n):
    image = png_bytes(size=(48, 48))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        table = rows(n)
        archive.writestr("predictions.csv", csv_text(table))
        for row in table:
            archive.writestr(row["image"], image)
    return buffer.getvalue()


def start(project, alice, data, run="v1"):
    return services.import_job_create(
        project=project,
        user=alice,
        dataset_name="photos",
        run_name=run,
        upload=SimpleUploadedFile("dump.zip", data),
    )


def wait_for(job, predicate, timeout=120, poll=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = ImportJob.objects.get(pk=job.pk)
        if predicate(job):
            return job
        time.sleep(poll)
    pytest.fail(f"timed out; job is {job.status}: {job.message}")


def test_a_worker_imports_a_dump(celery_worker, project, alice, digits_zip):
    job = start(project, alice, digits_zip.read_bytes())
    job = wait_for(job, lambda j: j.is_finished)
    assert job.status == JobStatus.SUCCEEDED, (job.message, celery_worker.output()[-3000:])
    assert Example.objects.count() == 1797
    assert ModelRun.objects.get(status=RunStatus.READY).predictions.count() == 1797
    assert job.thumbnails_done == 1797
    assert Example.objects.exclude(thumbnail="").count() == 1797


def test_a_worker_killed_mid_import_leaves_nothing_and_the_retry_imports_it_all(
    celery_worker, project, alice
):
    n = 12000
    job = start(project, alice, big_zip(n))
    # Killed once it has written rows (rows are written as they are checked, in the one
    # transaction that commits at the end).
    job = wait_for(job, lambda j: j.rows_written > 0 or j.status == JobStatus.WRITING, poll=0.005)
    killed = celery_worker.kill_pool()
    assert killed
    # Killed before its commit (the usual case): nothing of the run is visible, and the
    # retry is a second attempt. On a slow machine the kill may land just after the
    # commit: the run is whole, and the job resumes at its thumbnails.
    swapped = ModelRun.objects.filter(status=RunStatus.READY).exists()
    if not swapped:
        assert Prediction.objects.filter(run__status=RunStatus.READY).count() == 0
    job = wait_for(job, lambda j: j.is_finished, timeout=300)
    assert job.status == JobStatus.SUCCEEDED, (job.message, celery_worker.output()[-3000:])
    assert job.attempts == (1 if swapped else 2)
    run = ModelRun.objects.get(status=RunStatus.READY)
    assert ModelRun.objects.count() == 1
    assert run.predictions.count() == n
    assert Example.objects.count() == n
    assert Prediction.objects.count() == n
