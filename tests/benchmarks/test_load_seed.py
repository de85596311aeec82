"""benchmarks/load.py's seeding: the past tickets it bulk-inserts are rows the models read back
(every NOT NULL column written, on both stores), numbered on from the estate's counters."""

from __future__ import annotations

from benchmarks.load import seed_estate, seed_tickets
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
