"""The staff desk's actions on a ticket, whoever asks: the staff chat or the staff console.

Each action is the lifecycle call (a compare-and-set transition that writes the ticket's event)
and the outbox entries it produces: the card edited in every staff chat of the estate, and the
owner (every reporter) told where they reported. It returns them, with what to tell the staff
member who acted, and sends nothing: the staff chat's handler queues the entries in its context's
outbox, and the console runs an action with `run_and_send`: the action and its kept outbox in
one transaction, then `send_outbox` once it committed.
So a ticket claimed from the console changes exactly as one claimed by a card's button.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from tortoise.transactions import in_transaction

from bot.core import desk, journal
from bot.core.context import Outbound, Services, send_outbox
from bot.core.types import Button
from models import Department, Staff, Ticket
from models.lifecycle import (
    IllegalTransition,
    claim_ticket,
    record_answer,
    resolve_ticket,
    staff_actor,
    transfer_ticket,
)

__all__ = ["DeskOutcome", "answer_owner", "claim", "resolve", "run_and_send", "transfer"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeskOutcome:
    """What an action did: `done` when it changed the ticket, the catalogue key (and fields)
    of what the staff member who acted is told, the ticket as it is now, and what to send."""

    done: bool
    key: str
    fields: dict[str, object] = field(default_factory=dict)
    ticket: Ticket | None = None
    outbox: list[Outbound] = field(default_factory=list)


def _status(services: Services, lang: str, status: object) -> str:
    """A ticket status in words ("" when there is none to name)."""
    return services.catalogues.text(lang, f"desk.status_{status}") if status else ""


def _cannot(ticket: Ticket, services: Services, lang: str, status: object) -> DeskOutcome:
    return DeskOutcome(
        False, "desk.cannot", {"number": ticket.number, "status": _status(services, lang, status)}
    )


async def claim(
    ticket: Ticket, staff: Staff, now: datetime, services: Services, lang: str
) -> DeskOutcome:
    """Claim an open ticket: of staff claiming at once one wins, the card shows who, and the
    owner hears that someone has it (who, never how to reach them); the rest are told who has
    it."""
    try:
        result = await claim_ticket(ticket.id, staff, now)
    except IllegalTransition:
        return _cannot(ticket, services, lang, ticket.status)
    if not result.won:
        if result.holder is not None and result.holder.id == staff.id:
            return DeskOutcome(False, "desk.claim_yours", {"number": ticket.number}, result.ticket)
        holder = (
            result.holder.name if result.holder else services.catalogues.text(lang, "desk.nobody")
        )
        return DeskOutcome(
            False, "desk.claim_taken", {"number": ticket.number, "holder": holder}, result.ticket
        )
    log.info("%s claimed %s", staff.name, ticket.number)
    catalogues = services.catalogues

    def compose(owner_lang: str) -> str:
        department = catalogues.text(owner_lang, f"department.{ticket.department}")
        return catalogues.text(
            owner_lang,
            "desk.claimed_owner",
            number=ticket.number,
            department=department,
            name=staff.name,
        )

    outbox = await desk.card_messages(result.ticket, services)
    outbox.extend(await desk.reporter_messages(ticket, services, compose))
    fields: dict[str, object] = {"number": ticket.number}
    return DeskOutcome(True, "desk.claimed_by_you", fields, result.ticket, outbox)


async def answer_owner(
    ticket: Ticket, staff: Staff, text: str, now: datetime, services: Services, lang: str
) -> DeskOutcome:
    """Send staff's answer to the owner (every reporter, where each reported) and record it."""
    try:
        await record_answer(ticket.id, staff_actor(staff), text, now)
    except IllegalTransition:
        return _cannot(ticket, services, lang, ticket.status)
    catalogues = services.catalogues

    def compose(owner_lang: str) -> str:
        return catalogues.text(owner_lang, "desk.answer_owner", number=ticket.number, text=text)

    outbox = await desk.reporter_messages(ticket, services, compose)
    return DeskOutcome(True, "desk.replied", {"number": ticket.number}, ticket, outbox)


async def resolve(
    ticket: Ticket, staff: Staff, result: str, now: datetime, services: Services, lang: str
) -> DeskOutcome:
    """Close a ticket with its result: the card shows it, and the owner gets the result with
    the five rating buttons of the revisit form."""
    try:
        resolved = await resolve_ticket(ticket.id, staff, result, now)
    except IllegalTransition as exc:
        return _cannot(ticket, services, lang, exc.status)
    catalogues = services.catalogues

    def compose(owner_lang: str) -> str:
        return catalogues.text(
            owner_lang, "desk.resolved_owner", number=resolved.number, result=result
        )

    def buttons(owner_lang: str) -> tuple[tuple[Button, ...], ...]:
        return desk.rating_buttons(resolved, catalogues, owner_lang)

    outbox = await desk.card_messages(resolved, services)
    outbox.extend(await desk.reporter_messages(resolved, services, compose, buttons))
    return DeskOutcome(True, "desk.resolved", {"number": resolved.number}, resolved, outbox)


async def transfer(
    ticket: Ticket,
    staff: Staff,
    department: Department,
    now: datetime,
    services: Services,
    lang: str,
    expected: Department | None = None,
) -> DeskOutcome:
    """Move a ticket to another department (from `expected`, when the asker named the one it
    leaves: a stale picker or form then moves nothing); the card shows where it went."""
    try:
        moved = await transfer_ticket(
            ticket.id, department, staff_actor(staff), now, expected=expected
        )
    except IllegalTransition:
        return DeskOutcome(False, "desk.cannot_transfer", {"number": ticket.number})
    outbox = await desk.card_messages(moved, services)
    words = services.catalogues.text(lang, f"department.{department}")
    return DeskOutcome(
        True, "desk.transferred", {"number": ticket.number, "department": words}, moved, outbox
    )


async def run_and_send(
    action: Callable[[], Awaitable[DeskOutcome]], services: Services, now: datetime
) -> DeskOutcome:
    """Run an action in one transaction, its outbox kept in the store with the change it reports
    (so a process that stops right after the commit still sends it), then send the outbox, as
    the router does for a staff-chat message."""
    async with in_transaction():
        outcome = await action()
        kept = await journal.keep_outbox(outcome.outbox, now)
    await send_outbox(services.hub, outcome.outbox, forget=kept)
    return outcome
