"""A named lease in the store, so that one process of a deployment runs the scheduler.

Taking and renewing are one compare-and-set `UPDATE … WHERE name = … AND (holder = me OR
expires_at <= now)`: it changes one row or none on SQLite and PostgreSQL alike, so two processes
never both hold it; when the holder dies its lease expires and another process takes it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.schedule import Lease


async def take_lease(name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the lease `name` for `holder` until `now + ttl`; False when another
    process holds it."""
    expires_at = now + ttl
    taken = await Lease.filter(Q(name=name) & (Q(holder=holder) | Q(expires_at__lte=now))).update(
        holder=holder, expires_at=expires_at
    )
    if taken:
        return True
    if await Lease.exists(name=name):
        return False
    try:
        async with in_transaction():
            await Lease.create(name=name, holder=holder, expires_at=expires_at)
    except IntegrityError:
        return False  # another process created it first
    return True


async def release_lease(name: str, holder: str, now: datetime) -> bool:
    """Give the lease up at once (on a clean stop), if `holder` has it."""
    released = await Lease.filter(name=name, holder=holder).update(expires_at=now)
    return bool(released)


async def lease_holder(name: str, now: datetime) -> str | None:
    """Who holds the lease now, if anyone."""
    lease = await Lease.get_or_none(name=name)
    return lease.holder if lease is not None and lease.expires_at > now else None
