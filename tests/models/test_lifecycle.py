"""The ticket lifecycle: every transition, every illegal one, and concurrent ones."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta

import pytest
from tortoise.connection import get_connection
from tortoise.transactions import in_transaction

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


async def _outcomes(calls) -> tuple[list, list[IllegalTransition]]:
    """Run transitions at once: what they returned, and the refusals among them."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    unexpected = [
        r for r in results if isinstance(r, BaseException) and not isinstance(r, IllegalTransition)
    ]
    assert not unexpected, unexpected[0]
    return results, [r for r in results if isinstance(r, IllegalTransition)]


@pytest.mark.parametrize("expected", [None, Department.ENGINEERING])
async def test_fifty_concurrent_transfers_to_one_department_move_it_once(
    store: str, now: datetime, expected: Department | None
) -> None:
    estate = await make_estate()
    wang = await make_staff(estate, "王师傅")
    ticket = await make_ticket(estate, now)
    await claim_ticket(ticket.id, wang, now)

    _, refused = await _outcomes(
        transfer_ticket(ticket.id, Department.CLEANING, f"staff:{n}", now, expected=expected)
        for n in range(50)
    )

    assert len(refused) == 49
    moves = await TicketEvent.filter(ticket_id=ticket.id, kind=EventKind.TRANSFERRED)
    assert len(moves) == 1 and moves[0].data["from"] == "engineering"
    stored = await Ticket.get(id=ticket.id)
    assert stored.department is Department.CLEANING and stored.status is TicketStatus.OPEN
    assert stored.claimed_by_id is None


async def test_fifty_concurrent_transfers_to_different_departments_move_it_once(
    store: str, now: datetime
) -> None:
    """Fifty pickers of one card pressed at once, each naming the department it leaves."""
    estate = await make_estate()
    ticket = await make_ticket(estate, now)
    targets = [d for d in Department if d is not Department.ENGINEERING]

    results, refused = await _outcomes(
        transfer_ticket(ticket.id, to, f"staff:{n}", now, expected=Department.ENGINEERING)
        for n, to in zip(range(50), itertools.cycle(targets), strict=False)
    )

    assert len(refused) == 49
    [moved] = [r for r in results if isinstance(r, Ticket)]
    moves = await TicketEvent.filter(ticket_id=ticket.id, kind=EventKind.TRANSFERRED)
    assert len(moves) == 1
    assert moves[0].data["from"] == "engineering" and moves[0].data["to"] == moved.department
    stored = await Ticket.get(id=ticket.id)
    assert stored.department is moved.department and stored.status is TicketStatus.OPEN


async def test_concurrent_claims_and_resolves_agree_on_who_held_it(
    store: str, now: datetime
) -> None:
    estate = await make_estate()
    crew = [await make_staff(estate, f"师傅{i}") for i in range(50)]
    ticket = await make_ticket(estate, now)

    await _outcomes(
        claim_ticket(ticket.id, s, now) if n % 2 else resolve_ticket(ticket.id, s, "好了", now)
        for n, s in enumerate(crew)
    )

    stored = await Ticket.get(id=ticket.id)
    assert stored.status is TicketStatus.RESOLVED and stored.claimed_by_id is not None
    holder = staff_actor(next(s for s in crew if s.id == stored.claimed_by_id))
    claims = await TicketEvent.filter(ticket_id=ticket.id, kind=EventKind.CLAIMED)
    [resolved] = await TicketEvent.filter(ticket_id=ticket.id, kind=EventKind.RESOLVED)
    assert len(claims) <= 1
    # The holder is whoever claimed it, or else whoever resolved it unclaimed.
    assert holder == (claims[0].actor if claims else resolved.actor)


async def _wait_for_a_blocked_lock() -> None:
    """Return once some statement waits for a row lock (PostgreSQL), polling without sleeping
    on the clock: each poll is itself a query."""
    connection = get_connection("default")
    waiting = (
        "SELECT count(*) AS n FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(5000):
        _, rows = await connection.execute_query(waiting)
        if rows[0]["n"]:
            return
    raise AssertionError("no statement ever waited for the ticket's row lock")


@pytest.mark.server_store
async def test_a_resolve_never_overwrites_a_claim_that_commits_first(
    store: str, now: datetime
) -> None:
    """The resolve reads the ticket unclaimed, then waits on the row while a claim commits: the
    claim's holder stays the holder (a resolve that decided on its read would replace it)."""
    assert store == "postgres"
    estate = await make_estate()
    wang = await make_staff(estate, "王师傅")
    li = await make_staff(estate, "李师傅")
    ticket = await make_ticket(estate, now)
    claimed = asyncio.Event()
    release = asyncio.Event()

    async def claim_held_open() -> None:
        async with in_transaction():
            assert (await claim_ticket(ticket.id, wang, now)).won
            claimed.set()
            await release.wait()

    claim = asyncio.create_task(claim_held_open())
    await claimed.wait()
    resolve = asyncio.create_task(resolve_ticket(ticket.id, li, "好了", now))
    await _wait_for_a_blocked_lock()
    release.set()
    await claim
    resolved = await resolve

    assert resolved.status is TicketStatus.RESOLVED and resolved.claimed_by_id == wang.id
    assert (await Ticket.get(id=ticket.id)).claimed_by_id == wang.id
