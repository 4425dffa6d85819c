"""A dump kept for "import the valid rows only" does not stay on disk for ever."""

from datetime import timedelta

from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from mlstrat.imports.models import ImportJob, JobStatus
from mlstrat.imports.services import import_jobs_discard_kept_dumps
from mlstrat.imports.tasks import discard_kept_dumps_task

from .builders import rows, zip_dump


def failed_on_invalid_rows(run_import, *, run="v1"):
    table = rows(4)
    table[3]["split"] = "holdout"
    job = run_import(zip_dump(table), run=run)
    assert job.status == JobStatus.FAILED and job.can_retry_skipping_invalid
    return job


def finished_days_ago(job, days):
    ImportJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=days))


def test_the_job_page_says_until_when_the_dump_is_kept(client, alice, project, run_import):
    job = failed_on_invalid_rows(run_import)
    client.force_login(alice)
    page = client.get(reverse("project-import-job", args=[project.slug, job.pk])).content.decode()
    expires = job.finished_at + timedelta(days=7)
    assert "Import the valid rows only" in page
    assert f"the dump is kept until {expires:%-d %b %Y, %H:%M} UTC" in page


def test_a_dump_kept_past_its_days_is_removed_and_the_job_keeps_its_report(run_import, settings):
    settings.MLSTRAT_IMPORT_KEEP_FAILED_DAYS = 7
    old = failed_on_invalid_rows(run_import, run="old")
    recent = failed_on_invalid_rows(run_import, run="recent")
    finished_days_ago(old, 8)
    finished_days_ago(recent, 6)
    old_name = old.upload.name

    assert discard_kept_dumps_task() == 1

    old.refresh_from_db()
    recent.refresh_from_db()
    assert not default_storage.exists(old_name)
    assert not old.upload and not old.can_retry_skipping_invalid
    assert old.error_count == 1 and old.errors  # the report stays
    assert recent.upload and default_storage.exists(recent.upload.name)
    assert recent.can_retry_skipping_invalid
    assert import_jobs_discard_kept_dumps() == 0  # nothing left to remove


def test_succeeded_jobs_and_jobs_without_a_kept_dump_are_left_alone(run_import):
    good = run_import(zip_dump(rows(3)), run="good")
    assert good.status == JobStatus.SUCCEEDED
    finished_days_ago(good, 30)
    assert import_jobs_discard_kept_dumps() == 0
