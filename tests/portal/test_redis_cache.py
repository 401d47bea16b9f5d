"""The cache (hikube_portal.redis_cache) on the test Redis: Django's Redis cache, with one client
per connection pool instead of a new one per operation."""

import threading

from django.core.cache import cache, caches

from hikube_portal.redis_cache import SharedClientRedisCache


def test_the_cache_is_redis_and_reuses_one_client():
    assert isinstance(caches["default"], SharedClientRedisCache)
    first = cache._cache.get_client(write=True)
    cache.set("redis-cache-test", {"a": 1}, 30)
    assert cache.get("redis-cache-test") == {"a": 1}
    assert cache.get_many(["redis-cache-test", "absent"]) == {"redis-cache-test": {"a": 1}}
    cache.delete("redis-cache-test")
    assert cache.get("redis-cache-test") is None
    assert cache._cache.get_client(write=True) is first


def test_threads_share_the_client_and_each_gets_its_own_answer():
    errors = []

    def work(index):
        try:
            for round_ in range(50):
                cache.set(f"redis-cache-thread-{index}", (index, round_), 30)
                assert cache.get(f"redis-cache-thread-{index}") == (index, round_)
        except AssertionError as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    cache.delete_many([f"redis-cache-thread-{index}" for index in range(8)])
