"""What a ticket promises, in words: one source for the owner's acknowledgement and the card.

A ticket's promised times are its `due_response_at` and `due_resolve_at` (set from the estate's
service standard when it opens). The owner is told them as durations ("工程部将在 15分钟 内响应，
24小时 内完成"), staff see them as times on the card; when the two fall together (a complaint
answered within 24 hours) both say one promise: an answer.

When a ticket is late is said once, here (`late`): the console's board, the month's report and the
desk's escalations (`bot/core/desk.py`'s `breaches`) all ask it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_timedelta

from bot.core.i18n import Catalogues
from models import Ticket, TicketStatus

LOCALES = {"zh": "zh_CN", "en": "en_US"}


def duration(delta: timedelta, lang: str) -> str:
    """A promised duration in words ("15分钟", "24 hours"), never rounded up to a larger unit."""
    return format_timedelta(delta, threshold=2, locale=LOCALES.get(lang, "zh_CN"))


def local_time(moment: datetime, timezone: str) -> str:
    """A deadline as staff read it on a card: month-day hour:minute in the estate's zone."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%m-%d %H:%M")


def _one_promise(ticket: Ticket) -> bool:
    return ticket.due_response_at == ticket.due_resolve_at


def owner_promise(ticket: Ticket, catalogues: Catalogues, lang: str) -> str:
    """What the owner is promised when the ticket opens, from its own promised times."""
    department = catalogues.text(lang, f"department.{ticket.department}")
    respond = duration(ticket.due_response_at - ticket.created_at, lang)
    if _one_promise(ticket):
        text = catalogues.text(lang, "promise.answer", department=department, answer=respond)
    else:
        resolve = duration(ticket.due_resolve_at - ticket.created_at, lang)
        text = catalogues.text(
            lang,
            "promise.respond_resolve",
            department=department,
            respond=respond,
            resolve=resolve,
        )
    if ticket.urgent:
        text = catalogues.text(lang, "promise.urgent", promise=text)
    return text


def card_promise(ticket: Ticket, catalogues: Catalogues, lang: str, timezone: str) -> str:
    """The card's line of promised times (the same times the owner was told)."""
    respond_by = local_time(ticket.due_response_at, timezone)
    if _one_promise(ticket):
        return catalogues.text(lang, "desk.card_due_answer", answer_by=respond_by)
    return catalogues.text(
        lang,
        "desk.card_due",
        respond_by=respond_by,
        resolve_by=local_time(ticket.due_resolve_at, timezone),
    )


@dataclass(frozen=True)
class Late:
    """Which promised times a ticket has passed and still owes."""

    response: bool
    resolve: bool

    def __bool__(self) -> bool:
        return self.response or self.resolve


def late(ticket: Ticket, now: datetime) -> Late:
    """Which promises a ticket has missed by `now`: a response while nobody has taken it (open),
    a result while it is not done (open or taken). A resolved or closed ticket owes nothing."""
    return Late(
        response=ticket.status is TicketStatus.OPEN and ticket.due_response_at < now,
        resolve=ticket.status in (TicketStatus.OPEN, TicketStatus.CLAIMED)
        and ticket.due_resolve_at < now,
    )
