"""The ticket lifecycle: open, join, claim, transfer, note, answer, resolve, rate, reopen, close.

Each function is one transaction that changes the ticket with a compare-and-set on its status and
appends the matching ticket event; when the ticket is not in a state that allows the change, it
raises `IllegalTransition` and nothing is written. Time is always passed in (`now`).

Whatever a change is decided on goes into the compare-and-set's WHERE, not only the status: a
value read before the UPDATE (who holds the ticket, its due time, whether it is urgent, the
department it leaves) may have changed by the time it runs, and then the UPDATE matches nothing
and the value is read again, rather than a decision on a stale value being written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.enums import (
    TICKET_PREFIX,
    Department,
    EventKind,
    Platform,
    Rating,
    TicketKind,
    TicketStatus,
)
from models.estate import Estate, Owner, Staff, Unit
from models.statements import (
    FIRST_ID,
    Statement,
    atomic,
    insert_ignoring,
    insert_statement,
    together,
)
from models.ticket import Ticket, TicketCounter, TicketEvent, TicketReporter

SYSTEM = "system"
# How often a transition re-reads a ticket that changed between its read and its UPDATE. Each
# retry means another transition won in between, so a few are plenty.
_RETRIES = 5
POOR_RATINGS = frozenset({Rating.DISSATISFIED, Rating.VERY_DISSATISFIED})


class IllegalTransition(Exception):
    """A ticket was asked to make a change its status does not allow; nothing was written."""

    def __init__(self, ticket: Ticket | int, action: str, status: TicketStatus | None) -> None:
        number = ticket.number if isinstance(ticket, Ticket) else f"#{ticket}"
        self.action = action
        self.status = status
        super().__init__(f"cannot {action} ticket {number}: it is {status or 'missing'}")


def staff_actor(staff: Staff) -> str:
    """The actor string of a staff member."""
    return f"staff:{staff.id}"


def due_times(
    estate: Estate, kind: TicketKind, urgent: bool, start: datetime
) -> tuple[datetime, datetime]:
    """The promised response and resolution times of a ticket opened (or reopened) at `start`."""
    if kind is TicketKind.REPAIR:
        respond = estate.urgent_minutes if urgent else estate.onsite_minutes
        return start + timedelta(minutes=respond), start + timedelta(hours=estate.repair_hours)
    hours = estate.complaint_hours if kind is TicketKind.COMPLAINT else estate.enquiry_hours
    if urgent:
        return start + timedelta(minutes=estate.urgent_minutes), start + timedelta(hours=hours)
    return start + timedelta(hours=hours), start + timedelta(hours=hours)


async def _next_number(estate: Estate, kind: TicketKind) -> str:
    prefix = TICKET_PREFIX[kind]
    client = TicketCounter._meta.db
    marks = ("$1", "$2") if client.capabilities.dialect == "postgres" else ("?", "?")
    # One statement takes the number and says which it is.
    taken = (
        f'UPDATE "ticket_counter" SET "value" = "value" + 1 '
        f'WHERE "estate_id" = {marks[0]} AND "prefix" = {marks[1]} RETURNING "value"'
    )
    for _ in range(2):
        rows = await client.execute_query_dict(taken, [estate.id, prefix])
        if rows:
            return f"{prefix}-{int(rows[0]['value']):04d}"
        # The estate's first ticket of this kind: its counter starts (once, whoever is first).
        await insert_ignoring(TicketCounter, estate_id=estate.id, prefix=prefix, value=0)
    raise RuntimeError(f"could not number a {kind} ticket of estate {estate.code}")


def _event_statement(
    ticket_id: Any, kind: EventKind, actor: str, now: datetime, text: str
) -> Statement:
    """The INSERT of a ticket's event whose data is its text (`FIRST_ID` may be the ticket)."""
    return insert_statement(
        TicketEvent,
        [
            {
                "ticket_id": ticket_id,
                "kind": kind,
                "actor": actor,
                "at": now,
                "data": {"text": text},
            }
        ],
    )


