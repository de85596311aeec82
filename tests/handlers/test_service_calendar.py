"""Promised times through the router: an estate on office time, a report on the Friday evening
before 清明 2026, an emergency at night, an appointment pausing the completion clock, a
complaint's severity set by staff, and what bad input changes (nothing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.calendar import ServiceCalendar, load_calendar
from bot.core.console import BoardFilter, board, promised_done_by
from bot.core.desk import escalate_overdue, render_card
from bot.core.promises import late
from models import EventKind, ServiceTarget, Severity, Ticket, TicketEvent, TicketKind
from models.lifecycle import claim_ticket
from tests.desk import OWNERS, STAFF, Desk, bind
from tests.staffdesk import bind_staff, cards, edits, is_card, staff_texts

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def now() -> datetime:
    """Friday 3 April 2026, 17:55 in Shanghai: 清明 is Saturday 4 to Monday 6 April."""
    return datetime(2026, 4, 3, 17, 55, tzinfo=SHANGHAI).astimezone(UTC)


@pytest.fixture
async def office(desk: Desk) -> Desk:
    """The desk's estate counts ordinary repairs and complaints on office time (Monday to
    Friday 08:30-17:30, the default hours); emergencies have a row on office time too, which
    they ignore: they run round the clock."""
    for kind, urgent, respond, resolve in (
        (TicketKind.REPAIR, False, 15, 8 * 60),
        (TicketKind.REPAIR, True, 5, 4 * 60),
        (TicketKind.COMPLAINT, False, 120, 9 * 60),
    ):
        await ServiceTarget.create(
            estate=desk.estate,
            kind=kind,
            urgent=urgent,
            respond_minutes=respond,
            resolve_minutes=resolve,
            office_time=True,
        )
    await ServiceTarget.create(
        estate=desk.estate,
        kind=TicketKind.COMPLAINT,
        severity=Severity.SERIOUS,
        respond_minutes=30,
        resolve_minutes=8 * 60,
        office_time=False,
    )
    return desk


def card_text(desk: Desk, number: str) -> str:
    """A ticket's latest card (edited or posted)."""
    latest = [m for _, m in edits(desk) if is_card(m, number)] or cards(desk, number)
    return latest[-1].text


async def leak_reported(desk: Desk, **later: float) -> Ticket:
    """张工 is bound to the staff chat and 李 to her home; the clock moves on by `later` and she
    reports a leak."""
    await bind_staff("u-zhang", desk.staff["zhang"])
    await bind("u-li", desk.owners["li"])
    desk.clock.advance(**later)
    await desk.say("3栋2单元501 厨房水管漏水了", "u-li")
    return await Ticket.get(number="R-0001")


async def complaint_made(desk: Desk, **later: float) -> Ticket:
    """张工 is bound to the staff chat; the clock moves on by `later` and 王 complains."""
    desk.clock.advance(**later)
    await bind_staff("u-zhang", desk.staff["zhang"])
    await desk.say("楼上天天半夜12点还在装修电钻响，物业管不管", "u-wang")
    return await Ticket.get(kind=TicketKind.COMPLAINT)


async def calendar(desk: Desk) -> ServiceCalendar:
    """The desk's estate's calendar (the default hours), as the desk reads it."""
    return await load_calendar(desk.estate)


def owner_texts(desk: Desk) -> list[str]:
    return [m.text for m in desk.channel.sent if m.chat != STAFF]


async def test_a_repair_on_friday_1755_before_a_holiday_is_promised_tuesday(office: Desk) -> None:
    desk = office
    await bind("u-li", desk.owners["li"])
    await desk.say("3栋2单元501 厨房水管漏水了", "u-li")

    ticket = await Ticket.get(number="R-0001")
    assert ticket.office_time and not ticket.urgent
    assert ticket.due_response_at == datetime(2026, 4, 7, 8, 45, tzinfo=SHANGHAI)
    assert ticket.due_resolve_at == datetime(2026, 4, 7, 16, 30, tzinfo=SHANGHAI)
    [reply] = owner_texts(desk)
    # Out of hours the owner is told when it will be looked at, then the promise as times.
    assert "现在是非办公时间，我们将于 04-07 08:30 开始处理" in reply
    assert "工程部将在 04-07 08:45 前响应，04-07 16:30 前处理完成" in reply
    card = card_text(desk, "R-0001")
    assert "承诺：04-07 08:45 前响应，04-07 16:30 前处理完成（按办公时间计）" in card.splitlines()
    # Not late over the holiday weekend.
    assert not late(ticket, datetime(2026, 4, 6, 20, 0, tzinfo=SHANGHAI), await calendar(desk))


