"""The staff desk's core: escalating late tickets, closing unrated ones, cards and the outbox."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.core.context import Outbound, send_outbox
from bot.core.desk import card_messages, close_unrated, escalate_overdue, render_card
from bot.core.types import OutgoingMessage, SentMessage
from models import (
    Delivery,
    DeliveryStatus,
    Escalation,
    EventKind,
    Rating,
    Ticket,
    TicketCard,
    TicketEvent,
    TicketKind,
    TicketStatus,
)
from models.lifecycle import claim_ticket, rate_ticket, record_answer, resolve_ticket
from tests.desk import STAFF, Desk
from tests.staffdesk import bind_staff, edits, report, staff_texts


async def test_escalation_fires_once_per_breach_and_again_each_interval(desk: Desk) -> None:
    await bind_staff("u-chen", desk.staff["chen"])
    ticket = await report(desk)  # on site promised by +15 minutes, escalation every 60
    start = desk.clock.now()
    desk.channel.clear()
    services = desk.services

    assert (
        await escalate_overdue(start + timedelta(minutes=15), services, desk.notifier) == 0
    )  # not yet past
    assert desk.channel.sent == []

    assert await escalate_overdue(start + timedelta(minutes=16), services, desk.notifier) == 1
    [alert] = staff_texts(desk)
    assert alert.startswith("⚠ 工单 R-0001 已超过承诺的响应时限（11-23 10:15），已超时 1 分钟")
    assert "无人接单" in alert and "@陈主管" in alert
    [private] = desk.channel.texts(desk.private("u-chen").chat_id)
    assert "R-0001" in private and "@" not in private

    # Run again (a second tick, or a second process): nothing new.
    assert await escalate_overdue(start + timedelta(minutes=17), services, desk.notifier) == 0
    assert await escalate_overdue(start + timedelta(minutes=74), services, desk.notifier) == 0
    assert len(staff_texts(desk)) == 1

    # One interval later it is still late: a second alert, once.
    assert await escalate_overdue(start + timedelta(minutes=75), services, desk.notifier) == 1
    assert "已超时 60 分钟" in staff_texts(desk)[-1]
    twice = await asyncio.gather(
        escalate_overdue(start + timedelta(minutes=80), services, desk.notifier),
        escalate_overdue(start + timedelta(minutes=80), services, desk.notifier),
    )
    assert sum(twice) == 0
    levels = [e.level for e in await Escalation.filter(ticket_id=ticket.id).order_by("id")]
    assert levels == [0, 1]
    escalated = await TicketEvent.filter(ticket_id=ticket.id, kind=EventKind.ESCALATED)
    assert [e.data["breach"] for e in escalated] == ["response", "response"]

    # Claimed: it owes no response any more, but still owes being done within 24 hours.
    await claim_ticket(ticket.id, desk.staff["zhang"], start + timedelta(minutes=90))
    assert await escalate_overdue(start + timedelta(minutes=140), services, desk.notifier) == 0
    desk.channel.clear()
    assert (
        await escalate_overdue(start + timedelta(hours=24, minutes=1), services, desk.notifier)
        == 1
    )
    [late] = staff_texts(desk)
    assert "完成时限" in late and "负责人：张工" in late


async def test_two_processes_escalating_at_once_alert_once(desk: Desk) -> None:
    await report(desk)
    desk.channel.clear()
    at = desk.clock.now() + timedelta(minutes=20)

    raised = await asyncio.gather(
        escalate_overdue(at, desk.services, desk.notifier),
        escalate_overdue(at, desk.services, desk.notifier),
    )

    assert sorted(raised) == [0, 1]
    assert len(staff_texts(desk)) == 1


async def test_an_answered_complaint_owes_only_its_resolution(desk: Desk) -> None:
    await report(desk, "楼上天天半夜12点还在装修电钻响，还让不让人睡觉了，物业管不管")
    ticket = await Ticket.get(number="C-0001")
    assert ticket.kind is TicketKind.COMPLAINT
    start = desk.clock.now()
    await record_answer(ticket.id, "staff:1", "我们今晚去查看", start + timedelta(hours=1))
    desk.channel.clear()

    # The complaint's response and resolution promises fall together: one alert.
    assert (
        await escalate_overdue(
            start + timedelta(hours=24, minutes=1), desk.services, desk.notifier
        )
        == 1
    )
    assert [e.breach for e in await Escalation.all()] == ["resolve"]


async def test_escalation_ignores_done_tickets(desk: Desk) -> None:
    ticket = await report(desk)
    start = desk.clock.now()
    await resolve_ticket(ticket.id, desk.staff["zhang"], "修好了", start + timedelta(minutes=5))
    assert await escalate_overdue(start + timedelta(days=2), desk.services, desk.notifier) == 0
    assert await Escalation.all().count() == 0


async def test_close_unrated_after_three_days(desk: Desk) -> None:
    ticket = await report(desk)
    rated = await report(desk, "楼道的灯坏了好几天了，晚上黑乎乎的", "u-wang")
    start = desk.clock.now()
    for t in (ticket, rated):
        await resolve_ticket(t.id, desk.staff["zhang"], "修好了", start)
    await rate_ticket(rated.id, Rating.SATISFIED, "webchat:u-wang", start + timedelta(hours=1))
    desk.channel.clear()

    assert (
        await close_unrated(
            start + timedelta(days=3) - timedelta(minutes=1), desk.services, desk.notifier
        )
        == 0
    )
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.RESOLVED

    assert await close_unrated(start + timedelta(days=3), desk.services, desk.notifier) == 1
    closed = await Ticket.get(id=ticket.id)
    assert closed.status is TicketStatus.CLOSED and closed.rating is None
    assert (await TicketEvent.filter(ticket_id=ticket.id).order_by("-id").first()).data == {
        "rated": False
    }
    [(_, card)] = edits(desk)
    assert "R-0001" in card.text and "状态：已关闭" in card.text
    assert await close_unrated(start + timedelta(days=4), desk.services, desk.notifier) == 0


async def test_a_card_never_shows_the_phone_and_is_reposted_where_it_was_lost(
    desk: Desk,
) -> None:
    ticket = await report(desk)
    text = await render_card(ticket, desk.services.catalogues, "en")
    assert text.splitlines()[0] == "[R-0001] Repair · engineering"
    assert "Reported by: u-li (no unit bound)" in text and "13800000001" not in text

    # The card's send failed: the next change posts it anew (and remembers it) instead of editing.
    await TicketCard.filter(ticket_id=ticket.id).delete()
    desk.channel.clear()
    await send_outbox(desk.services.hub, await card_messages(ticket, desk.services))
    assert desk.channel.edits == [] and len(desk.channel.to(STAFF.chat_id)) == 1
    assert await TicketCard.filter(ticket_id=ticket.id).count() == 1


async def test_send_outbox_edits_runs_callbacks_and_survives_a_failed_send(desk: Desk) -> None:
    seen: list[str] = []

    async def remember(sent: SentMessage) -> None:
        seen.append(sent.message_id)

    first = OutgoingMessage(chat=STAFF, text="one")
    second = OutgoingMessage(chat=STAFF, text="two")
    earlier = SentMessage(chat=STAFF, message_id="old-7")
    desk.channel.fail_sends = 1

    count = await send_outbox(
        desk.services.hub,
        [first, Outbound(second, after_send=remember), Outbound(first, edit=earlier)],
    )

    assert count == 2
    assert [m.text for m in desk.channel.sent] == ["two"]
    assert desk.channel.edits == [(earlier, first)]
    assert len(seen) == 1


async def test_a_supervisor_alert_whose_first_send_fails_is_retried_and_sent_once(
    desk: Desk,
) -> None:
    await bind_staff("u-chen", desk.staff["chen"])
    await report(desk)
    start = desk.clock.now()
    desk.channel.clear()
    desk.channel.fail_sends = 1  # the platform refuses the first alert

    assert await escalate_overdue(start + timedelta(minutes=16), desk.services, desk.notifier) == 1
    alerts = await Delivery.filter(kind="escalation").order_by("id")
    assert len(alerts) == 2  # the staff chat, and the supervisor privately
    [waiting] = [a for a in alerts if a.status is DeliveryStatus.PENDING]
    assert waiting.attempts == 1 and "far end is down" in waiting.last_error
    assert len(desk.channel.sent) == 1

    desk.clock.advance(seconds=10)  # past its backoff
    assert (await desk.notifier.deliver()).sent == 1
    assert (await desk.notifier.deliver()).sent == 0
    assert len(staff_texts(desk)) == 1
    assert len(desk.channel.texts(desk.private("u-chen").chat_id)) == 1
    assert await Delivery.filter(kind="escalation", status=DeliveryStatus.SENT).count() == 2


async def test_an_auto_closed_cards_edit_is_a_delivery_recorded_with_the_close(
    desk: Desk,
) -> None:
    ticket = await report(desk)
    start = desk.clock.now()
    await resolve_ticket(ticket.id, desk.staff["zhang"], "修好了", start)
    desk.channel.clear()

    assert await close_unrated(start + timedelta(days=3), desk.services, desk.notifier) == 1

    [edit] = await Delivery.filter(kind="auto_close")
    assert edit.status is DeliveryStatus.SENT and edit.payload["edit"]
    card = await TicketCard.get(ticket_id=ticket.id)
    assert edit.payload["edit"] == card.message_id
    [(sent, message)] = edits(desk)
    assert sent.message_id == card.message_id and "状态：已关闭" in message.text
