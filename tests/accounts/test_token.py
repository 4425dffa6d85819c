"""POST /api/v1/token/: a username and password make a new API token (what `mlstrat push`
and scripts use); tokens expire, and a refused token answers 401 with the reason."""

from datetime import timedelta

from django.utils import timezone

from mlstrat.accounts.models import ApiToken
from mlstrat.accounts.services import token_hash
from tests.factories import UserFactory


def test_it_issues_a_token_that_authenticates_scripts(api, db):
    UserFactory(username="script", password="s3cret-pass")
    response = api.post("/api/v1/token/", {"username": "script", "password": "s3cret-pass"})
    assert response.status_code == 200
    token = response.json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/projects/").status_code == 200


def test_it_refuses_a_wrong_password(api, db):
    UserFactory(username="script", password="s3cret-pass")
    response = api.post("/api/v1/token/", {"username": "script", "password": "nope"})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_only_a_hash_of_the_secret_is_stored(api, db):
    UserFactory(username="script", password="s3cret-pass")
    body = api.post(
        "/api/v1/token/", {"username": "script", "password": "s3cret-pass", "name": "ci"}
    ).json()
    stored = ApiToken.objects.get()
    assert stored.name == "ci"
    assert stored.key_hash == token_hash(body["token"])
    assert body["token"] not in str(ApiToken.objects.values().get())


def test_a_token_expires_after_the_default_lifetime(api, db, settings):
    settings.MLSTRAT_TOKEN_DAYS = 90
    UserFactory(username="script", password="s3cret-pass")
    body = api.post("/api/v1/token/", {"username": "script", "password": "s3cret-pass"}).json()
    expires = ApiToken.objects.get().expires_at
    assert timedelta(days=89) < expires - timezone.now() <= timedelta(days=90)
    assert body["status"] == "active"


def test_an_expired_token_is_refused_with_401_and_the_reason(api, alice):
    from tests.factories import api_token

    secret = api_token(alice)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    api.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    response = api.get("/api/v1/projects/")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_an_unknown_token_is_401(api, db):
    api.credentials(HTTP_AUTHORIZATION="Token mls_not-a-token")
    response = api.get("/api/v1/projects/")
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."


def test_use_is_recorded(api, alice):
    from tests.factories import api_token

    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token(alice)}")
    api.get("/api/v1/projects/")
    assert ApiToken.objects.get().last_used_at is not None


def test_a_drf_token_from_before_is_migrated_hashed(db):
    """The migration turns a plain-text DRF token into a hashed, expiring one."""
    import importlib

    from django.db import connection

    migration = importlib.import_module(
        "mlstrat.accounts.migrations.0004_api_tokens_from_drf_tokens"
    )
    user = UserFactory(username="old-script")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp, "
            "user_id bigint)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, %s)",
            ["a" * 40, timezone.now(), user.pk],
        )
    from django.apps import apps

    with connection.schema_editor() as editor:
        migration.forwards(apps, editor)
    token = ApiToken.objects.get(user=user)
    assert token.key_hash == token_hash("a" * 40)
    assert token.expires_at > timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0
