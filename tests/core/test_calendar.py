"""The service calendar and promised times: office hours, mainland China's holidays and swapped
working days (from chinese-calendar's 2026 data), an estate's closed days, targets per kind,
urgency and severity, and a paused completion clock."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.calendar import (
    DayKind,
    Hours,
    ServiceCalendar,
    Target,
    load_calendar,
    official_day,
    parse_appointment,
    promise_on,
    promised_times,
)
from bot.core.nlu import Understanding
from bot.core.promises import (
    counted_on,
    elapsed,
    ended_pauses,
    late,
    moved_on,
    paused_for,
    recounted_pauses,
    resolve_due,
)
from bot.core.severity import suggest_severity
from models import (
    ClosedDay,
    EventKind,
    OfficeHours,
    ServiceTarget,
    Severity,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketStatus,
)
from models.lifecycle import pause_ticket, resume_ticket
from tests.factories import make_estate, make_ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = ServiceCalendar()  # Monday to Friday, 08:30 to 17:30, Shanghai
HOUR = timedelta(hours=1)


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)  # type: ignore[misc]


# --- The official calendar (chinese-calendar's data for 2026) ------------------------------------


def test_the_official_calendar_knows_2026s_holidays_and_swapped_working_days() -> None:
    assert official_day(date(2026, 4, 4)) is DayKind.HOLIDAY  # 清明, a Saturday
    assert official_day(date(2026, 4, 6)) is DayKind.HOLIDAY  # 清明, a Monday
    assert official_day(date(2026, 5, 9)) is DayKind.SWAPPED_WORKDAY  # 劳动节调休, a Saturday
    assert official_day(date(2026, 5, 16)) is DayKind.ORDINARY  # an ordinary Saturday
    assert official_day(date(2026, 4, 3)) is DayKind.ORDINARY  # the Friday before 清明


def test_friday_1755_before_a_public_holiday_waits_for_tuesdays_opening() -> None:
    friday = local(2026, 4, 3, 17, 55)  # 清明 is Saturday 4 to Monday 6 April 2026
    assert not CALENDAR.is_open(friday)
    assert CALENDAR.next_opening(friday) == local(2026, 4, 7, 8, 30)
    assert CALENDAR.add_office_time(friday, timedelta(minutes=15)) == local(2026, 4, 7, 8, 45)
    # Half an hour before closing, 15 minutes stay 15; 45 minutes run over the holiday.
    assert CALENDAR.add_office_time(local(2026, 4, 3, 17, 0), timedelta(minutes=15)) == local(
        2026, 4, 3, 17, 15
    )
    assert CALENDAR.add_office_time(local(2026, 4, 3, 17, 0), timedelta(minutes=45)) == local(
        2026, 4, 7, 8, 45
    )
    # A working day of office time (9 hours) from Friday 17:55 ends at Tuesday's closing.
    assert CALENDAR.add_office_time(friday, timedelta(hours=9)) == local(2026, 4, 7, 17, 30)


def test_a_swapped_working_saturday_is_open_with_a_weekdays_hours() -> None:
    calendar = ServiceCalendar(hours={0: Hours(time(9), time(18)), 4: Hours(time(8), time(17))})
    saturday = local(2026, 5, 9, 10, 0)  # worked for 劳动节
    assert calendar.is_open(saturday)
    assert calendar.add_office_time(saturday, timedelta(minutes=15)) == local(2026, 5, 9, 10, 15)
    assert calendar.hours_on(date(2026, 5, 9)) == Hours(time(9), time(18))  # Monday's
    # The next Saturday is an ordinary one: closed until Monday.
    assert not calendar.is_open(local(2026, 5, 16, 10, 0))
    assert calendar.next_opening(local(2026, 5, 16, 10, 0)) == local(2026, 5, 18, 9, 0)


def test_an_estates_own_closed_day_is_closed() -> None:
    calendar = ServiceCalendar(closed_days=frozenset({date(2026, 11, 24)}))
    assert not calendar.is_open(local(2026, 11, 24, 10, 0))
    assert calendar.add_office_time(local(2026, 11, 23, 17, 20), timedelta(minutes=20)) == local(
        2026, 11, 25, 8, 40
    )


def test_a_year_beyond_the_packages_data_warns_and_counts_weekdays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.core.calendar"):
        kind = official_day(date(2099, 10, 1))
        official_day(date(2099, 10, 2))
    assert kind is DayKind.UNKNOWN
    warnings = [r for r in caplog.records if "no public holidays for 2099" in r.getMessage()]
    assert len(warnings) == 1  # once per year
    # 1 October 2099 is a Thursday: counted as an ordinary weekday.
    assert CALENDAR.is_open(local(2099, 10, 1, 10, 0))


def test_office_time_between_counts_open_hours_only() -> None:
    assert CALENDAR.office_time_between(
        local(2026, 4, 3, 17, 0), local(2026, 4, 7, 9, 0)
    ) == timedelta(minutes=60)


# --- Targets ---------------------------------------------------------------------------------


async def test_defaults_are_the_service_standard_round_the_clock(store: str) -> None:
    estate = await make_estate()
    start = local(2026, 4, 3, 17, 55)
    repair = await promised_times(estate, TicketKind.REPAIR, False, "", start)
    assert (repair.respond_by, repair.resolve_by) == (
        start + timedelta(minutes=15),
        start + timedelta(hours=24),
    )
    assert not repair.office_time


async def test_an_emergency_at_0300_runs_round_the_clock_even_on_office_time(store: str) -> None:
    estate = await make_estate()
    for urgent in (False, True):
        await ServiceTarget.create(
            estate=estate,
            kind=TicketKind.REPAIR,
            urgent=urgent,
            respond_minutes=5 if urgent else 15,
            resolve_minutes=240 if urgent else 480,
            office_time=True,
        )
    night = local(2026, 11, 24, 3, 0)
    emergency = await promised_times(estate, TicketKind.REPAIR, True, "", night)
    assert emergency.respond_by == local(2026, 11, 24, 3, 5)
    assert emergency.resolve_by == local(2026, 11, 24, 7, 0)
    assert not emergency.office_time
    ordinary = await promised_times(estate, TicketKind.REPAIR, False, "", night)
    assert ordinary.respond_by == local(2026, 11, 24, 8, 45)
    assert ordinary.resolve_by == local(2026, 11, 24, 16, 30)
    assert ordinary.office_time


async def test_a_complaint_of_each_severity_gets_its_own_promise(store: str) -> None:
    estate = await make_estate()
    await ServiceTarget.create(
        estate=estate,
        kind=TicketKind.COMPLAINT,
        severity=Severity.SERIOUS,
        respond_minutes=30,
        resolve_minutes=8 * 60,
    )
    await ServiceTarget.create(
        estate=estate,
        kind=TicketKind.COMPLAINT,
        severity=Severity.IMPORTANT,
        respond_minutes=120,
        resolve_minutes=16 * 60,
        office_time=True,
    )
    start = local(2026, 4, 3, 17, 0)
    serious = await promised_times(estate, TicketKind.COMPLAINT, False, "serious", start)
    important = await promised_times(estate, TicketKind.COMPLAINT, False, "important", start)
    general = await promised_times(estate, TicketKind.COMPLAINT, False, "general", start)
    assert (serious.respond_by, serious.resolve_by) == (
        local(2026, 4, 3, 17, 30),
        local(2026, 4, 4, 1, 0),
    )
    # Office time: 30 minutes on Friday, then Tuesday after 清明.
    assert important.respond_by == local(2026, 4, 7, 10, 0)
    # General has no row: the service standard's single answer within 24 hours.
    assert general.respond_by == general.resolve_by == start + timedelta(hours=24)


def test_default_severities_differ_without_rows() -> None:
    calendar = ServiceCalendar()
    start = local(2026, 11, 23, 10, 0)
    promises = [
        promise_on(calendar, target, start)
        for target in (
            Target(timedelta(hours=1), timedelta(hours=12)),
            Target(timedelta(hours=4), timedelta(hours=24)),
        )
    ]
    assert promises[0].respond_by < promises[1].respond_by


@pytest.mark.parametrize(
    ("text", "urgent", "expected"),
    [
        ("物业管不管，楼道堆满垃圾", False, Severity.GENERAL),
        ("说了多次了楼上还在半夜装修", False, Severity.IMPORTANT),
        ("小区门口的井盖坏了很危险，有孩子受伤了", False, Severity.SERIOUS),
        ("保安态度很差", True, Severity.SERIOUS),
        ("再不处理我就打12345", False, Severity.SERIOUS),
    ],
)
def test_the_router_suggests_a_complaints_severity(
    text: str, urgent: bool, expected: Severity
) -> None:
    understanding = Understanding(
        intent="complaint", confidence=0.9, urgent=urgent, department=None, unit=None, lang="zh"
    )
    assert suggest_severity(understanding, text) is expected


async def test_an_estates_rows_make_its_calendar(store: str) -> None:
    estate = await make_estate()
    await OfficeHours.create(estate=estate, weekday=5, opens_minute=540, closes_minute=720)
    await ClosedDay.create(estate=estate, day=date(2026, 11, 28), note="团建")
    calendar = await load_calendar(estate)
    assert calendar.hours == {5: Hours(time(9), time(12))}
    assert not calendar.is_open(local(2026, 11, 23, 10, 0))  # Monday: no row, closed
    assert not calendar.is_open(local(2026, 11, 28, 10, 0))  # its closed Saturday
    assert calendar.is_open(local(2026, 12, 5, 10, 0))


# --- Appointments and waiting stop the completion clock -----------------------------------------


def test_appointments_are_read_in_the_estates_time_zone() -> None:
    now = local(2026, 11, 23, 10, 0)
    zone = "Asia/Shanghai"
    assert parse_appointment("明天15:00", now, zone) == local(2026, 11, 24, 15, 0)
    assert parse_appointment("今天 9点", now, zone) is None  # passed
    assert parse_appointment("后天9点30", now, zone) == local(2026, 11, 25, 9, 30)
    assert parse_appointment("12-08 15:00", now, zone) == local(2026, 12, 8, 15, 0)
    assert parse_appointment("9:00", now, zone) == local(2026, 11, 24, 9, 0)
    assert parse_appointment("tomorrow 15:00", now, zone) == local(2026, 11, 24, 15, 0)
    for bad in ("下周", "25:00", "02-30 10:00", "明天", "R-0012"):
        assert parse_appointment(bad, now, zone) is None, bad
    assert parse_appointment("明天15:00", now, "UTC") == datetime(2026, 11, 24, 15, tzinfo=UTC)


async def test_an_appointment_pauses_the_completion_clock(store: str) -> None:
    estate = await make_estate()
    opened = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    ticket = await make_ticket(estate, now=opened)
    due = ticket.due_resolve_at  # 24 hours after it opened
    # Two hours in, staff agree a visit for the day after tomorrow, 10:00 UTC.
    visit = opened + timedelta(days=2, hours=8)
    ticket = await pause_ticket(
        ticket.id,
        "staff:1",
        opened + timedelta(hours=2),
        until=visit,
        appointment=visit,
        elapsed=counted_on(CALENDAR),
    )
    # Past the promised time but before the visit: not late, the clock stopped.
    assert not late(ticket, due + timedelta(hours=5), CALENDAR).resolve
    # The clock restarts at the visit: it had run 2 hours, 22 are left.
    assert paused_for(ticket, visit + timedelta(hours=1), CALENDAR) == visit - (
        opened + timedelta(hours=2)
    )
    assert not late(ticket, visit + timedelta(hours=21), CALENDAR).resolve
    assert late(ticket, visit + timedelta(hours=23), CALENDAR).resolve
    # The response promise is not paused: nobody took it in 15 minutes.
    assert late(ticket, opened + timedelta(hours=1), CALENDAR).response


def test_a_pause_of_an_office_time_ticket_counts_office_hours_only() -> None:
    # Due Thursday 2 April 2026, 17:15; waiting from 17:00 to Tuesday 7 April 10:00, over
    # 清明 (Saturday 4 to Monday 6 April): 15 minutes were left when it stopped.
    thursday, tuesday = local(2026, 4, 2, 17, 0), local(2026, 4, 7, 10, 0)
    ticket = Ticket(
        office_time=True,
        due_resolve_at=local(2026, 4, 2, 17, 15),
        paused_seconds=0,
        paused_at=thursday,
        paused_until=None,
    )
    # Thursday 17:00-17:30, Friday's 9 hours, Tuesday 08:30-10:00: 11 office hours.
    assert elapsed(ticket, thursday, tuesday, CALENDAR) == timedelta(hours=11)
    assert paused_for(ticket, tuesday, CALENDAR) == timedelta(hours=11)
    assert resolve_due(ticket, tuesday, CALENDAR) == local(2026, 4, 7, 10, 15)
    # A deadline at closing time moves into the next open day; nothing paused moves nothing.
    assert moved_on(ticket, local(2026, 4, 3, 17, 30), HOUR, CALENDAR) == local(2026, 4, 7, 9, 30)
    assert moved_on(ticket, local(2026, 4, 3, 17, 30), timedelta(), CALENDAR) == local(
        2026, 4, 3, 17, 30
    )
    # Round the clock, the same pause counts every hour of it.
    wall = Ticket(office_time=False, due_resolve_at=ticket.due_resolve_at, paused_seconds=0)
    assert elapsed(wall, thursday, tuesday, CALENDAR) == tuesday - thursday
    assert moved_on(wall, wall.due_resolve_at, HOUR, CALENDAR) == local(2026, 4, 2, 18, 15)


def test_the_events_say_which_pauses_ended() -> None:
    def event(kind: EventKind, hour: int, **data: str) -> TicketEvent:
        return TicketEvent(kind=kind, at=local(2026, 11, 23, hour, 0), data=data)

    visit = local(2026, 11, 23, 12, 0)
    events = [
        event(EventKind.PAUSED, 8),  # replaced by the appointment at 9: ended at 9
        event(EventKind.PAUSED, 9, until=visit.isoformat()),
        event(EventKind.CLAIMED, 13),
        event(EventKind.RESUMED, 14),  # after the visit: that pause ended at the visit
        event(EventKind.PAUSED, 15),  # still running: not ended
    ]
    assert ended_pauses(events) == [
        (local(2026, 11, 23, 8, 0), local(2026, 11, 23, 9, 0)),
        (local(2026, 11, 23, 9, 0), visit),
    ]
    assert recounted_pauses(events, False, CALENDAR) == 4 * 3600
    assert recounted_pauses(events, True, CALENDAR) == 3 * 3600 + 30 * 60  # from 08:30
    # A reopening clears the pauses before it.
    assert ended_pauses([*events[:4], event(EventKind.REOPENED, 16)]) == []


async def test_waiting_for_the_owner_until_restarted_keeps_the_paused_time(store: str) -> None:
    estate = await make_estate()
    opened = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    ticket = await make_ticket(estate, now=opened)
    ticket = await pause_ticket(
        ticket.id, "staff:1", opened + timedelta(hours=1), elapsed=counted_on(CALENDAR)
    )
    assert not late(
        ticket, opened + timedelta(days=10), CALENDAR
    ).resolve  # waits as long as it takes
    resumed = await resume_ticket(
        ticket.id, "staff:1", opened + timedelta(hours=31), elapsed=counted_on(CALENDAR)
    )
    assert resumed is not None and resumed.paused_seconds == 30 * 3600
    assert resumed.status is TicketStatus.OPEN
    assert not late(resumed, opened + timedelta(hours=53), CALENDAR).resolve
    assert late(resumed, opened + timedelta(hours=55), CALENDAR).resolve
    # Restarting a running clock changes nothing.
    assert (
        await resume_ticket(
            ticket.id, "staff:1", opened + timedelta(hours=32), elapsed=counted_on(CALENDAR)
        )
        is None
    )