async def _event(
    ticket: Ticket, kind: EventKind, actor: str, now: datetime, **data: Any
) -> TicketEvent:
    return await TicketEvent.create(ticket_id=ticket.id, kind=kind, actor=actor, at=now, data=data)


async def open_ticket(
    *,
    estate: Estate,
    kind: TicketKind,
    department: Department,
    text: str,
    platform: Platform,
    chat_id: str,
    message_id: str,
    reporter_id: str,
    now: datetime,
    reporter_name: str = "",
    language: str = "zh",
    urgent: bool = False,
    owner: Owner | None = None,
    unit: Unit | None = None,
    photos: Sequence[str] = (),
    location_place: str | None = None,
    location_building: str | None = None,
    location_unknown: str = "",
    reporter_unit: Unit | None = None,
    severity: str = "",
    due: tuple[datetime, datetime] | None = None,
    office_time: bool = False,
    features: Sequence[str] | None = None,
) -> Ticket:
    """Open a ticket, numbered per estate and kind, with its reporter and its `opened` event.

    `unit` or `location_place` (with `location_building`) say where the fault is;
    `reporter_unit` is where the reporter lives, which is another matter. `due` is the promised
    times worked out on the estate's calendar (`bot.core.calendar`); without it, the service
    standard's fixed offsets from `now`. `features` are what the duplicate check compares its
    text by (the NLU's `match_features`), kept with it.
    """
    respond_by, resolve_by = due or due_times(estate, kind, urgent, now)
    async with atomic():
        number = await _next_number(estate, kind)
        values: dict[str, Any] = {
            "estate_id": estate.id,
            "number": number,
            "kind": kind,
            "department": department,
            "urgent": urgent,
            "status": TicketStatus.OPEN,
            "owner_id": owner.id if owner else None,
            "unit_id": unit.id if unit else None,
            "location_place": location_place,
            "location_building": location_building,
            "location_unknown": location_unknown[:48],
            "reporter_unit_id": reporter_unit.id if reporter_unit else None,
            "source_platform": platform,
            "source_chat_id": chat_id,
            "source_message_id": message_id,
            "reporter_id": reporter_id,
            "reporter_name": reporter_name,
            "language": language,
            "text": text,
            "photos": list(photos),
            "features": list(features) if features is not None else None,
            "created_at": now,
            "due_response_at": respond_by,
            "due_resolve_at": resolve_by,
            "severity": severity,
            "office_time": office_time,
        }
        # The ticket, its first reporter and its `opened` event: one round trip, no read-back.
        rows = await together(
            Ticket,
            [
                insert_statement(Ticket, [values]).then("RETURNING *"),
                insert_statement(
                    TicketReporter,
                    [
                        {
                            "ticket_id": FIRST_ID,
                            "platform": platform,
                            "chat_id": chat_id,
                            "user_id": reporter_id,
                            "message_id": message_id,
                            "language": language,
                            "name": reporter_name[:128],
                            "text": text,
                            "at": now,
                        }
                    ],
                ),
                _event_statement(
                    FIRST_ID, EventKind.OPENED, f"{platform}:{reporter_id}", now, text
                ),
            ],
        )
        ticket = Ticket._init_from_db(**rows[0])
    return ticket


async def join_ticket(
    ticket: Ticket,
    *,
    platform: Platform,
    chat_id: str,
    user_id: str,
    message_id: str,
    text: str,
    now: datetime,
    language: str = "zh",
    name: str = "",
) -> bool:
    """Add a further owner's report of the same fault; False if this owner had reported it."""
    async with atomic():
        # The unique reporter row decides it, also against the same owner's report a moment ago.
        # With its `joined` event, in one round trip: no event when the reporter was there.
        added = await together(
            TicketReporter,
            [
                insert_statement(
                    TicketReporter,
                    [
                        {
                            "ticket_id": ticket.id,
                            "platform": platform,
                            "chat_id": chat_id,
                            "user_id": user_id,
                            "message_id": message_id,
                            "language": language,
                            "name": name[:128],
                            "text": text,
                            "at": now,
                        }
                    ],
                ).then("ON CONFLICT DO NOTHING RETURNING id"),
                _event_statement(
                    ticket.id, EventKind.JOINED, f"{platform}:{user_id}", now, text
                ).if_first(),
            ],
        )
    return bool(added)


@dataclass(frozen=True)
class ClaimResult:
    """Who holds a ticket after a claim; `won` is True for exactly one claimant."""

    won: bool
    ticket: Ticket
    holder: Staff | None


async def _change(
    ticket_id: int, action: str, allowed: Iterable[TicketStatus], **values: Any
) -> Ticket:
    """Compare-and-set the ticket from one of `allowed` statuses; raise if it was not in one."""
    updated = await Ticket.filter(id=ticket_id, status__in=list(allowed)).update(**values)
    if not updated:
        current = await Ticket.get_or_none(id=ticket_id)
        raise IllegalTransition(current or ticket_id, action, current.status if current else None)
    return await Ticket.get(id=ticket_id)


async def claim_ticket(ticket_id: int, staff: Staff, now: datetime) -> ClaimResult:
    """Claim an open ticket; of many staff claiming at once exactly one wins."""
    async with in_transaction():
        updated = await Ticket.filter(id=ticket_id, status=TicketStatus.OPEN).update(
            status=TicketStatus.CLAIMED, claimed_by_id=staff.id, claimed_at=now
        )
        ticket = await Ticket.get(id=ticket_id).prefetch_related("claimed_by")
        if not updated:
            if ticket.status is not TicketStatus.CLAIMED:
                raise IllegalTransition(ticket, "claim", ticket.status)
            return ClaimResult(False, ticket, ticket.claimed_by)
        await _event(ticket, EventKind.CLAIMED, staff_actor(staff), now)
    return ClaimResult(True, ticket, staff)


async def transfer_ticket(
    ticket_id: int,
    department: Department,
    actor: str,
    now: datetime,
    reason: str = "",
    *,
    expected: Department | None = None,
) -> Ticket:
    """Move an open or claimed ticket to another department; it is open again there.

    The move is one compare-and-set on the status and the department it leaves (`expected`,
    or the one it is in now): of many transfers at once, or a picker pressed twice, one moves it.
    """
    async with in_transaction():
        before = await Ticket.get(id=ticket_id)
        leaving = expected if expected is not None else before.department
        if leaving == department:
            raise IllegalTransition(before, f"transfer to {department}", before.status)
        updated = await Ticket.filter(
            id=ticket_id,
            status__in=[TicketStatus.OPEN, TicketStatus.CLAIMED],
            department=leaving,
        ).update(
            department=department, status=TicketStatus.OPEN, claimed_by_id=None, claimed_at=None
        )
        if not updated:
            current = await Ticket.get(id=ticket_id)
            raise IllegalTransition(current, f"transfer from {leaving}", current.status)
        ticket = await Ticket.get(id=ticket_id)
        await _event(
            ticket,
            EventKind.TRANSFERRED,
            actor,
            now,
            **{"from": str(leaving), "to": str(department), "reason": reason},
        )
    return ticket


