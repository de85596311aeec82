"""benchmarks/load.py's seeding: the past tickets it bulk-inserts are rows the models read back
(every NOT NULL column written, on both stores), numbered on from the estate's counters."""

from __future__ import annotations

import math
import os
import random
from datetime import UTC, datetime

from benchmarks.load import (
    InProcess,
    cpu_seconds,
    per_message_ms,
    seed_estate,
    seed_tickets,
)
from bot.core import journal
from models import Ticket, TicketCounter, TicketEvent, TicketReporter, TicketStatus


async def test_seeded_past_tickets_read_back_and_numbering_goes_on(store: str) -> None:
    estate, owners = await seed_estate(40)
    # The seeder takes the store's URL; only its scheme matters (COPY on PostgreSQL).
    await seed_tickets(store, 300, estate.id, owners, seed=5)

    tickets = await Ticket.filter(estate_id=estate.id).order_by("id")
    assert len(tickets) == 300
    assert await TicketReporter.filter(ticket__estate_id=estate.id).count() == 300
    assert await TicketEvent.filter(ticket__estate_id=estate.id).count() == 300
    statuses = {ticket.status for ticket in tickets}
    assert TicketStatus.CLOSED in statuses and len(statuses) >= 2
    assert all(not ticket.office_time and ticket.paused_seconds == 0 for ticket in tickets)
    # Each prefix's counter holds its last number, so the next ticket does not collide.
    for counter in await TicketCounter.filter(estate_id=estate.id):
        numbers = [t.number for t in tickets if t.number.startswith(f"{counter.prefix}-")]
        assert max(int(n.split("-")[1]) for n in numbers) == counter.value


async def test_a_second_run_on_the_same_store_is_handled_not_dropped_as_seen(store: str) -> None:
    # `--no-seed` runs, and two processes side by side, draw the same messages from the same
    # seed: each run's ids are its own, so the journal takes every one as new.
    _, owners = await seed_estate(40)
    first, second = InProcess(owners, random.Random(3)), InProcess(owners, random.Random(3))
    for _ in range(20):
        one, other = first.message(), second.message()
        assert (one.chat, one.text) == (other.chat, other.text)
        assert await journal.accept(one, datetime.now(UTC))
        assert await journal.accept(other, datetime.now(UTC))


def test_the_cpu_a_message_is_read_for_this_process_and_for_another_by_its_id() -> None:
    sum(i * i for i in range(200_000))  # some CPU time to read
    own, by_id = cpu_seconds(), cpu_seconds(os.getpid())
    assert own > 0 and by_id > 0
    assert abs(own - by_id) < 0.05  # /proc counts in clock ticks (10 ms)
    assert per_message_ms((1.0, 1.5), 250) == 2.0
    assert math.isnan(per_message_ms((1.0, 1.5), 0))
