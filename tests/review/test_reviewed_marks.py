"""Reviewed marks: a tick, a comment or "nothing applies" (0) marks an example reviewed
by a person in a review; shares divide by what the team reviewed."""

import pytest

from mlstrat.review.models import ReviewMark
from mlstrat.review.services import review_create


@pytest.fixture
def review(run, alice, errors):
    return review_create(run=run, created_by=alice, name="dev", sample_size=6, seed=4)


def items(review):
    return [i.example for i in review.items.order_by("position")]


def marks_url(review):
    return f"/api/v1/reviews/{review.pk}/marks/"


def test_nothing_applies_marks_reviewed_and_counts_in_n(api, carol, review):
    api.force_authenticate(carol)
    first, second = items(review)[:2]
    response = api.post(marks_url(review), {"action": "set", "example": first.pk}, format="json")
    assert response.status_code == 200 and response.json()["changed"] == {str(first.pk): True}
    again = api.post(marks_url(review), {"action": "set", "example": first.pk}, format="json")
    assert again.json()["changed"] == {str(first.pk): False}  # idempotent
    figures = api.get(f"/api/v1/reviews/{review.pk}/figures/").json()
    assert (figures["reviewed"], figures["sampled"]) == (1, 6)
    assert (figures["other"]["k"], figures["other"]["n"]) == (1, 1)
    api.post(marks_url(review), {"action": "set", "examples": [second.pk]}, format="json")
    assert api.get(f"/api/v1/reviews/{review.pk}/figures/").json()["reviewed"] == 2


def test_taking_the_mark_back(api, carol, review):
    api.force_authenticate(carol)
    first = items(review)[0]
    api.post(marks_url(review), {"action": "set", "example": first.pk}, format="json")
    response = api.post(marks_url(review), {"action": "clear", "example": first.pk}, format="json")
    assert response.json()["changed"] == {str(first.pk): True}
    assert api.get(f"/api/v1/reviews/{review.pk}/figures/").json()["reviewed"] == 0
    assert ReviewMark.objects.get(user=carol).reviewed is False  # kept for teammates' sheets


def test_a_tick_on_the_review_sheet_marks_reviewed(api, carol, run, review, blurry):
    api.force_authenticate(carol)
    first = items(review)[0]
    body = {"action": "set", "category": blurry.pk, "example": first.pk, "review": review.pk}
    assert api.post(f"/api/v1/runs/{run.pk}/tags/", body, format="json").status_code == 200
    figures = api.get(f"/api/v1/reviews/{review.pk}/figures/").json()
    row = next(c for c in figures["categories"] if c["id"] == blurry.pk)
    assert (row["k"], row["n"]) == (1, 1)


def test_a_tick_elsewhere_does_not_mark(api, carol, run, review, blurry):
    api.force_authenticate(carol)
    body = {"action": "set", "category": blurry.pk, "example": items(review)[0].pk}
    assert api.post(f"/api/v1/runs/{run.pk}/tags/", body, format="json").status_code == 200
    assert api.get(f"/api/v1/reviews/{review.pk}/figures/").json()["reviewed"] == 0


def test_a_comment_on_the_review_sheet_marks_reviewed(api, carol, run, review):
    api.force_authenticate(carol)
    body = {"example": items(review)[0].pk, "text": "nothing fits", "review": review.pk}
    assert api.post(f"/api/v1/runs/{run.pk}/comments/", body, format="json").status_code == 201
    assert api.get(f"/api/v1/reviews/{review.pk}/figures/").json()["reviewed"] == 1


def test_examples_outside_the_review_are_refused(api, carol, run, review, errors):
    api.force_authenticate(carol)
    outside = next(p.example for p in errors if p.example not in items(review))
    response = api.post(marks_url(review), {"action": "set", "example": outside.pk}, format="json")
    assert response.status_code == 400 and "Not in review" in response.json()["detail"]
    body = {"action": "set", "category": 1, "example": outside.pk, "review": review.pk}
    assert api.post(f"/api/v1/runs/{run.pk}/tags/", body, format="json").status_code in (400, 404)


@pytest.mark.parametrize(
    "body",
    [{"action": "maybe", "example": 1}, {"action": "set", "examples": []}, {"action": "set"}],
)
def test_bad_mark_bodies_are_400(api, carol, review, body):
    api.force_authenticate(carol)
    assert api.post(marks_url(review), body, format="json").status_code == 400


def test_outsiders_get_404(api, mallory, review):
    api.force_authenticate(mallory)
    body = {"action": "set", "example": items(review)[0].pk}
    assert api.post(marks_url(review), body, format="json").status_code == 404


def test_the_sheet_rows_say_who_reviewed(api, carol, bob, review):
    first = items(review)[0]
    for person in (carol, bob):
        api.force_authenticate(person)
        api.post(marks_url(review), {"action": "set", "example": first.pk}, format="json")
    rows = api.get(f"/api/v1/reviews/{review.pk}/rows/").json()["rows"]
    row = next(r for r in rows if r["example"] == first.pk)
    assert row["reviewed_by"] == sorted([carol.pk, bob.pk])


def test_majority_with_named_annotators_waits_for_most_of_them(api, alice, bob, carol, run, errors):
    review = review_create(
        run=run,
        created_by=alice,
        name="trio",
        sample_size=3,
        seed=1,
        annotators=[alice, bob, carol],
    )
    first = items(review)[0]
    api.force_authenticate(carol)
    api.post(marks_url(review), {"action": "set", "example": first.pk}, format="json")
    assert api.get(f"/api/v1/reviews/{review.pk}/figures/?rule=majority").json()["reviewed"] == 0
    assert api.get(f"/api/v1/reviews/{review.pk}/figures/?rule=any").json()["reviewed"] == 1
    api.force_authenticate(bob)
    api.post(marks_url(review), {"action": "set", "example": first.pk}, format="json")
    figures = api.get(f"/api/v1/reviews/{review.pk}/figures/?rule=majority").json()
    assert (figures["reviewed"], figures["quorum"]) == (1, 2)