async def make_urgent(
    ticket_id: int,
    actor: str,
    now: datetime,
    text: str = "",
    respond_by: datetime | None = None,
) -> Ticket | None:
    """Make an open ticket urgent (a further report says someone is in danger), once; its
    response is then due within the urgent time (`respond_by`, worked out on the estate's
    targets; without it, the service standard's). None when it was urgent or is not open."""
    urgent_by = respond_by
    handled = [TicketStatus.OPEN, TicketStatus.CLAIMED]
    async with in_transaction():
        for _ in range(_RETRIES):
            ticket = await Ticket.get(id=ticket_id).prefetch_related("estate")
            respond_by = urgent_by or due_times(ticket.estate, ticket.kind, True, now)[0]
            # The new due time is the earlier of two, one of them read: the UPDATE only applies
            # while it is still the due time (a resolve and reopen in between sets a new one).
            updated = await Ticket.filter(
                id=ticket_id,
                urgent=False,
                status__in=handled,
                due_response_at=ticket.due_response_at,
            ).update(urgent=True, due_response_at=min(respond_by, ticket.due_response_at))
            if updated:
                break
            if not await Ticket.filter(id=ticket_id, urgent=False, status__in=handled).exists():
                return None
        else:
            return None  # its due time kept changing: others are acting on it right now
        ticket = await Ticket.get(id=ticket_id)
        await _event(ticket, EventKind.MADE_URGENT, actor, now, text=text)
    return ticket


async def add_photos(ticket_id: int, photos: Sequence[str], actor: str, now: datetime) -> Ticket:
    """Add photos an owner sent after their report to a ticket that is still being handled."""
    handled = [TicketStatus.OPEN, TicketStatus.CLAIMED]
    async with in_transaction():
        # The row lock (PostgreSQL; a SQLite transaction holds the write lock from its start)
        # keeps the photos read here from changing before the merged list is written.
        ticket = await Ticket.filter(id=ticket_id).select_for_update().get()
        if ticket.status not in handled:
            raise IllegalTransition(ticket, "add photos to", ticket.status)
        merged = [*ticket.photos, *(ref for ref in photos if ref not in ticket.photos)]
        # The status is checked in the UPDATE as well, as every transition does.
        if not await Ticket.filter(id=ticket_id, status__in=handled).update(photos=merged):
            current = await Ticket.get(id=ticket_id)
            raise IllegalTransition(current, "add photos to", current.status)
        ticket.photos = merged
        await _event(ticket, EventKind.PHOTOS_ADDED, actor, now, count=len(photos))
    return ticket


async def add_note(ticket_id: int, actor: str, text: str, now: datetime) -> TicketEvent:
    """Add an internal note, at any status."""
    ticket = await Ticket.get(id=ticket_id)
    return await _event(ticket, EventKind.NOTED, actor, now, text=text)


async def record_answer(ticket_id: int, actor: str, text: str, now: datetime) -> TicketEvent:
    """Record a reply sent to the owner; a ticket that is not closed can be answered."""
    ticket = await Ticket.get(id=ticket_id)
    if ticket.status is TicketStatus.CLOSED:
        raise IllegalTransition(ticket, "answer", ticket.status)
    return await _event(ticket, EventKind.ANSWERED, actor, now, text=text)


async def resolve_ticket(ticket_id: int, staff: Staff, result: str, now: datetime) -> Ticket:
    """Mark an open or claimed ticket done, with its result; the owner is then asked to rate it.

    Resolving a ticket nobody holds makes the resolver its holder; whether anybody holds it is
    part of each compare-and-set, so a claim that lands first is never overwritten.
    """
    handled = [TicketStatus.OPEN, TicketStatus.CLAIMED]
    done: dict[str, Any] = {"status": TicketStatus.RESOLVED, "result": result, "resolved_at": now}
    async with in_transaction():
        for _ in range(_RETRIES):
            unheld = Ticket.filter(id=ticket_id, status__in=handled, claimed_by_id__isnull=True)
            if await unheld.update(**done, claimed_by_id=staff.id, claimed_at=now):
                break
            held = Ticket.filter(id=ticket_id, status__in=handled, claimed_by_id__isnull=False)
            if await held.update(**done):
                break
            current = await Ticket.get_or_none(id=ticket_id)
            if current is None or current.status not in handled:
                raise IllegalTransition(
                    current or ticket_id, "resolve", current.status if current else None
                )
            # Claimed or released between the two statements: decide again.
        else:
            current = await Ticket.get(id=ticket_id)
            raise IllegalTransition(current, "resolve", current.status)
        ticket = await Ticket.get(id=ticket_id)
        await _event(ticket, EventKind.RESOLVED, staff_actor(staff), now, result=result)
    return ticket


