"""One removal at a time per Meraki organization, across every Nautobot worker.

The lock lives in Nautobot's cache, which is Redis through django-redis (Nautobot's default ``CACHES``, and
what Nautobot itself locks with when it allocates prefixes): ``cache.lock`` is a redis-py lock that every
worker process and host sharing that Redis sees. It expires by itself, so a worker killed while holding it
blocks that organization's removals for at most ``HOLD_FOR`` seconds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.core.cache import cache
from redis.exceptions import LockError, RedisError

from .admin_removal import OrganizationBusy, Renew
from .admin_report import Organization

HOLD_FOR = 300
"""Seconds the lock lives unless released: far longer than listing and deleting take, even with Meraki's waits."""
WAIT_FOR = 60
"""Seconds a removal waits for another removal in the same organization before giving up on it."""
TRY_AGAIN = "Nothing was removed there; run the Job again."


def lock_key(organization: Organization) -> str:
    return f"meraki_chatops:removal:{organization.id}"


@contextlib.contextmanager
def organization_lock(organization: Organization) -> Iterator[Renew]:
    """Hold the organization's lock for the block; :class:`OrganizationBusy` when it cannot be had in time."""
    if not hasattr(cache, "lock"):
        raise OrganizationBusy(
            f"Nautobot's cache ({type(cache).__name__}) cannot hold the lock that keeps two removals in one "
            "organization apart; set Nautobot's CACHES to Redis (django-redis, its default). " + TRY_AGAIN
        )
    try:
        lock = cache.lock(lock_key(organization), timeout=HOLD_FOR, blocking_timeout=WAIT_FOR)
        acquired = lock.acquire()
    except RedisError as exc:
        raise OrganizationBusy(
            f"Nautobot's Redis, which holds the organization's removal lock, did not answer ({type(exc).__name__}). "
            + TRY_AGAIN
        ) from exc
    if not acquired:
        raise OrganizationBusy(
            f"another removal in this organization was still under way after {WAIT_FOR} s (or one that "
            f"stopped without finishing holds its lock, for at most {HOLD_FOR} s). " + TRY_AGAIN
        )

    def renew() -> None:
        """Still ours, and good for another ``HOLD_FOR`` seconds; else stop before deleting anything."""
        try:
            lock.reacquire()
        except (LockError, RedisError) as exc:
            raise OrganizationBusy(
                f"the organization's removal lock expired before the delete (held over {HOLD_FOR} s), so another "
                "removal may have changed the organization meanwhile. " + TRY_AGAIN
            ) from exc

    try:
        yield renew
    finally:
        # Expired or Redis gone: the lock is no longer ours to release, and it expires by itself.
        with contextlib.suppress(LockError, RedisError):
            lock.release()
