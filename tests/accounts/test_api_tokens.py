"""/api/v1/tokens/: one's own tokens (list, make, rotate, revoke, revoke all), and
/api/v1/projects/<slug>/members/<username>/tokens/: a project admin's view of a member's."""

import pytest

from mlstrat.accounts.models import ApiToken
from mlstrat.accounts.services import token_create


@pytest.fixture
def carols(carol):
    return token_create(user=carol, name="carol laptop")


@pytest.fixture
def mallorys(mallory):
    return token_create(user=mallory, name="mallory laptop")


def as_token(api, secret):
    api.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return api


def test_it_lists_only_my_tokens_without_secrets(api, carol, carols, mallorys):
    token, secret = carols
    response = as_token(api, secret).get("/api/v1/tokens/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["name"] for r in rows] == ["carol laptop"]
    assert "token" not in rows[0] and secret not in response.content.decode()
    assert rows[0]["prefix"] == secret[:10]


def test_it_makes_a_token_shown_once(api, carol):
    api.force_authenticate(carol)
    response = api.post("/api/v1/tokens/", {"name": "notebook", "days": 7})
    assert response.status_code == 201
    secret = response.json()["token"]
    assert api.get(f"/api/v1/tokens/{response.json()['id']}/").json().get("token") is None
    api.force_authenticate(None)
    assert as_token(api, secret).get("/api/v1/projects/").status_code == 200


def test_a_lifetime_over_the_maximum_is_refused(api, carol, settings):
    api.force_authenticate(carol)
    response = api.post("/api/v1/tokens/", {"name": "forever", "days": 10_000})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_rotation_gives_a_new_secret_and_revokes_the_old(api, carol, carols):
    token, old = carols
    response = as_token(api, old).post(f"/api/v1/tokens/{token.pk}/rotate/")
    assert response.status_code == 201
    new = response.json()["token"]
    assert response.json()["name"] == "carol laptop" and new != old
    assert as_token(api, old).get("/api/v1/projects/").status_code == 401
    assert "revoked" in as_token(api, old).get("/api/v1/projects/").json()["detail"]
    assert as_token(api, new).get("/api/v1/projects/").status_code == 200


def test_i_revoke_my_token(api, carol, carols):
    token, secret = carols
    api.force_authenticate(carol)
    assert api.delete(f"/api/v1/tokens/{token.pk}/").status_code == 204
    api.force_authenticate(None)
    assert as_token(api, secret).get("/api/v1/projects/").status_code == 401


def test_someone_elses_token_is_not_found(api, carol, mallorys):
    token, secret = mallorys
    api.force_authenticate(carol)
    assert api.get(f"/api/v1/tokens/{token.pk}/").status_code == 404
    assert api.delete(f"/api/v1/tokens/{token.pk}/").status_code == 404
    assert api.post(f"/api/v1/tokens/{token.pk}/rotate/").status_code == 404
    assert api.delete("/api/v1/tokens/999999/").status_code == 404
    api.force_authenticate(None)
    assert as_token(api, secret).get("/api/v1/projects/").status_code == 200


def test_revoke_all_signs_out_every_script(api, carol, carols):
    _, first = carols
    _, second = token_create(user=carol, name="ci")
    response = as_token(api, first).post("/api/v1/tokens/revoke-all/")
    assert response.json() == {"revoked": 2}
    assert as_token(api, first).get("/api/v1/projects/").status_code == 401
    assert as_token(api, second).get("/api/v1/projects/").status_code == 401


def test_anonymous_cannot_list_tokens(api, db):
    assert api.get("/api/v1/tokens/").status_code == 401


# A project admin and their members' tokens --------------------------------------------


def test_admin_lists_and_revokes_a_members_token(api, alice, carol, carols, project):
    token, secret = carols
    api.force_authenticate(alice)
    url = f"/api/v1/projects/{project.slug}/members/carol/tokens/"
    assert [t["name"] for t in api.get(url).json()] == ["carol laptop"]
    assert api.delete(f"{url}{token.pk}/").status_code == 204
    token.refresh_from_db()
    assert token.revoked_by == alice
    api.force_authenticate(None)
    assert as_token(api, secret).get("/api/v1/projects/").status_code == 401


def test_admin_revokes_all_of_a_members_tokens(api, alice, carol, carols, project):
    token_create(user=carol, name="ci")
    api.force_authenticate(alice)
    response = api.delete(f"/api/v1/projects/{project.slug}/members/carol/tokens/")
    assert response.json() == {"revoked": 2}
    assert not ApiToken.objects.filter(user=carol, revoked_at__isnull=True).exists()


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_leads_and_annotators_cannot_touch_others_tokens(api, request, alice, project, who):
    token, _ = token_create(user=alice, name="alice ci")
    api.force_authenticate(request.getfixturevalue(who))
    url = f"/api/v1/projects/{project.slug}/members/alice/tokens/"
    assert api.get(url).status_code == 403
    assert api.delete(url).status_code == 403
    assert api.delete(f"{url}{token.pk}/").status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_admin_of_another_project_cannot_revoke_ours(api, mallory, carol, carols, project):
    token, _ = carols
    api.force_authenticate(mallory)
    url = f"/api/v1/projects/{project.slug}/members/carol/tokens/"
    assert api.get(url).status_code == 404
    assert api.delete(f"{url}{token.pk}/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_admin_cannot_reach_tokens_of_someone_outside_the_project(
    api, alice, project, mallory, mallorys
):
    """Not a member, or a token of someone else under a member's name: 404, the same answer
    as for a token that does not exist."""
    token, _ = mallorys
    api.force_authenticate(alice)
    base = f"/api/v1/projects/{project.slug}/members"
    missing = api.delete(f"{base}/alice/tokens/999999/")
    assert api.get(f"{base}/mallory/tokens/").status_code == 404
    assert api.delete(f"{base}/mallory/tokens/{token.pk}/").status_code == 404
    wrong_owner = api.delete(f"{base}/alice/tokens/{token.pk}/")
    assert wrong_owner.status_code == missing.status_code == 404
    assert wrong_owner.json() == missing.json()
    token.refresh_from_db()
    assert token.revoked_at is None