async def test_an_emergency_at_0300_runs_round_the_clock(office: Desk) -> None:
    desk = office
    desk.clock.advance(hours=9, minutes=5)  # Saturday 4 April, 03:00, a public holiday
    await desk.say("救命！电梯困人了，5栋的电梯卡在8楼，里面有老人", "u-wang")

    ticket = await Ticket.get(number="R-0001")
    assert ticket.urgent and not ticket.office_time
    assert ticket.due_response_at == datetime(2026, 4, 4, 3, 5, tzinfo=SHANGHAI)
    [reply] = owner_texts(desk)
    assert "非办公时间" not in reply
    assert "5分钟" in reply


async def test_a_report_on_a_swapped_working_saturday_is_in_office_hours(office: Desk) -> None:
    desk = office
    # Saturday 9 May 2026, 10:00: worked for 劳动节 (调休).
    desk.clock.advance(days=35, hours=16, minutes=5)
    await bind("u-li", desk.owners["li"])
    await desk.say("3栋2单元501 厨房水管漏水了", "u-li")

    ticket = await Ticket.get(number="R-0001")
    assert ticket.due_response_at == datetime(2026, 5, 9, 10, 15, tzinfo=SHANGHAI)
    [reply] = owner_texts(desk)
    assert "非办公时间" not in reply
    assert "工程部将在 05-09 10:15 前响应" in reply


async def test_an_english_owner_hears_the_opening_in_english(office: Desk) -> None:
    desk = office
    await bind("u-smith", desk.owners["smith"])
    await desk.say("The kitchen pipe in 3-1-501 is leaking", "u-smith", language_hint="en")
    [reply] = owner_texts(desk)
    assert "The office is closed now: we will look at it from 04-07 08:30." in reply
    assert "will respond by 04-07 08:45" in reply


async def test_an_appointment_pauses_the_completion_clock_and_resume_restarts_it(
    office: Desk,
) -> None:
    desk = office
    await leak_reported(desk)
    desk.channel.clear()

    # Tuesday 7 April, 09:00: staff agree with the owner to come on Wednesday at 15:00.
    desk.clock.advance(days=3, hours=15, minutes=5)
    await desk.say("约 R-0001 明天15:00", "u-zhang", STAFF)

    ticket = await Ticket.get(number="R-0001")
    visit = datetime(2026, 4, 8, 15, 0, tzinfo=SHANGHAI)
    assert ticket.appointment_at == visit and ticket.paused_until == visit
    assert "已约在 04-08 15:00" in staff_texts(desk)[-1]
    # The owner is told the time of the visit, in the group she reported in.
    [told] = owner_texts(desk)
    assert "您的工单 R-0001 已约定上门时间：04-08 15:00" in told
    # The card says until when the clock stops, and the completion time moved on by the whole
    # pause (Tuesday 09:00 to the visit: 15 office hours), as it will stand from the visit on.
    card = card_text(desk, "R-0001")
    assert (
        "承诺：04-07 08:45 前响应，04-09 13:30 前处理完成"
        "（按办公时间计，计时暂停至约定上门时间 04-08 15:00）"
    ) in card.splitlines()
    estate = await calendar(desk)
    # Past Tuesday 16:30, when it was due, it is not late: the clock waits for the visit.
    assert not late(ticket, datetime(2026, 4, 8, 9, 0, tzinfo=SHANGHAI), estate).resolve
    # From the visit the 7 hours 30 minutes of office time left run on, on office time: 2 hours
    # 30 minutes on Wednesday, 5 on Thursday from 08:30; not through Wednesday night.
    assert not late(ticket, datetime(2026, 4, 8, 22, 35, tzinfo=SHANGHAI), estate).resolve
    assert not late(ticket, datetime(2026, 4, 9, 13, 25, tzinfo=SHANGHAI), estate).resolve
    assert late(ticket, datetime(2026, 4, 9, 13, 35, tzinfo=SHANGHAI), estate).resolve
    kinds = [e.kind for e in await TicketEvent.filter(ticket_id=ticket.id).order_by("id")]
    assert kinds[-1] is EventKind.PAUSED


