"""The lease of a running import (#13.3): an attempt whose heartbeat stopped is noticed by
the lease check (Celery beat, or any read of the job), its files are removed, and the job
is queued again or failed honestly; an attempt taken for dead cannot land its rows."""

import threading
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from mlstrat.datasets.models import Example, ModelRun
from mlstrat.imports import pipeline, services, tasks
from mlstrat.imports.models import ImportJob, JobStatus
from mlstrat.imports.packs import attempt_prefix
from tests.services import require_postgresql

from .builders import rows, zip_dump


@pytest.fixture(autouse=True)
def _postgresql(db):
    require_postgresql("A lease (a heartbeat from another process)")


@pytest.fixture
def queued(monkeypatch):
    sent = []
    monkeypatch.setattr(services, "_enqueue", lambda *, job_id: sent.append(job_id))
    return sent


def silent_job(project, alice, *, status=JobStatus.WRITING, attempts=1, seconds=600):
    """A job whose attempt wrote a pack and then fell silent `seconds` ago."""
    job = ImportJob.objects.create(
        project=project,
        dataset_name="photos",
        run_name="v1",
        created_by=alice,
        status=status,
        attempts=attempts,
        heartbeat_at=timezone.now() - timedelta(seconds=seconds),
        upload=SimpleUploadedFile("d.zip", zip_dump(rows(3)).getvalue()),
    )
    prefix = attempt_prefix(job_id=job.pk, attempt=attempts)
    default_storage.save(f"{prefix}/000001.pack", ContentFile(b"half a pack"))
    return job


def test_a_silent_attempt_is_queued_again_and_its_files_removed(
    project, alice, queued, django_capture_on_commit_callbacks
):
    job = silent_job(project, alice)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.import_job_check_lease(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert job.lost_attempts == 1
    assert "The worker running attempt 1 stopped answering" in job.message
    assert queued == [job.pk]
    assert not default_storage.exists(f"{attempt_prefix(job_id=job.pk, attempt=1)}/000001.pack")


def test_a_beating_attempt_is_left_alone(project, alice, queued):
    job = silent_job(project, alice, seconds=5)
    assert not services.import_job_check_lease(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.WRITING and job.lost_attempts == 0 and queued == []


def test_after_the_last_attempt_it_fails_honestly(project, alice, queued, settings):
    settings.MLSTRAT_IMPORT_MAX_ATTEMPTS = 3
    job = silent_job(project, alice, attempts=3)
    services.import_job_check_lease(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.is_finished
    assert "nothing was imported" in job.message
    assert queued == []


def test_beat_checks_every_overdue_job(project, alice, queued, django_capture_on_commit_callbacks):
    jobs = [silent_job(project, alice), silent_job(project, alice, seconds=1)]
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.check_leases_task() == 1
    assert queued == [jobs[0].pk]


def test_reading_the_job_notices_it(project, alice, queued, api, as_user):
    job = silent_job(project, alice)
    api.force_authenticate(alice)
    state = api.get(f"/api/v1/imports/{job.pk}/").json()
    assert state["status"] == "queued" and state["lost_attempts"] == 1
    job = silent_job(project, alice)
    page = as_user(alice).get(f"/p/cat-app/imports/{job.pk}/").content.decode()
    assert "1 attempt lost" in page
    assert "The worker running attempt 1 stopped answering" in page


def test_lost_thumbnail_chunks_are_sent_again(
    project, alice, monkeypatch, run_import, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(tasks.thumbnails_make_task, "delay", lambda *args: sent.append(args))
    job = run_import(zip_dump(rows(3)))
    assert job.status == JobStatus.THUMBNAILS and len(sent) == 1
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.import_job_check_lease(job_id=job.pk)
    assert sent == [sent[0], sent[0]]  # the missing chunk, once more
    services.thumbnails_make(job_id=job.pk, example_ids=sent[0][1])
    services.thumbnails_make(job_id=job.pk, example_ids=sent[0][1])
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.thumbnails_done == 3


@pytest.mark.django_db(transaction=True)
def test_an_attempt_taken_for_dead_cannot_land_its_rows(project, alice, monkeypatch):
    job = services.import_job_create(
        project=project,
        user=alice,
        dataset_name="photos",
        run_name="v1",
        upload=SimpleUploadedFile("d.zip", zip_dump(rows(4)).getvalue()),
        enqueue=False,
    )
    real_swap = pipeline._swap

    def meanwhile_a_newer_attempt_starts(**kwargs):
        # Another process claims attempt 2 (its own connection, committed).
        claim = threading.Thread(target=claim_attempt_2)
        claim.start()
        claim.join()
        real_swap(**kwargs)

    def claim_attempt_2():
        ImportJob.objects.filter(pk=job.pk).update(attempts=2)
        connection.close()

    monkeypatch.setattr(pipeline, "_swap", meanwhile_a_newer_attempt_starts)
    services.import_job_run(job_id=job.pk)
    assert not ModelRun.objects.exists() and not Example.objects.exists()
    assert not default_storage.exists(attempt_prefix(job_id=job.pk, attempt=1))
    assert ImportJob.objects.get(pk=job.pk).attempts == 2
