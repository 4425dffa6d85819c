from datetime import timedelta

from django.utils import timezone

from mlstrat.accounts.models import Invitation, Membership, Role, User


def test_admin_creates_an_invitation_link(as_user, alice, project):
    response = as_user(alice).post(
        f"/p/{project.slug}/invitations/", {"role": "lead", "email": "new@example.com"}, follow=True
    )
    invitation = Invitation.objects.get(project=project)
    assert invitation.role == Role.LEAD
    assert f"/invite/{invitation.token}/" in response.content.decode()


def test_annotator_cannot_invite(as_user, carol, project):
    assert (
        as_user(carol).post(f"/p/{project.slug}/invitations/", {"role": "admin"}).status_code == 403
    )
    assert not Invitation.objects.exists()


def test_invitee_joins_with_the_given_role(client, alice, project):
    invitation = Invitation.objects.create(
        project=project, role=Role.LEAD, expires_at=timezone.now() + timedelta(days=1)
    )
    response = client.post(
        f"/invite/{invitation.token}/",
        {"username": "newbie", "password": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
    )
    assert response.status_code == 302
    assert Membership.objects.get(user__username="newbie").role == Role.LEAD
    assert client.get("/").status_code == 200


def test_an_invitation_works_once(client, project):
    invitation = Invitation.objects.create(
        project=project, role=Role.ADMIN, expires_at=timezone.now() + timedelta(days=1)
    )
    data = {
        "username": "first",
        "password": "a-long-pass-phrase",
        "password2": "a-long-pass-phrase",
    }
    client.post(f"/invite/{invitation.token}/", data)
    client.logout()
    response = client.post(f"/invite/{invitation.token}/", {**data, "username": "second"})
    assert response.status_code == 400
    assert not User.objects.filter(username="second").exists()


def test_an_expired_invitation_is_refused(client, project):
    invitation = Invitation.objects.create(
        project=project, role=Role.ADMIN, expires_at=timezone.now() - timedelta(minutes=1)
    )
    response = client.post(
        f"/invite/{invitation.token}/",
        {"username": "late", "password": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
    )
    assert "not valid any more" in response.content.decode()
    assert not User.objects.filter(username="late").exists()


def test_a_weak_password_is_explained(client, project):
    invitation = Invitation.objects.create(
        project=project, role=Role.ADMIN, expires_at=timezone.now() + timedelta(days=1)
    )
    response = client.post(
        f"/invite/{invitation.token}/", {"username": "weak", "password": "123", "password2": "123"}
    )
    assert response.status_code == 400
    assert "too short" in response.content.decode()
