"""A job interrupted at any point leaves nothing visible and can simply be run again."""

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from mlstrat.datasets.images import image_bytes
from mlstrat.datasets.models import Example, ModelRun, Prediction, RunStatus
from mlstrat.imports import pipeline, services
from mlstrat.imports.models import JobStatus

from .builders import rows, zip_dump


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing catches it on the way out."""


def new_job(project, alice, n=12):
    return services.import_job_create(
        project=project,
        user=alice,
        dataset_name="photos",
        run_name="v1",
        upload=SimpleUploadedFile("d.zip", zip_dump(rows(n)).getvalue()),
        enqueue=False,
    )


def test_a_job_killed_while_writing_leaves_nothing_and_its_retry_writes_it_once(
    project, alice, monkeypatch
):
    job = new_job(project, alice)
    real_write = pipeline.Writer.write
    calls = []

    def dying_write(self, batch):
        real_write(self, batch)
        calls.append(len(batch))
        raise Killed

    monkeypatch.setattr(pipeline.Writer, "write", dying_write)
    with pytest.raises(Killed):
        services.import_job_run(job_id=job.pk)
    assert calls  # it had written a batch when it died
    job.refresh_from_db()
    assert job.status in (JobStatus.VALIDATING, JobStatus.WRITING)  # left running
    assert not ModelRun.objects.exists()
    assert not Example.objects.exists()

    monkeypatch.setattr(pipeline.Writer, "write", real_write)
    job = services.import_job_run(job_id=job.pk, inline_thumbnails=True)
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 2
    assert ModelRun.objects.get().status == RunStatus.READY
    assert Example.objects.count() == Prediction.objects.count() == 12
    images = list(Example.objects.values_list("image", "image_offset", "image_size"))
    assert len(set(images)) == 12
    assert all(name.startswith(f"packs/job{job.pk}/a2/") for name, _, _ in images)
    assert all(image_bytes(example=e).startswith(b"\x89PNG") for e in Example.objects.all())
    # What the killed attempt had packed is gone.
    assert not default_storage.exists(f"packs/job{job.pk}/a1")


def test_running_a_finished_job_again_does_nothing(project, alice):
    job = new_job(project, alice)
    services.import_job_run(job_id=job.pk, inline_thumbnails=True)
    job = services.import_job_run(job_id=job.pk, inline_thumbnails=True)
    assert job.attempts == 1
    assert Prediction.objects.count() == 12


def test_a_job_whose_upload_vanished_fails_with_a_reason(project, alice):
    job = new_job(project, alice)
    default_storage.delete(job.upload.name)
    job = services.import_job_run(job_id=job.pk)
    assert job.status == JobStatus.FAILED
    assert "nothing was imported" in job.message
    assert job.finished_at is not None


def test_thumbnails_are_made_once_even_if_a_chunk_runs_twice(project, alice):
    job = new_job(project, alice)
    job = services.import_job_run(job_id=job.pk, inline_thumbnails=True)
    thumbs = dict(Example.objects.values_list("pk", "thumbnail"))
    assert services.thumbnails_make(job_id=job.pk, example_ids=list(thumbs)) == 0
    assert dict(Example.objects.values_list("pk", "thumbnail")) == thumbs
    job.refresh_from_db()
    assert job.thumbnails_done == job.thumbnails_total == 12


def test_a_job_rerun_after_its_swap_only_makes_the_missing_thumbnails(project, alice, monkeypatch):
    from mlstrat.imports import tasks

    job = new_job(project, alice)
    monkeypatch.setattr(tasks.thumbnails_make_task, "delay", lambda *args: None)
    job = services.import_job_run(job_id=job.pk)  # the chunks were lost with the worker
    assert job.status == JobStatus.THUMBNAILS and job.thumbnails_done == 0
    job = services.import_job_run(job_id=job.pk, inline_thumbnails=True)
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 1
    assert job.thumbnails_done == job.thumbnails_total == 12
    assert ModelRun.objects.count() == 1 and Prediction.objects.count() == 12
    assert not Example.objects.filter(thumbnail="").exists()
