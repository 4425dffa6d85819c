import pytest

from mlstrat.accounts.models import Membership, Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory


@pytest.fixture
def dave(alice):
    """Not in `project` yet, but alice knows him: they share another project."""
    dave = UserFactory(username="dave")
    elsewhere = ProjectFactory(name="Elsewhere", slug="elsewhere")
    MembershipFactory(project=elsewhere, user=dave, role=Role.ANNOTATOR)
    MembershipFactory(project=elsewhere, user=alice, role=Role.ANNOTATOR)
    return dave


def test_admin_adds_a_member(as_user, alice, dave, project):
    response = as_user(alice).post(
        f"/p/{project.slug}/members/", {"username": "dave", "role": "lead"}
    )
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user=dave).role == Role.LEAD


def test_admin_removes_a_member(as_user, alice, carol, project):
    as_user(alice).post(f"/p/{project.slug}/members/carol/remove/")
    assert not Membership.objects.filter(project=project, user=carol).exists()


def test_last_admin_cannot_step_down(as_user, alice, project):
    response = as_user(alice).post(
        f"/p/{project.slug}/members/", {"username": "alice", "role": "annotator"}, follow=True
    )
    assert b"at least one admin" in response.content
    assert Membership.objects.get(project=project, user=alice).role == Role.ADMIN


def test_annotator_cannot_manage_members(as_user, carol, dave, project):
    response = as_user(carol).post(
        f"/p/{project.slug}/members/", {"username": "dave", "role": "admin"}
    )
    assert response.status_code == 403
    assert not Membership.objects.filter(project=project, user=dave).exists()


def test_lead_sees_members_but_cannot_remove(as_user, bob, carol, project):
    client = as_user(bob)
    assert b"carol" in client.get(f"/p/{project.slug}/members/").content
    assert client.post(f"/p/{project.slug}/members/carol/remove/").status_code == 403
    assert Membership.objects.filter(user=carol).exists()


def test_unknown_username_is_explained(as_user, alice, project):
    response = as_user(alice).post(
        f"/p/{project.slug}/members/", {"username": "nobody", "role": "lead"}, follow=True
    )
    assert "No account you can add named “nobody”" in response.content.decode()


def test_an_account_sharing_no_project_answers_as_an_unknown_one(as_user, alice, project):
    UserFactory(username="stranger")
    response = as_user(alice).post(
        f"/p/{project.slug}/members/", {"username": "stranger", "role": "lead"}, follow=True
    )
    assert "No account you can add named “stranger”" in response.content.decode()
    assert not Membership.objects.filter(project=project, user__username="stranger").exists()


def test_api_admin_sets_a_role(api, alice, dave, project):
    api.force_authenticate(alice)
    response = api.post(
        f"/api/v1/projects/{project.slug}/members/", {"username": "dave", "role": "annotator"}
    )
    assert response.status_code == 201
    assert Membership.objects.get(project=project, user=dave).role == Role.ANNOTATOR


def test_api_annotator_gets_403_on_member_change(api, carol, dave, project):
    api.force_authenticate(carol)
    response = api.post(
        f"/api/v1/projects/{project.slug}/members/", {"username": "dave", "role": "admin"}
    )
    assert response.status_code == 403
    assert api.delete(f"/api/v1/projects/{project.slug}/members/alice/").status_code == 403


def test_api_refuses_removing_last_admin(api, alice, project):
    api.force_authenticate(alice)
    response = api.delete(f"/api/v1/projects/{project.slug}/members/alice/")
    assert response.status_code == 400
    assert "at least one admin" in response.json()["role"][0]


def test_api_rejects_unknown_role(api, alice, dave, project):
    api.force_authenticate(alice)
    response = api.post(
        f"/api/v1/projects/{project.slug}/members/", {"username": "dave", "role": "owner"}
    )
    assert response.status_code == 400
