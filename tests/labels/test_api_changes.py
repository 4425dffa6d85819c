import pytest

from mlstrat.labels.models import LabelChange
from mlstrat.labels.services import correction_accept

URL = "/api/v1/label-changes/"


@pytest.fixture
def change(proposal, bob):
    correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    return LabelChange.objects.get(correction=proposal)


def test_members_read_an_examples_history(api, carol, change, example):
    api.force_authenticate(carol)
    rows = api.get(URL, {"example": example.pk}).json()["results"]
    assert [(r["from_label"], r["to_label"], r["changed_by"]) for r in rows] == [
        ("cat", "dog", "bob")
    ]


def test_a_lead_reverts_and_the_revert_is_in_the_history(api, bob, change, example):
    api.force_authenticate(bob)
    response = api.post(f"{URL}{change.pk}/revert/", {"reason": "oops"})
    assert response.status_code == 201
    assert (response.json()["to_label"], response.json()["reverts"]) == ("cat", change.pk)
    rows = api.get(URL, {"example": example.pk}).json()["results"]
    assert [r["reverted"] for r in rows] == [True, False]


def test_reverting_twice_is_a_409_with_the_current_state(api, bob, change):
    api.force_authenticate(bob)
    api.post(f"{URL}{change.pk}/revert/", {})
    response = api.post(f"{URL}{change.pk}/revert/", {})
    assert response.status_code == 409
    assert response.json()["current"]["reverted"] is True


def test_an_annotator_cannot_revert(api, carol, change):
    api.force_authenticate(carol)
    assert api.post(f"{URL}{change.pk}/revert/", {}).status_code == 403


def test_an_outsider_sees_no_history(api, mallory, change):
    api.force_authenticate(mallory)
    assert api.get(f"{URL}{change.pk}/").status_code == 404
    assert api.post(f"{URL}{change.pk}/revert/", {}).status_code == 404
