"""The shared cache (Redis in production): API rate limits and small cached reads
must be shared by every web process, or each process would grant the full rate.

It fails open: with Redis gone, a read misses and a write is dropped, so ticking and
browsing go on (rate limits are not enforced until Redis is back). After a failure it
does not try Redis again for a few seconds, so an outage costs one timeout, not one
per request.
"""

import functools
import logging
import time

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5.0
_MISSING = object()  # a miss, told apart from a stored None


def _fail_open(default=None):
    """Run the cache method; on a Redis error (or while Redis is known to be down)
    answer `default` instead."""

    def decorator(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            if time.monotonic() < self._down_until:
                return default
            try:
                return method(self, *args, **kwargs)
            except RedisError as exc:
                self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
                logger.warning("Cache unavailable (%s); going on without it.", exc)
                return default

        return wrapper

    return decorator


class FailOpenRedisCache(RedisCache):
    _down_until = 0.0

    @_fail_open(default=_MISSING)
    def _get(self, key, version):
        return RedisCache.get(self, key, _MISSING, version)

    def get(self, key, default=None, version=None):
        value = self._get(key, version)
        return default if value is _MISSING else value

    @_fail_open()
    def set(self, *args, **kwargs):
        return super().set(*args, **kwargs)

    @_fail_open(default=False)
    def add(self, *args, **kwargs):
        return super().add(*args, **kwargs)

    @_fail_open(default=False)
    def delete(self, *args, **kwargs):
        return super().delete(*args, **kwargs)

    @_fail_open(default={})
    def get_many(self, *args, **kwargs):
        return super().get_many(*args, **kwargs)

    @_fail_open(default=[])
    def set_many(self, *args, **kwargs):
        return super().set_many(*args, **kwargs)

    @_fail_open(default=False)
    def touch(self, *args, **kwargs):
        return super().touch(*args, **kwargs)
