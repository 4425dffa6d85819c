import pytest
from axes.models import AccessAttempt
from django.test import override_settings

from tests.factories import UserFactory


@pytest.fixture
def axes_on(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 5
    return settings


@override_settings(AXES_ENABLED=True)
def test_it_locks_an_account_after_repeated_failures(client, axes_on, db):
    UserFactory(username="victim", password="the-right-password")
    for _ in range(5):
        client.post("/login/", {"username": "victim", "password": "guess"})
    response = client.post("/login/", {"username": "victim", "password": "the-right-password"})
    assert response.status_code == 429
    assert AccessAttempt.objects.filter(username="victim").exists()
    assert "_auth_user_id" not in client.session


def test_failure_limit_is_at_most_100_an_hour():
    from django.conf import settings

    from mlstrat.settings import base

    assert base.AXES_FAILURE_LIMIT <= 100
    assert base.AXES_COOLOFF_TIME == 1
    # Per (username, address), never per address alone (#13.4).
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


def test_every_page_carries_a_content_security_policy(client, db):
    response = client.get("/login/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "object-src 'none'" in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


def test_the_token_endpoint_answers_a_lockout_with_429_and_the_reason(api, axes_on, db):
    UserFactory(username="script", password="the-right-password")
    for _ in range(5):
        api.post("/api/v1/token/", {"username": "script", "password": "guess"})
    response = api.post("/api/v1/token/", {"username": "script", "password": "the-right-password"})
    assert response.status_code == 429
    assert "from your address" in response.json()["detail"]
    assert int(response["Retry-After"]) > 0
