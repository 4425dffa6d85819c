"""A lead opens a run's dashboard, reads the figures and clicks through to the sheet."""

import re

import pytest

from mlstrat.datasets.models import Split
from tests.analytics.builders import category, make_run, review_errors, tick

from .conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def run(project, bob, carol):
    run = make_run(
        project,
        [
            ("train", "general", "cat", "cat", 196),
            ("train", "general", "cat", "dog", 4),
            ("train", "general", "dog", "dog", 195),
            ("train", "general", "dog", "cat", 5),
            ("train_dev", "general", "cat", "cat", 90),
            ("train_dev", "general", "cat", "bird", 6),
            ("train_dev", "general", "bird", "bird", 100),
            ("train_dev", "general", "bird", "cat", 4),
            (Split.DEV, "target", "cat", "cat", 170),
            (Split.DEV, "target", "cat", "dog", 18),
            (Split.DEV, "target", "dog", "dog", 180),
            (Split.DEV, "target", "dog", "cat", 12),
            (Split.DEV, "target", "bird", "bird", 110),
            (Split.DEV, "target", "bird", "dog", 10),
            (Split.TEST, "target", "cat", "cat", 270),
            (Split.TEST, "target", "cat", "dog", 30),
        ],
        name="resnet50-v2",
    )
    dataset = run.dataset
    dataset.human_level_error = 0.01
    dataset.human_level_error_by_source = {"general": 0.01, "target": 0.015}
    dataset.save()
    review = review_errors(run)  # the 40 dev errors
    incorrect = dataset.categories.get(builtin="incorrect_label")
    tick(run, review, category(dataset, "Dog-like", color="#f28e2b"), [bob, carol], n=18)
    tick(run, review, category(dataset, "Blurry", color="#76b7b2"), [bob], first=10, n=20)
    tick(run, review, category(dataset, "<b>Great cats</b>"), [carol], first=30, n=6)
    tick(run, review, incorrect, [bob], first=36, n=4)
    return run


def test_lead_reads_the_dashboard_and_opens_a_cell_in_the_sheet(page, live_server, bob, run):
    login(page, live_server, bob)
    page.goto(f"{live_server.url}/p/cat-app/runs/{run.pk}/dashboard/")
    page.wait_for_selector("#decomposition-chart")
    dev = page.locator("#panel-splits tr[data-split=dev] .split-error")
    assert dev.inner_text() == "8.0%"
    assert page.locator("#panel-decomposition tr.largest").inner_text().startswith("Data mismatch")
    shares = page.locator("#panel-shares")
    dog = shares.locator("tr[data-category='Dog-like']").inner_text()
    assert "18 / 40" in dog and "45.0%" in dog
    assert shares.locator("tr[data-category='<b>Great cats</b>']").count() == 1
    assert "Majority of the people who reviewed" in shares.inner_text()
    assert "10%" in page.locator("#label-verdict").inner_text()
    assert "Human level\t1.0%\t1.5%" in page.locator("#panel-general").inner_text()
    page.wait_for_selector("#shares-chart[style*='width']")
    screenshot(page, "dashboard")

    cell = page.locator("#confusion a[href*='label=cat&prediction=dog']")
    assert cell.inner_text().startswith("18")
    cell.click()
    page.wait_for_url(re.compile(r"/sheet/\?"))
    assert f"/p/cat-app/runs/{run.pk}/sheet/?label=cat&prediction=dog&split=dev" in page.url


def test_dashboard_says_recomputing_then_refreshes_itself(page, live_server, bob, run):
    from django.utils import timezone

    from mlstrat.analytics.services import snapshot_compute
    from mlstrat.datasets.models import FigureState

    snapshot_compute(run=run)
    # A tick arrived and its recompute is queued (a worker will pick it up).
    FigureState.objects.update_or_create(
        run=run, defaults={"requested_at": timezone.now(), "enqueued_at": timezone.now()}
    )
    login(page, live_server, bob)
    page.goto(f"{live_server.url}/p/cat-app/runs/{run.pk}/dashboard/")
    assert page.locator("#stale-badge").inner_text() == "recomputing…"
    before = page.locator("#dashboard").get_attribute("data-as-of")
    snapshot_compute(run=run)
    page.wait_for_selector("#stale-badge:has-text('up to date')", timeout=15_000)
    assert page.locator("#dashboard").get_attribute("data-as-of") != before
    assert page.locator("#decomposition-chart[style*='width']").count() == 1


