from django.urls import reverse

from mlstrat.labels.services import label_scores_compute
from tests.factories import ExampleFactory, PredictionFactory, RunFactory

from .test_ranking import TABLE


def _ranked_run(dataset):
    run = RunFactory(dataset=dataset, name="probs", has_probabilities=True)
    for key, probabilities, label in TABLE:
        example = ExampleFactory(dataset=dataset, example_id=f"rk-{key}", label=label)
        PredictionFactory(
            run=run,
            example=example,
            predicted_label=max(probabilities, key=probabilities.get),
            probabilities=probabilities,
        )
    return run


def test_a_lead_ranks_a_run_from_the_page(as_user, bob, dataset):
    run = _ranked_run(dataset)
    client = as_user(bob)
    url = reverse("label-ranking", args=["cat-app"])
    assert "is not ranked yet" in client.get(url).content.decode()
    client.post(reverse("label-ranking-compute", args=["cat-app"]), {"run": run.pk})
    body = client.get(url, {"run": run.pk}).content.decode()
    positions = [body.index(f">rk-{key}<") for key in "cbdfea"]
    assert positions == sorted(positions)


def test_a_member_proposes_straight_from_the_ranking(as_user, carol, dataset):
    run = _ranked_run(dataset)
    label_scores_compute(run=run)
    example = dataset.examples.get(example_id="rk-c")
    client = as_user(carol)
    back = reverse("label-ranking", args=["cat-app"]) + f"?run={run.pk}"
    response = client.post(
        reverse("label-example-propose", args=["cat-app", example.pk]),
        {"label": "dog", "back": back, "run": run.pk},
    )
    assert response["Location"] == back
    assert example.corrections.get().run == run
    assert "proposal pending" in client.get(back).content.decode()


def test_an_annotator_cannot_compute_a_ranking(as_user, carol, dataset):
    run = _ranked_run(dataset)
    url = reverse("label-ranking-compute", args=["cat-app"])
    assert as_user(carol).post(url, {"run": run.pk}).status_code == 403


def test_a_run_of_another_dataset_is_not_found(as_user, carol, dataset):
    url = reverse("label-ranking", args=["cat-app"])
    assert as_user(carol).get(url, {"run": 999999}).status_code == 404
