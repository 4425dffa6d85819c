"""Adding a member through the API: the role is said, never guessed (a default would
quietly demote an admin named again)."""

import pytest

from mlstrat.accounts.models import Membership, Role


def members_url(project):
    return f"/api/v1/projects/{project.slug}/members/"


def test_an_admin_sets_a_members_role(api, alice, bob, project):
    api.force_authenticate(alice)
    response = api.post(members_url(project), {"username": "bob", "role": "annotator"})
    assert response.status_code == 201, response.content
    assert Membership.objects.get(project=project, user=bob).role == Role.ANNOTATOR


@pytest.mark.parametrize("fmt", ["json", "multipart"])
@pytest.mark.parametrize("role", [None, ""], ids=["left-out", "empty"])
def test_a_member_without_a_role_is_a_400(api, alice, bob, project, fmt, role):
    api.force_authenticate(alice)
    body = {"username": "bob"} if role is None else {"username": "bob", "role": role}
    response = api.post(members_url(project), body, format=fmt)
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["role"]
    assert Membership.objects.get(project=project, user=bob).role == Role.LEAD