def test_runs_compared_show_a_trend(page, live_server, bob, run, project):
    make_run(
        project,
        [(Split.DEV, "target", "cat", "cat", 490), (Split.DEV, "target", "cat", "dog", 10)],
        dataset=run.dataset,
        name="resnet101-v3",
    )
    login(page, live_server, bob)
    page.goto(f"{live_server.url}/p/cat-app/datasets/{run.dataset_id}/compare/")
    page.wait_for_selector("#trend-chart[style*='width']")
    assert "−6.0 pts" in page.locator("#compare-table tr[data-row=dev]").inner_text()
    screenshot(page, "runs-compared")


def test_lead_asks_for_a_recompute(page, live_server, bob, run):
    login(page, live_server, bob)
    page.goto(f"{live_server.url}/p/cat-app/runs/{run.pk}/dashboard/")
    before = page.locator("#dashboard").get_attribute("data-as-of")
    page.click("#recompute")
    page.wait_for_selector(f"#dashboard:not([data-as-of='{before}'])", timeout=10_000)
    assert page.locator("#stale-badge").inner_text() == "up to date"


def _headlines(page):
    return {
        "labels": page.locator("#label-verdict").inner_text(),
        "idea": page.locator("#biggest-category").inner_text(),
    }


def test_a_new_small_review_leaves_the_headlines_until_a_lead_switches_the_reference(
    page, live_server, bob, run
):
    """Starting a 3-example review on test changes no headline and not runs compared; a
    lead making it the reference changes both, and they name it."""
    login(page, live_server, bob)
    dashboard = f"{live_server.url}/p/cat-app/runs/{run.pk}/dashboard/"
    compare = f"{live_server.url}/p/cat-app/datasets/{run.dataset_id}/compare/"
    page.goto(dashboard)
    before = _headlines(page)
    assert "dev sample" in before["idea"] and "40 of 40 reviewed" in before["idea"]
    page.goto(compare)
    reference_before = page.locator("#compare-table tr[data-row=reference]").inner_text()
    assert "dev sample" in reference_before

    page.goto(f"{live_server.url}/p/cat-app/runs/{run.pk}/reviews/")
    page.fill("input[name=name]", "Test peek")
    page.select_option("select[name=split]", "test")
    page.fill("input[name=sample_size]", "3")
    page.click("button:has-text('Start review')")
    page.wait_for_selector("#sheet-body tr")
    page.keyboard.press("0")  # looked at the first one: nothing applies
    expect_text(page, "#progress-text", "reviewed 1 of 3")

    page.goto(dashboard)
    assert _headlines(page) == before
    page.goto(compare)
    assert page.locator("#compare-table tr[data-row=reference]").inner_text() == reference_before

    page.goto(dashboard)
    select = page.locator("#panel-shares select[name=review]")
    select.select_option(select.locator("option", has_text="Test peek").get_attribute("value"))
    page.wait_for_selector("#make-reference")
    page.click("#make-reference")
    page.wait_for_selector("#reference-badge")
    after = _headlines(page)
    assert after != before
    assert "Test peek" in after["idea"] and "1 of 3 reviewed, still moving" in after["idea"]
    screenshot(page, "dashboard-reference-switched")
    page.goto(compare)
    assert "Test peek" in page.locator("#compare-table tr[data-row=reference]").inner_text()


def expect_text(page, selector, text):
    from playwright.sync_api import expect

    expect(page.locator(selector)).to_contain_text(text)


def test_lead_reads_precision_recall_and_calibration(page, live_server, bob, run):
    login(page, live_server, bob)
    page.goto(f"{live_server.url}/p/cat-app/runs/{run.pk}/dashboard/")
    panel = page.locator("#panel-evaluation")
    panel.locator("#reliability-chart[style*='width']").wait_for()
    panel.locator("#confidence-chart[style*='width']").wait_for()
    # dev: cats 170 right of 188, predicted cat 170 + 12 dog->cat = 182.
    cat = panel.locator("#class-metrics tr[data-class=cat]").inner_text().split("\t")
    assert cat == ["cat", "188", f"{170 / 182:.1%}", f"{170 / 188:.1%}", cat[4]]
    # Every dev prediction is at confidence 0.7 and 460 of 500 are right: ECE 22%.
    assert panel.locator("#calibration-table tr[data-split=dev] .ece").inner_text() == "22.00%"
    screenshot(page, "dashboard-evaluation")
    page.select_option("#panel-breakdowns select[name=split]", "test")
    page.wait_for_selector("#panel-evaluation h2:has-text('· test')")
    assert panel.locator("#class-metrics tr[data-class=cat]").inner_text().startswith("cat\t300")
