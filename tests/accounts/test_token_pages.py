"""The API tokens page (/account/tokens/) and a project admin's "Revoke tokens" on the
members page."""

from mlstrat.accounts.models import ApiToken
from mlstrat.accounts.services import token_create


def test_every_page_links_the_tokens_page(as_user, carol, project):
    page = as_user(carol).get(f"/p/{project.slug}/").content.decode()
    assert 'href="/account/tokens/"' in page


def test_a_new_token_is_shown_once(as_user, carol):
    client = as_user(carol)
    response = client.post("/account/tokens/", {"name": "laptop", "days": "30"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user=carol)
    secret = response.context["secret"]
    assert secret.startswith(token.prefix) and secret in response.content.decode()
    again = client.get("/account/tokens/").content.decode()
    assert "laptop" in again and secret not in again


def test_a_lifetime_out_of_range_is_explained(as_user, carol):
    response = as_user(carol).post("/account/tokens/", {"name": "x", "days": "0"})
    assert response.status_code == 400
    assert "1 to" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_name_with_a_nul_is_explained(as_user, carol):
    response = as_user(carol).post("/account/tokens/", {"name": "a\x00b", "days": "3"})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_i_revoke_and_rotate_my_tokens(as_user, carol):
    client = as_user(carol)
    token, _ = token_create(user=carol, name="old")
    rotated = client.post(f"/account/tokens/{token.pk}/rotate/")
    assert rotated.context["new_token"].name == "old"
    token.refresh_from_db()
    assert token.revoked_at is not None
    new = rotated.context["new_token"]
    client.post(f"/account/tokens/{new.pk}/revoke/")
    new.refresh_from_db()
    assert new.revoked_by == carol


def test_i_cannot_touch_someone_elses_token(as_user, carol, alice):
    token, _ = token_create(user=alice, name="alice ci")
    client = as_user(carol)
    assert client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    assert client.post(f"/account/tokens/{token.pk}/rotate/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_sign_out_everywhere_revokes_tokens_and_logs_out(as_user, carol):
    token_create(user=carol, name="a")
    token_create(user=carol, name="b")
    client = as_user(carol)
    response = client.post("/account/sign-out-everywhere/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert "_auth_user_id" not in client.session
    assert not ApiToken.objects.filter(user=carol, revoked_at__isnull=True).exists()


def test_logging_out_leaves_tokens_working(as_user, carol):
    """A decision (docs/security.md): logging out ends the browser session only."""
    token_create(user=carol, name="ci")
    as_user(carol).post("/logout/")
    assert ApiToken.objects.get(user=carol).revoked_at is None


def test_admin_revokes_a_members_tokens_on_the_members_page(as_user, alice, carol, project):
    token, _ = token_create(user=carol, name="carol ci")
    client = as_user(alice)
    page = client.get(f"/p/{project.slug}/members/").content.decode()
    assert "Revoke tokens" in page
    client.post(f"/p/{project.slug}/members/carol/tokens/revoke/")
    token.refresh_from_db()
    assert token.revoked_by == alice


def test_annotators_do_not_see_or_use_it(as_user, alice, carol, project):
    token, _ = token_create(user=alice, name="alice ci")
    client = as_user(carol)
    assert "Revoke tokens" not in client.get(f"/p/{project.slug}/members/").content.decode()
    assert client.post(f"/p/{project.slug}/members/alice/tokens/revoke/").status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_an_admin_of_another_project_cannot(as_user, mallory, carol, project):
    token, _ = token_create(user=carol, name="carol ci")
    response = as_user(mallory).post(f"/p/{project.slug}/members/carol/tokens/revoke/")
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
