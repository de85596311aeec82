"""Owners are reminded of an appointment staff set, once, in the two hours before it, where they
reported, through the Notifier."""

from __future__ import annotations

from datetime import date, timedelta

from bot.core.calendar import ServiceCalendar
from bot.core.promises import counted_on
from models import Delivery, DeliveryStatus, Platform, Ticket, TicketReporter, TicketStatus
from models.lifecycle import pause_ticket, resolve_ticket
from scheduler import jobs
from tests.factories import make_staff, make_ticket
from tests.scheduler.conftest import SHANGHAI, STAFF_CHAT, Estate4Jobs, at

WALL = counted_on(ServiceCalendar())  # the tickets run round the clock: pauses in wall time


async def test_an_appointment_is_reminded_once_two_hours_before(jobs_estate: Estate4Jobs) -> None:
    e = jobs_estate
    opened = at(date(2026, 11, 23), 9)
    leak = await make_ticket(e.estate, opened)  # reported by u1 in the owner group
    await TicketReporter.create(
        ticket_id=leak.id,
        platform=Platform.WEBCHAT,
        chat_id="u-li",
        user_id="u-li",
        message_id="p1",
        language="en",
        at=opened,
    )
    visit = at(date(2026, 11, 24), 15)
    await pause_ticket(leak.id, "staff:1", opened, until=visit, appointment=visit, elapsed=WALL)
    # Another ticket's appointment was dealt with before: nobody is reminded of it.
    done = await make_ticket(e.estate, opened, message_id="m2")
    await pause_ticket(done.id, "staff:1", opened, until=visit, appointment=visit, elapsed=WALL)
    await resolve_ticket(done.id, await make_staff(e.estate, "张师傅"), "好了", opened)

    sent_at: dict[str, list[str]] = {}
    for moment in (
        at(date(2026, 11, 24), 12, 55),  # more than two hours before: nothing
        at(date(2026, 11, 24), 13, 0),
        at(date(2026, 11, 24), 13, 5),  # again: nothing twice
        at(date(2026, 11, 24), 15, 0),
    ):
        e.time.set(moment)
        before = len(e.channel.sent)
        await jobs.remind_appointments(moment, e.services, e.notifier)
        new = [m for m in e.channel.sent[before:] if m.chat.chat_id != STAFF_CHAT]
        sent_at[moment.astimezone(SHANGHAI).strftime("%H:%M")] = sorted(
            m.chat.chat_id for m in new
        )

    assert sent_at == {"12:55": [], "13:00": ["owners", "u-li"], "13:05": [], "15:00": []}
    [group] = e.to("owners")
    assert f"您的工单 {leak.number} 约定的上门时间是 11-24 15:00" in group.text
    [private] = e.to("u-li")
    assert f"the visit for your ticket {leak.number} is at 11-24 15:00" in private.text
    assert (await Ticket.get(id=leak.id)).appointment_reminded
    assert (await Ticket.get(id=done.id)).status is TicketStatus.RESOLVED
    assert await Delivery.filter(kind="appointment", status=DeliveryStatus.SENT).count() == 2


async def test_a_new_appointment_is_reminded_anew(jobs_estate: Estate4Jobs) -> None:
    e = jobs_estate
    opened = at(date(2026, 11, 23), 9)
    leak = await make_ticket(e.estate, opened)
    first = at(date(2026, 11, 23), 15)
    await pause_ticket(leak.id, "staff:1", opened, until=first, appointment=first, elapsed=WALL)
    e.time.set(first - timedelta(hours=1))
    await jobs.remind_appointments(first - timedelta(hours=1), e.services, e.notifier)
    # The owner was out: staff set another visit for the next day.
    second = at(date(2026, 11, 24), 10)
    await pause_ticket(leak.id, "staff:1", first, until=second, appointment=second, elapsed=WALL)
    e.time.set(second - timedelta(hours=1))
    await jobs.remind_appointments(second - timedelta(hours=1), e.services, e.notifier)
    texts = [m.text for m in e.to("owners")]
    assert len(texts) == 2 and "11-23 15:00" in texts[0] and "11-24 10:00" in texts[1]
