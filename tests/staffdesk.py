"""Helpers for the staff desk's tests: staff accounts, cards and button payloads."""

from __future__ import annotations

from datetime import datetime

from bot.core.codes import issue_code
from bot.core.types import OutgoingMessage, SentMessage
from models import ChatIdentity, ChatKind, CodePurpose, Estate, Platform, Staff, Ticket
from tests.desk import STAFF, Desk


async def register_code(estate: Estate, kind: ChatKind, now: datetime) -> str:
    """A one-time code that makes a group the estate's chat of `kind` (`/register CODE`)."""
    code = await issue_code(
        estate, CodePurpose.REGISTER_CHAT, created_by="cli", now=now, chat_kind=kind
    )
    return code.code


async def bind_staff(user: str, staff: Staff) -> ChatIdentity:
    """Bind a web-chat account to a staff member (the staff code does this in the product)."""
    identity, _ = await ChatIdentity.get_or_create(platform=Platform.WEBCHAT, user_id=user)
    identity.staff_id = staff.id
    await identity.save()
    return identity


def payloads(message: OutgoingMessage) -> list[str]:
    """Every button payload of a message, row by row."""
    return [button.payload for row in message.buttons for button in row]


def is_card(message: OutgoingMessage, number: str) -> bool:
    """Whether a message is the (Chinese) card of a ticket: a line opens with its number."""
    return any(line.startswith(f"【{number}】") for line in message.text.splitlines())


def cards(desk: Desk, number: str) -> list[OutgoingMessage]:
    """The cards of a ticket posted (not edited) in the staff chat."""
    return [m for m in desk.channel.to(STAFF.chat_id) if is_card(m, number)]


def edits(desk: Desk) -> list[tuple[SentMessage, OutgoingMessage]]:
    """The edits made to messages in the staff chat."""
    return [(sent, m) for sent, m in desk.channel.edits if m.chat == STAFF]


def staff_texts(desk: Desk) -> list[str]:
    """The texts sent to the staff chat."""
    return desk.channel.texts(STAFF.chat_id)


async def report(
    desk: Desk, text: str = "3栋2单元501 厨房水管漏水了", sender: str = "u-li"
) -> Ticket:
    """An owner reports a repair in the owners' group; returns the ticket it opened."""
    before = await Ticket.all().count()
    await desk.say(text, sender)
    tickets = await Ticket.all().order_by("-id")
    assert len(tickets) == before + 1, "the report should have opened a ticket"
    return tickets[0]
