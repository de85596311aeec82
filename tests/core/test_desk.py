"""The staff desk's core: escalating late tickets, closing unrated ones, cards and the outbox."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.core.context import Outbound, send_outbox
from bot.core.desk import (
    card_messages,
    close_unrated,
    escalate_overdue,
    late_words,
    render_card,
)
from bot.core.i18n import Catalogues
from bot.core.types import Mention, OutgoingMessage, SentMessage
from models import (
    Delivery,
    DeliveryStatus,
    Department,
    DutyShift,
    Escalation,
    EventKind,
    Rating,
    StaffRole,
    Ticket,
    TicketCard,
    TicketEvent,
    TicketKind,
    TicketStatus,
)
from models.lifecycle import claim_ticket, rate_ticket, record_answer, resolve_ticket
from models.querycount import QueryCount, count_queries
from tests.desk import STAFF, Desk
from tests.factories import make_staff, make_ticket
from tests.staffdesk import bind_staff, edits, report, staff_texts


async def test_staged_escalation_alerts_duty_then_supervisor_then_manager_once_each(
    desk: Desk,
) -> None:
    estate = desk.estate
    liu = await make_staff(estate, "刘主管", StaffRole.SUPERVISOR, Department.ENGINEERING)
    wang = await make_staff(estate, "王经理", StaffRole.MANAGER, Department.CUSTOMER_SERVICE)
    for user, member in (("u-zhang", desk.staff["zhang"]), ("u-liu", liu), ("u-wang", wang)):
        await bind_staff(user, member)
    start = desk.clock.now()
    await DutyShift.create(
        estate=estate,
        department=Department.ENGINEERING,
        staff=desk.staff["zhang"],
        starts_at=start - timedelta(hours=1),
        ends_at=start + timedelta(hours=8),
    )
    ticket = await report(desk)  # on site promised by +15 minutes; steps +0, +30 min, +2 h
    desk.channel.clear()
    services = desk.services

    async def run(after: timedelta) -> int:
        return await escalate_overdue(start + after, services, desk.notifier)

    assert await run(timedelta(minutes=15)) == 0  # not yet past
    assert desk.channel.sent == []

    # Step 1, seconds after the breach: whoever is on duty for engineering (nobody holds it).
    assert await run(timedelta(minutes=15, seconds=20)) == 1
    [alert] = staff_texts(desk)
    assert alert.startswith("⚠ 工单 R-0001 已超过承诺的响应时限（11-23 10:15），刚刚超时。")
    assert "0 分钟" not in alert and "负责人：无人接单" in alert
    assert alert.endswith("请值班人员立即处理：@张工")
    [message] = desk.channel.to(STAFF.chat_id)
    assert message.mentions == (Mention("@张工", "u-zhang"),)
    [private] = desk.channel.texts(desk.private("u-zhang").chat_id)
    assert "R-0001" in private and "@" not in private
    assert desk.channel.texts(desk.private("u-liu").chat_id) == []

    # Run again and again (ticks, or a second process): nothing new until the next step.
    for minutes in (16, 30, 44):
        assert await run(timedelta(minutes=minutes)) == 0
    assert len(staff_texts(desk)) == 1

    # Step 2, 30 minutes late: the engineering supervisor, not the customer-service one.
    assert await run(timedelta(minutes=45)) == 1
    second = staff_texts(desk)[-1]
    assert "已超时 30 分钟" in second and second.endswith("请部门主管跟进：@刘主管")
    assert desk.channel.to(STAFF.chat_id)[-1].mentions == (Mention("@刘主管", "u-liu"),)
    assert len(desk.channel.texts(desk.private("u-liu").chat_id)) == 1
    assert desk.channel.texts(desk.private("u-chen").chat_id) == []

    # Step 3, two hours late: the estate manager; then nothing more, however long it stays late.
    assert await run(timedelta(hours=2, minutes=15)) == 1
    third = staff_texts(desk)[-1]
    assert "已超时 2 小时。" in third and third.endswith("请项目经理跟进：@王经理")
    twice = await asyncio.gather(run(timedelta(hours=5)), run(timedelta(hours=5)))
    assert sum(twice) == 0 and await run(timedelta(hours=9)) == 0
    assert len(staff_texts(desk)) == 3
    levels = [e.level for e in await Escalation.filter(ticket_id=ticket.id).order_by("id")]
    assert levels == [0, 1, 2]
    escalated = await TicketEvent.filter(ticket_id=ticket.id, kind=EventKind.ESCALATED)
    assert [(e.data["stage"], e.data["to"]) for e in escalated] == [
        ("duty", ["张工"]),
        ("supervisor", ["刘主管"]),
        ("manager", ["王经理"]),
    ]
    # Each alert is a delivery recorded once: the staff chat and each person privately.
    assert await Delivery.filter(kind="escalation").count() == 6
    assert await Delivery.filter(kind="escalation", status=DeliveryStatus.SENT).count() == 6

    # Claimed: it owes no response any more, but still owes being done within 24 hours; that
    # breach starts its own steps, the first alerting the holder.
    await claim_ticket(ticket.id, desk.staff["zhang"], start + timedelta(hours=9, minutes=1))
    desk.channel.clear()
    assert await run(timedelta(hours=24, minutes=1)) == 1
    [late] = staff_texts(desk)
    assert "完成时限" in late and "已超时 1 分钟" in late and "负责人：张工" in late
    assert late.endswith("请负责人立即处理：@张工")


async def test_escalation_steps_come_from_the_estate_and_a_late_run_raises_each_due_step(
    desk: Desk,
) -> None:
    desk.estate.escalation_steps = "0, 10"
    await desk.estate.save()
    await report(desk)
    start = desk.clock.now()
    desk.channel.clear()

    # The job did not run for an hour: both steps are due, each raised once, in order.
    assert await escalate_overdue(start + timedelta(hours=1), desk.services, desk.notifier) == 2
    first, second = staff_texts(desk)
    assert "已超时 45 分钟" in first and "请值班人员立即处理：@张工" in first
    assert "请部门主管跟进：@陈主管" in second  # engineering has no supervisor: any supervisor
    assert await escalate_overdue(start + timedelta(hours=9), desk.services, desk.notifier) == 0


def test_how_late_is_said_in_words_that_make_sense() -> None:
    catalogues = Catalogues()
    zh = [
        late_words(catalogues, "zh", timedelta(seconds=s))
        for s in (1, 59, 60, 12 * 60 + 59, 60 * 60, 125 * 60)
    ]
    assert zh == [
        "刚刚超时",
        "刚刚超时",
        "已超时 1 分钟",
        "已超时 12 分钟",
        "已超时 1 小时",
        "已超时 2 小时 5 分钟",
    ]
    assert late_words(catalogues, "en", timedelta(minutes=12)) == "12 min late"
    assert late_words(catalogues, "en", timedelta(seconds=5)) == "just now"


async def test_a_run_reads_as_much_for_forty_tickets_escalated_already_as_for_three(
    desk: Desk,
) -> None:
    start = desk.clock.now()
    later = start + timedelta(days=3)  # every step of both promised times is due

    async def settled(count: int) -> QueryCount:
        """`count` more late tickets, their steps raised; what a run after that reads."""
        opened = await Ticket.all().count()
        for n in range(opened, opened + count):
            await make_ticket(desk.estate, start, message_id=f"late-{n}")
        raised = await escalate_overdue(later, desk.services, desk.notifier)
        assert raised == count * 2 * 3  # two promised times, three steps each
        with count_queries() as counted:
            assert await escalate_overdue(later, desk.services, desk.notifier) == 0
        return counted

    few = await settled(3)
    many = await settled(37)
    assert await Escalation.all().count() == 40 * 6
    assert many.statements == few.statements
    assert few.total <= 6


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
    text = await render_card(ticket, desk.services.catalogues, "en", now=desk.clock.now())
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


async def test_an_escalation_alert_whose_first_send_fails_is_retried_and_sent_once(
    desk: Desk,
) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    await report(desk)
    start = desk.clock.now()
    desk.channel.clear()
    desk.channel.fail_sends = 1  # the platform refuses the first alert

    assert await escalate_overdue(start + timedelta(minutes=16), desk.services, desk.notifier) == 1
    alerts = await Delivery.filter(kind="escalation").order_by("id")
    assert len(alerts) == 2  # the staff chat, and the person on duty privately
    [waiting] = [a for a in alerts if a.status is DeliveryStatus.PENDING]
    assert waiting.attempts == 1 and "far end is down" in waiting.last_error
    assert len(desk.channel.sent) == 1

    desk.clock.advance(seconds=10)  # past its backoff
    assert (await desk.notifier.deliver()).sent == 1
    assert (await desk.notifier.deliver()).sent == 0
    assert len(staff_texts(desk)) == 1
    assert len(desk.channel.texts(desk.private("u-zhang").chat_id)) == 1
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