def due_line(desk: Desk, number: str) -> str:
    """The promised-times line of a ticket's latest card."""
    [line] = [x for x in card_text(desk, number).splitlines() if x.startswith("承诺：")]
    return line


async def test_the_card_keeps_the_appointments_deadline_when_claimed_and_transferred(
    office: Desk,
) -> None:
    desk = office
    await leak_reported(desk)
    desk.clock.advance(days=3, hours=15, minutes=5)  # Tuesday 7 April, 09:00
    await desk.say("约 R-0001 明天15:00", "u-zhang", STAFF)
    paused = (
        "承诺：04-07 08:45 前响应，04-09 13:30 前处理完成"
        "（按办公时间计，计时暂停至约定上门时间 04-08 15:00）"
    )
    assert due_line(desk, "R-0001") == paused

    # Re-rendered later, by a claim and a transfer, the card says the same.
    desk.clock.advance(hours=1)
    ticket = await Ticket.get(number="R-0001")
    await desk.press(f"claim:{ticket.id}", "u-zhang", STAFF)
    assert "状态：处理中（张工）" in card_text(desk, "R-0001")
    assert due_line(desk, "R-0001") == paused
    desk.clock.advance(hours=1)
    await desk.say("转派 R-0001 保洁", "u-zhang", STAFF)
    assert "保洁" in card_text(desk, "R-0001").splitlines()[0]
    assert due_line(desk, "R-0001") == paused

    # Restarted at 11:00, two office hours waited: due Wednesday 09:30, and no pause shown.
    await desk.say("继续 R-0001", "u-zhang", STAFF)
    assert (
        due_line(desk, "R-0001")
        == "承诺：04-07 08:45 前响应，04-08 09:30 前处理完成（按办公时间计）"
    )


async def test_a_wait_moves_the_cards_deadline_by_the_time_waited_so_far(desk: Desk) -> None:
    """Round the clock (no targets): a repair reported Friday 17:55 is due Saturday 17:55."""
    await bind_staff("u-zhang", desk.staff["zhang"])
    await bind("u-li", desk.owners["li"])
    await desk.say("3栋2单元501 厨房水管漏水了", "u-li")
    ticket = await Ticket.get(number="R-0001")
    assert due_line(desk, "R-0001") == "承诺：04-03 18:10 前响应，04-04 17:55 前处理完成"

    desk.clock.advance(hours=1)  # 18:55
    await desk.say("等待 R-0001", "u-zhang", STAFF)
    waiting = "（等待业主，04-03 18:55 起计时暂停，至“继续 R-0001”恢复）"
    assert due_line(desk, "R-0001") == f"承诺：04-03 18:10 前响应，04-04 17:55 前处理完成{waiting}"
    # Three hours on, the claim's card counts the three hours waited.
    desk.clock.advance(hours=3)
    await desk.press(f"claim:{ticket.id}", "u-zhang", STAFF)
    assert due_line(desk, "R-0001") == f"承诺：04-03 18:10 前响应，04-04 20:55 前处理完成{waiting}"
    english = await render_card(
        await Ticket.get(id=ticket.id), desk.services.catalogues, "en", now=desk.clock.now()
    )
    assert (
        "Promised: respond by 04-03 18:10, done by 04-04 20:55 (waiting for the owner, clock "
        'paused since 04-03 18:55 until "resume R-0001")'
    ) in english.splitlines()

    desk.clock.advance(hours=1)
    await desk.say("继续 R-0001", "u-zhang", STAFF)
    assert due_line(desk, "R-0001") == "承诺：04-03 18:10 前响应，04-04 21:55 前处理完成"
    assert "现应在 04-04 21:55 前处理完成" in staff_texts(desk)[-1]


