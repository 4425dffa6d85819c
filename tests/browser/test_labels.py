"""A label proposal walked from the sheet through the lead's review queue (keyboard) to
the example's history and the run's dashboard."""

import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw

from mlstrat.labels.models import LabelChange, LabelCorrection
from mlstrat.labels.services import correction_propose
from mlstrat.review.services import review_create
from tests.factories import DatasetFactory, ExampleFactory, PredictionFactory, RunFactory

from .conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)

CLASSES = [str(d) for d in range(10)]


def digit_png(text):
    image = Image.new("L", (32, 32), 0)
    ImageDraw.Draw(image).text((10, 5), text, fill=255, font_size=20)
    buffer = io.BytesIO()
    image.resize((96, 96), Image.NEAREST).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def run(project, alice, bob, carol):
    dataset = DatasetFactory(project=project, name="digits", class_names=CLASSES)
    run = RunFactory(dataset=dataset, name="logreg-c5", has_probabilities=True)
    for i in range(12):
        label = str(i % 10)
        predicted = str((i * 3 + 1) % 10) if i < 6 else label  # six dev errors
        drawn = predicted if i < 3 else label  # the first ones are mislabeled
        name = default_storage.save(f"datasets/labels/d{i}.png", ContentFile(digit_png(drawn)))
        example = ExampleFactory(
            dataset=dataset,
            example_id=f"d{i:04d}",
            label=label,
            split="dev" if i < 8 else "test",
            image=name,
            thumbnail=name,
        )
        probabilities = {c: 0.02 for c in CLASSES}
        probabilities[predicted] = 0.82
        PredictionFactory(
            run=run,
            example=example,
            predicted_label=predicted,
            confidence=0.82,
            probabilities=probabilities,
        )
    return run


def test_a_proposal_from_the_sheet_is_accepted_in_the_queue(
    new_page, live_server, run, alice, bob, carol
):
    review = review_create(run=run, created_by=bob, name="Dev errors", sample_size=8, seed=3)
    target = review.items.order_by("position").first().example
    proposed = str((int(target.label) + 5) % 10)

    # Carol ticks *Incorrectly labeled* on the sheet and says which label it should have.
    sheet = new_page()
    login(sheet, live_server, carol)
    sheet.goto(f"{live_server.url}/p/cat-app/runs/{run.pk}/reviews/{review.pk}/")
    sheet.wait_for_selector("#sheet-body tr")
    sheet.keyboard.press("l")
    sheet.wait_for_selector("#label-dialog[open]")
    sheet.select_option("#label-select", proposed)
    sheet.click("#label-form button.primary")
    sheet.wait_for_timeout(50)
    sheet.locator(".cat-cell.saving").first.wait_for(state="detached")
    assert LabelCorrection.objects.get(proposed_by=carol).example == target
    # Alice disagrees with Carol: both proposals are shown together.
    other = str((int(target.label) + 6) % 10)
    correction_propose(
        example=target, proposed_label=other, proposed_by=alice, reason="<i>looks like</i> it"
    )

    # Bob reviews the queue with the keyboard.
    page = new_page()
    login(page, live_server, bob)
    page.goto(f"{live_server.url}/p/cat-app/")
    page.click("text=Label corrections")
    page.wait_for_selector(".proposal.current")
    card = page.locator(f"#ex-{target.pk}")
    assert card.locator(".proposal").count() == 2
    assert card.locator(".reason").last.inner_text() == "“<i>looks like</i> it”"
    assert page.locator(".balance-warning").is_visible()  # only dev was looked at
    screenshot(page, "label-queue")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert card.locator(".proposal").first.get_attribute("class").endswith("current")
    page.keyboard.press("a")
    page.wait_for_selector(".msg-success")
    assert f"label is now “{proposed}”" in page.locator(".msg-success").inner_text()

    target.refresh_from_db()
    assert (target.label, target.original_label) != (target.original_label, target.original_label)
    assert target.label == proposed
    statuses = dict(LabelCorrection.objects.values_list("proposed_by__username", "status"))
    assert statuses == {"carol": "accepted", "alice": "superseded"}

    # The example's history shows the change, and the lead can revert it.
    page.goto(f"{live_server.url}/p/cat-app/labels/examples/{target.pk}/")
    history = page.locator("#history tbody tr")
    assert history.count() == 1
    assert f"{target.original_label}" in history.first.inner_text()
    assert "bob" in history.first.inner_text()
    assert page.locator("#label-in-force").inner_text() == proposed
    screenshot(page, "label-example-history")

    # The dashboard counts the run's errors against the label in force.
    page.goto(f"{live_server.url}/p/cat-app/runs/{run.pk}/dashboard/")
    page.wait_for_selector("#panel-splits")
    if "catching up" in page.content():
        page.reload()
    assert "had its label corrected" in page.locator("#panel-splits").inner_text()

    page.goto(f"{live_server.url}/p/cat-app/labels/examples/{target.pk}/")
    page.fill("#history input[name=reason]", "Second look: it was right")
    page.click("#history button:has-text('Revert')")
    page.wait_for_selector(".msg-success")
    assert page.locator("#label-in-force").inner_text() == target.original_label
    assert LabelChange.objects.filter(example=target).count() == 2


def test_a_lead_edits_the_label_before_accepting(new_page, live_server, run, bob, carol):
    target = run.dataset.examples.get(example_id="d0001")
    correction_propose(example=target, proposed_label="7", proposed_by=carol, reason="tail")
    page = new_page()
    login(page, live_server, bob)
    page.goto(f"{live_server.url}/p/cat-app/labels/")
    page.wait_for_selector(".proposal.current")
    page.keyboard.press("e")
    focused = page.locator(".proposal.current select[data-edit]")
    assert focused.evaluate("el => el === document.activeElement")
    focused.select_option("4")  # the row takes the keys back once a label is picked
    page.keyboard.press("a")
    page.wait_for_selector(".msg-success")
    target.refresh_from_db()
    assert target.label == "4"
    assert "instead of “7”" in LabelCorrection.objects.get().review_note


def test_a_lead_reviews_likely_bad_labels_and_a_sample_of_correct_ones(
    new_page, live_server, run, bob
):
    page = new_page()
    login(page, live_server, bob)
    page.goto(f"{live_server.url}/p/cat-app/labels/ranking/")
    page.click("button:has-text('Rank logreg-c5')")
    page.wait_for_selector("table.ranking tbody tr")
    first = page.locator("table.ranking tbody tr").first
    assert first.get_attribute("class") == "likely-bad"
    screenshot(page, "label-ranking")
    first.locator("button:has-text('Propose')").click()
    page.wait_for_selector(".msg-success")
    assert page.locator("table.ranking tbody tr").first.locator(".badge-warn").is_visible()
    assert LabelCorrection.objects.filter(proposed_by=bob).count() == 1

    page.goto(f"{live_server.url}/p/cat-app/labels/samples/")
    page.select_option("select[name=split]", "test")
    page.fill("input[name=size]", "4")
    page.fill("input[name=seed]", "12")
    page.click("button:has-text('Draw')")
    page.wait_for_selector(".sample-item")
    items = page.locator(".sample-item")
    assert items.count() == 4
    items.nth(0).locator("button:has-text('Right')").click()
    page.wait_for_selector(".sample-item.outcome-confirmed")
    page.locator(".sample-item").nth(1).locator("button:has-text('Wrong')").click()
    page.wait_for_selector(".sample-item.outcome-corrected")
    assert "1 bad of 2 checked" in page.locator("#sample-estimate").inner_text()
    screenshot(page, "label-samples")
