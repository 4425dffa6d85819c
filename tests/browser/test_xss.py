"""Stored XSS through every text a person can type (Label Studio CVE-2024-26152 and
kin): labels and class names, category names and descriptions, comments, run and dataset
names, metadata keys and values, review names, correction reasons, import messages. Each
page people use is opened in Chromium (charts hovered, the large view opened): nothing
runs, no element is injected, no javascript: link exists, and the text is shown escaped."""

import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from mlstrat.imports.models import ImportJob, JobStatus
from mlstrat.labels import services as label_services
from mlstrat.review import services as review_services
from mlstrat.review.models import Comment, ReviewMark, Tag
from tests.factories import DatasetFactory, ExampleFactory, PredictionFactory, RunFactory

from .conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT = "<script>window.__xss=1</script>"
IMG = '"><img src=x onerror="window.__xss=1">'
JS = "javascript:window.__xss=1"
PAYLOADS = [SCRIPT, IMG, JS]
ALL = " ".join(PAYLOADS)
CLASSES = [SCRIPT, IMG, JS, "cat"]

# Runs in the page: what an injection would have left behind.
PROBE = """() => ({
  ran: typeof window.__xss !== "undefined",
  injectedImages: document.querySelectorAll('img[src="x"]').length,
  handlers: [...document.querySelectorAll("*")].filter(
    (el) => [...el.attributes].some((a) => a.name.startsWith("on"))).length,
  scripts: [...document.scripts].filter(
    (s) => (!s.type || /javascript|module/i.test(s.type)) && s.textContent.includes("__xss")
  ).length,
  javascriptUrls: document.querySelectorAll(
    'a[href^="javascript:" i], [src^="javascript:" i], form[action^="javascript:" i], ' +
    '[formaction^="javascript:" i], iframe[srcdoc]').length,
  violations: window.__cspViolations || [],
  shown: document.body.innerText.includes("window.__xss=1"),
})"""
RECORD_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.sample || e.blockedURI));
});
"""


def png(color):
    buffer = io.BytesIO()
    Image.new("RGB", (24, 24), color).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def hostile(project, alice, bob, carol):
    project.name = f"Cats {IMG}"
    project.save()
    dataset = DatasetFactory(project=project, name=SCRIPT, class_names=CLASSES)
    run = RunFactory(dataset=dataset, name=IMG, has_probabilities=True)
    older = RunFactory(dataset=dataset, name=JS, has_probabilities=True)
    examples = []
    for i in range(12):
        label = CLASSES[i % 4]
        predicted = CLASSES[(i + 1) % 4] if i < 8 else label  # 8 dev errors, 4 right
        name = default_storage.save(f"datasets/xss/{i}.png", ContentFile(png("red")))
        example = ExampleFactory(
            dataset=dataset,
            example_id=f"{PAYLOADS[i % 3]}#{i}",
            label=label,
            split="dev",
            source=PAYLOADS[(i + 1) % 3],
            image=name,
            thumbnail=name,
            metadata={SCRIPT: IMG, IMG: JS, "note": JS, "n": i},
        )
        probabilities = {c: 0.1 for c in CLASSES}
        probabilities[predicted] = 0.7
        for r in (run, older):
            PredictionFactory(
                run=r,
                example=example,
                predicted_label=predicted,
                confidence=0.7,
                probabilities=probabilities,
            )
        examples.append(example)
    categories = [
        review_services.category_create(
            dataset=dataset, name=text, created_by=alice, key="bdf"[n], description=ALL
        )
        for n, text in enumerate(PAYLOADS)
    ]
    review = review_services.review_create(run=run, created_by=alice, name=SCRIPT, seed=1)
    review_services.review_create(run=run, created_by=bob, name=IMG, seed=2)
    for n, example in enumerate(examples[:8]):
        for user in (bob, carol):
            Tag.objects.create(run=run, example=example, category=categories[n % 3], user=user)
        Comment.objects.create(run=run, example=example, user=carol, text=PAYLOADS[n % 3])
    for item in review.items.filter(example__in=examples[:8]):
        for user in (bob, carol):
            ReviewMark.objects.create(review=review, item=item, user=user)
    for n, example in enumerate(examples[:4]):
        correction = label_services.correction_propose(
            example=example,
            proposed_label=CLASSES[(n + 2) % 4],
            proposed_by=carol,
            reason=PAYLOADS[n % 3],
            run=run,
        )
        if n < 2:
            label_services.correction_accept(
                correction=correction,
                reviewer=bob,
                expected_version=correction.version,
                note=ALL,
            )
    label_services.label_scores_compute(run=run)
    label_services.correct_sample_draw(run=run, split="dev", size=3, created_by=bob, seed=1)
    job = ImportJob.objects.create(
        project=project,
        dataset=dataset,
        dataset_name=SCRIPT,
        run_name=IMG,
        created_by=alice,
        status=JobStatus.FAILED,
        message=f"Nothing was imported: {ALL}",
        errors=[
            {"line": 2, "column": IMG, "message": SCRIPT},
            {"line": 3, "column": JS, "message": JS},
        ],
        error_count=2,
    )
    return {
        "project": project,
        "dataset": dataset,
        "run": run,
        "review": review,
        "example": examples[0],
        "job": job,
    }


def assert_clean(page, what, *, expect_shown=True):
    page.wait_for_load_state("networkidle")
    found = page.evaluate(PROBE)
    assert found["ran"] is False, what
    assert found["injectedImages"] == 0, what
    assert found["handlers"] == 0, what
    assert found["scripts"] == 0, what
    assert found["javascriptUrls"] == 0, what
    assert [v for v in found["violations"] if v.startswith("script-src")] == [], what
    if expect_shown:
        assert found["shown"], f"{what}: the payload should be shown as text"


def hover_charts(page):
    """Move over every chart canvas so Chart.js draws its tooltips (labels included)."""
    for canvas in page.locator("canvas").all():
        box = canvas.bounding_box()
        if not box or box["width"] < 20:
            continue
        for fx in (0.2, 0.4, 0.6, 0.8):
            for fy in (0.2, 0.5, 0.8):
                page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
                page.wait_for_timeout(30)
                assert page.evaluate("typeof window.__xss") == "undefined"


def test_no_page_runs_what_people_typed(page, live_server, alice, hostile):
    page.add_init_script(RECORD_CSP)
    login(page, live_server, alice)
    base = f"{live_server.url}/p/{hostile['project'].slug}"
    run, dataset, review = hostile["run"], hostile["dataset"], hostile["review"]
    pages = [
        ("projects", f"{live_server.url}/"),
        ("home", f"{base}/"),
        ("members", f"{base}/members/"),
        ("imports", f"{base}/imports/"),
        ("import job", f"{base}/imports/{hostile['job'].pk}/"),
        ("reviews", f"{base}/runs/{run.pk}/reviews/"),
        ("run sheet", f"{base}/runs/{run.pk}/sheet/"),
        ("label queue", f"{base}/labels/"),
        ("ranking", f"{base}/labels/ranking/?run={run.pk}"),
        ("samples", f"{base}/labels/samples/"),
        ("patterns", f"{base}/labels/patterns/"),
        ("example history", f"{base}/labels/examples/{hostile['example'].pk}/"),
    ]
    for what, url in pages:
        response = page.goto(url)
        assert response.status == 200, (what, response.status)
        assert_clean(page, what, expect_shown=what != "members")

    page.goto(f"{base}/runs/{run.pk}/reviews/{review.pk}/")
    page.wait_for_selector("#sheet-body tr")
    assert_clean(page, "sheet")
    page.keyboard.press("Enter")
    page.wait_for_selector("#large-view[open] .lv-history")
    assert_clean(page, "sheet large view")
    screenshot(page, "xss-sheet-large-view")

    page.goto(f"{base}/runs/{run.pk}/dashboard/")
    page.wait_for_selector("#shares-chart[style*='width']")
    hover_charts(page)
    assert_clean(page, "dashboard")
    screenshot(page, "xss-dashboard")

    page.goto(f"{base}/datasets/{dataset.pk}/compare/")
    page.wait_for_selector("#trend-chart[style*='width']")
    hover_charts(page)
    assert_clean(page, "runs compared")


def test_the_probe_sees_an_injection(page):
    page.set_content(f"<p>{IMG}</p><a href='{JS}'>x</a><script>window.__xss=1</script>")
    found = page.evaluate(PROBE)
    assert found["ran"] is True
    assert found["injectedImages"] == 1
    assert found["handlers"] == 1
    assert found["scripts"] == 1
    assert found["javascriptUrls"] == 1
