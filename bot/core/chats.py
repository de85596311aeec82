"""The chats Guanjia knows, as the adapters see them: registering a chat, a chat whose id changes,
binding a person's account, and when each person last wrote (their platform's reply window).

The adapters call these instead of the store:

- `find_chat` and `register_chat`: an estate's owner group or staff chat, kept as a `Chat` row
  (WeCom's configured chats and the web chat's are registered at start-up).
- `move_chat`: a chat whose platform gave it a new id (a Telegram group that became a supergroup).
  Every table keyed by a chat is named once, in `CHAT_KEYED`; what is deliberately left under the
  old id, and why, in `LEFT_BEHIND`.
- `bind_identity`: a person's account bound to an owner or a staff member (the web chat demo,
  where anyone may speak as anyone of the demo estate).
- `saw` and `last_seen`: the last time a person wrote in a private chat (a message, a follow, a
  menu click), in `ReplyWindow`: what WeChat's 48-hour window is measured from.
- `prune_seen`: the dedup record (`SeenMessage`) forgets messages after `SEEN_KEPT`, long after
  any platform redelivers them; reply windows are not read from it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise.models import Model
from tortoise.transactions import in_transaction

from models import (
    Chat,
    ChatIdentity,
    ChatKind,
    Delivery,
    DeliveryStatus,
    Dialog,
    Estate,
    HeldMessage,
    InboundMessage,
    IncidentReport,
    OutboxMessage,
    Platform,
    ReplyQuota,
    ReplyWindow,
    SeenMessage,
    Ticket,
    TicketCard,
    TicketReporter,
)
from models.statements import Statement, run, upsert_statement

__all__ = [
    "CHAT_KEYED",
    "LEFT_BEHIND",
    "SEEN_KEPT",
    "ChatKeyed",
    "ChatKind",
    "Estate",
    "MovedChat",
    "all_estates",
    "bind_identity",
    "estate_by_code",
    "find_chat",
    "last_seen",
    "move_chat",
    "prune_seen",
    "register_chat",
    "saw",
]

log = logging.getLogger(__name__)

# How long a handled message is remembered to drop its redelivery: far longer than any platform
# redelivers (Telegram keeps updates a day, WeChat retries within seconds), and longer than any
# platform's reply window, though windows are no longer read from this record.
SEEN_KEPT = timedelta(days=7)


@dataclass(frozen=True)
class ChatKeyed:
    """A table whose rows belong to one chat: its model, the columns naming the chat, and which
    of its rows follow the chat to a new id (all of them when `only` is empty)."""

    model: type[Model]
    platform_field: str = "platform"
    chat_field: str = "chat_id"
    only: dict[str, Any] = field(default_factory=dict)

    def rows(self, platform: Platform, chat_id: str) -> Any:
        """The rows of this table for one chat (a queryset)."""
        return self.model.filter(
            **{self.platform_field: platform, self.chat_field: chat_id}, **self.only
        )


# Every table keyed by a chat, apart from the registry itself (`Chat`, moved with care for a
# new id that is registered already): what a chat with a new id carries over.
CHAT_KEYED: tuple[ChatKeyed, ...] = (
    ChatKeyed(Ticket, "source_platform", "source_chat_id"),
    ChatKeyed(TicketReporter),
    ChatKeyed(TicketCard),
    ChatKeyed(Dialog),
    # Notices not out yet go to the new id; what was sent (or failed) stays as it happened.
    ChatKeyed(Delivery, only={"status__in": [DeliveryStatus.PENDING, DeliveryStatus.UNKNOWN]}),
    ChatKeyed(ReplyWindow),
    # A reply window's count, and what is kept for when the person writes again (微信客服).
    ChatKeyed(ReplyQuota),
    ChatKeyed(HeldMessage),
)

# Chat-keyed tables whose rows stay under the old id, and why.
LEFT_BEHIND: dict[type[Model], str] = {
    SeenMessage: "the old id's messages: a redelivery of one still carries the old id",
    InboundMessage: "the journal of messages as they arrived, under the id they arrived with",
    OutboxMessage: "replies to messages of the old id, sent where those messages came from",
    IncidentReport: "who asked about an incident from where: a record, not a destination",
}


async def find_chat(platform: Platform, chat_id: str) -> Chat | None:
    """The registered chat with this id, if any."""
    return await Chat.get_or_none(platform=platform, chat_id=chat_id)


async def register_chat(
    platform: Platform, chat_id: str, estate: Estate, kind: ChatKind, title: str
) -> tuple[Chat, bool]:
    """Register a chat as the estate's chat of a kind, unless it is registered already (then it
    is left as it is); the chat, and whether it was registered now."""
    return await Chat.get_or_create(
        platform=platform,
        chat_id=chat_id,
        defaults={"kind": kind, "estate_id": estate.id, "title": title[:128]},
    )


async def all_estates() -> list[Estate]:
    """Every estate in the store, oldest first."""
    return await Estate.all().order_by("id")


async def estate_by_code(code: str) -> Estate | None:
    """The estate with this code, if any."""
    return await Estate.get_or_none(code=code)


@dataclass(frozen=True)
class MovedChat:
    """What a chat's move to a new id carried: its registration, and its tickets."""

    registered: bool
    tickets: int


