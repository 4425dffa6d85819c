from datetime import timedelta

from mlstrat.review.selectors import category_shares, example_detail, progress, reviews_for_run
from mlstrat.review.services import comment_add, review_create, tag_set
from tests.factories import PredictionFactory, RunFactory


def test_percent_of_total_counts_examples_not_ticks(run, alice, bob, carol, errors, blurry, dark):
    review = review_create(run=run, created_by=alice, name="x", sample_size=10, seed=1)
    items = [i.example for i in review.items.all()]
    tag_set(run=run, example=items[0], category=blurry, user=bob)
    tag_set(run=run, example=items[0], category=blurry, user=carol)  # same example: counts once
    tag_set(run=run, example=items[1], category=blurry, user=carol)
    tag_set(run=run, example=items[2], category=dark, user=carol)
    outside = next(p.example for p in errors if p.example not in items)
    tag_set(run=run, example=outside, category=dark, user=carol)  # not in the review
    shares = category_shares(run=run, review=review)
    assert shares["total"] == 10
    assert shares["categories"][blurry.pk] == {"count": 2, "share": 0.2}
    assert shares["categories"][dark.pk] == {"count": 1, "share": 0.1}


def test_progress_counts_reviewed_examples_per_person(run, alice, bob, carol, errors, blurry):
    review = review_create(run=run, created_by=alice, name="x", sample_size=5, seed=2)
    items = [i.example for i in review.items.all()]
    tag_set(run=run, example=items[0], category=blurry, user=bob)
    tag_set(run=run, example=items[1], category=blurry, user=carol)
    comment_add(run=run, example=items[2], user=carol, text="no category fits")
    result = progress(run=run, review=review)
    assert (result["reviewed"], result["total"]) == (3, 5)
    assert {p["username"]: p["reviewed"] for p in result["by_user"]} == {"bob": 1, "carol": 2}
    assert [r.reviewed_count for r in reviews_for_run(run=run)] == [3]


def test_the_large_view_has_top5_and_history(run, dataset, carol, blurry):
    earlier = RunFactory(dataset=dataset, name="older")
    probabilities = {"cat": 0.05, "dog": 0.9, "bird": 0.05}
    prediction = PredictionFactory(run=run, predicted_label="dog", probabilities=probabilities)
    PredictionFactory(run=earlier, example=prediction.example, predicted_label="bird")
    tag_set(run=earlier, example=prediction.example, category=blurry, user=carol)
    detail = example_detail(run=run, example=prediction.example)
    assert [t["label"] for t in detail["top5"]] == ["dog", "cat", "bird"]
    assert detail["label_probability"] == 0.05
    history = {h["run_name"]: h for h in detail["history"]}
    assert history["older"]["prediction"] == "bird" and history["older"]["tags"] == ["Blurry"]
    assert history[run.name]["current"] is True


def test_earlier_tags_are_suggested(api, run, dataset, carol, bob, blurry):
    earlier = RunFactory(
        dataset=dataset, name="older", imported_at=run.imported_at - timedelta(days=1)
    )
    later = PredictionFactory(run=run)
    PredictionFactory(run=earlier, example=later.example)
    tag_set(run=earlier, example=later.example, category=blurry, user=bob)
    api.force_authenticate(carol)
    rows = api.get(f"/api/v1/runs/{run.pk}/sheet/").json()["rows"]
    assert rows[0]["suggestions"] == [blurry.pk]


def test_the_example_endpoint_is_scoped(api, mallory, carol, run, errors):
    example = errors[0].example
    api.force_authenticate(mallory)
    assert api.get(f"/api/v1/runs/{run.pk}/examples/{example.pk}/").status_code == 404
    api.force_authenticate(carol)
    assert api.get(f"/api/v1/runs/{run.pk}/examples/{example.pk}/").status_code == 200
