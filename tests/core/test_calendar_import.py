"""The estate workbook's calendar sheets: office hours, closed days and targets, built here with
openpyxl, imported, and what a bad row does (nothing is written)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from bot.core.calendar import Hours, load_calendar, promised_times
from bot.core.estate_import import ImportFailed, import_estate
from models import ClosedDay, Estate, OfficeHours, ServiceTarget, TicketKind
from tests.factories import make_estate

SHANGHAI = ZoneInfo("Asia/Shanghai")


def workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


CALENDAR_SHEETS: dict[str, list[list[object]]] = {
    "办公时间": [
        ["星期", "上班", "下班"],
        ["周一", "08:30", "17:30"],
        ["周二", "08:30", "17:30"],
        ["周三", "08:30", "17:30"],
        ["周四", "08:30", "17:30"],
        ["周五", "08:30", "17:30"],
        ["周六", time(9, 0), time(12, 0)],  # an Excel time cell
    ],
    "休息日": [["日期", "原因"], [date(2026, 11, 27), "员工培训"]],
    "服务时限": [
        ["类型", "紧急", "等级", "响应分钟", "完成分钟", "按办公时间"],
        ["报修", "否", "", 15, 480, "是"],
        ["报修", "是", "", 5, 240, "否"],
        ["投诉", "否", "严重", 30, 480, "否"],
        ["投诉", "否", "重要", 120, 960, "是"],
        ["投诉", "否", "一般", 240, 1440, "是"],
        ["咨询", "否", "", 240, 240, "是"],
    ],
}


async def test_the_calendar_sheets_are_imported_and_used(store: str, tmp_path: Path) -> None:
    estate = await make_estate()
    path = workbook(tmp_path / "estate.xlsx", CALENDAR_SHEETS)

    report = await import_estate(path, estate.code)

    assert (report.office_hours, report.closed_days, report.targets) == (6, 1, 6)
    calendar = await load_calendar(estate)
    assert calendar.hours[5] == Hours(time(9), time(12))
    assert 6 not in calendar.hours
    assert calendar.closed_days == frozenset({date(2026, 11, 27)})
    # Friday 27 November is the estate's closed day: of a repair's 15 minutes from Thursday
    # 17:20, 10 run on Thursday and 5 on Saturday morning.
    thursday = datetime(2026, 11, 26, 17, 20, tzinfo=SHANGHAI)
    promise = await promised_times(estate, TicketKind.REPAIR, False, "", thursday)
    assert promise.respond_by == datetime(2026, 11, 28, 9, 5, tzinfo=SHANGHAI)
    assert promise.office_time
    serious = await promised_times(estate, TicketKind.COMPLAINT, False, "serious", thursday)
    assert serious.respond_by == thursday + timedelta(minutes=30)


async def test_importing_the_sheets_again_replaces_them(store: str, tmp_path: Path) -> None:
    estate = await make_estate()
    await import_estate(workbook(tmp_path / "one.xlsx", CALENDAR_SHEETS), estate.code)
    again = {
        "targets": [
            ["kind", "urgent", "respond_minutes", "resolve_minutes"],
            ["repair", "no", 30, 600],
        ]
    }
    await import_estate(workbook(tmp_path / "two.xlsx", again), estate.code)

    targets = await ServiceTarget.filter(estate_id=estate.id)
    assert [(t.kind, t.respond_minutes, t.office_time) for t in targets] == [
        (TicketKind.REPAIR, 30, False)
    ]
    # The sheets the second file did not have are as they were.
    assert await OfficeHours.filter(estate_id=estate.id).count() == 6
    assert await ClosedDay.filter(estate_id=estate.id).count() == 1


async def test_bad_calendar_rows_are_reported_and_nothing_is_written(
    store: str, tmp_path: Path
) -> None:
    estate = await make_estate()
    bad = {
        "office hours": [
            ["weekday", "opens", "closes"],
            ["Funday", "08:30", "17:30"],
            ["mon", "18:00", "09:00"],
            ["tue", "8.30", "17:30"],
            ["wed", "08:30", "17:30"],
            ["wednesday", "09:00", "17:00"],
        ],
        "closed days": [["day"], ["2026-13-01"]],
        "targets": [
            ["kind", "urgent", "severity", "respond_minutes", "resolve_minutes"],
            ["repair", "no", "serious", 15, 480],
            ["complaint", "no", "", 0, 60],
            ["enquiry", "no", "", 120, 60],
            ["party", "no", "", 10, 60],
        ],
    }
    with pytest.raises(ImportFailed) as failed:
        await import_estate(workbook(tmp_path / "bad.xlsx", bad), estate.code)

    problems = {(e.sheet, e.row): e.reason for e in failed.value.errors}
    assert "unknown value 'funday'" in problems[("office hours", 2)]
    assert "not after the opening time" in problems[("office hours", 3)]
    assert "not a time" in problems[("office hours", 4)]
    assert "same weekday" in problems[("office hours", 6)]
    assert "not a date" in problems[("closed days", 2)]
    assert "only complaints have a severity" in problems[("targets", 2)]
    assert "whole number of minutes" in problems[("targets", 3)]
    assert "shorter than the time to respond" in problems[("targets", 4)]
    assert "unknown value 'party'" in problems[("targets", 5)]
    assert await OfficeHours.all().count() == 0
    assert await ClosedDay.all().count() == 0
    assert await ServiceTarget.all().count() == 0
    assert await Estate.all().count() == 1