async def move_chat(platform: Platform, old: str, new: str) -> MovedChat:
    """Carry a chat's registration and every chat-keyed row (`CHAT_KEYED`) over to its new id.

    Done once, whichever side of the move arrives first: the second finds nothing left under the
    old id. A new id registered already keeps its registration (the old one stays).
    """
    moved = False
    counts: dict[type[Model], int] = {}
    async with in_transaction():
        chat = await Chat.get_or_none(platform=platform, chat_id=old)
        if chat is not None:
            if await Chat.exists(platform=platform, chat_id=new):
                log.warning(
                    "%s chat %s became %s, which is registered already", platform, old, new
                )
            else:
                chat.chat_id = new
                await chat.save(update_fields=["chat_id"])
                moved = True
        for table in CHAT_KEYED:
            counts[table.model] = await table.rows(platform, old).update(**{table.chat_field: new})
    tickets = counts.get(Ticket, 0)
    if moved or tickets:
        log.info(
            "%s chat %s became %s: registration %s, %d ticket(s) moved",
            platform,
            old,
            new,
            "moved" if moved else "none",
            tickets,
        )
    return MovedChat(registered=moved, tickets=tickets)


async def bind_identity(
    platform: Platform,
    user_id: str,
    name: str,
    *,
    owner_id: int | None = None,
    staff_id: int | None = None,
) -> ChatIdentity:
    """Bind a person's account to an owner or a staff member (or neither), under a name."""
    name = name[:128]
    identity, _ = await ChatIdentity.get_or_create(
        platform=platform, user_id=user_id, defaults={"display_name": name}
    )
    if (identity.owner_id, identity.staff_id, identity.display_name) != (
        owner_id,
        staff_id,
        name,
    ):
        identity.owner_id, identity.staff_id = owner_id, staff_id
        identity.display_name = name
        await identity.save(update_fields=["owner_id", "staff_id", "display_name"])
    return identity


def saw_statement(platform: Platform, chat_id: str, at: datetime) -> Statement:
    """The statement that records a person wrote in their private chat at `at` (an upsert that
    keeps the later moment): for running together with others (the router's dedup)."""
    return upsert_statement(
        ReplyWindow,
        key=("platform", "chat_id"),
        values={"platform": platform, "chat_id": chat_id, "last_seen_at": at},
        update=("last_seen_at",),
    ).then('WHERE "reply_window"."last_seen_at" < excluded."last_seen_at"')


async def saw(platform: Platform, chat_id: str, at: datetime) -> None:
    """Record that a person wrote in their private chat at `at` (a later record is kept)."""
    await run(ReplyWindow, saw_statement(platform, chat_id, at))


async def last_seen(platform: Platform, chat_id: str) -> datetime | None:
    """When a person last wrote in their private chat, if ever (as far as is remembered)."""
    row = await ReplyWindow.get_or_none(platform=platform, chat_id=chat_id)
    return row.last_seen_at if row is not None else None


async def prune_seen(now: datetime) -> int:
    """Forget handled messages older than `SEEN_KEPT`; returns how many."""
    return await SeenMessage.filter(at__lt=now - SEEN_KEPT).delete()
