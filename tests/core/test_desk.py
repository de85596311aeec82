"""The staff desk's core: escalating late tickets, closing unrated ones, cards and the outbox."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from bot.core.calendar import ServiceCalendar
from bot.core.context import Outbound, send_outbox
from bot.core.desk import (
    RESOLVE,
    RESPONSE,
    breaches,
    card_messages,
    close_unrated,
    escalate_overdue,
    escalation_steps,
    late_words,
    render_card,
    steps_owed,
)
from bot.core.i18n import Catalogues
from bot.core.promises import counted_on, ticket_calendar
from bot.core.types import Mention, OutgoingMessage, SentMessage
from models import (
    Delivery,
    DeliveryStatus,
    Department,
    DutyShift,
    Escalation,
    Estate,
    EventKind,
    Rating,
    StaffRole,
    Ticket,
    TicketCard,
    TicketEvent,
    TicketKind,
    TicketStatus,
)
from models.lifecycle import (
    claim_ticket,
    make_urgent,
    pause_ticket,
    rate_ticket,
    record_answer,
    reopen_ticket,
    resolve_ticket,
    resume_ticket,
    transfer_ticket,
)
from models.lookup import escalations_due
from models.querycount import QueryCount, count_queries
from models.ticket import OPEN_STATUSES
from tests.desk import STAFF, Desk
from tests.factories import make_staff, make_ticket
from tests.staffdesk import bind_staff, edits, report, staff_texts

WALL = counted_on(ServiceCalendar())  # the tickets run round the clock: pauses in wall time


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


async def test_a_run_after_forty_tickets_escalated_to_the_top_reads_none_of_them(
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
    assert few.total == 2  # the estates, and the tickets that may owe a step: none
    steps = escalation_steps(desk.estate)
    assert await escalations_due([desk.estate.id], steps, later, RESPONSE, RESOLVE) == []
    # A day on, nothing new is due either; the backlog stays unread.
    assert (
        await escalations_due(
            [desk.estate.id], steps, later + timedelta(days=1), RESPONSE, RESOLVE
        )
        == []
    )


async def test_the_store_leaves_out_only_tickets_that_owe_no_step(desk: Desk) -> None:
    """Tickets in every state a ticket can be in while handled (claimed, answered, paused and
    resumed, waiting for an appointment, reopened, made urgent, moved to another department, a
    complaint whose two promises fall together), escalated at times between and across the
    steps, with the estate's steps changed halfway: at each time every ticket the escalation
    rule (`breaches`, `steps_owed`) says owes a step is among those the store gives
    (`escalations_due`), the job raises exactly those steps, and after it the store gives none
    of the tickets whose clock never stopped and whose owner staff did not answer."""
    estate = desk.estate
    zhang = desk.staff["zhang"]
    start = desk.clock.now()
    minutes = lambda m: start + timedelta(minutes=m)  # noqa: E731
    tickets = [await make_ticket(estate, start, message_id=f"state-{n}") for n in range(9)]
    complaint = await make_ticket(
        estate, start, TicketKind.COMPLAINT, Department.CUSTOMER_SERVICE, message_id="state-c"
    )
    ids = [ticket.id for ticket in tickets] + [complaint.id]

    async def reopened() -> None:
        # Answered before it was resolved: after the reopening that answer no longer counts.
        await record_answer(ids[6], "staff:1", "师傅在路上", minutes(35))
        await resolve_ticket(ids[6], zhang, "修好了", minutes(40))
        await reopen_ticket(ids[6], "staff:1", "又漏了", minutes(70))

    actions = {
        5: [lambda: claim_ticket(ids[1], zhang, minutes(5))],
        6: [lambda: record_answer(ids[2], "staff:1", "马上到", minutes(6))],
        10: [lambda: pause_ticket(ids[3], "staff:1", minutes(10), elapsed=WALL)],
        12: [
            lambda: pause_ticket(
                ids[4],
                "staff:1",
                minutes(12),
                until=minutes(180),
                appointment=minutes(180),
                elapsed=WALL,
            )
        ],
        20: [
            lambda: make_urgent(ids[5], "owner", minutes(20), respond_by=minutes(25)),
            lambda: claim_ticket(ids[7], zhang, minutes(20)),
        ],
        45: [
            lambda: resume_ticket(ids[3], "staff:1", minutes(45), elapsed=WALL),
            lambda: transfer_ticket(ids[7], Department.CLEANING, "staff:1", minutes(45)),
        ],
        70: [reopened],
        # The complaint waits on the owner before its time (one for an answer and the result):
        # its completion clock is stopped, its answer is owed all the same.
        1000: [lambda: pause_ticket(ids[9], "staff:1", minutes(1000), elapsed=WALL)],
        # Past its completion time and alerted twice, it waits on the owner for five minutes:
        # its completion time, and so the breach, moves on by as much (a breach whose steps the
        # store does not know), with no step raised while it waits.
        24 * 60 + 12: [
            lambda: pause_ticket(ids[8], "staff:1", minutes(24 * 60 + 12), elapsed=WALL)
        ],
        24 * 60 + 17: [
            lambda: resume_ticket(ids[8], "staff:1", minutes(24 * 60 + 17), elapsed=WALL)
        ],
    }
    checked = 0
    for at in (1, 16, 20, 31, 46, 50, 75, 125, 140, 200, 260, 1445, 1450, 1455, 1460, 4320):
        now = minutes(at)
        for when in sorted(actions):
            if when <= at:
                for action in actions.pop(when):
                    await action()
        if at == 140:  # the estate adds a step: the levels after it are counted anew
            estate.escalation_steps = "0,10,30,120"
            await estate.save()
            desk.services.cache.invalidate(estate.id)
        steps = escalation_steps(await Estate.get(id=estate.id))
        raised: dict[tuple[int, str, datetime], set[int]] = {}
        for ticket_id, breach, deadline, level in await Escalation.all().values_list(
            "ticket_id", "breach", "deadline", "level"
        ):
            raised.setdefault((ticket_id, breach, deadline), set()).add(level)
        owing: dict[int, int] = {}
        for ticket in await Ticket.filter(id__in=ids, status__in=OPEN_STATUSES):
            calendar = await ticket_calendar(ticket, estate)
            owed = steps_owed(await breaches(ticket, now, calendar), steps, now, raised, ticket.id)
            if owed:
                owing[ticket.id] = len(owed)
        given = await escalations_due([estate.id], steps, now, RESPONSE, RESOLVE)
        assert set(owing) <= {ticket.id for ticket in given}, at
        assert await escalate_overdue(now, desk.services, desk.notifier) == sum(owing.values()), at
        checked += len(owing)
        left = {
            ticket.id
            for ticket in await escalations_due([estate.id], steps, now, RESPONSE, RESOLVE)
        }
        # What the store cannot tell: a clock that stopped and restarted (its time moved on).
        assert left <= {ids[3], ids[4], ids[8], ids[9]}, at
    assert checked >= 20  # the times were ones with steps owed


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


async def test_a_late_ticket_waiting_on_the_owner_is_not_alerted_again_while_it_waits(
    desk: Desk,
) -> None:
    start = desk.clock.now()
    ticket = await make_ticket(desk.estate, start, message_id="waits")
    due = ticket.due_resolve_at  # steps +0, +30 min, +2 h after each promised time
    minutes = lambda m: due + timedelta(minutes=m)  # noqa: E731
    assert await escalate_overdue(minutes(1), desk.services, desk.notifier) == 3 + 1
    await claim_ticket(ticket.id, desk.staff["zhang"], minutes(2))
    await pause_ticket(ticket.id, "staff:1", minutes(3), elapsed=WALL)

    # While its clock is stopped its completion time moves on with it: no new breach a run.
    for at in (5, 6, 7, 40):
        assert await escalate_overdue(minutes(at), desk.services, desk.notifier) == 0, at

    await resume_ticket(ticket.id, "staff:1", minutes(43), elapsed=WALL)  # waited 40 minutes
    assert await escalate_overdue(minutes(44), desk.services, desk.notifier) == 1
    moved = await Escalation.get(ticket_id=ticket.id, breach=RESOLVE, level=0, at=minutes(44))
    assert moved.deadline == minutes(40)
    assert await escalate_overdue(minutes(45), desk.services, desk.notifier) == 0
