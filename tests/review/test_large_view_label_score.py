"""The large view shows how unlikely the given label is under the model (label score)."""

from tests.factories import DatasetFactory, ExampleFactory, PredictionFactory, RunFactory


def test_large_view_carries_the_label_score(api, carol, project):
    run = RunFactory(dataset=DatasetFactory(project=project), has_probabilities=True)
    example = ExampleFactory(dataset=run.dataset, label="cat")
    PredictionFactory(
        run=run,
        example=example,
        predicted_label="dog",
        probabilities={"cat": 0.05, "dog": 0.9, "bird": 0.05},
    )
    api.force_authenticate(carol)
    response = api.get(f"/api/v1/runs/{run.pk}/examples/{example.pk}/")
    assert response.status_code == 200
    score = response.json()["label_score"]
    assert score["self_confidence"] == 0.05
    assert round(score["margin"], 6) == -0.85
    assert score["likely_bad"] is True
