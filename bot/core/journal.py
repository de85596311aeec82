"""Nothing accepted is lost: the journal of accepted messages and the outbox of unsent replies.

A message is *accepted* the moment an owner can see it was taken (the web chat shows it in the
group, a platform was told "received" for it). Before that moment, `accept` writes it to the
journal (`InboundMessage`), claimed by this process for a while. The router handles it and, in
the same transaction as everything it changes, marks it done (`finish`) and writes the replies
it will send (`keep_outbox`; both in one round trip: `finish_with_outbox`); after the commit the
replies go out and their rows are deleted (`send_outbox(…, forget=ids)`).

A process that dies leaves either a journal row still pending or reply rows still there. Once
their claim has lapsed, any process's `recover` takes them over with a compare-and-set on the
claim: pending messages are handled (once: the router's own dedup and the done mark make a
second handling a no-op), leftover replies are sent. A reply whose send was cut off by the
death may go out twice; no accepted message and no committed reply is lost.

A message whose handling failed (the router apologised) is released, not retried: the owner was
told to send it again, and the platform's redelivery of it is handled as a new try.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Q

from bot.core.context import Outbound, Remember, send_outbox
from bot.core.types import (
    Attachment,
    Button,
    ChatRef,
    IncomingMessage,
    Mention,
    OutgoingMessage,
    SentMessage,
)
from models import InboundMessage, InboundStatus, OutboxMessage, Platform
from models.statements import (
    Statement,
    insert_ignoring,
    insert_many,
    insert_statement,
    run,
    together,
    update_statement,
)

__all__ = [
    "CLAIM",
    "KEEP_DONE",
    "accept",
    "finish",
    "finish_with_outbox",
    "keep_outbox",
    "message_from_json",
    "message_to_json",
    "outbound_from_json",
    "outbound_to_json",
    "prune",
    "release",
    "resend_lapsed",
    "take_lapsed_messages",
]

log = logging.getLogger(__name__)

# A process handling a message, or sending replies, holds them this long; a process that died
# holding them lets another take over once it has passed.
CLAIM = timedelta(minutes=2)
# Handled messages are kept this long (enough for any platform's redelivery), then pruned.
KEEP_DONE = timedelta(days=2)
RECOVER_BATCH = 200


def _chat_to_json(chat: ChatRef) -> dict[str, Any]:
    return {"platform": str(chat.platform), "id": chat.chat_id, "group": chat.is_group}


def _chat_from_json(data: dict[str, Any]) -> ChatRef:
    return ChatRef(Platform(data["platform"]), str(data["id"]), bool(data["group"]))


def message_to_json(message: IncomingMessage) -> dict[str, Any]:
    """An incoming message as the journal keeps it (its platform object left out)."""
    return {
        "chat": _chat_to_json(message.chat),
        "sender_id": message.sender_id,
        "sender_name": message.sender_name,
        "text": message.text,
        "message_id": message.message_id,
        "received_at": message.received_at.isoformat(),
        "payload": message.payload,
        "attachments": [[a.kind, a.ref] for a in message.attachments],
        "addressed": message.addressed,
        "language_hint": message.language_hint,
        "replied_to": message.replied_to,
    }


def message_from_json(data: dict[str, Any]) -> IncomingMessage:
    """The incoming message a journal row holds."""
    return IncomingMessage(
        chat=_chat_from_json(data["chat"]),
        sender_id=str(data["sender_id"]),
        sender_name=str(data.get("sender_name", "")),
        text=str(data.get("text", "")),
        message_id=str(data["message_id"]),
        received_at=datetime.fromisoformat(data["received_at"]),
        payload=data.get("payload"),
        attachments=tuple(Attachment(str(k), str(r)) for k, r in data.get("attachments", [])),
        addressed=bool(data.get("addressed", False)),
        language_hint=data.get("language_hint"),
        replied_to=data.get("replied_to"),
    )


def _key(message: IncomingMessage) -> dict[str, Any]:
    return {
        "platform": message.chat.platform,
        "chat_id": message.chat.chat_id,
        "message_id": message.message_id,
    }


async def accept(message: IncomingMessage, now: datetime) -> bool:
    """Keep a message before it is shown or acknowledged; False when it needs no handling
    here (handled already, or being handled by a live process). One statement for a message
    seen for the first time (call it outside a transaction: it commits on its own)."""
    kept = await insert_ignoring(
        InboundMessage,
        **_key(message),
        data=message_to_json(message),
        accepted_at=now,
        claimed_until=now + CLAIM,
        status=InboundStatus.PENDING,
        attempts=0,
    )
    if kept is not None:
        return True
    # Seen before: take it only if it is not done and nobody holds it (a redelivery after a
    # failure, or after a process died holding it).
    taken = await InboundMessage.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
        **_key(message),
        status=InboundStatus.PENDING,
    ).update(claimed_until=now + CLAIM)
    return bool(taken)


def _finish_statement(message: IncomingMessage, now: datetime) -> Statement:
    return update_statement(
        InboundMessage,
        where={**_key(message), "status": InboundStatus.PENDING},
        values={"status": InboundStatus.DONE, "handled_at": now, "claimed_until": None},
    )


async def finish(message: IncomingMessage, now: datetime) -> None:
    """Mark a message handled (call it inside the transaction that handles it)."""
    await run(InboundMessage, _finish_statement(message, now))


async def finish_with_outbox(
    message: IncomingMessage, entries: Sequence[OutgoingMessage | Outbound], now: datetime
) -> list[int]:
    """Write a message's replies (`keep_outbox`) and mark it handled (`finish`), in one round
    trip (call it inside the transaction that handled it); returns the replies' rows' ids."""
    rows = _outbox_rows(entries, now)
    if not rows:
        await finish(message, now)
        return []
    kept = await together(
        OutboxMessage,
        [
            insert_statement(OutboxMessage, rows).then("RETURNING id"),
            _finish_statement(message, now),
        ],
    )
    return sorted(int(row["id"]) for row in kept)


async def release(message: IncomingMessage) -> None:
    """Give up a message whose handling failed: nobody holds it, and recovery leaves it alone
    (a redelivery of it may be tried again)."""
    try:
        rows = await InboundMessage.filter(**_key(message), status=InboundStatus.PENDING)
        for row in rows:
            await InboundMessage.filter(id=row.id).update(
                claimed_until=None, attempts=row.attempts + 1
            )
    except Exception:  # the store may be what failed; the message stays for a redelivery
        log.exception("could not release message %s", message.message_id)


# --- The outbox ------------------------------------------------------------------------------


def _message_to_json(message: OutgoingMessage) -> dict[str, Any]:
    return {
        "chat": _chat_to_json(message.chat),
        "text": message.text,
        "buttons": [[[b.label, b.payload] for b in row] for row in message.buttons],
        "reply_to": message.reply_to,
        "photos": [[a.kind, a.ref] for a in message.photos],
        "attachments": [[a.kind, a.ref] for a in message.attachments],
        "mentions": [[m.name, m.user_id] for m in message.mentions],
    }


def _message_from_json(data: dict[str, Any]) -> OutgoingMessage:
    return OutgoingMessage(
        chat=_chat_from_json(data["chat"]),
        text=str(data["text"]),
        buttons=tuple(
            tuple(Button(str(label), str(payload)) for label, payload in row)
            for row in data.get("buttons", [])
        ),
        reply_to=data.get("reply_to"),
        photos=tuple(Attachment(str(k), str(r)) for k, r in data.get("photos", [])),
        attachments=tuple(Attachment(str(k), str(r)) for k, r in data.get("attachments", [])),
        mentions=tuple(Mention(str(n), str(u)) for n, u in data.get("mentions", [])),
    )


def outbound_to_json(entry: OutgoingMessage | Outbound) -> dict[str, Any]:
    """An outbox entry as a reply row keeps it."""
    outbound = entry if isinstance(entry, Outbound) else Outbound(entry)
    if outbound.after_send is not None:
        raise ValueError("an outbox entry kept for later names what it remembers (Remember)")
    edit = outbound.edit
    return {
        "message": _message_to_json(outbound.message),
        "edit": {"chat": _chat_to_json(edit.chat), "id": edit.message_id} if edit else None,
        "remember": (
            {"kind": outbound.remember.kind, "data": outbound.remember.data}
            if outbound.remember
            else None
        ),
    }


def outbound_from_json(data: dict[str, Any]) -> Outbound:
    """The outbox entry a reply row holds."""
    edit = data.get("edit")
    remember = data.get("remember")
    return Outbound(
        _message_from_json(data["message"]),
        edit=SentMessage(_chat_from_json(edit["chat"]), str(edit["id"])) if edit else None,
        remember=Remember(str(remember["kind"]), dict(remember["data"])) if remember else None,
    )


def _outbox_rows(
    entries: Sequence[OutgoingMessage | Outbound], now: datetime
) -> list[dict[str, Any]]:
    rows = []
    for entry in entries:
        if isinstance(entry, Outbound) and entry.after_send is not None:
            continue
        message = entry.message if isinstance(entry, Outbound) else entry
        rows.append(
            {
                "platform": message.chat.platform,
                "chat_id": message.chat.chat_id,
                "data": outbound_to_json(entry),
                "created_at": now,
                "claimed_until": now + CLAIM,
            }
        )
    return rows


async def keep_outbox(entries: Sequence[OutgoingMessage | Outbound], now: datetime) -> list[int]:
    """Write a message's replies (call it inside the transaction that made them); returns the
    rows' ids, to forget once they were sent.

    An entry with an `after_send` callback is not kept: a callback is not data, and such an
    entry holds what the store must not (a console sign-in link, whose token is kept only as a
    hash). It is sent once after the commit like the others, and never resent by recovery.
    """
    return await insert_many(OutboxMessage, _outbox_rows(entries, now))


# --- Recovery --------------------------------------------------------------------------------


async def _take_lapsed_replies(now: datetime, every: bool) -> list[OutboxMessage]:
    taken: list[OutboxMessage] = []
    query = OutboxMessage.all() if every else OutboxMessage.filter(claimed_until__lt=now)
    for row in await query.order_by("id").limit(RECOVER_BATCH):
        won = await OutboxMessage.filter(id=row.id, claimed_until=row.claimed_until).update(
            claimed_until=now + CLAIM
        )
        if won:
            taken.append(row)
    return taken


async def resend_lapsed(hub: Any, now: datetime, *, every: bool = False) -> int:
    """Send the replies a dead process committed but never sent; returns how many were tried.
    `every`: take them all, claimed or not (the only process of a store is starting)."""
    rows = await _take_lapsed_replies(now, every)
    if not rows:
        return 0
    entries = []
    for row in rows:
        try:
            entries.append(outbound_from_json(row.data))
        except (KeyError, TypeError, ValueError):
            log.exception("dropped an unreadable reply row %s", row.id)
    await send_outbox(hub, entries)
    await OutboxMessage.filter(id__in=[row.id for row in rows]).delete()
    log.info("sent %d reply(ies) left by a process that stopped", len(entries))
    return len(entries)


async def take_lapsed_messages(now: datetime, *, every: bool = False) -> list[IncomingMessage]:
    """The accepted messages a dead process never finished, now held by this one. `every`: all
    that anyone held (the only process of a store is starting, so their holder is gone)."""
    taken: list[IncomingMessage] = []
    held = Q(claimed_until__isnull=False) if every else Q(claimed_until__lt=now)
    rows = (
        await InboundMessage.filter(held, status=InboundStatus.PENDING)
        .order_by("id")
        .limit(RECOVER_BATCH)
    )
    for row in rows:
        won = await InboundMessage.filter(
            id=row.id, status=InboundStatus.PENDING, claimed_until=row.claimed_until
        ).update(claimed_until=now + CLAIM, attempts=row.attempts + 1)
        if not won:
            continue
        try:
            taken.append(message_from_json(row.data))
        except (KeyError, TypeError, ValueError):
            log.exception("an unreadable journal row %s is dropped", row.id)
            await InboundMessage.filter(id=row.id).update(
                status=InboundStatus.DONE, handled_at=now, claimed_until=None
            )
    return taken


async def prune(now: datetime) -> int:
    """Forget handled messages past the time any platform redelivers; returns how many."""
    return await InboundMessage.filter(
        status=InboundStatus.DONE, handled_at__lt=now - KEEP_DONE
    ).delete()
