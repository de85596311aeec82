"""The ticket lifecycle: every transition, every illegal one, and the concurrent claim."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from models import (
    Department,
    EventKind,
    Rating,
    StaffRole,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketReporter,
    TicketStatus,
)
from models.lifecycle import (
    IllegalTransition,
    add_note,
    claim_ticket,
    close_unrated,
    join_ticket,
    rate_ticket,
    record_answer,
    reopen_ticket,
    resolve_ticket,
    staff_actor,
    transfer_ticket,
)
from tests.factories import make_estate, make_staff, make_ticket


async def events_of(ticket: Ticket) -> list[EventKind]:
    return [e.kind for e in await TicketEvent.filter(ticket_id=ticket.id).order_by("id")]


async def test_open_numbers_per_estate_and_kind_with_due_times(store: str, now: datetime) -> None:
    estate = await make_estate()
    other = await make_estate("other")
    first = await make_ticket(estate, now)
    second = await make_ticket(estate, now, message_id="m2")
    complaint = await make_ticket(
        estate, now, kind=TicketKind.COMPLAINT, department=Department.SECURITY
    )
    elsewhere = await make_ticket(other, now)
    urgent = await make_ticket(estate, now, urgent=True)

    assert [first.number, second.number, complaint.number] == ["R-0001", "R-0002", "C-0001"]
    assert elsewhere.number == "R-0001"
    assert first.status is TicketStatus.OPEN
    assert first.due_response_at == now + timedelta(minutes=15)
    assert first.due_resolve_at == now + timedelta(hours=24)
    assert urgent.due_response_at == now + timedelta(minutes=5)
    assert complaint.due_response_at == now + timedelta(hours=24)
    assert await events_of(first) == [EventKind.OPENED]
    assert await TicketReporter.filter(ticket_id=first.id).count() == 1


async def test_claim_resolve_rate_close(store: str, now: datetime) -> None:
    estate = await make_estate()
    wang = await make_staff(estate, "王师傅")
    ticket = await make_ticket(estate, now)

    claim = await claim_ticket(ticket.id, wang, now)
    assert claim.won and claim.holder == wang and claim.ticket.status is TicketStatus.CLAIMED
    await add_note(ticket.id, staff_actor(wang), "带了新阀门", now)
    await record_answer(ticket.id, staff_actor(wang), "师傅10分钟到", now)
    resolved = await resolve_ticket(ticket.id, wang, "换了阀门", now + timedelta(hours=1))
    assert resolved.status is TicketStatus.RESOLVED and resolved.result == "换了阀门"
    closed = await rate_ticket(ticket.id, Rating.SATISFIED, "owner:1", now + timedelta(hours=2))

    assert closed.status is TicketStatus.CLOSED and closed.rating == 4
    assert closed.closed_at == now + timedelta(hours=2)
    assert await events_of(ticket) == [
        EventKind.OPENED,
        EventKind.CLAIMED,
        EventKind.NOTED,
        EventKind.ANSWERED,
        EventKind.RESOLVED,
        EventKind.RATED,
        EventKind.CLOSED,
    ]


@pytest.mark.parametrize("rating", [Rating.DISSATISFIED, Rating.VERY_DISSATISFIED])
async def test_poor_rating_reopens(store: str, now: datetime, rating: Rating) -> None:
    estate = await make_estate()
    wang = await make_staff(estate, "王师傅")
    ticket = await make_ticket(estate, now)
    await claim_ticket(ticket.id, wang, now)
    await resolve_ticket(ticket.id, wang, "修好了", now)
    later = now + timedelta(hours=3)

    reopened = await rate_ticket(ticket.id, rating, "owner:1", later)

    assert reopened.status is TicketStatus.OPEN
    assert reopened.claimed_by_id is None and reopened.reopen_count == 1
    assert reopened.rating == int(rating)
    assert reopened.due_response_at == later + timedelta(minutes=15)
    assert (await events_of(ticket))[-2:] == [EventKind.RATED, EventKind.REOPENED]
    # Back in the queue: another claim works.
    assert (await claim_ticket(ticket.id, wang, later)).won


async def test_transfer_reopen_and_close_unrated(store: str, now: datetime) -> None:
    estate = await make_estate()
    wang = await make_staff(estate, "王师傅")
    ticket = await make_ticket(estate, now)
    await claim_ticket(ticket.id, wang, now)

    moved = await transfer_ticket(
        ticket.id, Department.CLEANING, staff_actor(wang), now, "是保洁的"
    )
    assert moved.department is Department.CLEANING
    assert moved.status is TicketStatus.OPEN and moved.claimed_by_id is None
    event = await TicketEvent.filter(ticket_id=ticket.id, kind=EventKind.TRANSFERRED).first()
    assert event is not None and event.data == {
        "from": "engineering",
        "to": "cleaning",
        "reason": "是保洁的",
    }

    await resolve_ticket(ticket.id, wang, "清理了", now)
    reopened = await reopen_ticket(ticket.id, staff_actor(wang), "没清干净", now)
    assert reopened.status is TicketStatus.OPEN and reopened.reopen_count == 1
    await resolve_ticket(ticket.id, wang, "又清理了", now)
    closed = await close_unrated(ticket.id, now + timedelta(days=3))
    assert closed.status is TicketStatus.CLOSED and closed.rating is None
    last = await TicketEvent.filter(ticket_id=ticket.id).order_by("-id").first()
    assert last is not None and last.kind is EventKind.CLOSED and last.data == {"rated": False}


async def test_join_adds_a_reporter_once(store: str, now: datetime) -> None:
    estate = await make_estate()
    ticket = await make_ticket(estate, now)
    kwargs = {"platform": "webchat", "chat_id": "owners", "text": "电梯又坏了", "now": now}

    assert await join_ticket(ticket, user_id="u2", message_id="m7", **kwargs)
    assert not await join_ticket(ticket, user_id="u2", message_id="m8", **kwargs)
    assert not await join_ticket(ticket, user_id="u1", message_id="m9", **kwargs)
    assert await TicketReporter.filter(ticket_id=ticket.id).count() == 2
    assert await events_of(ticket) == [EventKind.OPENED, EventKind.JOINED]


async def _illegal(ticket: Ticket, step: str, now: datetime, staff) -> None:
    actions = {
        "claim": lambda: claim_ticket(ticket.id, staff, now),
        "resolve": lambda: resolve_ticket(ticket.id, staff, "x", now),
        "rate": lambda: rate_ticket(ticket.id, Rating.SATISFIED, "owner:1", now),
        "reopen": lambda: reopen_ticket(ticket.id, "staff:1", "x", now),
        "close_unrated": lambda: close_unrated(ticket.id, now),
        "transfer": lambda: transfer_ticket(ticket.id, Department.GREENING, "staff:1", now),
        "answer": lambda: record_answer(ticket.id, "staff:1", "x", now),
    }
    before_events = await TicketEvent.filter(ticket_id=ticket.id).count()
    before = await Ticket.get(id=ticket.id)
    with pytest.raises(IllegalTransition) as caught:
        await actions[step]()
    assert ticket.number in str(caught.value)
    after = await Ticket.get(id=ticket.id)
    assert after.status is before.status and after.rating == before.rating
    assert after.department is before.department and after.claimed_by_id == before.claimed_by_id
    assert await TicketEvent.filter(ticket_id=ticket.id).count() == before_events


ILLEGAL = {
    TicketStatus.OPEN: ["rate", "reopen", "close_unrated"],
    # A claim of a claimed ticket is not an error: it loses, and is told who holds it.
    TicketStatus.CLAIMED: ["rate", "reopen", "close_unrated"],
    TicketStatus.RESOLVED: ["claim", "resolve", "transfer"],
    TicketStatus.CLOSED: ["claim", "resolve", "rate", "close_unrated", "transfer", "answer"],
}


@pytest.mark.parametrize(
    ("status", "step"), [(s, step) for s, steps in ILLEGAL.items() for step in steps]
)
async def test_illegal_transitions_change_nothing(
    store: str, now: datetime, status: TicketStatus, step: str
) -> None:
    estate = await make_estate()
    wang = await make_staff(estate, "王师傅")
    li = await make_staff(estate, "李师傅")
    ticket = await make_ticket(estate, now)
    if status is not TicketStatus.OPEN:
        await claim_ticket(ticket.id, wang, now)
    if status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        await resolve_ticket(ticket.id, wang, "好了", now)
    if status is TicketStatus.CLOSED:
        await rate_ticket(ticket.id, Rating.SATISFIED, "owner:1", now)
    await _illegal(ticket, step, now, li)


async def test_transfer_to_the_same_department_is_refused(store: str, now: datetime) -> None:
    estate = await make_estate()
    ticket = await make_ticket(estate, now)
    with pytest.raises(IllegalTransition):
        await transfer_ticket(ticket.id, Department.ENGINEERING, "staff:1", now)
    assert await events_of(ticket) == [EventKind.OPENED]


async def test_fifty_concurrent_claims_have_one_winner(store: str, now: datetime) -> None:
    estate = await make_estate()
    crew = [await make_staff(estate, f"师傅{i}", StaffRole.ENGINEER) for i in range(50)]
    ticket = await make_ticket(estate, now)

    results = await asyncio.gather(*(claim_ticket(ticket.id, s, now) for s in crew))

    winners = [r for r in results if r.won]
    assert len(winners) == 1
    holder = winners[0].holder
    assert holder is not None
    assert all(r.holder is not None and r.holder.id == holder.id for r in results)
    claims = await TicketEvent.filter(ticket_id=ticket.id, kind=EventKind.CLAIMED)
    assert len(claims) == 1 and claims[0].actor == staff_actor(holder)
    stored = await Ticket.get(id=ticket.id)
    assert stored.claimed_by_id == holder.id and stored.status is TicketStatus.CLAIMED
