from mlstrat.datasets.models import Split
from mlstrat.labels.services import correction_accept, correction_propose
from tests.factories import ExampleFactory, PredictionFactory, RunFactory

from .test_ranking import TABLE


def _ranked_run(dataset):
    run = RunFactory(dataset=dataset, name="probs", has_probabilities=True)
    for key, probabilities, label in TABLE:
        example = ExampleFactory(dataset=dataset, example_id=key, label=label)
        PredictionFactory(
            run=run,
            example=example,
            predicted_label=max(probabilities, key=probabilities.get),
            probabilities=probabilities,
        )
    return run


def test_a_lead_ranks_a_run_and_members_read_the_order(
    api, bob, carol, dataset, django_capture_on_commit_callbacks
):
    run = _ranked_run(dataset)
    api.force_authenticate(bob)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/label-scores/compute/", {"run": run.pk})
    assert response.status_code == 202
    api.force_authenticate(carol)
    rows = api.get("/api/v1/label-scores/", {"run": run.pk}).json()["results"]
    assert [r["example_id"] for r in rows] == ["c", "b", "d", "f", "e", "a"]
    rows = api.get("/api/v1/label-scores/", {"run": run.pk, "method": "margin"}).json()["results"]
    assert rows[0]["margin"] < 0
    one = dataset.examples.get(example_id="d")
    rows = api.get("/api/v1/label-scores/", {"run": run.pk, "example": one.pk}).json()["results"]
    assert [r["example_id"] for r in rows] == ["d"]


def test_ranking_asks_for_a_run_and_a_known_method(api, carol, dataset):
    run = _ranked_run(dataset)
    api.force_authenticate(carol)
    assert api.get("/api/v1/label-scores/").status_code == 400
    assert api.get("/api/v1/label-scores/", {"run": run.pk, "method": "x"}).status_code == 400


def test_an_annotator_cannot_compute_a_ranking(api, carol, dataset):
    run = _ranked_run(dataset)
    api.force_authenticate(carol)
    assert api.post("/api/v1/label-scores/compute/", {"run": run.pk}).status_code == 403


def test_a_run_without_probabilities_cannot_be_ranked(api, bob, runs):
    api.force_authenticate(bob)
    response = api.post("/api/v1/label-scores/compute/", {"run": runs[0].pk})
    assert response.status_code == 400


def test_an_outsider_cannot_read_scores(api, mallory, dataset):
    run = _ranked_run(dataset)
    api.force_authenticate(mallory)
    assert api.get("/api/v1/label-scores/", {"run": run.pk}).status_code == 404


def test_balance_and_patterns_through_the_api(api, bob, carol, dataset):
    dev = [ExampleFactory(dataset=dataset, split=Split.DEV, label="cat") for _ in range(4)]
    [ExampleFactory(dataset=dataset, split=Split.TEST, label="cat") for _ in range(4)]
    for example in dev[:2]:
        correction = correction_propose(example=example, proposed_label="dog", proposed_by=carol)
        correction_accept(correction=correction, reviewer=bob, expected_version=0)
    api.force_authenticate(carol)
    balance = api.get("/api/v1/label-balance/", {"dataset": dataset.pk}).json()
    assert balance["warning"] is True
    assert [(s["split"], s["checked"], s["corrected"]) for s in balance["splits"]] == [
        ("dev", 2, 2),
        ("test", 0, 0),
    ]
    pairs = api.get("/api/v1/label-patterns/", {"dataset": dataset.pk}).json()["pairs"]
    assert pairs == [{"from": "cat", "to": "dog", "total": 2, "by_split": {"dev": 2}}]


def test_figures_need_a_dataset_of_ones_own(api, carol, mallory, dataset):
    api.force_authenticate(carol)
    assert api.get("/api/v1/label-balance/").status_code == 400
    api.force_authenticate(mallory)
    assert api.get("/api/v1/label-balance/", {"dataset": dataset.pk}).status_code == 404
    assert api.get("/api/v1/label-patterns/", {"dataset": dataset.pk}).status_code == 404


def test_one_examples_score_is_there_before_ranking(api, carol, mallory, dataset):
    run = _ranked_run(dataset)
    example = dataset.examples.get(example_id="b")
    api.force_authenticate(carol)
    url = "/api/v1/label-scores/for-example/"
    score = api.get(url, {"run": run.pk, "example": example.pk}).json()
    assert (score["self_confidence"], round(score["margin"], 2), score["likely_bad"]) == (
        0.3,
        -0.3,
        True,
    )
    assert score["rank"] is None
    api.force_authenticate(mallory)
    assert api.get(url, {"run": run.pk, "example": example.pk}).status_code == 404


def test_no_score_without_probabilities(api, carol, runs, example):
    api.force_authenticate(carol)
    url = "/api/v1/label-scores/for-example/"
    assert api.get(url, {"run": runs[0].pk, "example": example.pk}).status_code == 400
