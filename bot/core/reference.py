"""The rows a message reads that rarely change, kept in the process (issue 17: fewer round trips).

An estate's row, its service calendar (office hours and closed days), its service targets, the
names of its buildings, its staff chats and its announced outages are read by nearly every
ticket message and change only when someone edits them: the estate import, a chat's
registration, an announcement. The
`EstateCache` keeps each for at most `CACHE_TTL`, per estate; the app builds one and passes it
down in `Services` (no module-level state).

How stale it can be:

- A change made through this process's own code is seen by the next message: whatever writes
  those rows calls `invalidate` (`import_estate` given the cache; a staff command through
  `Context.reference_changed`: `/register`, an announcement of an outage and its cancelling),
  and again once its transaction ended, so that what a message read meanwhile (the old rows,
  or the new ones before a rollback) is not kept.
- A change made by another process (`guanjia import` while `guanjia run` runs, a second process
  behind one address, an edit straight in the database) is seen at most `CACHE_TTL` after it
  committed. A chat whose platform moved it to a new id (a Telegram group that became a
  supergroup) may be posted to under its old id meanwhile: the channel follows the move.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bot.core.calendar import ServiceCalendar, calendar_of
from bot.core.clock import Clock
from models import (
    Building,
    Chat,
    ChatKind,
    ClosedDay,
    Estate,
    Incident,
    OfficeHours,
    ServiceTarget,
)

__all__ = ["CACHE_TTL", "EstateCache", "Outage"]

# The longest another process's change to these rows goes unseen by this one.
CACHE_TTL = timedelta(seconds=30)

T = TypeVar("T")


@dataclass(frozen=True)
class Outage:
    """An announced outage (an `Incident` not cancelled), as the cache keeps it: enough to tell
    whether a report is about it; its row is read when one is."""

    id: int
    kind: str
    building: str | None
    starts_at: datetime
    ends_at: datetime


class EstateCache:
    """An estate's rarely changing rows, each kept for at most `ttl` (see the module's doc)."""

    def __init__(self, clock: Clock, ttl: timedelta = CACHE_TTL) -> None:
        self.clock = clock
        self.ttl = ttl
        # (what, estate id) → (kept until, value)
        self._kept: dict[tuple[str, int], tuple[Any, Any]] = {}
        # Bumped by every invalidation: a load that began before one is not kept.
        self._generation = 0

    def invalidate(self, estate_id: int | None = None) -> None:
        """Forget what is kept of an estate (None: of every estate)."""
        self._generation += 1
        if estate_id is None:
            self._kept.clear()
            return
        for key in [key for key in self._kept if key[1] == estate_id]:
            del self._kept[key]

    async def _get(self, what: str, estate_id: int, load: Callable[[], Awaitable[T]]) -> T:
        key = (what, estate_id)
        now = self.clock.now()
        kept = self._kept.get(key)
        if kept is not None and now < kept[0]:
            return kept[1]  # type: ignore[no-any-return]
        generation = self._generation
        value = await load()
        if generation == self._generation:
            self._kept[key] = (now + self.ttl, value)
        return value

    async def estate(self, estate_id: int) -> Estate:
        """The estate's row (a copy: what a caller changes on it stays its own)."""

        async def load() -> Estate:
            return await Estate.get(id=estate_id)

        return copy.copy(await self._get("estate", estate_id, load))

    async def targets(self, estate_id: int) -> tuple[ServiceTarget, ...]:
        """The estate's service targets (every kind, urgency and severity)."""

        async def load() -> tuple[ServiceTarget, ...]:
            return tuple(await ServiceTarget.filter(estate_id=estate_id).order_by("id"))

        return await self._get("targets", estate_id, load)

    async def calendar(self, estate: Estate) -> ServiceCalendar:
        """The estate's service calendar (its office hours and closed days, in its zone)."""

        async def load() -> ServiceCalendar:
            return calendar_of(
                estate.timezone,
                await OfficeHours.filter(estate_id=estate.id),
                await ClosedDay.filter(estate_id=estate.id),
            )

        calendar = await self._get("calendar", estate.id, load)
        if calendar.timezone != estate.timezone:  # the estate moved zone since: read again
            self.invalidate(estate.id)
            calendar = await self._get("calendar", estate.id, load)
        return calendar

    async def buildings(self, estate_id: int) -> frozenset[str]:
        """The names of the estate's buildings."""

        async def load() -> frozenset[str]:
            names = await Building.filter(estate_id=estate_id).values_list("name", flat=True)
            return frozenset(str(name) for name in names)

        return await self._get("buildings", estate_id, load)

    async def staff_chats(self, estate_id: int) -> tuple[Chat, ...]:
        """The estate's staff chats, oldest first."""

        async def load() -> tuple[Chat, ...]:
            return tuple(
                await Chat.filter(estate_id=estate_id, kind=ChatKind.STAFF).order_by("id")
            )

        return await self._get("staff_chats", estate_id, load)

    async def outages(self, estate_id: int) -> tuple[Outage, ...]:
        """The estate's announced outages not cancelled and not over when read, by start."""
        now = self.clock.now()

        async def load() -> tuple[Outage, ...]:
            rows = await Incident.filter(
                estate_id=estate_id, cancelled_at__isnull=True, ends_at__gte=now
            ).order_by("starts_at", "id")
            return tuple(
                Outage(row.id, str(row.kind), row.building, row.starts_at, row.ends_at)
                for row in rows
            )

        return await self._get("outages", estate_id, load)
