from tests.factories import DatasetFactory, PredictionFactory


def test_lead_sets_human_level_error(api, bob, project):
    dataset = DatasetFactory(project=project)
    api.force_authenticate(bob)
    response = api.patch(f"/api/v1/datasets/{dataset.pk}/", {"human_level_error": 0.01})
    assert response.status_code == 200
    dataset.refresh_from_db()
    assert dataset.human_level_error == 0.01


def test_annotator_cannot_set_human_level_error(api, carol, project):
    dataset = DatasetFactory(project=project)
    api.force_authenticate(carol)
    response = api.patch(f"/api/v1/datasets/{dataset.pk}/", {"human_level_error": 0.01})
    assert response.status_code == 403


def test_human_level_error_must_be_a_rate(api, bob, project):
    dataset = DatasetFactory(project=project)
    api.force_authenticate(bob)
    response = api.patch(f"/api/v1/datasets/{dataset.pk}/", {"human_level_error": 4}, format="json")
    assert response.status_code == 400
    assert "between 0 and 1" in str(response.json())


def test_outsider_cannot_read_or_write(api, mallory, project):
    dataset = DatasetFactory(project=project)
    api.force_authenticate(mallory)
    assert api.get(f"/api/v1/datasets/{dataset.pk}/").status_code == 404
    assert api.patch(f"/api/v1/datasets/{dataset.pk}/", {"human_level_error": 0}).status_code == 404


def test_predictions_list_filters_errors(api, carol, project):
    prediction = PredictionFactory(run__dataset__project=project)
    PredictionFactory(run=prediction.run, predicted_label="cat")
    api.force_authenticate(carol)
    response = api.get(f"/api/v1/predictions/?run={prediction.run_id}&is_error=true")
    assert response.status_code == 200
    assert [p["id"] for p in response.json()["results"]] == [prediction.pk]


def test_every_dataset_has_the_incorrectly_labeled_category(project):
    dataset = DatasetFactory(project=project)
    assert dataset.categories.filter(builtin="incorrect_label", name="Incorrectly labeled").exists()
