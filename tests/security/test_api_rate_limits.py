"""API abuse: every API caller is rate limited (per user with a token or session, per
address when anonymous, and the token endpoint as anonymous); over the limit is a 429
with a Retry-After, not a slower server."""

import pytest
from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from mlstrat.settings import base
from tests.factories import api_token


@pytest.fixture
def low_limits(monkeypatch):
    cache.clear()
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {"user": "3/minute", "anon": "2/minute"}
    )
    yield
    cache.clear()


def test_the_api_limits_users_and_anonymous_callers_by_default():
    throttles = base.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]
    assert "rest_framework.throttling.UserRateThrottle" in throttles
    assert "rest_framework.throttling.AnonRateThrottle" in throttles
    rates = base.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert rates["anon"] and rates["user"]


def test_a_script_over_its_rate_gets_429(api, alice, low_limits):
    token = api_token(alice)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    codes = [api.get("/api/v1/projects/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = api.get("/api/v1/projects/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def test_password_guessing_on_the_token_endpoint_is_limited(api, alice, low_limits):
    codes = [
        api.post("/api/v1/token/", {"username": "alice", "password": f"guess{n}"}).status_code
        for n in range(3)
    ]
    assert codes == [400, 400, 429]
