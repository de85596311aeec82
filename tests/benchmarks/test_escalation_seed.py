"""benchmarks/escalation.py's seed: late tickets with every step due by the moment recorded, as
the job running every minute would have left them, so that a run then raises nothing and reads
no ticket, and the next steps come due after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from benchmarks.escalation import STEPS, grow, job_services
from benchmarks.load import seed_estate
from bot.core.desk import RESOLVE, RESPONSE, escalate_overdue
from models import Escalation, Ticket, TicketStatus
from models.lookup import escalations_due


async def test_the_seeded_backlog_owes_nothing_now_and_its_next_steps_later(store: str) -> None:
    estate, owners = await seed_estate(10)
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    # The seeder takes the store's URL; only its scheme matters (COPY on PostgreSQL).
    await grow(store, 0, 150, estate.id, owners, now)
    await grow(store, 150, 300, estate.id, owners, now)

    tickets = await Ticket.filter(estate_id=estate.id)
    assert len(tickets) == 300
    assert {ticket.status for ticket in tickets} == {TicketStatus.OPEN, TicketStatus.CLAIMED}
    assert all(ticket.due_response_at < now for ticket in tickets)
    assert await Escalation.all().count() > 300
    assert await escalations_due([estate.id], STEPS, now, RESPONSE, RESOLVE) == []
    services, notifier = job_services(now)
    assert await escalate_overdue(now, services, notifier) == 0
    # Half an hour on, the tickets late by less than that owe their next step.
    later = now + timedelta(minutes=30)
    due = await escalations_due([estate.id], STEPS, later, RESPONSE, RESOLVE)
    assert due
    assert await escalate_overdue(later, services, notifier) >= len(due)
