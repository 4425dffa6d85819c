from datetime import timedelta

from mlstrat.review.selectors import (
    SheetQuery,
    example_detail,
    progress,
    review_tally,
    reviews_for_run,
    sheet_rows,
)
from mlstrat.review.services import comment_add, marks_apply, review_create, tag_set
from tests.factories import PredictionFactory, RunFactory


def test_shares_count_examples_not_ticks_over_the_reviewed(
    run, alice, bob, carol, errors, blurry, dark
):
    review = review_create(run=run, created_by=alice, name="x", sample_size=10, seed=1)
    items = [i.example for i in review.items.order_by("position")]
    tag_set(run=run, example=items[0], category=blurry, user=bob, review=review)
    tag_set(run=run, example=items[0], category=blurry, user=carol, review=review)
    tag_set(run=run, example=items[1], category=blurry, user=carol, review=review)
    tag_set(run=run, example=items[2], category=dark, user=carol, review=review)
    marks_apply(review=review, examples=items[3:5], user=carol)  # nothing applies
    outside = next(p.example for p in errors if p.example not in items)
    tag_set(run=run, example=outside, category=dark, user=carol)  # not in the review
    tally = review_tally(review=review, rule="any")
    assert (tally["reviewed"], tally["sampled"]) == (5, 10)
    assert tally["counts"] == {str(blurry.pk): 2, str(dark.pk): 1}
    assert tally["none"] == 2


def test_ticks_made_elsewhere_do_not_count_until_reviewed_here(run, alice, carol, errors, blurry):
    first = review_create(run=run, created_by=alice, name="first", sample_size=None, seed=1)
    example = first.items.first().example
    tag_set(run=run, example=example, category=blurry, user=carol, review=first)
    second = review_create(run=run, created_by=alice, name="second", sample_size=None, seed=2)
    assert review_tally(review=second, rule="any")["reviewed"] == 0
    rows = sheet_rows(run=run, review=second, user=alice, query=SheetQuery())["rows"]
    row = next(r for r in rows if r["example"] == example.pk)
    assert row["outside"] == [{"category": blurry.pk, "user": carol.pk, "review": first.pk}]
    marks_apply(review=second, examples=[example], user=carol)
    assert review_tally(review=second, rule="any")["counts"] == {str(blurry.pk): 1}


def test_progress_counts_reviewed_examples_per_person(run, alice, bob, carol, errors, blurry):
    review = review_create(run=run, created_by=alice, name="x", sample_size=5, seed=2)
    items = [i.example for i in review.items.all()]
    tag_set(run=run, example=items[0], category=blurry, user=bob, review=review)
    tag_set(run=run, example=items[1], category=blurry, user=carol, review=review)
    comment_add(run=run, example=items[2], user=carol, text="no category fits", review=review)
    result = progress(run=run, review=review, rule="majority")
    assert (result["reviewed"], result["total"]) == (3, 5)
    assert {p["username"]: p["reviewed"] for p in result["by_user"]} == {"bob": 1, "carol": 2}
    assert [r.reviewed_count for r in reviews_for_run(run=run, rule="majority")] == [3]


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


def _doubted_in_an_earlier_run(run, dataset, bob, incorrect):
    earlier = RunFactory(
        dataset=dataset, name="older", imported_at=run.imported_at - timedelta(days=1)
    )
    later = PredictionFactory(run=run, predicted_label="dog")
    PredictionFactory(run=earlier, example=later.example, predicted_label="dog")
    tag_set(run=earlier, example=later.example, category=incorrect, user=bob, proposed_label="dog")
    return later.example


def test_incorrectly_labeled_is_suggested_again_while_its_correction_is_pending(
    api, run, dataset, carol, bob, incorrect
):
    example = _doubted_in_an_earlier_run(run, dataset, bob, incorrect)
    api.force_authenticate(carol)
    row = api.get(f"/api/v1/runs/{run.pk}/sheet/").json()["rows"][0]
    assert row["example"] == example.pk
    assert row["suggestions"] == [incorrect.pk] and row["suggested_label"] == "dog"


def test_a_rejected_correction_is_not_suggested_again(api, run, dataset, carol, bob, incorrect):
    from mlstrat.labels.models import LabelCorrection
    from mlstrat.labels.services import correction_reject

    _doubted_in_an_earlier_run(run, dataset, bob, incorrect)
    correction_reject(correction=LabelCorrection.objects.get(), reviewer=bob, expected_version=0)
    api.force_authenticate(carol)
    assert api.get(f"/api/v1/runs/{run.pk}/sheet/").json()["rows"][0]["suggestions"] == []


def test_an_accepted_correction_changed_the_label_so_nothing_is_suggested(
    api, run, dataset, carol, bob, incorrect
):
    from mlstrat.labels.models import LabelCorrection
    from mlstrat.labels.services import correction_accept

    example = _doubted_in_an_earlier_run(run, dataset, bob, incorrect)
    correction_accept(correction=LabelCorrection.objects.get(), reviewer=bob, expected_version=0)
    example.refresh_from_db()
    assert example.label == "dog"
    api.force_authenticate(carol)
    # Now correctly labeled, the example is no longer an error of this run at all.
    assert api.get(f"/api/v1/runs/{run.pk}/sheet/").json()["rows"] == []