async def test_an_appointment_on_a_round_the_clock_ticket_on_the_card_in_english(
    desk: Desk,
) -> None:
    await leak_reported(desk)  # Friday 17:55, due Saturday 17:55
    desk.clock.advance(hours=2, minutes=5)  # 20:00
    await desk.say("约 R-0001 明天9:00", "u-zhang", STAFF)
    ticket = await Ticket.get(number="R-0001")
    # 13 hours to the visit: due Sunday 06:55, whenever the card is drawn before the visit.
    for later in (0, 6):
        desk.clock.advance(hours=later)
        english = await render_card(ticket, desk.services.catalogues, "en", now=desk.clock.now())
        assert (
            "Promised: respond by 04-03 18:10, done by 04-05 06:55 "
            "(clock paused until the visit at 04-04 09:00)"
        ) in english.splitlines()
    # After the visit the pause is over: the same time, no pause.
    desk.clock.advance(hours=8)
    english = await render_card(ticket, desk.services.catalogues, "en", now=desk.clock.now())
    assert "Promised: respond by 04-03 18:10, done by 04-05 06:55" in english.splitlines()


async def test_waiting_for_the_owner_then_resuming(office: Desk) -> None:
    desk = office
    await leak_reported(desk)
    desk.clock.advance(days=3, hours=15, minutes=5)  # Tuesday 09:00
    await desk.say("等待 R-0001", "u-zhang", STAFF)
    assert "等待业主" in staff_texts(desk)[-1]
    desk.clock.advance(hours=2)
    await desk.say("继续 R-0001", "u-zhang", STAFF)
    ticket = await Ticket.get(number="R-0001")
    assert ticket.paused_at is None and ticket.paused_seconds == 2 * 3600
    # Due Tuesday 16:30, moved on by 2 office hours: the hour to 17:30, then Wednesday's first.
    assert "现应在 04-08 09:30 前处理完成" in staff_texts(desk)[-1]
    # Resuming again changes nothing and says so.
    await desk.say("继续 R-0001", "u-zhang", STAFF)
    assert "没有暂停计时" in staff_texts(desk)[-1]
    assert (await Ticket.get(number="R-0001")).paused_seconds == 2 * 3600


async def test_a_wait_over_a_weekend_costs_an_office_time_ticket_only_office_hours(
    office: Desk,
) -> None:
    desk = office
    ticket = await leak_reported(desk, days=6, hours=16, minutes=35)  # Friday 10 April, 10:30
    # 8 office hours: 7 on Friday, the last from Monday 08:30.
    assert ticket.due_resolve_at == datetime(2026, 4, 13, 9, 30, tzinfo=SHANGHAI)
    await claim_ticket(ticket.id, desk.staff["zhang"], desk.clock.now())

    desk.clock.advance(hours=6, minutes=30)  # Friday 17:00: the owner is away for the weekend
    await desk.say("等待 R-0001", "u-zhang", STAFF)
    # Not late to complete on Monday 09:35, past the promise, while it waits.
    estate = await calendar(desk)
    waiting = await Ticket.get(number="R-0001")
    assert not late(waiting, datetime(2026, 4, 13, 9, 35, tzinfo=SHANGHAI), estate).resolve
    desk.clock.advance(days=2, hours=17)  # Monday 13 April, 10:00
    await desk.say("继续 R-0001", "u-zhang", STAFF)

    resumed = await Ticket.get(number="R-0001")
    # 65 hours waited, 2 of them office hours: Friday 17:00-17:30 and Monday 08:30-10:00.
    assert resumed.paused_seconds == 2 * 3600
    # The 1 hour 30 minutes that were left when it stopped run from Monday 10:00.
    assert "现应在 04-13 11:30 前处理完成" in staff_texts(desk)[-1]
    assert not late(resumed, datetime(2026, 4, 13, 11, 25, tzinfo=SHANGHAI), estate).resolve
    assert late(resumed, datetime(2026, 4, 13, 11, 35, tzinfo=SHANGHAI), estate).resolve
    assert "04-13 11:30 前处理完成" in card_text(desk, "R-0001")
    # The console's board counts the same deadline.
    shown = await board(
        desk.staff["zhang"], BoardFilter(), datetime(2026, 4, 13, 11, 25, tzinfo=SHANGHAI)
    )
    assert [t.number for t in shown.tickets] == ["R-0001"] and shown.overdue_count == 0
    assert promised_done_by(resumed, desk.clock.now(), shown.calendar) == datetime(
        2026, 4, 13, 11, 30, tzinfo=SHANGHAI
    )
    # The escalation counts the same deadline.
    desk.channel.clear()
    before = datetime(2026, 4, 13, 11, 29, tzinfo=SHANGHAI)
    assert await escalate_overdue(before, desk.services, desk.notifier) == 0
    after = datetime(2026, 4, 13, 11, 31, tzinfo=SHANGHAI)
    assert await escalate_overdue(after, desk.services, desk.notifier) == 1
    assert "04-13 11:30" in staff_texts(desk)[0]


