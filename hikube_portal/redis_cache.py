"""Django's Redis cache with one client per connection pool. Django builds a new `redis.Redis`
for every operation, and with it a table of some 170 reply callbacks: 0.13 ms of a 0.19 ms
read, several times a page (the catalogue's version, an approver's flag). A client is safe to
share between threads; its pool hands each command a connection."""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _SharedClients(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class SharedClientRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _SharedClients
