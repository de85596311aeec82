"""`lookup.open_tickets_like` with a reporter: the newest open tickets of the fault with no place
that the sender reported (opened or joined), created within the window, and no others."""

from __future__ import annotations

from datetime import datetime, timedelta

from models import Department, Platform, Ticket, TicketKind, TicketStatus, Unit, lookup
from models.lifecycle import join_ticket, open_ticket
from tests.desk import Desk

SINCE = timedelta(days=1)


async def test_the_senders_open_tickets_of_no_place_newest_first(
    desk: Desk, now: datetime
) -> None:
    start = now - SINCE

    async def opened(
        n: int,
        by: str,
        at: datetime,
        unit: Unit | None = None,
        platform: Platform = Platform.WEBCHAT,
    ) -> Ticket:
        return await open_ticket(
            estate=desk.estate,
            kind=TicketKind.ENQUIRY,
            department=Department.CUSTOMER_SERVICE,
            text=f"问题 {n}",
            platform=platform,
            chat_id="owners",
            message_id=f"m{n}",
            reporter_id=by,
            now=at,
            unit=unit,
        )

    async def joined_by_me(ticket: Ticket, text: str, at: datetime) -> None:
        await join_ticket(
            ticket,
            platform=Platform.WEBCHAT,
            chat_id="owners",
            user_id="u-me",
            message_id=f"j-{ticket.id}",
            text=text,
            now=at,
        )

    mine = [await opened(n, "u-me", start + timedelta(hours=n)) for n in (1, 3, 5)]
    # Opened by another and joined by the sender later: theirs too.
    joined = await opened(4, "u-other", start + timedelta(hours=4))
    await joined_by_me(joined, "我也是", start + timedelta(hours=6))
    # Not candidates: another sender's, one opened before the window (joined within it),
    # one closed, one at a flat, one on another platform by the same id.
    await opened(2, "u-other", start + timedelta(hours=2))
    early = await opened(0, "u-me", start - timedelta(hours=1))
    await joined_by_me(early, "还没好", start + timedelta(hours=1))
    closed = await opened(6, "u-me", start + timedelta(hours=6))
    await Ticket.filter(id=closed.id).update(status=TicketStatus.CLOSED)
    await opened(7, "u-me", start + timedelta(hours=7), unit=desk.units["5-1-1202"])
    other_platform = await opened(
        8, "u-me", start + timedelta(hours=8), platform=Platform.TELEGRAM
    )
    assert other_platform.source_platform is Platform.TELEGRAM

    where = {
        "estate_id": desk.estate.id,
        "kind": TicketKind.ENQUIRY,
        "department": Department.CUSTOMER_SERVICE,
        "unit_id": None,
        "location_place": None,
        "location_building": None,
        "location_unknown": "",
    }
    found = await lookup.open_tickets_like(where, start, 10, reporter=(Platform.WEBCHAT, "u-me"))
    assert [row.id for row in found] == [mine[2].id, joined.id, mine[1].id, mine[0].id]
    newest = await lookup.open_tickets_like(where, start, 2, reporter=(Platform.WEBCHAT, "u-me"))
    assert [row.id for row in newest] == [mine[2].id, joined.id]
    assert newest[0].model().text == "问题 5"
