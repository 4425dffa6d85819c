from django.urls import reverse

from mlstrat.labels.models import CorrectSample
from tests.factories import ExampleFactory, PredictionFactory


def _correct_predictions(run, dataset, n=8):
    for i in range(n):
        example = ExampleFactory(dataset=dataset, example_id=f"ok-{i}", label="dog")
        PredictionFactory(run=run, example=example, predicted_label="dog")


def test_a_lead_draws_and_a_member_reviews_a_sample(as_user, bob, carol, dataset, runs):
    _correct_predictions(runs[1], dataset)
    lead = as_user(bob)
    response = lead.post(
        reverse("label-sample-draw", args=["cat-app"]),
        {"run": runs[1].pk, "split": "dev", "size": 3, "seed": 5},
        follow=True,
    )
    assert "Drew 3 of 8 correct predictions (seed 5)" in response.content.decode()
    sample = CorrectSample.objects.get()
    first, second = sample.items.all()[:2]
    member = as_user(carol)
    url = reverse("label-sample-check", args=["cat-app"])
    member.post(url, {"item": first.pk, "outcome": "confirmed"})
    member.post(url, {"item": second.pk, "outcome": "corrected", "label": "bird"})
    page = reverse("label-samples", args=["cat-app"])
    body = member.get(page, {"sample": sample.pk}).content.decode()
    assert "1 bad of 2 checked: <strong>50.0%</strong>" in body
    assert "95% CI 9.5%–90.5%" in body


def test_an_annotator_cannot_draw(as_user, carol, dataset, runs):
    url = reverse("label-sample-draw", args=["cat-app"])
    assert (
        as_user(carol).post(url, {"run": runs[1].pk, "split": "dev", "size": 3}).status_code == 403
    )


def test_a_bad_size_is_explained(as_user, bob, dataset, runs):
    _correct_predictions(runs[1], dataset)
    response = as_user(bob).post(
        reverse("label-sample-draw", args=["cat-app"]),
        {"run": runs[1].pk, "split": "dev", "size": "lots"},
        follow=True,
    )
    assert "whole number" in response.content.decode()
    assert not CorrectSample.objects.exists()


def test_a_check_without_a_verdict_is_a_400(as_user, bob, carol, dataset, runs):
    _correct_predictions(runs[1], dataset)
    as_user(bob).post(
        reverse("label-sample-draw", args=["cat-app"]),
        {"run": runs[1].pk, "split": "dev", "size": 1},
    )
    item = CorrectSample.objects.get().items.get()
    url = reverse("label-sample-check", args=["cat-app"])
    assert as_user(carol).post(url, {"item": item.pk, "outcome": "maybe"}).status_code == 400


def test_a_seed_beyond_64_bits_is_explained(as_user, bob, dataset, runs):
    _correct_predictions(runs[1], dataset)
    response = as_user(bob).post(
        reverse("label-sample-draw", args=["cat-app"]),
        {"run": runs[1].pk, "split": "dev", "size": 3, "seed": str(2**63)},
        follow=True,
    )
    assert response.status_code == 200
    assert "The seed is a whole number from 0 to 9223372036854775807." in (
        response.content.decode()
    )
    assert not CorrectSample.objects.exists()
