"""The shared cache: every web process sees the same rate-limit counters (one Redis),
and with Redis gone the app goes on without it (fails open) instead of answering 500."""

import time

import pytest
from django.core.cache import caches
from django.test import override_settings
from rest_framework.throttling import SimpleRateThrottle

from mlstrat.cache import FailOpenRedisCache
from tests.factories import api_token
from tests.services import port_is_open, require

LIVE = "redis://127.0.0.1:6379/14"
DEAD = "redis://127.0.0.1:6391/0"  # nothing listens there


def redis_cache(url):
    return {
        "default": {
            "BACKEND": "mlstrat.cache.FailOpenRedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


def require_redis():
    require(port_is_open(6379), "The shared-cache tests need Redis on 127.0.0.1:6379.")


@pytest.fixture
def low_limits(monkeypatch):
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {"user": "3/minute", "anon": "2/minute"}
    )


def test_two_web_processes_share_one_rate_limit(api, alice, low_limits):
    require_redis()
    with override_settings(CACHES=redis_cache(LIVE)):
        caches["default"].clear()
        token = api_token(alice)
        api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        assert [api.get("/api/v1/projects/").status_code for _ in range(2)] == [200, 200]
        # Another process: its own client and connection pool, the same Redis.
        other = FailOpenRedisCache(LIVE, {})
        keys = [k for k in other._cache.get_client().keys("*throttle_user*")]
        assert keys, "the counter is not in Redis"
        caches["default"].close()
        del caches["default"]  # as if the next request landed in another process
        codes = [api.get("/api/v1/projects/").status_code for _ in range(2)]
        assert codes == [200, 429]
        caches["default"].clear()


def test_with_redis_gone_reads_miss_and_writes_are_dropped():
    cache = FailOpenRedisCache(DEAD, {"socket_connect_timeout": 1})
    assert cache.get("sources", "fallback") == "fallback"
    cache.set("sources", ["web"])  # no exception
    assert cache.add("k", 1) is False
    # The outage is remembered: the next calls do not wait on Redis again.
    started = time.monotonic()
    for _ in range(100):
        assert cache.get("sources") is None
    assert time.monotonic() - started < 0.5


def test_with_redis_gone_ticks_and_pages_still_work(api, as_user, project, carol, low_limits):
    from mlstrat.review.services import category_create
    from tests.factories import DatasetFactory, RunFactory
    from tests.review.conftest import make_errors

    dataset = DatasetFactory(project=project, name="pets", class_names=["cat", "dog"])
    run = RunFactory(dataset=dataset, name="resnet-1")
    example = make_errors(run, 2)[0].example
    blurry = category_create(dataset=dataset, name="Blurry", key="b", created_by=carol)
    with override_settings(CACHES=redis_cache(DEAD)):
        api.force_authenticate(carol)
        url = f"/api/v1/runs/{run.pk}/examples/{example.pk}/tags/{blurry.pk}/"
        assert api.put(url).status_code == 200
        assert api.delete(url).status_code == 200
        page = as_user(carol).get(f"/p/{project.slug}/runs/{run.pk}/sheet/")
        assert page.status_code == 200
