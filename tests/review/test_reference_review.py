"""The reference review drives a run's headlines: by default the unfiltered dev review with
the most reviewed examples; a lead may choose another; starting a review changes nothing."""

import pytest

from mlstrat.analytics.services import snapshot_compute
from mlstrat.review.services import marks_apply, review_create, review_delete, tag_set
from tests.review.conftest import make_errors


@pytest.fixture
def reviewed(run, alice, carol, errors, blurry):
    review = review_create(run=run, created_by=alice, name="main", sample_size=10, seed=1)
    examples = [i.example for i in review.items.order_by("position")]
    for example in examples[:4]:
        tag_set(run=run, example=example, category=blurry, user=carol, review=review)
    marks_apply(review=review, examples=examples[4:8], user=carol)
    return review


def figures(api, run):
    snapshot_compute(run=run)
    return api.get(f"/api/v1/analytics/runs/{run.pk}/").json()


def test_a_new_small_review_on_test_leaves_the_headlines_alone(
    api, run, alice, carol, reviewed, blurry
):
    api.force_authenticate(carol)
    before = figures(api, run)
    assert before["reference"]["id"] == reviewed.pk
    assert before["reference"]["label"] == "“main” (dev) · 8 of 10 reviewed, still moving"
    make_errors(run, 5, split="test")
    other = review_create(run=run, created_by=alice, name="test look", split="test", sample_size=3)
    example = other.items.first().example
    tag_set(run=run, example=example, category=blurry, user=carol, review=other)
    after = figures(api, run)
    assert after["reference"]["id"] == reviewed.pk
    assert after["label_impact"] == before["label_impact"]
    compared = api.get(f"/api/v1/analytics/datasets/{run.dataset_id}/runs/").json()
    assert compared["runs"][0]["reference"]["id"] == reviewed.pk


def test_a_lead_chooses_the_reference_and_goes_back_to_the_default(
    api, run, alice, bob, carol, reviewed
):
    other = review_create(run=run, created_by=alice, name="second", sample_size=2, seed=7)
    url = f"/api/v1/runs/{run.pk}/reference-review/"
    api.force_authenticate(carol)
    assert api.put(url, {"review": other.pk}, format="json").status_code == 403
    api.force_authenticate(bob)
    assert api.put(url, {"review": other.pk}, format="json").json()["chosen"] is True
    assert figures(api, run)["reference"]["id"] == other.pk
    assert api.get(url).json()["review"] == other.pk
    assert api.delete(url).json()["chosen"] is False
    assert figures(api, run)["reference"]["id"] == reviewed.pk


def test_reference_of_another_run_or_project_is_refused(
    api, run, bob, mallory, reviewed, dataset, alice
):
    from tests.factories import RunFactory

    elsewhere = RunFactory(dataset=dataset, name="other run")
    make_errors(elsewhere, 2)
    foreign = review_create(run=elsewhere, created_by=alice, name="there", sample_size=1)
    api.force_authenticate(bob)
    url = f"/api/v1/runs/{run.pk}/reference-review/"
    assert api.put(url, {"review": foreign.pk}, format="json").status_code == 404
    assert api.put(url, {"review": "x"}, format="json").status_code == 400
    assert api.put(url, {}, format="json").status_code == 400
    api.force_authenticate(mallory)
    assert api.get(url).status_code == 404


def test_deleting_the_chosen_reference_falls_back_to_the_default(api, run, bob, alice, reviewed):
    other = review_create(run=run, created_by=alice, name="second", sample_size=2, seed=7)
    api.force_authenticate(bob)
    api.put(f"/api/v1/runs/{run.pk}/reference-review/", {"review": other.pk}, format="json")
    review_delete(review=other)
    assert figures(api, run)["reference"]["id"] == reviewed.pk


def test_only_its_creator_or_a_lead_deletes_a_review(api, run, alice, bob, carol, reviewed):
    mine = review_create(run=run, created_by=carol, name="carol's", sample_size=1, seed=2)
    api.force_authenticate(carol)
    assert api.delete(f"/api/v1/reviews/{reviewed.pk}/").status_code == 403
    assert api.delete(f"/api/v1/reviews/{mine.pk}/").status_code == 204
    api.force_authenticate(bob)
    assert api.delete(f"/api/v1/reviews/{reviewed.pk}/").status_code == 204