async def rate_ticket(
    ticket_id: int,
    rating: Rating,
    actor: str,
    now: datetime,
    due: tuple[datetime, datetime] | None = None,
) -> Ticket:
    """Record the owner's rating of a resolved ticket: a poor one reopens it (with the promised
    times `due`, else the service standard's), else it closes."""
    async with in_transaction():
        if rating in POOR_RATINGS:
            ticket = await _reopen(
                ticket_id, "rate", (TicketStatus.RESOLVED,), now, rating=rating, due=due
            )
            await _event(ticket, EventKind.RATED, actor, now, rating=int(rating))
            await _event(ticket, EventKind.REOPENED, actor, now, reason="poor rating")
            return ticket
        ticket = await _change(
            ticket_id,
            "rate",
            (TicketStatus.RESOLVED,),
            status=TicketStatus.CLOSED,
            rating=int(rating),
            closed_at=now,
        )
        await _event(ticket, EventKind.RATED, actor, now, rating=int(rating))
        await _event(ticket, EventKind.CLOSED, actor, now, rated=True)
    return ticket


async def _reopen(
    ticket_id: int,
    action: str,
    allowed: Iterable[TicketStatus],
    now: datetime,
    rating: Rating | None = None,
    due: tuple[datetime, datetime] | None = None,
) -> Ticket:
    statuses = list(allowed)
    for _ in range(_RETRIES):
        ticket = await Ticket.get(id=ticket_id).prefetch_related("estate")
        if ticket.status not in statuses:
            raise IllegalTransition(ticket, action, ticket.status)
        respond_by, resolve_by = due or due_times(ticket.estate, ticket.kind, ticket.urgent, now)
        # The new due times depend on whether it is urgent, as read: so does the UPDATE. A
        # reopened ticket waits on nobody: its clock runs from the reopening.
        updated = await Ticket.filter(
            id=ticket_id, status__in=statuses, urgent=ticket.urgent
        ).update(
            status=TicketStatus.OPEN,
            claimed_by_id=None,
            claimed_at=None,
            resolved_at=None,
            closed_at=None,
            rating=int(rating) if rating is not None else None,
            reopen_count=F("reopen_count") + 1,
            due_response_at=respond_by,
            due_resolve_at=resolve_by,
            paused_at=None,
            paused_until=None,
            paused_seconds=0,
            appointment_at=None,
        )
        if updated:
            return await Ticket.get(id=ticket_id)
    current = await Ticket.get(id=ticket_id)
    raise IllegalTransition(current, action, current.status)


async def reopen_ticket(
    ticket_id: int,
    actor: str,
    reason: str,
    now: datetime,
    due: tuple[datetime, datetime] | None = None,
) -> Ticket:
    """Reopen a resolved or closed ticket (二次派单): open again, unclaimed, with new due times
    (`due`, worked out on the estate's calendar; without it, the service standard's)."""
    async with in_transaction():
        ticket = await _reopen(
            ticket_id, "reopen", (TicketStatus.RESOLVED, TicketStatus.CLOSED), now, due=due
        )
        await _event(ticket, EventKind.REOPENED, actor, now, reason=reason)
    return ticket


async def close_unrated(ticket_id: int, now: datetime) -> Ticket:
    """Close a resolved ticket whose owner did not rate it in time."""
    async with in_transaction():
        ticket = await _change(
            ticket_id, "close", (TicketStatus.RESOLVED,), status=TicketStatus.CLOSED, closed_at=now
        )
        await _event(ticket, EventKind.CLOSED, SYSTEM, now, rated=False)
    return ticket


# --- Waiting on the owner, and a complaint's severity ------------------------------------------


# How much of a ticket's own clock passes between two moments (`bot.core.promises.elapsed`):
# office time on its estate's calendar for a ticket on office time, else wall time. The store
# keeps a pause's length in it (`Ticket.paused_seconds`).
Elapsed = Callable[[Ticket, datetime, datetime], timedelta]


