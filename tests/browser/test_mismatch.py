"""A lead goes from the dashboard's data-mismatch remedy to the comparison, previews a
recipe matched to dev, runs it, downloads the dump, and an admin re-imports it as the
training examples of a new run."""

import shutil
from pathlib import Path

import pytest

from mlstrat.analytics.services import snapshot_compute
from mlstrat.datasets.models import Example, ModelRun
from mlstrat.imports import services as import_services
from mlstrat.imports.models import ImportJob, JobStatus
from mlstrat.mismatch.models import ExampleCharacteristics, SynthesisJob
from tests.mismatch.builders import categories

from .conftest import login, screenshot

DUMPS = Path(__file__).resolve().parents[2] / "mlstrat" / "demo" / "dumps"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _clean_media(settings):
    yield
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)


@pytest.fixture
def digits_run(project, alice, bob):
    job = import_services.import_job_create(
        project=project,
        user=alice,
        dataset_name="digits",
        run_name="logreg-c0.5",
        server_path=str(DUMPS / "run1-logreg-c0.5.zip"),
        allow_any_path=True,
        enqueue=False,
    )
    job = import_services.import_job_run(job_id=job.pk, inline_thumbnails=True)
    assert job.status == JobStatus.SUCCEEDED, job.message
    run = ModelRun.objects.get(name="logreg-c0.5")
    snapshot_compute(run=run)
    categories(run.dataset, bob)
    return run


def test_from_the_dashboard_to_a_synthesized_dump_imported_as_a_new_run(
    page, live_server, alice, digits_run, tmp_path, monkeypatch
):
    dataset = digits_run.dataset
    assert ExampleCharacteristics.objects.filter(dataset=dataset).count() == 1797
    login(page, live_server, alice)
    page.goto(f"{live_server.url}/p/cat-app/runs/{digits_run.pk}/dashboard/")
    remedy = page.locator("#mismatch-remedy")
    assert "dev is much blurrier than train" in remedy.inner_text()
    screenshot(page, "mismatch-dashboard-remedy")
    remedy.locator("text=See how dev differs from train").click()

    page.wait_for_selector("#headline")
    assert page.locator("#headline .big").inner_text().startswith("Dev is much blurrier than train")
    first = page.locator("#panel-findings tbody tr").first
    assert first.get_attribute("data-characteristic") == "sharpness"
    assert page.locator("#panel-metadata tr[data-column=distortion]").count() == 1
    page.wait_for_function("document.querySelectorAll('canvas.hist').length === 8")
    screenshot(page, "mismatch-comparison")

    form = page.locator("#suggest-recipe")
    form.locator("input[name=count]").fill("60")
    form.locator("button").click()
    page.wait_for_selector("h1:has-text('Recipe')")
    assert page.locator("input[name='GaussianBlur__sigma__match']").is_checked()

    page.click("#preview")
    page.wait_for_selector("#preview-grid figure", timeout=30_000)
    assert page.locator("#preview-grid figure").count() == 12
    ks_after = float(
        page.locator("#preview-checks tr[data-characteristic=sharpness] .ks-after").inner_text()
    )
    assert ks_after < 0.3
    assert "GaussianBlur(sigma=" in page.locator("#preview-grid figure").first.inner_text()
    screenshot(page, "mismatch-recipe-preview")

    page.click("#run-job")
    page.wait_for_selector("#job-download:not(.hidden)", timeout=60_000)
    job = SynthesisJob.objects.get()
    assert job.done == 60
    assert page.locator("#variety").count() == 1
    screenshot(page, "mismatch-job")
    with page.expect_download() as download:
        page.click("#job-download")
    dump = tmp_path / "synthetic.zip"
    download.value.save_as(dump)

    # The worker is the test itself, as in the import page's own test.
    monkeypatch.setattr(import_services, "_enqueue", lambda *, job_id: None)
    page.goto(f"{live_server.url}/p/cat-app/imports/")
    page.select_option("#dataset-choice", "digits")
    page.fill("input[name=run]", "with-synthetic")
    page.set_input_files("input[name=file]", str(dump))
    page.click("button:has-text('Upload and import')")
    page.wait_for_selector("h1:has-text('Import of run')")
    import_services.import_job_run(job_id=ImportJob.objects.latest("pk").pk, inline_thumbnails=True)
    page.wait_for_selector("#import-result", timeout=20_000)
    assert "60 rows imported" in page.locator("#import-result").inner_text()
    synthetic = Example.objects.filter(dataset=dataset, source=job.recipe.source_tag)
    assert synthetic.count() == 60
    assert set(synthetic.values_list("split", flat=True)) == {"train"}

    page.goto(f"{live_server.url}/p/cat-app/mismatch/jobs/{job.pk}/")
    assert page.locator("#outcome tr[data-run=with-synthetic]").count() == 1
    screenshot(page, "mismatch-job-outcome")


def test_the_train_vs_dev_sheet_is_keyboard_first(page, live_server, bob, digits_run):
    from mlstrat.mismatch.services import characteristic_review_create

    review = characteristic_review_create(
        dataset=digits_run.dataset, created_by=bob, name="Blind look", size=6, seed=5
    )
    login(page, live_server, bob)
    page.goto(
        f"{live_server.url}/p/cat-app/datasets/{digits_run.dataset.pk}/mismatch/reviews/{review.pk}/"
    )
    page.wait_for_selector("#char-body tr")
    assert page.locator("#char-body tr").count() == 12
    assert page.locator("th:has-text('Split')").count() == 0  # blind
    page.keyboard.press("b")
    page.wait_for_selector("#char-body tr.current td.cat-cell.on")
    page.keyboard.press("j")
    page.keyboard.press("0")
    page.wait_for_selector("#char-body tr:nth-child(2) td.nothing-cell.on")
    assert page.locator("#progress-text").inner_text() == "reviewed 2 of 12"
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("Escape")
    screenshot(page, "mismatch-review-sheet")
    page.goto(
        f"{live_server.url}/p/cat-app/datasets/{digits_run.dataset.pk}/mismatch/reviews/{review.pk}/figures/"
    )
    assert page.locator("tr[data-category=Blurry]").count() == 1
    screenshot(page, "mismatch-review-figures")
