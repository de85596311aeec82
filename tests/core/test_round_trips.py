"""A ticket message costs few round trips to the store, counted at the drivers: an owner's
repair report that opens a ticket, and a neighbour's report of the same fault joining it."""

from __future__ import annotations

from bot.core.types import IncomingMessage
from models import Ticket, TicketCard, TicketReporter
from models.querycount import QueryCount, count_queries
from tests.desk import OWNERS, STAFF, Desk

# What a ticket message takes now, everything included: the journal row, BEGIN, the context
# (one query), the dedup, the outage check, the duplicate check, the number, the ticket, its
# reporter and event, the building check, the staff chats, the reply rows, the done mark,
# COMMIT; after the owner's reply went out, the card's message id and the reply rows' deletion;
# and the estate's service targets (issue 18's calendar: one more read, not cached yet).
# Issue 17 asks for 10: not reached yet (the README's table says what is left).
MAX_ROUND_TRIPS = 18


async def _handled(desk: Desk, text: str, sender: str) -> tuple[QueryCount, IncomingMessage]:
    with count_queries() as counted:
        message = await desk.say(text, sender)
    return counted, message


async def test_opening_and_joining_a_ticket_take_few_round_trips(desk: Desk) -> None:
    # Not the first words of the senders, nor the estate's first repair (its counter starts).
    for sender in ("u-a", "u-b"):
        await desk.say("请问物业办公时间是几点", sender)
    await desk.say("5号楼门禁坏了，刷卡没反应", "u-c")
    desk.channel.clear()

    opened, _ = await _handled(desk, "3号楼电梯坏了，停在5楼不动", "u-a")
    ticket = await Ticket.get(reporter_id="u-a")
    # The owner's answer went out first: it did not wait for the staff card.
    assert [m.chat for m in desk.channel.sent] == [OWNERS, STAFF]
    assert ticket.number in desk.channel.sent[0].text
    assert opened.total <= MAX_ROUND_TRIPS, opened.statements

    desk.clock.advance(minutes=5)
    desk.channel.clear()
    joined, _ = await _handled(desk, "3号楼的电梯又坏了，一直停在5楼", "u-b")
    assert await Ticket.all().count() == 2
    assert await TicketReporter.filter(ticket_id=ticket.id).count() == 2
    assert ticket.number in desk.channel.sent[0].text
    assert joined.total <= MAX_ROUND_TRIPS, joined.statements
    # The card was posted once and is edited, so the store knows its message.
    assert await TicketCard.filter(ticket_id=ticket.id).count() == 1
