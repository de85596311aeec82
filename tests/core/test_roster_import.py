"""The estate workbook's duty roster sheet (值班表): read, checked against the staff of the file
and the store, written as shifts in the estate's time zone, all or nothing."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.core import roster
from bot.core.estate_import import ImportFailed, import_estate
from models import Department, DutyShift, Estate, Staff, StaffRole
from tests.core.test_estate_import import good_sheets, write_workbook

SHANGHAI = ZoneInfo("Asia/Shanghai")

ROSTER_SHEET = [
    ["日期", "开始", "结束", "部门", "值班人", "备注"],
    ["2026-12-08", "08:00", "20:00", "工程部", "张师傅", None],
    [datetime(2026, 12, 8), time(20, 0), time(8, 0), "工程", "刘师傅", "夜班"],
    ["2026-12-08", "8点", "8点", "秩序维护部", "吴军", "24 小时"],
]


def with_roster(rows: list[list[object]]) -> dict[str, list[list[object]]]:
    sheets = good_sheets()
    sheets["员工"].append(["刘师傅", "工程", "工程部", None])
    sheets["员工"].append(["孙经理", "项目经理", "客服部", None])
    sheets["值班表"] = rows
    return sheets


async def test_a_roster_sheet_becomes_shifts_in_the_estates_time_zone(
    store: str, tmp_path: Path
) -> None:
    path = write_workbook(tmp_path / "estate.xlsx", with_roster(ROSTER_SHEET))

    report = await import_estate(path, "sunny", "阳光花园")

    assert report.roster == 3 and report.staff == 5
    estate = await Estate.get(code="sunny")
    assert (await Staff.get(name="孙经理")).role is StaffRole.MANAGER
    shifts = [
        (
            s.staff.name,
            s.department,
            s.starts_at.astimezone(SHANGHAI),
            s.ends_at.astimezone(SHANGHAI),
        )
        for s in await DutyShift.filter(estate_id=estate.id)
        .order_by("id")
        .prefetch_related("staff")
    ]
    assert shifts == [
        (
            "张师傅",
            Department.ENGINEERING,
            datetime(2026, 12, 8, 8, tzinfo=SHANGHAI),
            datetime(2026, 12, 8, 20, tzinfo=SHANGHAI),
        ),
        (  # a night shift ends the next morning
            "刘师傅",
            Department.ENGINEERING,
            datetime(2026, 12, 8, 20, tzinfo=SHANGHAI),
            datetime(2026, 12, 9, 8, tzinfo=SHANGHAI),
        ),
        (  # the same start and end: a whole day and night
            "吴军",
            Department.SECURITY,
            datetime(2026, 12, 8, 8, tzinfo=SHANGHAI),
            datetime(2026, 12, 9, 8, tzinfo=SHANGHAI),
        ),
    ]
    at_three = datetime(2026, 12, 9, 3, tzinfo=SHANGHAI)
    on = await roster.on_duty_at(estate.id, Department.ENGINEERING, at_three)
    assert [m.name for m in on] == ["刘师傅"]


async def test_a_bad_roster_row_is_reported_and_nothing_is_written(
    store: str, tmp_path: Path
) -> None:
    rows = [
        *ROSTER_SHEET,
        ["2026-12-09", "25:00", "08:00", "工程部", "张师傅", None],  # no such hour
        ["2026-12-09", "08:00", "20:00", "食堂", "张师傅", None],  # no such department
        ["2026-12-09", "08:00", "20:00", "工程部", "赵六", None],  # nobody of that name
        ["2026-12-08", "08:00", "18:00", "工程部", "张师傅", None],  # the same start twice
    ]
    path = write_workbook(tmp_path / "estate.xlsx", with_roster(rows))

    with pytest.raises(ImportFailed) as failed:
        await import_estate(path, "sunny")

    problems = {(e.sheet, e.row): e.reason for e in failed.value.errors}
    assert "not a time of day" in problems[("值班表", 5)]
    assert "unknown value '食堂'" in problems[("值班表", 6)]
    assert "赵六 is neither in the staff sheet nor the estate" in problems[("值班表", 7)]
    assert "duplicate shift of 张师傅 (also row 2)" in problems[("值班表", 8)]
    assert await Estate.all().count() == 0 and await DutyShift.all().count() == 0


async def test_a_second_import_adds_shifts_for_staff_already_in_the_store(
    store: str, tmp_path: Path
) -> None:
    await import_estate(write_workbook(tmp_path / "a.xlsx", with_roster(ROSTER_SHEET)), "sunny")
    later = {"值班": [ROSTER_SHEET[0], ["2026-12-09", "08:00", "20:00", "工程部", "刘师傅", None]]}

    report = await import_estate(write_workbook(tmp_path / "b.xlsx", later), "sunny")

    assert report.roster == 1 and await DutyShift.all().count() == 4
    again = write_workbook(tmp_path / "c.xlsx", later)
    with pytest.raises(ImportFailed, match="刘师傅's shift at this time already exists"):
        await import_estate(again, "sunny")
