"""iotadmin/redis_cache.py: Django's Redis cache with one client per pool, not one per call."""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from iotadmin.redis_cache import RedisCache


def _cache(location: str) -> RedisCache:
    return RedisCache(location, {"KEY_PREFIX": "test-redis-cache"})


def test_every_call_gets_the_same_client():
    cache = _cache("redis://127.0.0.1:6379/15")
    first = cache._cache.get_client("k")
    assert cache._cache.get_client("other", write=True) is first
    # Django's own backend makes a new one each time (what this module avoids).
    django_cache = DjangoRedisCache("redis://127.0.0.1:6379/15", {})
    assert django_cache._cache.get_client("k") is not django_cache._cache.get_client("k")


def test_replicas_keep_a_client_each():
    cache = _cache("redis://127.0.0.1:6379/15,redis://127.0.0.1:6380/15")
    writer = cache._cache.get_client(write=True)
    assert cache._cache.get_client(write=True) is writer
    assert writer.connection_pool.connection_kwargs["port"] == 6379
