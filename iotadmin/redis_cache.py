"""Django's Redis cache backend, keeping one redis client per connection pool.

Django's backend builds a new `redis.Redis` for every cache call, and redis-py fills a table of
about 170 response callbacks in each: three cache reads a page (session, permissions version,
permission set) made that a visible share of a page's CPU. A client holds no connection of its
own (the pool lends one per command, and forgets them in a forked process), so one client per
pool serves every call, from any thread.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Django's private helpers, as its own get_client uses them (the stubs omit them).
        this: Any = self
        index = this._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = this._client(
                connection_pool=this._get_connection_pool(write)
            )
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient
