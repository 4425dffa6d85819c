import pytest

from tests.factories import ExampleFactory, PredictionFactory

CHECKS = "/api/v1/label-checks/"
SAMPLES = "/api/v1/correct-samples/"


def test_a_member_confirms_a_label(api, carol, example):
    api.force_authenticate(carol)
    response = api.post(CHECKS, {"example": example.pk, "origin": "error_review"})
    assert response.status_code == 201
    assert (response.json()["outcome"], response.json()["checked_by"]) == ("confirmed", "carol")
    assert example.label_checks.count() == 1


def test_an_outsider_cannot_check(api, mallory, example):
    api.force_authenticate(mallory)
    assert api.post(CHECKS, {"example": example.pk}).status_code == 404


@pytest.fixture
def correct_run(dataset, runs):
    for n in range(6):
        example = ExampleFactory(dataset=dataset, example_id=f"ok{n}", label="dog")
        PredictionFactory(run=runs[1], example=example, predicted_label="dog")
    return runs[1]


def test_a_lead_draws_a_sample_and_members_check_it(api, bob, carol, correct_run):
    api.force_authenticate(bob)
    response = api.post(SAMPLES, {"run": correct_run.pk, "split": "dev", "size": 4, "seed": 9})
    assert response.status_code == 201
    sample = response.json()
    assert (sample["size"], sample["seed"], sample["population"]) == (4, 9, 6)
    api.force_authenticate(carol)
    items = api.get(f"{SAMPLES}{sample['id']}/items/").json()["results"]
    assert len(items) == 4
    first, second = items[0], items[1]
    api.post(f"{SAMPLES}{sample['id']}/check/", {"item": first["id"], "outcome": "confirmed"})
    response = api.post(
        f"{SAMPLES}{sample['id']}/check/",
        {"item": second["id"], "outcome": "corrected", "label": "bird", "reason": "wings"},
    )
    assert response.json()["outcome"] == "corrected" and response.json()["correction"]
    estimate = api.get(f"{SAMPLES}{sample['id']}/").json()["estimate"]
    assert (estimate["k"], estimate["n"]) == (1, 2)
    run_estimate = api.get("/api/v1/label-estimate/", {"run": correct_run.pk}).json()
    assert (run_estimate["k"], run_estimate["n"], run_estimate["rate"]) == (1, 2, 0.5)
    assert 0 < run_estimate["low"] < 0.5 < run_estimate["high"] < 1


def test_an_annotator_cannot_draw(api, carol, correct_run):
    api.force_authenticate(carol)
    response = api.post(SAMPLES, {"run": correct_run.pk, "split": "dev", "size": 2})
    assert response.status_code == 403


def test_a_bad_draw_is_a_400(api, bob, correct_run):
    api.force_authenticate(bob)
    response = api.post(SAMPLES, {"run": correct_run.pk, "split": "test", "size": 2})
    assert response.status_code == 400
    assert "nothing to sample" in response.json()["detail"]
    assert api.post(SAMPLES, {"run": correct_run.pk, "split": "dev", "size": 0}).status_code == 400


def test_a_correction_without_a_label_is_a_400(api, bob, correct_run):
    api.force_authenticate(bob)
    sample = api.post(SAMPLES, {"run": correct_run.pk, "split": "dev", "size": 1}).json()
    item = api.get(f"{SAMPLES}{sample['id']}/items/").json()["results"][0]
    response = api.post(
        f"{SAMPLES}{sample['id']}/check/", {"item": item["id"], "outcome": "corrected"}
    )
    assert response.status_code == 400


def test_an_outsider_cannot_see_samples_or_estimates(api, bob, mallory, correct_run):
    api.force_authenticate(bob)
    sample = api.post(SAMPLES, {"run": correct_run.pk, "split": "dev", "size": 1}).json()
    api.force_authenticate(mallory)
    assert api.get(f"{SAMPLES}{sample['id']}/").status_code == 404
    assert api.post(SAMPLES, {"run": correct_run.pk, "split": "dev", "size": 1}).status_code == 404
    assert api.get("/api/v1/label-estimate/", {"run": correct_run.pk}).status_code == 404


def test_members_list_checks_and_samples_of_their_projects_only(
    api, bob, carol, mallory, example, correct_run
):
    api.force_authenticate(carol)
    api.post(CHECKS, {"example": example.pk})
    api.force_authenticate(bob)
    api.post(SAMPLES, {"run": correct_run.pk, "split": "dev", "size": 2, "seed": 1})
    rows = api.get(CHECKS, {"example": example.pk}).json()["results"]
    assert [(r["checked_by"], r["origin"]) for r in rows] == [("carol", "ranking")]
    assert [s["seed"] for s in api.get(SAMPLES, {"run": correct_run.pk}).json()["results"]] == [1]
    api.force_authenticate(mallory)
    assert api.get(CHECKS).json()["results"] == []
    assert api.get(SAMPLES).json()["results"] == []
