"""An admin imports the digits dump from the import page and watches the job finish."""

import shutil
from pathlib import Path

import pytest

from mlstrat.datasets.models import Example
from mlstrat.imports import services
from mlstrat.imports.models import ImportJob, JobStatus
from tests.imports.builders import rows, zip_dump

from .conftest import login, screenshot

DUMPS = Path(__file__).resolve().parents[2] / "mlstrat" / "demo" / "dumps"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _clean_media(settings):
    yield
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)


def test_an_admin_uploads_the_digits_dump_and_watches_it_import(
    page, live_server, alice, project, monkeypatch
):
    # The worker is the test itself: the job waits in the queue until we run it below,
    # while the page follows it without reloading.
    monkeypatch.setattr(services, "_enqueue", lambda *, job_id: None)
    login(page, live_server, alice)
    page.goto(f"{live_server.url}/p/cat-app/")
    page.click("text=Import predictions")
    page.wait_for_selector("h1:has-text('Import predictions')")
    assert page.is_visible("text=No imports yet")
    page.select_option("#dataset-choice", "__new__")
    page.fill("input[name=new_dataset]", "digits")
    page.fill("input[name=run]", "logreg-c0.5")
    page.set_input_files("input[name=file]", str(DUMPS / "run1-logreg-c0.5.zip"))
    page.click("button:has-text('Upload and import')")
    page.wait_for_selector("h1:has-text('Import of run')")
    assert page.locator("[data-job-status]").inner_text() == "queued"
    assert page.locator("progress[data-bar]").count() == 3

    job = ImportJob.objects.get()
    services.import_job_run(job_id=job.pk, inline_thumbnails=True)

    page.wait_for_selector("#import-result", timeout=20_000)
    assert page.locator("[data-job-status]").inner_text() == "succeeded"
    assert "1797 rows imported" in page.locator("#import-result").inner_text()
    assert page.locator("[data-count=thumbnails]").inner_text() == "1797 / 1797"
    assert page.locator("progress[data-bar=written]").get_attribute("value") == "1797"
    screenshot(page, "import-job")
    assert Example.objects.count() == 1797
    assert ImportJob.objects.get().status == JobStatus.SUCCEEDED


def test_a_bad_dump_shows_the_row_errors(page, live_server, alice, project, tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(zip_dump(rows(3, split="<b>holdout</b>")).getvalue())
    login(page, live_server, alice)
    page.goto(f"{live_server.url}/p/cat-app/imports/")
    page.fill("input[name=new_dataset]", "photos")
    page.fill("input[name=run]", "v1")
    page.set_input_files("input[name=file]", str(bad))
    page.click("button:has-text('Upload and import')")
    page.wait_for_selector("#import-errors")
    assert "3 problems" in page.locator("#import-errors h2").inner_text()
    assert "unknown split '<b>holdout</b>'" in page.locator("#import-errors").inner_text()
    screenshot(page, "import-job-errors")


def test_a_failed_import_is_retried_skipping_invalid_rows_without_uploading(
    page, live_server, alice, project, tmp_path
):
    table = rows(5)
    table[4]["split"] = "holdout"
    bad = tmp_path / "bad.zip"
    bad.write_bytes(zip_dump(table).getvalue())
    login(page, live_server, alice)
    page.goto(f"{live_server.url}/p/cat-app/imports/")
    page.fill("input[name=new_dataset]", "photos")
    page.fill("input[name=run]", "v1")
    page.set_input_files("input[name=file]", str(bad))
    page.click("button:has-text('Upload and import')")
    page.wait_for_selector("#import-errors")
    assert "tick" not in page.locator("[data-job-message]").inner_text()
    page.click("#retry-skipping button")
    page.wait_for_selector("#import-result", timeout=20_000)
    assert "4 rows imported, 1 skipped" in page.locator("#import-result").inner_text()
    assert ImportJob.objects.count() == 1 and Example.objects.count() == 4
    screenshot(page, "import-job-retried")


def test_a_file_that_is_not_a_zip_is_called_so(page, live_server, alice, project, tmp_path):
    not_zip = tmp_path / "notes.txt"
    not_zip.write_text("just some notes\n")
    login(page, live_server, alice)
    page.goto(f"{live_server.url}/p/cat-app/imports/")
    page.fill("input[name=new_dataset]", "photos")
    page.fill("input[name=run]", "v1")
    page.set_input_files("input[name=file]", str(not_zip))
    page.click("button:has-text('Upload and import')")
    page.wait_for_selector("[data-job-status]:has-text('failed')")
    assert "“notes.txt” is not a zip" in page.locator("[data-job-message]").inner_text()
