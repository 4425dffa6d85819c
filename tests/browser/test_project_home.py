"""The project page's runs table: dev error and errors per run, and the links a lead
uses next (dashboard, sheet, reviews, runs compared)."""

import pytest

from mlstrat.analytics.services import snapshot_compute
from mlstrat.review.models import ReviewMark
from tests.analytics.builders import add_predictions, make_run, review_errors
from tests.factories import RunFactory

from .conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def runs(project, carol):
    first = make_run(
        project,
        [("dev", "web", "cat", "cat", 90), ("dev", "web", "cat", "dog", 10)],
        name="resnet-1",
    )
    second = RunFactory(dataset=first.dataset, name="resnet-2")
    add_predictions(second, [("dev", "web", "cat", "cat", 95), ("dev", "web", "cat", "dog", 5)])
    review = review_errors(first, name="Dev sample")  # its 10 errors
    for item in review.items.order_by("position")[:4]:
        ReviewMark.objects.create(review=review, item=item, user=carol)
    snapshot_compute(run=first)
    snapshot_compute(run=second)
    third = RunFactory(dataset=first.dataset, name="resnet-3")  # never computed
    return first, second, third


def test_the_runs_table_shows_dev_error_progress_and_links(page, live_server, carol, project, runs):
    first, second, third = runs
    login(page, live_server, carol)
    page.goto(f"{live_server.url}/p/{project.slug}/")
    row = page.locator("tr[data-run='resnet-1']")
    assert row.locator(".dev-error strong").inner_text() == "10.0%"
    assert row.locator(".dev-errors").inner_text() == "10 of 100"
    assert page.locator("tr[data-run='resnet-2'] .dev-error strong").inner_text() == "5.0%"
    assert "not computed yet" in page.locator("tr[data-run='resnet-3'] .dev-error").inner_text()
    reference = row.locator(".reference-progress")
    assert reference.locator("a").inner_text() == "Dev sample"
    assert reference.locator(".ref-count").inner_text() == "4 of 10 reviewed"
    assert "no reviewed dev review" in page.locator("tr[data-run='resnet-2']").inner_text()
    screenshot(page, "project-home-runs")
    row.locator("a:has-text('Sheet')").click()
    page.wait_for_url(f"**/runs/{first.pk}/sheet/")
    page.go_back()
    page.click("a:has-text('Runs compared (3)')")
    page.wait_for_url(f"**/datasets/{first.dataset_id}/compare/")
    page.go_back()
    page.locator("tr[data-run='resnet-2'] a:has-text('Dashboard')").click()
    page.wait_for_url(f"**/runs/{second.pk}/dashboard/")
