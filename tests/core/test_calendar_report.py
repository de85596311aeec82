"""The month report counts what the calendar says: on-time rates per department and per staff
member against the targets that applied, the time waiting on the owner excluded."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.calendar import load_calendar, promised_times
from bot.core.i18n import Catalogues
from bot.core.promises import counted_on
from bot.core.reports import OnTime, OnTimeBy, month_report, render_text
from models import (
    Department,
    Estate,
    Platform,
    ServiceTarget,
    StaffRole,
    Ticket,
    TicketKind,
)
from models.lifecycle import claim_ticket, open_ticket, pause_ticket, resolve_ticket
from tests.factories import make_estate, make_staff

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)  # type: ignore[misc]


async def opened(estate: Estate, kind: TicketKind, department: Department, at: datetime) -> Ticket:
    promise = await promised_times(estate, kind, False, "", at)
    return await open_ticket(
        estate=estate,
        kind=kind,
        department=department,
        text="厨房水管漏水了" if kind is TicketKind.REPAIR else "保安态度差",
        platform=Platform.WEBCHAT,
        chat_id="owners",
        message_id=f"m-{at.isoformat()}",
        reporter_id="u1",
        now=at,
        due=(promise.respond_by, promise.resolve_by),
        office_time=promise.office_time,
    )


async def test_on_time_per_department_and_staff_with_pauses_excluded(store: str) -> None:
    estate = await make_estate()
    await ServiceTarget.create(
        estate=estate,
        kind=TicketKind.REPAIR,
        respond_minutes=15,
        resolve_minutes=480,
        office_time=True,
    )
    zhang = await make_staff(estate, "张工", StaffRole.ENGINEER, Department.ENGINEERING)
    li = await make_staff(estate, "李工", StaffRole.ENGINEER, Department.ENGINEERING)
    wu = await make_staff(estate, "吴主管", StaffRole.SUPERVISOR, Department.SECURITY)

    # Friday 6 November 2026, 17:55: due Monday 08:45 (response) and 16:30 (done), office time.
    friday = local(2026, 11, 6, 17, 55)
    first = await opened(estate, TicketKind.REPAIR, Department.ENGINEERING, friday)
    assert first.due_response_at == local(2026, 11, 9, 8, 45)
    await claim_ticket(first.id, zhang, local(2026, 11, 9, 8, 40))
    # Waiting on the owner from Monday 09:00 to an appointment on Tuesday 16:00: 31 hours, 16
    # of them office hours (Monday 09:00-17:30, Tuesday 08:30-16:00).
    await pause_ticket(
        first.id,
        "staff:1",
        local(2026, 11, 9, 9, 0),
        until=local(2026, 11, 10, 16, 0),
        appointment=local(2026, 11, 10, 16, 0),
        elapsed=counted_on(await load_calendar(estate)),
    )
    # Done Wednesday 10:00: past Monday 16:30, but within it moved on by the 16 office hours
    # paused (the 7 hours 30 minutes left run from Tuesday 16:00 to Wednesday 14:30). Counted
    # in wall time, as it once was, it would be late (Monday 16:30 + 31 hours: Tuesday 23:30).
    await resolve_ticket(first.id, zhang, "换了水管", local(2026, 11, 11, 10, 0))

    # A second repair, taken late by 李工 and done late.
    second = await opened(
        estate, TicketKind.REPAIR, Department.ENGINEERING, local(2026, 11, 16, 9, 0)
    )
    await claim_ticket(second.id, li, local(2026, 11, 16, 10, 0))
    await resolve_ticket(second.id, li, "修好了", local(2026, 11, 17, 12, 0))

    # A complaint (no targets row: 24 hours round the clock) answered in time by 吴主管.
    complaint = await opened(
        estate, TicketKind.COMPLAINT, Department.SECURITY, local(2026, 11, 20, 20, 0)
    )
    await resolve_ticket(complaint.id, wu, "已处理", local(2026, 11, 21, 9, 0))

    report = await month_report(estate, "2026-11", local(2026, 12, 1, 9, 0))

    assert report.repair.response == OnTime(kept=1, due=2)
    assert report.repair.resolve == OnTime(kept=1, due=2)  # the paused one kept its promise
    assert report.by_department == (
        OnTimeBy("engineering", OnTime(1, 2), OnTime(1, 2)),
        OnTimeBy("security", OnTime(1, 1), OnTime(1, 1)),
    )
    assert report.by_staff == (
        OnTimeBy("吴主管", OnTime(1, 1), OnTime(1, 1)),
        OnTimeBy("张工", OnTime(1, 1), OnTime(1, 1)),
        OnTimeBy("李工", OnTime(0, 1), OnTime(0, 1)),
    )
    text = render_text(report, Catalogues(), "zh")
    assert "各部门及时率" in text
    assert "  工程部：响应 1/2（50%），完成 1/2（50%）" in text.splitlines()
    assert "  李工：响应 0/1（0%），完成 0/1（0%）" in text.splitlines()
    english = render_text(report, Catalogues(), "en")
    assert "On time per staff member" in english


async def test_without_the_pause_the_same_repair_would_be_late(store: str) -> None:
    estate = await make_estate()
    zhang = await make_staff(estate, "张工", StaffRole.ENGINEER, Department.ENGINEERING)
    start = local(2026, 11, 9, 9, 0)
    ticket = await opened(estate, TicketKind.REPAIR, Department.ENGINEERING, start)
    await claim_ticket(ticket.id, zhang, start + timedelta(minutes=5))
    await resolve_ticket(ticket.id, zhang, "好了", start + timedelta(hours=30))
    report = await month_report(estate, "2026-11", local(2026, 12, 1, 9, 0))
    assert report.repair.resolve == OnTime(kept=0, due=1)
