"""A platform that lets the bot write to a person only a few times after each of their messages
(微信客服: at most 5 messages within 48 hours of the person's last message).

The adapter asks `take_slot` before every send: the count runs from the person's last message
(`chats.last_seen`, which the router records), so a new message from them opens a new window. A
message that finds no slot is kept (`hold`) and sent when they write again (`release_held`).
The slot it hands out says when it is the window's last, so that the person can be told then
that anything further waits until they write.

The adapters call these instead of the store (bot/adapters/wecom_kf/).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from bot.core import chats
from models import ChatIdentity, HeldMessage, Platform, ReplyQuota, SeenMessage

__all__ = [
    "Slot",
    "Window",
    "account_on",
    "has_slot",
    "held_count",
    "hold",
    "language_of",
    "once",
    "release_held",
    "take_slot",
    "use_up",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    """A platform's reply window: `limit` messages within `hours` of the person's message."""

    hours: float = 48.0
    limit: int = 5
    # A message sent this close to the window's end is told to be the last, as the limit's is.
    closing_hours: float = 12.0


@dataclass(frozen=True)
class Slot:
    """One message's place in the window: granted or not (and why), and whether it may be the
    last (the count's last, or sent when the window is closing)."""

    granted: bool
    last: bool = False
    why: str = ""


async def take_slot(platform: Platform, chat_id: str, now: datetime, window: Window) -> Slot:
    """Take one of the window's messages for a send to a private chat, if one is left."""
    seen = await chats.last_seen(platform, chat_id)
    if seen is None:
        return Slot(False, why="the person never wrote")
    if now - seen >= timedelta(hours=window.hours):
        return Slot(False, why=f"more than {window.hours:g} hours since the person wrote")
    # A message from the person since the count began starts the count anew.
    await ReplyQuota.filter(platform=platform, chat_id=chat_id, window_from__lt=seen).update(
        window_from=seen, sent=0
    )
    try:
        async with in_transaction():
            await ReplyQuota.create(platform=platform, chat_id=chat_id, window_from=seen, sent=0)
    except IntegrityError:
        pass  # counted before: the row is there
    taken = await ReplyQuota.filter(
        platform=platform, chat_id=chat_id, sent__lt=window.limit
    ).update(sent=F("sent") + 1)
    if not taken:
        return Slot(False, why=f"the {window.limit} messages of the window are used up")
    row = await ReplyQuota.get(platform=platform, chat_id=chat_id)
    closing = now - seen >= timedelta(hours=window.hours - window.closing_hours)
    return Slot(True, last=row.sent >= window.limit or closing)


async def has_slot(platform: Platform, chat_id: str, now: datetime, window: Window) -> bool:
    """Whether a message could be sent now (without taking its place)."""
    seen = await chats.last_seen(platform, chat_id)
    if seen is None or now - seen >= timedelta(hours=window.hours):
        return False
    row = await ReplyQuota.get_or_none(platform=platform, chat_id=chat_id)
    return row is None or row.window_from < seen or row.sent < window.limit


async def use_up(platform: Platform, chat_id: str, window: Window) -> None:
    """Record that the window has no message left (the platform said so)."""
    await ReplyQuota.filter(platform=platform, chat_id=chat_id).update(sent=window.limit)


async def hold(platform: Platform, chat_id: str, text: str, kind: str, now: datetime) -> int:
    """Keep a message that could not be sent, for when the person writes again; its id."""
    row = await HeldMessage.create(
        platform=platform, chat_id=chat_id, text=text, kind=kind[:32], held_at=now
    )
    return row.id


async def held_count(platform: Platform, chat_id: str) -> int:
    """How many messages wait for the person to write again."""
    return await HeldMessage.filter(platform=platform, chat_id=chat_id).count()


async def held_by_kind() -> dict[tuple[Platform, str], int]:
    """How many messages wait for their person to write again, by platform and kind (a notice
    kept this way was recorded as sent by the Notifier: the platform took it from us)."""
    counts: dict[tuple[Platform, str], int] = {}
    for platform, kind in await HeldMessage.all().values_list("platform", "kind"):
        key = (Platform(platform), str(kind))
        counts[key] = counts.get(key, 0) + 1
    return counts


async def release_held(platform: Platform, chat_id: str) -> list[str]:
    """The messages kept for a person, oldest first, taken out of the store (once: a second
    caller gets none of them)."""
    rows = await HeldMessage.filter(platform=platform, chat_id=chat_id).order_by("id")
    texts: list[str] = []
    for row in rows:
        if await HeldMessage.filter(id=row.id).delete():
            texts.append(row.text)
    return texts


async def once(platform: Platform, chat_id: str, event_id: str, now: datetime) -> bool:
    """Whether a platform event (not a message: a session entered) is seen for the first time;
    it is recorded as seen, so its redelivery is not acted on again."""
    try:
        async with in_transaction():
            await SeenMessage.create(
                platform=platform, chat_id=chat_id, message_id=event_id[:128], at=now
            )
    except IntegrityError:
        return False
    return True


async def language_of(platform: Platform, user_id: str) -> str | None:
    """The language a person's account is known to read, if known."""
    identity = await ChatIdentity.get_or_none(platform=platform, user_id=user_id)
    return identity.language if identity is not None else None


async def account_on(platform: Platform, user_id: str, other: Platform) -> str | None:
    """The same person's account on another platform (through the owner or staff member both
    accounts are bound to), if there is one that can be written to."""
    identity = await ChatIdentity.get_or_none(platform=platform, user_id=user_id)
    if identity is None or (identity.owner_id is None and identity.staff_id is None):
        return None
    query = ChatIdentity.filter(platform=other, unreachable_at__isnull=True)
    if identity.owner_id is not None:
        query = query.filter(owner_id=identity.owner_id)
    else:
        query = query.filter(staff_id=identity.staff_id)
    found = await query.order_by("-id").first()
    return found.user_id if found is not None else None
