import pytest

from mlstrat.labels.models import LabelCorrection

URL = "/api/v1/label-corrections/"


def test_an_annotator_proposes_through_the_api(api, carol, example):
    api.force_authenticate(carol)
    response = api.post(URL, {"example": example.pk, "proposed_label": "dog", "reason": "ears"})
    assert response.status_code == 201
    body = response.json()
    assert (body["proposed_label"], body["status"], body["proposed_by"]) == (
        "dog",
        "pending",
        "carol",
    )


def test_a_bad_label_is_a_400_with_a_reason(api, carol, example):
    api.force_authenticate(carol)
    response = api.post(URL, {"example": example.pk, "proposed_label": "horse"})
    assert response.status_code == 400
    assert "not a class" in response.json()["proposed_label"][0]


def test_an_outsider_cannot_propose_or_see(api, mallory, example, proposal):
    api.force_authenticate(mallory)
    assert api.post(URL, {"example": example.pk, "proposed_label": "dog"}).status_code == 404
    assert api.get(f"{URL}{proposal.pk}/").status_code == 404
    assert api.get(URL).json()["results"] == []


def test_annotators_see_their_own_proposals_leads_see_all(
    api, example, proposal, bob, alice, carol
):
    from mlstrat.labels.services import correction_propose

    correction_propose(example=example, proposed_label="bird", proposed_by=alice)
    api.force_authenticate(carol)
    assert [c["proposed_by"] for c in api.get(URL).json()["results"]] == ["carol"]
    api.force_authenticate(bob)
    assert len(api.get(URL, {"example__dataset": example.dataset_id}).json()["results"]) == 2


def test_a_lead_accepts_with_the_version_they_read(api, bob, proposal, example):
    api.force_authenticate(bob)
    response = api.post(f"{URL}{proposal.pk}/accept/", {"expected_version": 0, "note": "yes"})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["version"]) == ("accepted", 1)
    example.refresh_from_db()
    assert example.label == "dog"


def test_a_lead_accepts_with_another_label(api, bob, proposal, example):
    api.force_authenticate(bob)
    response = api.post(f"{URL}{proposal.pk}/accept/", {"expected_version": 0, "label": "bird"})
    assert response.json()["label_in_force"] == "bird"


def test_a_lead_rejects(api, bob, proposal, example):
    api.force_authenticate(bob)
    response = api.post(f"{URL}{proposal.pk}/reject/", {"expected_version": 0, "note": "no"})
    assert response.json()["status"] == "rejected"


@pytest.mark.parametrize("decision", ["accept", "reject"])
def test_an_annotator_cannot_decide(api, carol, proposal, decision):
    api.force_authenticate(carol)
    response = api.post(f"{URL}{proposal.pk}/{decision}/", {"expected_version": 0})
    assert response.status_code == 403
    assert LabelCorrection.objects.get(pk=proposal.pk).status == "pending"


def test_an_outsider_cannot_decide(api, mallory, proposal):
    api.force_authenticate(mallory)
    assert api.post(f"{URL}{proposal.pk}/accept/", {"expected_version": 0}).status_code == 404


def test_a_decision_without_a_version_is_a_400(api, bob, proposal):
    api.force_authenticate(bob)
    response = api.post(f"{URL}{proposal.pk}/accept/", {})
    assert response.status_code == 400
    assert "expected_version" in response.json()


def test_accepting_an_unknown_label_is_a_400(api, bob, proposal):
    api.force_authenticate(bob)
    response = api.post(f"{URL}{proposal.pk}/accept/", {"expected_version": 0, "label": "emu"})
    assert response.status_code == 400


def test_anonymous_callers_are_refused(api, proposal):
    assert api.get(URL).status_code in (401, 403)