async def test_staff_set_a_complaints_severity_and_its_promise_follows(office: Desk) -> None:
    desk = office
    complaint = await complaint_made(desk, days=3, hours=15, minutes=5)  # Tuesday 7 April, 09:00
    assert complaint.severity == Severity.GENERAL  # the router's suggestion
    assert complaint.due_response_at == datetime(2026, 4, 7, 11, 0, tzinfo=SHANGHAI)

    await desk.say(f"等级 {complaint.number} 严重", "u-zhang", STAFF)
    complaint = await Ticket.get(id=complaint.id)
    assert complaint.severity == Severity.SERIOUS and not complaint.office_time
    assert complaint.due_response_at == datetime(2026, 4, 7, 9, 30, tzinfo=SHANGHAI)
    assert "等级为“严重”，应在 04-07 09:30 前答复" in staff_texts(desk)[-1]

    await desk.say(f"等级 {complaint.number} 重要", "u-zhang", STAFF)
    complaint = await Ticket.get(id=complaint.id)
    # No row for 重要: the complaint row of any severity applies (office time, 2 hours).
    assert complaint.severity == Severity.IMPORTANT
    assert complaint.due_response_at == datetime(2026, 4, 7, 11, 0, tzinfo=SHANGHAI)


async def test_a_severity_that_changes_the_clock_recounts_the_time_waited(office: Desk) -> None:
    desk = office
    complaint = await complaint_made(desk, days=6, hours=16, minutes=35)  # Friday 10 April, 10:30
    assert complaint.office_time
    desk.clock.advance(hours=6, minutes=30)  # Friday 17:00
    await desk.say(f"等待 {complaint.number}", "u-zhang", STAFF)
    desk.clock.advance(days=2, hours=17)  # Monday 10:00
    await desk.say(f"继续 {complaint.number}", "u-zhang", STAFF)
    assert (await Ticket.get(id=complaint.id)).paused_seconds == 2 * 3600  # office hours

    # 严重 runs round the clock: the weekend waited counts every hour of it.
    await desk.say(f"等级 {complaint.number} 严重", "u-zhang", STAFF)
    serious = await Ticket.get(id=complaint.id)
    assert not serious.office_time and serious.paused_seconds == 65 * 3600
    # And back on office time, office hours again; a pause running now is not yet counted.
    desk.clock.advance(hours=1)
    await desk.say(f"等待 {complaint.number}", "u-zhang", STAFF)
    await desk.say(f"等级 {complaint.number} 重要", "u-zhang", STAFF)
    important = await Ticket.get(id=complaint.id)
    assert important.office_time and important.paused_seconds == 2 * 3600
    assert important.paused_at is not None


