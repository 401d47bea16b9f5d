"""Celery beat's scheduler, sending tasks only while it holds a lock in Redis.

One scheduler must run: two would send every periodic task twice. Kubernetes keeps one beat pod
(one replica, the Recreate strategy), but a pod on a node that stopped answering is replaced
while it may still run, and a forced deletion does the same. The lock closes that gap: a
scheduler sends nothing unless it holds the lock, renews it at every tick, and a scheduler that
lost it (its Redis connection broke for longer than LOCK_SECONDS) stops sending until it wins it
back. Without REDIS_URL (`make run`, one machine, the file broker) there is nothing to share a
lock with, and the scheduler sends as Celery's does.

    celery -A hikube_portal beat --scheduler hikube_portal.beat:LockedScheduler
"""

import contextlib
import logging

import redis
from celery.beat import PersistentScheduler
from django.conf import settings
from redis.exceptions import LockError, RedisError

log = logging.getLogger(__name__)

LOCK_KEY = "hikube_portal.beat.lock"
# How long a lock outlives its last renewal: a scheduler that stops renewing (killed, cut off)
# is replaced after this long.
LOCK_SECONDS = 30.0
# A scheduler ticks at least this often, to renew the lock well before it expires, or, without
# the lock, to try for it again.
TICK_SECONDS = 5.0


class LockedScheduler(PersistentScheduler):
    def __init__(self, *args, **kwargs):
        self._lock = None
        self._held = False
        if settings.REDIS_URL:
            self._lock = redis.Redis.from_url(settings.REDIS_URL).lock(
                LOCK_KEY, timeout=LOCK_SECONDS, thread_local=False
            )
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs) -> float:
        if not self.holds_lock():
            return TICK_SECONDS
        return min(super().tick(*args, **kwargs), TICK_SECONDS)

    def holds_lock(self) -> bool:
        """Takes or renews the lock; says whether this scheduler may send tasks now."""
        if self._lock is None:
            return True
        try:
            held = (self._held and self._renewed()) or self._lock.acquire(blocking=False)
        except RedisError as exc:
            log.warning("beat: cannot reach Redis for the scheduler lock: %s", exc)
            held = False
        if held != self._held:
            log.info("beat: %s the scheduler lock", "took" if held else "lost")
        self._held = held
        return held

    def _renewed(self) -> bool:
        try:
            return self._lock.reacquire()
        except LockError:
            # It expired: another scheduler may hold it now.
            return False

    def close(self) -> None:
        super().close()
        if self._held:
            # The next scheduler (a rollout's new pod) need not wait for the lock to expire.
            with contextlib.suppress(RedisError):
                self._lock.release()
            self._held = False
