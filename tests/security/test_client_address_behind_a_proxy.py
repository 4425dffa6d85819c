"""#13.4: behind the TLS proxy every client shares the proxy's address. The lockout and the
throttles read the client's address through TRUSTED_PROXY_COUNT proxies, lock per
(username, address), slow a username down only briefly, and a client's own
X-Forwarded-For changes nothing. Tested through a real proxy hop (tests/security/proxy.py)."""

import time
from urllib.parse import urlencode

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.test import RequestFactory
from rest_framework.throttling import SimpleRateThrottle

from mlstrat.web.addresses import client_address
from tests.factories import UserFactory

from .proxy import Proxy, Visitor

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def proxy(live_server):
    proxy = Proxy(live_server.url)
    yield proxy
    proxy.close()


@pytest.fixture
def behind_one_proxy(settings):
    settings.AXES_ENABLED = True
    settings.TRUSTED_PROXY_COUNT = 1
    settings.AXES_FAILURE_LIMIT = 3
    settings.LOGIN_BACKOFF_AFTER = 100
    return settings


@pytest.fixture
def people(db):
    UserFactory(username="victim", password="the-right-password")
    UserFactory(username="bystander", password="another-password")


def test_failed_logins_from_one_client_do_not_lock_another(proxy, behind_one_proxy, people):
    attacker, victim = Visitor(proxy.port, "127.0.0.2"), Visitor(proxy.port, "127.0.0.3")
    statuses = [attacker.log_in("victim", "guess")[0].status for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused, text = attacker.log_in("victim", "the-right-password")
    assert refused.status == 429
    assert "from your address" in text
    # The victim, behind the same proxy, and anyone else from the attacker's address.
    assert victim.log_in("victim", "the-right-password")[0].status == 302
    assert attacker.log_in("bystander", "another-password")[0].status == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.2"}


def test_without_the_proxy_setting_everyone_behind_it_shares_one_lock(
    proxy, behind_one_proxy, people
):
    """Why TRUSTED_PROXY_COUNT matters: counted 0, the proxy's address is everyone's."""
    behind_one_proxy.TRUSTED_PROXY_COUNT = 0
    attacker, victim = Visitor(proxy.port, "127.0.0.2"), Visitor(proxy.port, "127.0.0.3")
    for _ in range(3):
        attacker.log_in("victim", "guess")
    assert victim.log_in("victim", "the-right-password")[0].status == 429


def test_failures_on_a_username_from_many_addresses_only_slow_it_down(
    proxy, behind_one_proxy, people
):
    behind_one_proxy.LOGIN_BACKOFF_AFTER = 3
    behind_one_proxy.LOGIN_BACKOFF_MAX_SECONDS = 2
    for n in range(6):
        Visitor(proxy.port, f"127.0.1.{n + 1}").log_in("victim", "guess")
    victim = Visitor(proxy.port, "127.0.0.3")
    refused, text = victim.log_in("victim", "the-right-password")
    assert refused.status == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 2
    assert "try again in" in text
    time.sleep(2.1)
    assert victim.log_in("victim", "the-right-password")[0].status == 302
    # Only the first three failures counted: refused attempts are not failures.
    assert sum(AccessAttempt.objects.values_list("failures_since_start", flat=True)) == 3


def test_a_rotated_x_forwarded_for_does_not_evade_the_token_throttle(
    proxy, behind_one_proxy, people, monkeypatch
):
    cache.clear()
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {"anon": "2/minute", "user": "9/minute"}
    )
    guesser, other = Visitor(proxy.port, "127.0.0.2"), Visitor(proxy.port, "127.0.0.3")

    def guess(visitor, n):
        body = urlencode({"username": "victim", "password": f"guess{n}"})
        response, text = visitor.request(
            "POST",
            "/api/v1/token/",
            body=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Forwarded-For": f"10.0.{n}.{n}",
            },
        )
        return response.status

    assert [guess(guesser, n) for n in range(4)] == [400, 400, 429, 429]
    assert guess(other, 9) == 400
    cache.clear()


@pytest.mark.parametrize(
    ("trusted", "forwarded", "expected"),
    [
        (0, "10.9.9.9", "192.0.2.1"),
        (1, "10.9.9.9, 198.51.100.7", "198.51.100.7"),
        (2, "10.9.9.9, 198.51.100.7, 203.0.113.5", "198.51.100.7"),
        (2, "198.51.100.7", "198.51.100.7"),
        (1, "", "192.0.2.1"),
    ],
)
def test_the_client_is_counted_from_the_right(settings, trusted, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = trusted
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_one_setting_drives_the_lockout_and_the_throttles():
    from mlstrat.settings import base

    assert base.REST_FRAMEWORK["NUM_PROXIES"] == base.TRUSTED_PROXY_COUNT
    assert base.AXES_CLIENT_IP_CALLABLE == "mlstrat.web.addresses.client_address"
    assert base.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