async def test_bad_commands_change_nothing(office: Desk) -> None:
    desk = office
    await bind_staff("u-zhang", desk.staff["zhang"])
    await bind("u-li", desk.owners["li"])
    await desk.say("3栋2单元501 厨房水管漏水了", "u-li")
    before = await Ticket.get(number="R-0001")

    await desk.say("约 R-0001 下周找时间", "u-zhang", STAFF)
    assert "不是一个将来的时间，没有任何改动" in staff_texts(desk)[-1]
    await desk.say("约 R-0001 今天08:00", "u-zhang", STAFF)  # already passed
    assert "不是一个将来的时间" in staff_texts(desk)[-1]
    await desk.say("等级 R-0001 严重", "u-zhang", STAFF)
    assert "不是投诉" in staff_texts(desk)[-1]
    await desk.say("等级 R-0001 很急", "u-zhang", STAFF)
    assert "用法：等级" in staff_texts(desk)[-1]
    await desk.say("约 R-0099 明天15:00", "u-zhang", STAFF)
    assert "R-0099" in staff_texts(desk)[-1]
    # An owner typing a staff command in the owners' group is no staff command.
    await desk.say("等待 R-0001", "u-li", OWNERS)

    after = await Ticket.get(number="R-0001")
    assert (after.paused_at, after.appointment_at, after.severity) == (None, None, "")
    assert after.due_resolve_at == before.due_resolve_at
    assert not await TicketEvent.filter(ticket_id=after.id, kind=EventKind.PAUSED).exists()


async def test_new_tickets_keep_the_defaults_without_targets(desk: Desk) -> None:
    await bind("u-li", desk.owners["li"])
    await desk.say("3栋2单元501 厨房水管漏水了", "u-li")
    ticket = await Ticket.get(number="R-0001")
    assert not ticket.office_time
    assert ticket.due_response_at - ticket.created_at == timedelta(minutes=15)
    [reply] = owner_texts(desk)
    assert "工程部将在 15分钟 内响应" in reply and "非办公时间" not in reply


async def test_a_reopened_ticket_gets_new_times_on_the_calendar_and_no_old_pause(
    office: Desk,
) -> None:
    desk = office
    await bind_staff("u-zhang", desk.staff["zhang"])
    await bind("u-li", desk.owners["li"])
    await desk.say("3栋2单元501 厨房水管漏水了", "u-li")
    desk.clock.advance(days=3, hours=15, minutes=5)  # Tuesday 7 April, 09:00
    await desk.say("等待 R-0001", "u-zhang", STAFF)
    desk.clock.advance(hours=1)
    await desk.say("结单 R-0001 换了水管", "u-zhang", STAFF)
    desk.clock.advance(hours=8)  # Tuesday 18:00, out of hours
    await desk.say("重开 R-0001 还在漏", "u-zhang", STAFF)

    ticket = await Ticket.get(number="R-0001")
    assert ticket.reopen_count == 1
    # 15 minutes of office time from Tuesday 18:00: Wednesday 08:45.
    assert ticket.due_response_at == datetime(2026, 4, 8, 8, 45, tzinfo=SHANGHAI)
    assert (ticket.paused_at, ticket.paused_seconds) == (None, 0)


async def test_escalation_counts_the_completion_time_moved_by_a_pause(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    await bind_staff("u-chen", desk.staff["chen"])
    await bind("u-li", desk.owners["li"])
    await desk.say("3栋2单元501 厨房水管漏水了", "u-li")  # Friday 17:55, done by Saturday 17:55
    ticket = await Ticket.get(number="R-0001")
    start = desk.clock.now()
    await claim_ticket(ticket.id, desk.staff["zhang"], start)
    await desk.say("等待 R-0001", "u-zhang", STAFF)
    desk.clock.advance(hours=3)
    await desk.say("继续 R-0001", "u-zhang", STAFF)
    desk.channel.clear()

    # At Saturday 18:00 it would have been late; three hours waited, it is not until 20:55.
    saturday = start + timedelta(hours=24, minutes=5)
    assert await escalate_overdue(saturday, desk.services, desk.notifier) == 0
    later = start + timedelta(hours=27, minutes=1)
    assert await escalate_overdue(later, desk.services, desk.notifier) == 1
    assert "04-04 20:55" in staff_texts(desk)[0]
