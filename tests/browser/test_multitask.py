"""A multi-task dataset in the browser: the sheet of one task's review shows every task's
label and prediction per image, an annotator tags that task's error, an unknown label of
another task is filled in from the sheet's link and accepted by a lead, and that task's
figures on the dashboard change."""

import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw

from mlstrat.analytics.services import snapshot_compute
from mlstrat.datasets.models import Example
from mlstrat.review.models import Tag
from mlstrat.review.services import category_create, review_create
from tests.factories import RunFactory
from tests.multitask import add_image, make_multitask_dataset

from .conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def digit_png(text):
    image = Image.new("L", (32, 32), 0)
    ImageDraw.Draw(image).text((10, 5), text, fill=255, font_size=20)
    buffer = io.BytesIO()
    image.resize((96, 96), Image.NEAREST).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def mt_run(project, alice, bob, carol):
    """Ten dev digits with tasks `even` and `big` (> 4): `even` wrong on d0-d2, `big`
    wrong on d5-d6; d3's `even` label is unknown and d3's `big` is wrong."""
    dataset = make_multitask_dataset(project, name="digits-mt")
    run = RunFactory(dataset=dataset, name="mt-logreg")
    category_create(dataset=dataset, name="Blurry", key="b", color="#4e79a7", created_by=alice)
    for i in range(10):
        labels = {"even": "yes" if i % 2 == 0 else "no", "big": "yes" if i > 4 else "no"}
        predictions = dict(labels)
        if i in (0, 1, 2):
            predictions["even"] = "no" if labels["even"] == "yes" else "yes"
        if i in (3, 5, 6):
            predictions["big"] = "no" if labels["big"] == "yes" else "yes"
        if i == 3:
            labels["even"] = ""  # unknown; predicted "no" (3 is odd)
        add_image(run, f"d{i:04d}", labels, predictions)
        name = default_storage.save(f"datasets/mt/d{i}.png", ContentFile(digit_png(str(i))))
        Example.objects.filter(dataset=dataset, example_id=f"d{i:04d}").update(
            image=name, thumbnail=name
        )
    snapshot_compute(run=run)  # the examples were written directly, not imported
    return run


def dev_error_row(page):
    return page.locator("#panel-splits tr[data-split=dev]")


def test_a_tasks_error_is_tagged_and_an_unknown_label_filled_in(
    new_page, live_server, mt_run, bob, carol
):
    review = review_create(run=mt_run, created_by=bob, name="Even", task="even", sample_size=None)

    # Carol opens the review of task `even`: only that task's errors, every task shown.
    sheet = new_page()
    login(sheet, live_server, carol)
    sheet.goto(f"{live_server.url}/p/cat-app/runs/{mt_run.pk}/reviews/{review.pk}/")
    sheet.wait_for_selector("#sheet-body tr")
    rows = sheet.locator("#sheet-body tr")
    assert rows.count() == 3
    assert {rows.nth(i).locator(".col-task").inner_text() for i in range(3)} == {"even"}
    assert rows.first.locator(".task-item").count() == 2
    # The footer's shares stand under their category columns.
    blurry_head = sheet.locator("th.col-cat", has_text="Blurry").bounding_box()
    blurry_share = sheet.locator("#sheet-foot td.share").nth(1).bounding_box()
    assert abs(blurry_head["x"] - blurry_share["x"]) < 2
    screenshot(sheet, "multitask-sheet")
    sheet.keyboard.press("b")
    sheet.wait_for_timeout(50)
    sheet.locator(".cat-cell.saving").first.wait_for(state="detached")
    tag = Tag.objects.get(user=carol)
    assert (tag.example.task, tag.category.name) == ("even", "Blurry")

    # The dashboard of task `even`: 3 wrong of 9 known dev labels, one unknown.
    board = f"{live_server.url}/p/cat-app/runs/{mt_run.pk}/dashboard/?task=even"
    sheet.goto(board)
    assert sheet.locator("#current-task").inner_text() == "even"
    assert dev_error_row(sheet).locator(".split-error").inner_text() == "33.3%"
    assert "(1 unknown)" in dev_error_row(sheet).locator(".coverage").inner_text()

    # The gallery of the same review names the task on every card.
    sheet.goto(f"{live_server.url}/p/cat-app/runs/{mt_run.pk}/reviews/{review.pk}/gallery/")
    sheet.wait_for_selector(".task-badge")
    assert sheet.locator(".g-labels .task-badge").first.inner_text() == "even"

    # On the run's sheet of task `big`, d3's unknown `even` label shows as "?", linked.
    sheet.goto(f"{live_server.url}/p/cat-app/runs/{mt_run.pk}/sheet/?task=big")
    sheet.wait_for_selector("#sheet-body tr")
    assert sheet.locator("select[name=task]").input_value() == "big"
    d3 = sheet.locator("#sheet-body tr", has=sheet.locator("code", has_text="d0003"))
    unknown = d3.locator(".task-item[data-task=even]")
    assert unknown.locator(".task-label").inner_text() == "?"
    unknown.locator("a.task-name").click()
    sheet.wait_for_selector("text=Fill in the unknown label")
    assert sheet.locator("#label-in-force").inner_text() == "?"
    sheet.select_option("select[name=label]", "no")
    sheet.click("button:has-text('Propose')")
    sheet.wait_for_selector(".msg-success")

    # Bob accepts it in the queue; d3's `even` prediction ("no") is now right.
    lead = new_page()
    login(lead, live_server, bob)
    lead.goto(f"{live_server.url}/p/cat-app/labels/?dataset={mt_run.dataset_id}")
    lead.wait_for_selector(".proposal.current")
    assert "task even" in lead.locator(".ex-card").first.inner_text()
    screenshot(lead, "multitask-label-queue")
    lead.keyboard.press("a")
    lead.wait_for_selector(".msg-success")
    filled = Example.objects.get(example_id="d0003", task="even")
    assert filled.label == "no"
    assert filled.predictions.get().is_error is False

    # The figures of task `even` change: 3 wrong of 10, every label known; `big` does not.
    lead.goto(board)
    if lead.locator("#stale-badge").inner_text() != "up to date":
        lead.reload()
    assert dev_error_row(lead).locator(".split-error").inner_text() == "30.0%"
    assert "(0 unknown)" in dev_error_row(lead).locator(".coverage").inner_text()
    assert lead.locator("#tasks-overview").is_visible()
    screenshot(lead, "multitask-dashboard")
    lead.select_option("select[name=task]", "big")
    lead.wait_for_url("**task=big**")
    assert dev_error_row(lead).locator(".split-error").inner_text() == "30.0%"  # 3 of 10
