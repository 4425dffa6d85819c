from mlstrat.review.models import Review
from mlstrat.review.services import marks_apply, review_create, tag_set


def test_a_member_starts_a_review_through_the_api(api, carol, run, errors):
    api.force_authenticate(carol)
    response = api.post(
        "/api/v1/reviews/",
        {"run": run.pk, "name": "mine", "sample_size": 5, "seed": 9},
        format="json",
    )
    assert response.status_code == 201, response.content
    review = Review.objects.get(pk=response.json()["id"])
    assert review.items.count() == 5 and review.seed == 9


def test_a_review_with_bad_filters_is_a_400(api, carol, run, errors):
    api.force_authenticate(carol)
    response = api.post(
        "/api/v1/reviews/", {"run": run.pk, "name": "x", "filters": {"bogus": 1}}, format="json"
    )
    assert response.status_code == 400
    assert "bogus" in str(response.json())


def test_detail_shows_progress_and_shares(api, alice, carol, run, errors, blurry):
    review = review_create(run=run, created_by=alice, name="x", sample_size=4, seed=1)
    first, second = [i.example for i in review.items.order_by("position")[:2]]
    tag_set(run=run, example=first, category=blurry, user=carol, review=review)
    marks_apply(review=review, examples=[second], user=carol)  # looked: nothing applies
    api.force_authenticate(carol)
    data = api.get(f"/api/v1/reviews/{review.pk}/").json()
    assert data["progress"]["reviewed"] == 2 and data["progress"]["total"] == 4
    figures = data["figures"]
    assert (figures["rule"], figures["reviewed"], figures["sampled"]) == ("majority", 2, 4)
    blurry_row = next(c for c in figures["categories"] if c["id"] == blurry.pk)
    assert (blurry_row["k"], blurry_row["n"], blurry_row["share"]) == (1, 2, 0.5)
    assert (figures["other"]["k"], figures["other"]["share"]) == (1, 0.5)


def test_outsider_cannot_see_or_create_reviews(api, alice, mallory, run, errors):
    review = review_create(run=run, created_by=alice, name="x", sample_size=4, seed=1)
    api.force_authenticate(mallory)
    assert api.get(f"/api/v1/reviews/{review.pk}/").status_code == 404
    assert api.get(f"/api/v1/reviews/{review.pk}/rows/").status_code == 404
    assert api.post(f"/api/v1/reviews/{review.pk}/extend/", {"by": 2}).status_code == 404
    response = api.post("/api/v1/reviews/", {"run": run.pk, "name": "x"}, format="json")
    assert response.status_code == 404


def test_only_a_lead_or_the_creator_extends(api, alice, bob, carol, run):
    from tests.review.conftest import make_errors

    make_errors(run, 10)
    review = review_create(run=run, created_by=alice, name="x", sample_size=4, seed=1)
    api.force_authenticate(carol)
    assert (
        api.post(f"/api/v1/reviews/{review.pk}/extend/", {"by": 2}, format="json").status_code
        == 403
    )
    api.force_authenticate(bob)
    response = api.post(f"/api/v1/reviews/{review.pk}/extend/", {"by": 2}, format="json")
    assert response.status_code == 200 and response.json()["added"] == 2
    assert (
        api.post(f"/api/v1/reviews/{review.pk}/extend/", {"by": "x"}, format="json").status_code
        == 400
    )


def test_reviews_are_listed_per_run(api, alice, carol, run, errors):
    review_create(run=run, created_by=alice, name="x", sample_size=4, seed=1)
    api.force_authenticate(carol)
    data = api.get(f"/api/v1/reviews/?run={run.pk}").json()
    assert [r["name"] for r in data["results"]] == ["x"]
