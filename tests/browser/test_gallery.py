"""The gallery: the sheet's examples as large thumbnails, same filters and keys, size
remembered per user, small images drawn with hard pixels."""

from playwright.sync_api import expect

from mlstrat.review.models import ErrorCategory, Tag

from .conftest import login, screenshot
from .test_sheet import sheet  # noqa: F401 - the same digits, run and review


def open_gallery(page, live_server, project, sheet, user, query=""):  # noqa: F811
    login(page, live_server, user)
    run, review = sheet["run"], sheet["review"]
    page.goto(
        f"{live_server.url}/p/{project.slug}/runs/{run.pk}/reviews/{review.pk}/gallery/{query}"
    )
    page.wait_for_selector("#gallery .g-card")
    return page


def test_gallery_shows_the_review_with_sizes_remembered(page, live_server, project, sheet, carol):  # noqa: F811
    open_gallery(page, live_server, project, sheet, carol)
    assert page.locator("#gallery .g-card").count() == 12
    expect(page.locator("#gallery")).to_have_class("gallery size-m")
    image = page.locator("#gallery .g-card").first.locator("img")
    expect(image).to_have_class("pixelated")  # a 32 px digit in a 160 px box
    assert image.bounding_box()["width"] == 160
    page.click(".size-switch button[data-size=l]")
    assert image.bounding_box()["width"] == 256
    screenshot(page, "gallery")
    page.reload()
    page.wait_for_selector("#gallery .g-card")
    expect(page.locator("#gallery")).to_have_class("gallery size-l")
    expect(page.locator(".size-switch button[data-size=l]")).to_have_attribute(
        "aria-pressed", "true"
    )


def test_gallery_keys_tick_and_enter_opens_the_sheet(page, live_server, project, sheet, carol):  # noqa: F811
    open_gallery(page, live_server, project, sheet, carol)
    page.keyboard.press("j")
    page.keyboard.press("b")
    blurry = ErrorCategory.objects.get(name="Blurry")
    second = page.locator("#gallery .g-card").nth(1)
    expect(second.locator(f".g-tick.on[data-category='{blurry.pk}']")).to_be_visible()
    example = int(second.get_attribute("data-example"))
    assert Tag.objects.filter(user=carol, category=blurry, example_id=example).exists()
    page.keyboard.press("b")  # again: untick
    expect(second.locator(".g-tick")).to_have_count(0)
    assert not Tag.objects.filter(user=carol).exists()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/reviews/{sheet['review'].pk}/?open={example}")
    page.wait_for_selector("#large-view[open]")


def test_gallery_filters_are_the_sheets(page, live_server, project, sheet, carol):  # noqa: F811
    open_gallery(page, live_server, project, sheet, carol, query="?label=3")
    labels = page.locator("#gallery .g-card .label-pill").all_inner_texts()
    assert labels and set(labels) == {"3"}
    expect(page.locator("#filters select[name=label]")).to_have_value("3")
    page.select_option("#filters select[name=label]", "")
    page.wait_for_url("**/gallery/?view=mine")
    assert page.locator("#gallery .g-card").count() == 12
    expect(page.locator("#sheet-link")).to_have_attribute(
        "href", f"/p/{project.slug}/runs/{sheet['run'].pk}/reviews/{sheet['review'].pk}/?view=mine"
    )


def test_zero_marks_an_example_reviewed_from_the_gallery(page, live_server, project, sheet, carol):  # noqa: F811
    from mlstrat.review.models import ReviewMark

    open_gallery(page, live_server, project, sheet, carol)
    page.keyboard.press("0")
    first = page.locator("#gallery .g-card").first
    expect(first.locator(".g-reviewed")).to_be_visible()
    example = int(first.get_attribute("data-example"))
    mark = ReviewMark.objects.get(user=carol, item__example_id=example)
    assert mark.reviewed and not Tag.objects.filter(user=carol).exists()
