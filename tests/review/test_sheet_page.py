import json

from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mlstrat.review.services import category_create, comment_add, review_create, tag_set
from tests.review.conftest import make_errors


def config(response):
    html = response.content.decode()
    start = html.index('<script id="sheet-config" type="application/json">') + len(
        '<script id="sheet-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def sheet_url(project, run, review=None, query=""):
    if review:
        return f"/p/{project.slug}/runs/{run.pk}/reviews/{review.pk}/{query}"
    return f"/p/{project.slug}/runs/{run.pk}/sheet/{query}"


def test_a_member_sees_the_review_sheet(as_user, project, alice, carol, run, errors, blurry):
    review = review_create(run=run, created_by=alice, name="First look", sample_size=5, seed=1)
    example = review.items.order_by("position").first().example
    tag_set(run=run, example=example, category=blurry, user=carol, review=review)
    response = as_user(carol).get(sheet_url(project, run, review))
    assert response.status_code == 200
    assert b"First look" in response.content
    data = config(response)
    assert len(data["rows"]) == 5
    assert data["rows"][0]["tags"] == {str(blurry.pk): [carol.pk]}
    assert [c["name"] for c in data["categories"]] == ["Incorrectly labeled", "Blurry"]
    blurry_row = next(c for c in data["footer"]["categories"] if c["id"] == blurry.pk)
    assert (blurry_row["k"], blurry_row["n"], data["footer"]["sampled"]) == (1, 1, 5)
    assert data["rows"][0]["reviewed_by"] == [carol.pk]
    assert data["progress"]["reviewed"] == 1


def test_the_run_sheet_lists_all_errors_of_the_split(as_user, project, carol, run):
    make_errors(run, 7)
    make_errors(run, 3, split="test")
    assert len(config(as_user(carol).get(sheet_url(project, run)))["rows"]) == 7
    data = config(as_user(carol).get(sheet_url(project, run, query="?split=test")))
    assert len(data["rows"]) == 3 and data["split"] == "test"


def test_the_sheet_filters_by_label_prediction_and_source(as_user, project, carol, run):
    make_errors(run, 4, label="cat", predicted="dog", source="web")
    make_errors(run, 2, label="bird", predicted="cat", source="phone")
    client = as_user(carol)
    assert len(config(client.get(sheet_url(project, run, query="?label=bird")))["rows"]) == 2
    assert len(config(client.get(sheet_url(project, run, query="?prediction=dog")))["rows"]) == 4
    rows = config(client.get(sheet_url(project, run, query="?source=phone")))["rows"]
    assert {r["source"] for r in rows} == {"phone"}


def test_the_sheet_filters_by_category_and_untagged(as_user, project, carol, run, errors, blurry):
    tag_set(run=run, example=errors[0].example, category=blurry, user=carol)
    client = as_user(carol)
    rows = config(client.get(sheet_url(project, run, query=f"?category={blurry.pk}")))["rows"]
    assert [r["example"] for r in rows] == [errors[0].example.pk]
    rows = config(client.get(sheet_url(project, run, query="?untagged=1")))["rows"]
    assert len(rows) == len(errors) - 1


def test_the_sheet_sorts_by_confidence(as_user, project, carol, run):
    for confidence in (0.7, 0.2, 0.9):
        make_errors(run, 1, confidence=confidence)
    rows = config(as_user(carol).get(sheet_url(project, run, query="?sort=-confidence")))["rows"]
    assert [r["confidence"] for r in rows] == [0.9, 0.7, 0.2]


def test_bad_parameters_are_a_400_with_a_reason(as_user, project, carol, run, errors):
    response = as_user(carol).get(sheet_url(project, run, query="?sort=name"))
    assert response.status_code == 400
    assert b"sort is confidence" in response.content


def test_outsiders_get_404(as_user, project, alice, mallory, run, errors):
    review = review_create(run=run, created_by=alice, name="x", sample_size=3)
    assert as_user(mallory).get(sheet_url(project, run, review)).status_code == 404
    assert as_user(mallory).get(sheet_url(project, run)).status_code == 404
    assert as_user(mallory).get(f"/p/{project.slug}/runs/{run.pk}/reviews/").status_code == 404


def test_user_text_is_escaped(as_user, project, alice, carol, run, errors, dataset):
    category_create(dataset=dataset, name="</script><script>alert(1)</script>", created_by=alice)
    comment_add(run=run, example=errors[0].example, user=carol, text="<img src=x onerror=alert(1)>")
    html = as_user(carol).get(sheet_url(project, run)).content.decode()
    assert "<script>alert(1)" not in html
    assert "<img src=x" not in html


def _count_queries(client, url):
    cache.clear()  # the sources menu is cached; count the cold page
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_sheet_uses_a_fixed_number_of_queries(
    as_user, project, alice, bob, carol, run, dataset
):
    make_errors(run, 10)
    review = review_create(run=run, created_by=alice, name="x", sample_size=None, seed=1)
    client = as_user(carol)
    small = _count_queries(client, sheet_url(project, run, review))
    make_errors(run, 90)
    review = review_create(run=run, created_by=alice, name="y", sample_size=None, seed=1)
    for i, key in enumerate("efghi"):
        category = category_create(dataset=dataset, name=f"cat{i}", key=key, created_by=alice)
        for item in review.items.all()[:30]:
            tag_set(run=run, example=item.example, category=category, user=bob, review=review)
            comment_add(run=run, example=item.example, user=carol, text="why", review=review)
    assert review.items.count() == 100
    big = _count_queries(client, sheet_url(project, run, review))
    assert big == small
    assert big <= 28  # 27 + the saved views menu
    assert _count_queries(client, sheet_url(project, run)) <= 26


def test_the_api_pages_by_cursor(api, carol, alice, run):
    make_errors(run, 7)
    review = review_create(run=run, created_by=alice, name="x", sample_size=None, seed=1)
    api.force_authenticate(carol)
    seen, cursor = [], ""
    for _ in range(5):
        data = api.get(f"/api/v1/reviews/{review.pk}/rows/?page_size=3&after={cursor}").json()
        seen += [r["position"] for r in data["rows"]]
        cursor = data["next"]
        if not cursor:
            break
    assert seen == list(range(1, 8))


def test_the_api_pages_by_confidence_cursor(api, carol, run):
    for confidence in (0.5, 0.5, 0.1, 0.9, 0.3):
        make_errors(run, 1, confidence=confidence)
    api.force_authenticate(carol)
    url = f"/api/v1/runs/{run.pk}/sheet/?sort=confidence"
    first = api.get(url).json()
    assert [r["confidence"] for r in first["rows"]] == [0.1, 0.3, 0.5, 0.5, 0.9]
    assert api.get(f"{url}&after=bogus").status_code == 400
