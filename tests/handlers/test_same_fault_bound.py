"""The duplicate check compares a report with a bounded set of open tickets: the newest
`SAME_FAULT_CANDIDATES` of its fault and place within the window, however many the window holds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handlers.tickets import SAME_FAULT_CANDIDATES
from models import Department, Platform, Ticket, TicketKind, TicketReporter
from models.lifecycle import open_ticket
from tests.desk import Desk, bind


@pytest.mark.parametrize(
    ("newer", "joins"), [(SAME_FAULT_CANDIDATES - 1, True), (SAME_FAULT_CANDIDATES, False)]
)
async def test_a_report_is_compared_with_the_newest_open_tickets_of_its_place(
    desk: Desk, newer: int, joins: bool
) -> None:
    await bind("u-li", desk.owners["li"])
    home = desk.units["3-2-501"]
    start = desk.clock.now()

    async def opened(text: str, n: int) -> Ticket:
        return await open_ticket(
            estate=desk.estate,
            kind=TicketKind.REPAIR,
            department=Department.ENGINEERING,
            text=text,
            platform=Platform.WEBCHAT,
            chat_id="owners",
            message_id=f"m{n}",
            reporter_id=f"u{n}",
            now=start + timedelta(seconds=n),
            unit=home,
        )

    leak = await opened("厨房水管漏水了", 0)
    for n in range(1, newer + 1):
        await opened(f"{n}号窗户玻璃裂了", n)
    desk.clock.advance(minutes=5)

    await desk.say("3栋2单元501 厨房水管漏水了", "u-li")

    joined = await TicketReporter.filter(ticket_id=leak.id).count() == 2
    assert joined is joins
    assert await Ticket.all().count() == newer + 1 + (0 if joins else 1)