def _pause_ended(ticket: Ticket, now: datetime, elapsed: Elapsed) -> int:
    """The seconds of the ticket's own clock its current pause has stopped by `now` (0: not
    paused)."""
    if ticket.paused_at is None:
        return 0
    end = now if ticket.paused_until is None else min(now, ticket.paused_until)
    return max(0, int(elapsed(ticket, ticket.paused_at, end).total_seconds()))


async def pause_ticket(
    ticket_id: int,
    actor: str,
    now: datetime,
    until: datetime | None = None,
    appointment: datetime | None = None,
    *,
    elapsed: Elapsed,
) -> Ticket:
    """Stop a handled ticket's completion clock from `now`: until `until` (an appointment with
    the owner), or until it is restarted. A pause already running ends first, its time kept
    (counted by `elapsed`, on the ticket's own clock)."""
    handled = [TicketStatus.OPEN, TicketStatus.CLAIMED]
    async with in_transaction():
        ticket = await Ticket.filter(id=ticket_id).select_for_update().get()
        if ticket.status not in handled:
            raise IllegalTransition(ticket, "pause", ticket.status)
        changes: dict[str, Any] = {
            "paused_seconds": ticket.paused_seconds + _pause_ended(ticket, now, elapsed),
            "paused_at": now,
            "paused_until": until,
        }
        if appointment is not None:
            changes.update(appointment_at=appointment, appointment_reminded=False)
        if not await Ticket.filter(id=ticket_id, status__in=handled).update(**changes):
            current = await Ticket.get(id=ticket_id)
            raise IllegalTransition(current, "pause", current.status)
        ticket = await Ticket.get(id=ticket_id)
        at = {"until": until.isoformat()} if until else {}
        await _event(ticket, EventKind.PAUSED, actor, now, **at)
    return ticket


async def resume_ticket(
    ticket_id: int, actor: str, now: datetime, *, elapsed: Elapsed
) -> Ticket | None:
    """Restart a paused ticket's completion clock; the paused time is kept (counted by
    `elapsed`, on the ticket's own clock). None when its clock was running."""
    async with in_transaction():
        ticket = await Ticket.filter(id=ticket_id).select_for_update().get()
        if ticket.paused_at is None:
            return None
        paused = ticket.paused_seconds + _pause_ended(ticket, now, elapsed)
        await Ticket.filter(id=ticket_id).update(
            paused_seconds=paused, paused_at=None, paused_until=None
        )
        ticket = await Ticket.get(id=ticket_id)
        await _event(ticket, EventKind.RESUMED, actor, now, paused_seconds=paused)
    return ticket


async def set_severity(
    ticket_id: int,
    severity: str,
    due: tuple[datetime, datetime],
    office_time: bool,
    actor: str,
    now: datetime,
    paused_seconds: int | None = None,
) -> Ticket:
    """Set a handled complaint's severity and the promised times it brings (worked out from when
    it opened, on the estate's targets), and, when they move it on or off office time, the
    seconds it waited recounted on its new clock (`paused_seconds`; None: unchanged)."""
    handled = [TicketStatus.OPEN, TicketStatus.CLAIMED]
    changes: dict[str, Any] = {
        "severity": severity,
        "due_response_at": due[0],
        "due_resolve_at": due[1],
        "office_time": office_time,
    }
    if paused_seconds is not None:
        changes["paused_seconds"] = paused_seconds
    async with in_transaction():
        updated = await Ticket.filter(
            id=ticket_id, kind=TicketKind.COMPLAINT, status__in=handled
        ).update(**changes)
        ticket = await Ticket.get(id=ticket_id)
        if not updated:
            raise IllegalTransition(ticket, "set the severity of", ticket.status)
        await _event(ticket, EventKind.SEVERITY, actor, now, severity=severity)
    return ticket
