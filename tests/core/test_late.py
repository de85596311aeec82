"""One definition of a late ticket (`bot/core/promises.py`'s `late`), asked by the console's
board, the month's report and the desk's escalations alike."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.core.calendar import ServiceCalendar
from bot.core.console import is_overdue
from bot.core.desk import RESOLVE, RESPONSE, breaches
from bot.core.promises import Late, late
from models import Ticket, TicketStatus
from tests.factories import make_estate, make_ticket

MINUTE = timedelta(minutes=1)
CALENDAR = ServiceCalendar()  # the tickets run round the clock: it counts nothing


async def _ticket(now: datetime, status: TicketStatus) -> Ticket:
    ticket = await make_ticket(await make_estate(), now)
    ticket.status = status
    await ticket.save(update_fields=["status"])
    return ticket


@pytest.mark.parametrize(
    ("status", "expected_after_response", "expected_after_resolve"),
    [
        (TicketStatus.OPEN, Late(True, False), Late(True, True)),
        (TicketStatus.CLAIMED, Late(False, False), Late(False, True)),
        (TicketStatus.RESOLVED, Late(False, False), Late(False, False)),
        (TicketStatus.CLOSED, Late(False, False), Late(False, False)),
    ],
)
async def test_a_ticket_is_late_for_what_it_still_owes(
    store: str,
    now: datetime,
    status: TicketStatus,
    expected_after_response: Late,
    expected_after_resolve: Late,
) -> None:
    ticket = await _ticket(now, status)
    assert ticket.due_response_at < ticket.due_resolve_at
    on_time = ticket.due_response_at  # at the promised moment itself: not late yet
    after_response = ticket.due_response_at + MINUTE
    after_resolve = ticket.due_resolve_at + MINUTE

    assert late(ticket, on_time, CALENDAR) == Late(False, False) and not late(
        ticket, on_time, CALENDAR
    )
    assert late(ticket, after_response, CALENDAR) == expected_after_response
    assert late(ticket, after_resolve, CALENDAR) == expected_after_resolve
    for moment in (on_time, after_response, after_resolve):
        missed = late(ticket, moment, CALENDAR)
        # The console's board says late exactly when a promise is missed.
        assert is_overdue(ticket, moment, CALENDAR) is bool(missed)
        # The desk's escalations alert only for missed promises (and every missed result).
        alerts = {breach for breach, _ in await breaches(ticket, moment, CALENDAR)}
        owed = {
            kind for kind, owes in ((RESPONSE, missed.response), (RESOLVE, missed.resolve)) if owes
        }
        assert alerts <= owed
        assert (RESOLVE in alerts) is missed.resolve
