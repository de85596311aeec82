"""Importing an estate from a workbook or CSV folder: good files, bad files, all or nothing."""

from __future__ import annotations

import csv
import logging
import re
import zipfile
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from openpyxl.reader.excel import ExcelReader
from openpyxl.worksheet._reader import WorkSheetParser
from tortoise import connections

from bot.core.estate_import import (
    HEADER_SEARCH_ROWS,
    MAX_ROWS,
    ImportFailed,
    ImportLimits,
    RowError,
    import_estate,
    normalize_building,
    normalize_entrance,
    normalize_room,
    parse_unit_label,
    read_estate,
)
from bot.core.i18n import Catalogues
from models import (
    Bill,
    BillItem,
    Department,
    Entrance,
    Estate,
    FaqEntry,
    Owner,
    Staff,
    StaffRole,
    Unit,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
Sheets = dict[str, list[list[Any]]]


def good_sheets() -> Sheets:
    """A small estate with Chinese sheet names and headers, written as a manager would."""
    return {
        "房屋": [
            ["楼栋", "单元", "房号", "建筑面积(㎡)", "保修截止"],
            ["3栋", "2单元", "501室", 89.5, datetime(2027, 6, 30)],
            ["3", "2", "502", 126.8, "2027-06-30"],
            ["12号楼", None, 1801, "143.25", None],
            ["b座", 1, 1202, None, None],
        ],
        "业主": [
            ["业主姓名", "电话", "房屋", "语言"],
            ["张三", 13800000001, "3-2-501，3-2-502", "zh"],
            ["李四", "13800000002", "3-2-501", None],
            ["David Miller", "138 0000 0003", "12-1801", "en"],
        ],
        "员工": [
            ["姓名", "岗位", "部门", "电话"],
            ["王静", "客服", "客服部", "13900000001"],
            ["张师傅", "工程", "工程部", None],
            ["吴军", "保安", "秩序维护部", "13900000003"],
        ],
        "账单": [
            ["房屋", "账期", "项目", "金额", "到期日", "缴费时间"],
            [
                "3-2-501",
                "2026-10",
                "物业费",
                250.6,
                datetime(2026, 10, 15),
                datetime(2026, 10, 3, 9),
            ],
            ["3-2-501", datetime(2026, 11, 1), "停车费", "300.00", "2026-11-15", None],
            ["3-2-502", "2026-11", "物业费", 355.04, "2026-11-15", "2026-11-02"],
            ["12-1801", "2026-11", "物业费", 0.1, "2026-11-15", None],
        ],
        "常见问题": [
            ["问题", "回答", "语言"],
            ["物业办公室几点上班？", "每天 8:30–17:30。", "zh"],
            ["What are the office hours?", "Daily 8:30–17:30.", "en"],
        ],
    }


def write_workbook(path: Path, sheets: Sheets) -> Path:
    """Write the sheets into a new .xlsx workbook (Excel's default empty sheet left in)."""
    workbook = openpyxl.Workbook()
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path


def write_csv_folder(folder: Path, files: dict[str, list[list[str]]], bom: bool = True) -> Path:
    """Write one CSV file per entry (UTF-8 with a BOM, as Excel saves it, unless told not)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        encoding = "utf-8-sig" if bom else "utf-8"
        with (folder / name).open("w", encoding=encoding, newline="") as handle:
            csv.writer(handle).writerows(rows)
    return folder


async def table_counts(backend: str) -> dict[str, int]:
    """The number of rows of every table in the store, from the database's own catalogue."""
    connection = connections.get("default")
    if backend == "postgres":
        query = "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
    else:
        # sqlite_sequence counts ids ever given, not rows: an undone write still advances it.
        query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'sqlite_sequence'"
    names = [row["name"] for row in await connection.execute_query_dict(query)]
    counts = {}
    for name in sorted(names):
        rows = await connection.execute_query_dict(f'SELECT COUNT(*) AS n FROM "{name}"')
        counts[name] = rows[0]["n"]
    return counts


async def labels_of(owner: Owner) -> set[str]:
    return {unit.label for unit in await owner.units.all()}


# ---------------------------------------------------------------------------------------------
# Normalising units


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("3栋", "3"), ("03", "3"), ("三号楼", "3"), ("b座", "B"), ("12幢", "12"), ("Block 5", "5")],
)
def test_buildings_are_normalised_as_owners_write_them(raw: str, expected: str) -> None:
    assert normalize_building(raw) == expected


def test_entrances_and_rooms_are_normalised() -> None:
    assert [normalize_entrance(raw) for raw in ("2单元", "02", "二单元", "a")] == ["2"] * 3 + ["A"]
    assert [normalize_room(raw) for raw in ("501室", "1202房", "12b", "0501")] == [
        "501",
        "1202",
        "12B",
        "0501",
    ]


def test_unit_labels_are_parsed_in_both_forms() -> None:
    assert parse_unit_label("3-2-501") == "3-2-501"
    assert parse_unit_label("3栋-2单元-501室") == "3-2-501"
    assert parse_unit_label("12-1801") == "12-1801"
    assert parse_unit_label("b－1202") == "B-1202"
    assert parse_unit_label("501") is None
    assert parse_unit_label("1-2-3-4") is None


# ---------------------------------------------------------------------------------------------
# Good files


async def test_a_good_workbook_with_chinese_headers_is_imported(
    store: str, tmp_path: Path
) -> None:
    path = write_workbook(tmp_path / "estate.xlsx", good_sheets())

    report = await import_estate(path, "sunny", "阳光花园")

    assert (report.estate_created, report.units, report.units_reused) == (True, 4, 0)
    assert (report.owners, report.staff, report.bills, report.faq) == (3, 3, 4, 2)
    estate = await Estate.get(code="sunny")
    assert estate.name == "阳光花园"

    units = {unit.label: unit for unit in await Unit.filter(estate_id=estate.id)}
    assert set(units) == {"3-2-501", "3-2-502", "12-1801", "B-1-1202"}
    assert units["3-2-501"].floor_area == Decimal("89.50")
    assert units["12-1801"].floor_area == Decimal("143.25")
    assert units["B-1-1202"].floor_area is None
    assert units["3-2-501"].warranty_end == date(2027, 6, 30)
    assert units["3-2-502"].warranty_end == date(2027, 6, 30)
    assert units["12-1801"].entrance_id is None
    assert await Entrance.filter(building__estate_id=estate.id).count() == 2

    zhang = await Owner.get(estate_id=estate.id, name="张三")
    assert zhang.phone == "13800000001"
    assert await labels_of(zhang) == {"3-2-501", "3-2-502"}
    owners_of_501 = await units["3-2-501"].owners.all()
    assert sorted(owner.name for owner in owners_of_501) == ["张三", "李四"]
    david = await Owner.get(estate_id=estate.id, name="David Miller")
    assert (david.phone, david.language) == ("13800000003", "en")

    staff = {s.name: (s.role, s.department) for s in await Staff.filter(estate_id=estate.id)}
    assert staff == {
        "王静": (StaffRole.CLERK, Department.CUSTOMER_SERVICE),
        "张师傅": (StaffRole.ENGINEER, Department.ENGINEERING),
        "吴军": (StaffRole.GUARD, Department.SECURITY),
    }

    bills = {
        (bill.unit.label, bill.period, bill.item): bill
        for bill in await Bill.filter(unit__estate_id=estate.id).prefetch_related("unit")
    }
    fee = bills[("3-2-501", "2026-10", BillItem.PROPERTY_FEE)]
    assert fee.amount_cents == 25060
    assert fee.due_date == date(2026, 10, 15)
    assert fee.paid_at == datetime(2026, 10, 3, 9, tzinfo=SHANGHAI)
    parking = bills[("3-2-501", "2026-11", BillItem.PARKING)]
    assert (parking.amount_cents, parking.paid_at) == (30000, None)
    assert bills[("3-2-502", "2026-11", BillItem.PROPERTY_FEE)].amount_cents == 35504
    assert bills[("12-1801", "2026-11", BillItem.PROPERTY_FEE)].amount_cents == 10

    faq = {(f.language, f.question) for f in await FaqEntry.filter(estate_id=estate.id)}
    assert faq == {("zh", "物业办公室几点上班？"), ("en", "What are the office hours?")}


async def test_a_good_csv_folder_with_english_headers_is_imported(
    store: str, tmp_path: Path
) -> None:
    folder = write_csv_folder(
        tmp_path / "estate",
        {
            "Units.csv": [
                ["Building", "Entrance", "Room", "Floor area (m²)", "Warranty end"],
                ["1", "1", "101", "89.50", "2027-01-31"],
                ["1", "1", "102", "126.8", ""],
                ["2", "", "1801", "", ""],
            ],
            "owners.csv": [
                ["owner_name", "phone", "units", "language"],
                ["Wang Fang", "13800000011", "1-1-101; 1-1-102", "zh"],
                ["Emily Brown", "13800000012", "1-1-101", "en"],
                ["Chen Jie", "", "2-1801", ""],
            ],
            "staff.csv": [
                ["name", "role", "department", "phone"],
                ["Li Na", "supervisor", "customer_service", "13900000010"],
                ["Huang Ming", "gardener", "greening", ""],
                ["Sun Li", "cleaner", "cleaning", ""],
            ],
            "bills.csv": [
                [
                    "building",
                    "entrance",
                    "room",
                    "period",
                    "item",
                    "amount",
                    "due_date",
                    "paid_at",
                ],
                ["1", "1", "101", "2026-11", "property_fee", "1234.56", "2026-11-15", ""],
                ["1", "1", "101", "2026-11", "water", "19.99", "2026-11-15", "2026-11-05 18:30"],
                ["2", "", "1801", "2026-11", "heating", "¥1,000.00", "2026-11-15", ""],
            ],
            "faq.csv": [
                ["question", "answer", "language"],
                ["Can I keep a dog?", "Yes, on a lead.", "en"],
                ["可以养狗吗？", "可以，请拴绳。", "zh"],
            ],
        },
    )

    report = await import_estate(folder, "csv-estate")

    assert (report.units, report.owners, report.staff, report.bills, report.faq) == (3, 3, 3, 3, 2)
    estate = await Estate.get(code="csv-estate")
    assert estate.name == "csv-estate"
    wang = await Owner.get(estate_id=estate.id, name="Wang Fang")
    assert await labels_of(wang) == {"1-1-101", "1-1-102"}
    unit = await Unit.get(estate_id=estate.id, label="1-1-101")
    assert unit.floor_area == Decimal("89.50")
    assert unit.warranty_end == date(2027, 1, 31)
    assert sorted(owner.name for owner in await unit.owners.all()) == ["Emily Brown", "Wang Fang"]
    assert (await Owner.get(estate_id=estate.id, name="Emily Brown")).language == "en"
    cents = {
        bill.item: (bill.amount_cents, bill.paid_at)
        for bill in await Bill.filter(unit__estate_id=estate.id)
    }
    assert cents == {
        BillItem.PROPERTY_FEE: (123456, None),
        BillItem.WATER: (1999, datetime(2026, 11, 5, 18, 30, tzinfo=SHANGHAI)),
        BillItem.HEATING: (100000, None),
    }
    roles = {s.role for s in await Staff.filter(estate_id=estate.id)}
    assert roles == {StaffRole.SUPERVISOR, StaffRole.GARDENER, StaffRole.CLEANER}


async def test_a_csv_folder_without_a_bom_reads_the_same(store: str, tmp_path: Path) -> None:
    folder = write_csv_folder(
        tmp_path / "plain",
        {"房屋.csv": [["楼栋", "单元", "房号"], ["7", "1", "301"]]},
        bom=False,
    )

    report = await import_estate(folder, "plain")

    assert report.units == 1
    assert await Unit.filter(label="7-1-301").exists()


async def test_a_second_import_reuses_existing_units(store: str, tmp_path: Path) -> None:
    await import_estate(write_workbook(tmp_path / "first.xlsx", good_sheets()), "sunny")
    second = write_workbook(
        tmp_path / "second.xlsx",
        {
            "units": [["building", "entrance", "room", "floor_area"], ["3", "2", "501", 89.5]],
            "owners": [["owner_name", "phone", "units"], ["王五", "13800000009", "3-2-502"]],
            "bills": [
                ["unit", "period", "item", "amount", "due_date"],
                ["3-2-501", "2026-12", "property_fee", 250.6, "2026-12-15"],
            ],
        },
    )

    report = await import_estate(second, "sunny")

    assert (report.estate_created, report.units, report.units_reused) == (False, 0, 1)
    assert (report.owners, report.bills) == (1, 1)
    assert await Unit.filter(estate__code="sunny").count() == 4
    wang = await Owner.get(name="王五")
    assert await labels_of(wang) == {"3-2-502"}


# ---------------------------------------------------------------------------------------------
# Bad files: every problem reported with sheet, row and reason, and nothing written


def with_changes(changes: dict[str, dict[int, list[Any]]]) -> Sheets:
    """The good sheets with some rows replaced (row numbers as in Excel: 1 is the header)."""
    sheets = good_sheets()
    for title, rows in changes.items():
        for number, row in rows.items():
            if number > len(sheets[title]):
                sheets[title].append(row)
            else:
                sheets[title][number - 1] = row
    return sheets


BAD_CASES: dict[str, tuple[Sheets, list[tuple[str, int, str]]]] = {
    "wrong header": (
        with_changes({"账单": {1: ["房屋", "账期", "项目", "金钱", "到期日", "缴费时间"]}}),
        [
            ("账单", 1, "unknown column '金钱'"),
            ("账单", 1, "missing column 'amount' (金额)"),
        ],
    ),
    "missing header": (
        with_changes({"员工": {1: ["姓名", "部门", "电话"], 2: ["王静", "客服部", "139"]}}),
        [("员工", 1, "missing column 'role' (岗位)")],
    ),
    "unit that does not exist": (
        with_changes(
            {
                "业主": {5: ["赵六", "13800000005", "3-2-501 9-9-909"]},
                "账单": {6: ["12-1802", "2026-11", "物业费", 10, "2026-11-15", None]},
            }
        ),
        [
            ("业主", 5, "unit 9-9-909 does not exist"),
            ("账单", 6, "unit 12-1802 does not exist"),
        ],
    ),
    "negative amount": (
        with_changes({"账单": {3: ["3-2-501", "2026-11", "停车费", "-300", "2026-11-15", None]}}),
        [("账单", 3, "金额: negative: '-300'")],
    ),
    "malformed amount": (
        with_changes(
            {"账单": {4: ["3-2-502", "2026-11", "物业费", "35.504", "2026-11-15", None]}}
        ),
        [("账单", 4, "金额: more than 2 decimals: '35.504'")],
    ),
    "duplicate owner in the file": (
        with_changes({"业主": {5: ["张三", "13800000001", "3-2-502"]}}),
        [("业主", 5, "duplicate owner 张三 (also row 2)")],
    ),
    "bad date": (
        with_changes({"账单": {2: ["3-2-501", "2026-10", "物业费", 250.6, "2026-13-01", None]}}),
        [("账单", 2, "到期日: not a date (YYYY-MM-DD): '2026-13-01'")],
    ),
    "bad period": (
        with_changes({"账单": {5: ["12-1801", "2026/13", "物业费", 1, "2026-11-15", None]}}),
        [("账单", 5, "账期: not a period (YYYY-MM): '2026/13'")],
    ),
    "unknown role, department and item": (
        with_changes(
            {
                "员工": {4: ["吴军", "厨师", "餐饮部", None]},
                "账单": {5: ["12-1801", "2026-11", "网费", 1, "2026-11-15", None]},
            }
        ),
        [
            ("员工", 4, "岗位: unknown value '厨师'; 部门: unknown value '餐饮部'"),
            ("账单", 5, "项目: unknown value '网费'"),
        ],
    ),
    "duplicate unit and bill": (
        with_changes(
            {
                "房屋": {6: ["3", "2", "501", None, None]},
                "账单": {6: ["3-2-502", "2026-11", "物业费", 1, "2026-11-15", None]},
            }
        ),
        [
            ("房屋", 6, "duplicate unit 3-2-501 (also row 2)"),
            ("账单", 6, "duplicate property_fee bill of 3-2-502 for 2026-11 (also row 4)"),
        ],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
async def test_a_bad_workbook_is_reported_and_nothing_is_written(
    store: str, tmp_path: Path, case: str
) -> None:
    # Another estate is in the store already, with the very same units: they do not count.
    await import_estate(write_workbook(tmp_path / "other.xlsx", good_sheets()), "other")
    sheets, expected = BAD_CASES[case]
    path = write_workbook(tmp_path / "bad.xlsx", sheets)
    before = await table_counts(store)

    with pytest.raises(ImportFailed) as failed:
        await import_estate(path, "sunny")

    assert failed.value.errors == [RowError(*error) for error in expected]
    for sheet, row, reason in expected:
        assert f"{sheet}, row {row}: {reason}" in str(failed.value)
    assert await table_counts(store) == before
    assert not await Estate.exists(code="sunny")


async def test_row_numbers_are_those_the_person_sees(store: str, tmp_path: Path) -> None:
    sheets = good_sheets()
    sheets["业主"][2:2] = [[None, None, None, None], []]  # two empty rows: 李四 moves to row 5
    sheets["业主"][4][1] = "call me"
    path = write_workbook(tmp_path / "gaps.xlsx", sheets)

    with pytest.raises(ImportFailed) as failed:
        await import_estate(path, "sunny")

    assert failed.value.errors == [RowError("业主", 5, "电话: not a phone number: 'call me'")]


async def test_an_owner_already_in_the_store_is_a_duplicate(store: str, tmp_path: Path) -> None:
    await import_estate(write_workbook(tmp_path / "first.xlsx", good_sheets()), "sunny")
    again = write_workbook(
        tmp_path / "again.xlsx",
        {
            "业主": [
                ["业主姓名", "电话", "房屋"],
                ["王五", "13800000009", "3-2-502"],
                ["李四", "13800000002", "3-2-501"],
            ],
            "账单": [
                ["房屋", "账期", "项目", "金额", "到期日"],
                ["3-2-502", "2026-11", "物业费", 355.04, "2026-11-15"],
            ],
        },
    )
    before = await table_counts(store)

    with pytest.raises(ImportFailed) as failed:
        await import_estate(again, "sunny")

    assert failed.value.errors == [
        RowError("业主", 3, "owner 李四 with this phone already exists"),
        RowError("账单", 2, "property_fee bill of 3-2-502 for 2026-11 already exists"),
    ]
    assert await table_counts(store) == before


async def test_problems_of_every_sheet_are_reported_together(store: str, tmp_path: Path) -> None:
    sheets = good_sheets()
    sheets["房屋"][2][3] = "lots"  # row 3: 3-2-502 has a bad area
    sheets["员工"][0][1] = "职位"  # an unknown header
    sheets["常见问题"].append(["", "没有问题的回答", "zh"])
    path = write_workbook(tmp_path / "many.xlsx", sheets)
    before = await table_counts(store)

    with pytest.raises(ImportFailed) as failed:
        await import_estate(path, "sunny")

    # 张三 and a bill name 3-2-502, whose row is bad: they are not reported again.
    assert failed.value.errors == [
        RowError("房屋", 3, "建筑面积(㎡): not a number: 'lots'"),
        RowError("员工", 1, "unknown column '职位'"),
        RowError("员工", 1, "missing column 'role' (岗位)"),
        RowError("常见问题", 4, "问题: missing"),
    ]
    assert await table_counts(store) == before


async def test_unknown_sheets_and_unreadable_files_are_refused(tmp_path: Path) -> None:
    # A sheet of no kind is read past (with a warning); with nothing else, nothing is imported.
    path = write_workbook(tmp_path / "odd.xlsx", {"车辆": [["车牌"], ["粤B12345"]]})
    reason = "no units, owners, staff, bills, faq, roster, hours, closed_days or targets sheet"
    assert read_estate(path)[1] == [RowError("odd.xlsx", 0, reason)]
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip file")
    [error] = read_estate(broken)[1]
    assert (error.sheet, error.row) == ("broken.xlsx", 0)
    assert error.reason == "not a whole .xlsx workbook: the file is damaged or cut short"
    gbk = tmp_path / "gbk"
    gbk.mkdir()
    (gbk / "业主.csv").write_bytes("业主姓名,电话,房屋\n张三,138,3-2-501\n".encode("gbk"))
    assert read_estate(gbk)[1] == [
        RowError("业主.csv", 0, "not UTF-8 text (save it as CSV UTF-8)")
    ]
    assert read_estate(tmp_path / "estate.txt")[1] == [
        RowError("estate.txt", 0, "not an .xlsx workbook or a folder of .csv files")
    ]


async def test_a_failure_while_writing_leaves_nothing_behind(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_workbook(tmp_path / "estate.xlsx", good_sheets())
    before = await table_counts(store)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk is full")

    # The FAQ is written last: units, owners, staff and bills were written (a chunk per
    # transaction) by then, and the failure takes them back.
    monkeypatch.setattr(FaqEntry, "bulk_create", broken)
    with pytest.raises(RuntimeError, match="the disk is full"):
        await import_estate(path, "sunny")

    assert await table_counts(store) == before


# ---------------------------------------------------------------------------------------------
# Hostile and oversized files: refused early, with bounded work

UNITS_HEADER = ["building", "room"]


def write_big_workbook(path: Path, rows: int, header: list[str] = UNITS_HEADER) -> Path:
    """A units sheet of `rows` rows under `header`, in well under a second.

    openpyxl's write-only mode writes the workbook, and no <dimension> element, so only counting
    can tell the sheet's size. It takes some 20 µs a row, so the rows under the header go into
    its sheet part as plain XML: the same unit again and again, unnumbered, as a hostile file
    holds them (2,000,000 such rows pack into a few hundred KB).
    """
    workbook = openpyxl.Workbook(write_only=True)
    workbook.create_sheet("units").append(header)
    workbook.save(path)
    sheet = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(path) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    head, tail = parts.pop(sheet).split(b"</sheetData>")
    row, batch = b"<row><c><v>1</v></c><c><v>101</v></c></row>", 10_000
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in parts.items():
            target.writestr(name, content)
        with target.open(sheet, "w") as member:
            member.write(head)
            for start in range(1, rows, batch):
                member.write(row * min(batch, rows - start))
            member.write(b"</sheetData>" + tail)
    return path


def rewrite_part(path: Path, part: str, change: Callable[[bytes], bytes]) -> Path:
    """Rewrite one part of a workbook in place, as a hand-made or hostile file would have it."""
    with zipfile.ZipFile(path) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    parts[part] = change(parts[part])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in parts.items():
            target.writestr(name, content)
    return path


MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
PACKAGE = "http://schemas.openxmlformats.org/package/2006"
OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
SPREADSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def write_excel_workbook(path: Path, title: str, rows: list[list[str]]) -> Path:
    """A one-sheet workbook with its text in a shared-strings table, as Excel writes it.

    openpyxl writes every string inline, so without this the shared strings would go untested.
    """
    strings = sorted({value for row in rows for value in row})
    index = {value: n for n, value in enumerate(strings)}
    sheet_rows = "".join(
        f'<row r="{r}">'
        + "".join(
            f'<c r="{chr(65 + c)}{r}" t="s"><v>{index[v]}</v></c>' for c, v in enumerate(row)
        )
        + "</row>"
        for r, row in enumerate(rows, start=1)
    )
    width = chr(64 + max(len(row) for row in rows))
    overrides = "".join(
        f'<Override PartName="/xl/{part}" ContentType="{SPREADSHEET}.{kind}+xml"/>'
        for part, kind in (
            ("workbook.xml", "sheet.main"),
            ("worksheets/sheet1.xml", "worksheet"),
            ("sharedStrings.xml", "sharedStrings"),
        )
    )
    parts = {
        "[Content_Types].xml": f'<Types xmlns="{PACKAGE}/content-types">'
        f'<Default Extension="rels" ContentType="{PACKAGE}/relationships+xml"/>'
        f'<Default Extension="xml" ContentType="application/xml"/>{overrides}</Types>',
        "_rels/.rels": f'<Relationships xmlns="{PACKAGE}/relationships">'
        f'<Relationship Id="rId1" Type="{OFFICE}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>",
        "xl/workbook.xml": f'<workbook xmlns="{MAIN}" xmlns:r="{OFFICE}"><sheets>'
        f'<sheet name="{title}" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{PACKAGE}/relationships">'
        f'<Relationship Id="rId1" Type="{OFFICE}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{OFFICE}/sharedStrings" Target="sharedStrings.xml"/>'
        "</Relationships>",
        "xl/sharedStrings.xml": f'<sst xmlns="{MAIN}" count="{len(strings)}">'
        + "".join(f"<si><t>{value}</t></si>" for value in strings)
        + "</sst>",
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{MAIN}">'
        f'<dimension ref="A1:{width}{len(rows)}"/><sheetData>{sheet_rows}</sheetData></worksheet>',
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return path


class Counter:
    """How many times something happened."""

    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def rows_parsed(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Counts the rows openpyxl parses from any worksheet, whoever asked for them."""
    counter = Counter()
    parse_row = WorkSheetParser.parse_row

    def counting(self: WorkSheetParser, row: Any) -> Any:
        counter.count += 1
        return parse_row(self, row)

    monkeypatch.setattr(WorkSheetParser, "parse_row", counting)
    return counter


@pytest.fixture(scope="module")
def two_million_rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workbook of the report: 2,000,000 rows in some 250 KB (built once)."""
    return write_big_workbook(tmp_path_factory.mktemp("big") / "two-million.xlsx", 2_000_000)


async def test_a_two_million_row_workbook_is_refused_at_the_row_limit(
    store: str, two_million_rows: Path, rows_parsed: Counter
) -> None:
    before = await table_counts(store)

    with pytest.raises(ImportFailed) as failed:
        await import_estate(two_million_rows, "sunny")

    assert failed.value.errors == [RowError("units", MAX_ROWS + 1, f"more than {MAX_ROWS} rows")]
    # Reading stopped at the limit: openpyxl parsed no row past it, out of 2,000,000.
    assert 0 < rows_parsed.count <= MAX_ROWS
    assert await table_counts(store) == before


def test_a_smaller_row_limit_stops_reading_sooner(
    tmp_path: Path, two_million_rows: Path, rows_parsed: Counter
) -> None:
    data, errors = read_estate(two_million_rows, ImportLimits(max_rows=1000))

    assert errors == [RowError("units", 1001, "more than 1000 rows")]
    assert rows_parsed.count <= 1000
    assert len(data.units) < 1000
    # A sheet right at the limit is read whole.
    exactly = write_big_workbook(tmp_path / "exactly.xlsx", 1000)
    data, errors = read_estate(exactly, ImportLimits(max_rows=1000))
    assert (errors, len(data.units)) == ([], 999)


def test_a_header_error_is_reported_without_reading_the_rest(
    tmp_path: Path, rows_parsed: Counter
) -> None:
    path = write_big_workbook(tmp_path / "bad-header.xlsx", 2_000_000, ["楼栋", "金钱"])

    _, errors = read_estate(path)

    assert errors == [
        RowError("units", 1, "unknown column '金钱'"),
        RowError("units", 1, "missing column 'room' (房号)"),
    ]
    # The rows the header is looked for in (below a title), and nothing under them.
    assert rows_parsed.count == HEADER_SEARCH_ROWS


DIMENSION = b'<dimension ref="A1:B3"/>'


@pytest.mark.parametrize(
    ("lie", "change"),
    [
        (
            "a dimension of 3 rows",
            lambda xml: xml.replace(b"<sheetData>", DIMENSION + b"<sheetData>"),
        ),
        ("every row numbered 2", lambda xml: xml.replace(b"<row>", b'<row r="2">')),
        ("a row numbered past the limit", lambda xml: xml.replace(b"<row>", b'<row r="9999">', 1)),
    ],
)
def test_a_sheet_that_lies_about_its_rows_is_stopped_at_the_limit(
    tmp_path: Path, rows_parsed: Counter, lie: str, change: Callable[[bytes], bytes]
) -> None:
    path = write_big_workbook(tmp_path / "lying.xlsx", 5000)
    rewrite_part(path, "xl/worksheets/sheet1.xml", change)

    _, errors = read_estate(path, ImportLimits(max_rows=1000))

    [error] = errors
    assert (error.sheet, error.reason) == ("units", "more than 1000 rows")
    assert rows_parsed.count <= 1000


@pytest.mark.parametrize(
    ("declared", "reason"),
    [
        ("A1:B2000000", f"more than {MAX_ROWS} rows (the sheet says 2000000)"),
        ("A1:BH2", "more than 50 columns (the sheet says 60)"),
    ],
)
def test_a_declared_size_past_the_limits_is_refused_before_any_row_is_read(
    tmp_path: Path, rows_parsed: Counter, declared: str, reason: str
) -> None:
    path = write_workbook(tmp_path / "declared.xlsx", {"units": [UNITS_HEADER, [1, 101]]})
    rewrite_part(
        path,
        "xl/worksheets/sheet2.xml",
        lambda xml: re.sub(
            rb'<dimension ref="[^"]*"', f'<dimension ref="{declared}"'.encode(), xml
        ),
    )

    assert read_estate(path)[1] == [RowError("units", 0, reason)]
    assert rows_parsed.count == 0


@pytest.mark.parametrize("write_only", [False, True])
def test_too_many_columns_are_refused(tmp_path: Path, write_only: bool) -> None:
    workbook = openpyxl.Workbook(write_only=write_only)
    sheet = workbook.create_sheet("units")
    sheet.append(UNITS_HEADER)
    sheet.append([1, 101, *["x"] * 58])
    path = tmp_path / "wide.xlsx"
    workbook.save(path)

    assert read_estate(path)[1] == [RowError("units", 2, "more than 50 columns")]


def test_a_zip_bomb_is_refused_before_openpyxl_opens_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_workbook(tmp_path / "bomb.xlsx", good_sheets())
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("xl/media/padding.bin", "w") as member:
            for _ in range(16):
                member.write(bytes(1024 * 1024))  # 16 MB of zeros pack into a few KB
    assert path.stat().st_size < 1024 * 1024

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("openpyxl was asked to open the workbook")

    monkeypatch.setattr(ExcelReader, "__init__", never)
    _, errors = read_estate(path, ImportLimits(max_unzipped_bytes=8 * 1024 * 1024))

    [error] = errors
    assert (error.sheet, error.row) == ("bomb.xlsx", 0)
    assert error.reason.startswith("unpacks to more than 8.0 MB (16.")


def test_too_large_files_too_many_sheets_and_long_cells_are_refused(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "estate.xlsx", good_sheets())
    size = path.stat().st_size
    [error] = read_estate(path, ImportLimits(max_file_bytes=size - 1))[1]
    assert (error.sheet, error.row) == ("estate.xlsx", 0)
    assert error.reason.startswith("larger than ")
    # Excel's default sheet and the five of the estate.
    assert read_estate(path, ImportLimits(max_sheets=5))[1] == [
        RowError("estate.xlsx", 0, "more than 5 sheets")
    ]
    long = "很长的回答" * 1000
    sheets = with_changes({"常见问题": {3: ["What are the office hours?", long, "en"]}})
    assert read_estate(write_workbook(tmp_path / "long.xlsx", sheets))[1] == [
        RowError("常见问题", 3, "a cell longer than 4096 characters")
    ]


def test_the_shared_strings_of_an_excel_workbook_are_read_within_limits(tmp_path: Path) -> None:
    rows = [["building", "room"], ["3", "501"], ["3", "502"]]
    data, errors = read_estate(write_excel_workbook(tmp_path / "excel.xlsx", "units", rows))
    assert errors == []
    assert [unit.label for unit in data.units] == ["3-501", "3-502"]

    # Excel keeps text in the shared strings, which openpyxl reads whole as the workbook opens:
    # a string too long, or too many, is refused there.
    rows.append(["3", "很长的房号" * 1000])
    long = write_excel_workbook(tmp_path / "long.xlsx", "units", rows)
    assert read_estate(long)[1] == [RowError("long.xlsx", 0, "a cell longer than 4096 characters")]
    rows = [["building", "room"], *([["3", str(n)] for n in range(100, 200)])]
    many = write_excel_workbook(tmp_path / "many.xlsx", "units", rows)
    assert read_estate(many, ImportLimits(max_xml_elements=100))[1] == [
        RowError("many.xlsx", 0, "more than 100 XML elements")
    ]


def test_a_stream_of_bad_rows_stops_at_the_problem_limit(tmp_path: Path) -> None:
    rows = [["building", "room", "floor_area"], *([[1, 101 + n, "lots"] for n in range(50)])]
    path = write_workbook(tmp_path / "bad.xlsx", {"units": rows})

    _, errors = read_estate(path, ImportLimits(max_problems=5))

    assert errors[:5] == [
        RowError("units", n, "floor_area: not a number: 'lots'") for n in range(2, 7)
    ]
    assert errors[5:] == [RowError("units", 6, "stopped reading after 5 problems")]


def test_a_workbook_with_a_dtd_is_not_read(
    tmp_path: Path, rows_parsed: Counter, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_workbook(tmp_path / "laughs.xlsx", good_sheets())
    entities = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>'
    rewrite_part(path, "xl/worksheets/sheet2.xml", lambda xml: entities + xml)

    with caplog.at_level(logging.WARNING, logger="bot.core.estate_import"):
        [error] = read_estate(path)[1]

    assert (error.sheet, error.row) == ("房屋", 0)
    assert error.reason == "has a DTD, which a spreadsheet does not"
    assert rows_parsed.count == 0
    # The manager reads what to do in their language; the operator's log names the part.
    assert error.render(Catalogues(), "zh") == (
        "「房屋」：工作簿内部含有 DTD，Excel 和 WPS 保存的文件不会有，可能被改动过。"
        "请用 Excel 或 WPS 打开后重新另存为 .xlsx；文件如是他人发来的，请先确认来源。"
    )
    assert (
        "import stopped reading 房屋: has a DTD, which a spreadsheet does not"
        " (in xl/worksheets/sheet2.xml)" in caplog.text
    )


def test_a_file_past_a_limit_says_what_to_do_in_the_managers_language(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [UNITS_HEADER, *([["1", str(101 + n)] for n in range(20)])]
    folder = write_csv_folder(tmp_path / "many", {"units.csv": rows})

    with caplog.at_level(logging.WARNING, logger="bot.core.estate_import"):
        [error] = read_estate(folder, ImportLimits(max_rows=10))[1]

    catalogues = Catalogues()
    assert error.render(catalogues, "zh") == (
        "「units.csv」第 11 行：超过 10 行。"
        "请把这张表拆成几个文件（每个不超过 10 行，如每栋楼一个），依次导入。"
    )
    assert error.render(catalogues, "en") == (
        "units.csv, row 11: more than 10 rows. Split the sheet into files of at most 10 rows"
        " each (one per building, say) and import them one after the other."
    )
    assert "import stopped reading units.csv, row 11: more than 10 rows" in caplog.text
    # A sheet that declares more rows than it may have says how to get rid of empty ones.
    path = write_workbook(tmp_path / "declared.xlsx", {"units": [UNITS_HEADER, [1, 101]]})
    rewrite_part(
        path,
        "xl/worksheets/sheet2.xml",
        lambda xml: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:B2000000"', xml),
    )
    [declared] = read_estate(path)[1]
    assert declared.render(catalogues, "zh") == (
        f"「units」：超过 {MAX_ROWS} 行（工作表记录的范围是 2000000 行）。"
        "如果数据下面是空行，请在 Excel 或 WPS 中选中这些行，删除行后保存；"
        f"否则请拆成几个文件，每个不超过 {MAX_ROWS} 行。"
    )


def test_a_broken_or_old_workbook_says_so_and_logs_what_zipfile_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    whole = write_workbook(tmp_path / "whole.xlsx", good_sheets()).read_bytes()
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(whole[: len(whole) // 2])  # a download that stopped half way
    old = tmp_path / "old.xlsx"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1000))  # .xls, or encrypted

    with caplog.at_level(logging.WARNING, logger="bot.core.estate_import"):
        [broken] = read_estate(cut)[1]
        [ole] = read_estate(old)[1]

    catalogues = Catalogues()
    assert broken.render(catalogues, "zh") == (
        "「cut.xlsx」：不是完整的 .xlsx 工作簿：文件已损坏或不完整。"
        "请重新下载或复制该文件；仍不行的话，请用 Excel 或 WPS 打开后重新另存为 .xlsx。"
    )
    assert ole.render(catalogues, "en") == (
        "old.xlsx: an old .xls workbook, or one with a password to open it. Remove the password"
        " to open it, if it has one, and save it as .xlsx in Excel or WPS."
    )
    assert "import stopped reading cut.xlsx: not a whole .xlsx workbook" in caplog.text
    assert "(BadZipFile: File is not a zip file)" in caplog.text


def test_a_workbook_part_that_is_not_xml_is_reported_as_damaged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_workbook(tmp_path / "damaged.xlsx", good_sheets())
    rewrite_part(path, "xl/worksheets/sheet2.xml", lambda xml: xml[: len(xml) // 2])

    with caplog.at_level(logging.WARNING, logger="bot.core.estate_import"):
        errors = read_estate(path)[1]

    assert [(error.sheet, error.reason) for error in errors] == [
        ("房屋", "damaged inside: not well-formed XML")
    ]
    assert "请用 Excel 或 WPS 打开后重新另存为 .xlsx" in errors[0].render(Catalogues(), "zh")
    assert "(in xl/worksheets/sheet2.xml: " in caplog.text  # and what expat said


async def test_a_workbook_of_headers_only_is_refused(store: str, tmp_path: Path) -> None:
    headers = {title: rows[:1] for title, rows in good_sheets().items()}
    path = write_workbook(tmp_path / "headers.xlsx", headers)
    before = await table_counts(store)

    with pytest.raises(ImportFailed) as failed:
        await import_estate(path, "sunny")

    reason = "nothing to import: the sheets have a header row and no rows under it"
    assert failed.value.errors == [RowError("headers.xlsx", 0, reason)]
    assert await table_counts(store) == before
    assert not await Estate.exists(code="sunny")


def test_an_empty_workbook_and_a_csv_folder_of_headers_are_refused(tmp_path: Path) -> None:
    empty = write_workbook(tmp_path / "empty.xlsx", {"units": []})
    assert read_estate(empty)[1] == [
        RowError("empty.xlsx", 0, "nothing to import: every sheet is empty")
    ]
    folder = write_csv_folder(tmp_path / "headers", {"units.csv": [UNITS_HEADER]})
    reason = "nothing to import: the sheets have a header row and no rows under it"
    assert read_estate(folder)[1] == [RowError("headers", 0, reason)]


def test_csv_folders_have_the_same_limits(tmp_path: Path) -> None:
    rows = [UNITS_HEADER, *([["1", str(101 + n)] for n in range(20)])]
    folder = write_csv_folder(tmp_path / "many", {"units.csv": rows})
    assert read_estate(folder, ImportLimits(max_rows=10))[1] == [
        RowError("units.csv", 11, "more than 10 rows")
    ]
    [error] = read_estate(folder, ImportLimits(max_file_bytes=100))[1]
    assert (error.sheet, error.row) == ("units.csv", 0)
    assert error.reason.startswith("larger than 100 bytes (")
    assert read_estate(folder, ImportLimits(max_sheets=0))[1] == [
        RowError("many", 0, "more than 0 .csv files")
    ]

    wide = write_csv_folder(tmp_path / "wide", {"units.csv": [UNITS_HEADER, ["1"] * 60]})
    assert read_estate(wide)[1] == [RowError("units.csv", 2, "more than 50 columns")]

    long = write_csv_folder(tmp_path / "long", {"units.csv": [UNITS_HEADER, ["1", "9" * 5000]]})
    assert read_estate(long)[1] == [RowError("units.csv", 2, "a cell longer than 4096 characters")]
    assert csv.field_size_limit() == 131072  # csv's own limit is put back

    # A row of a million empty fields, and one that runs over many lines through quoted fields:
    # both are stopped before csv builds them.
    endless = tmp_path / "endless"
    endless.mkdir()
    (endless / "units.csv").write_text("building,room\n" + "," * 1_000_000 + "\n")
    assert read_estate(endless)[1] == [
        RowError("units.csv", 2, "a row longer than 204950 characters")
    ]
    (endless / "units.csv").write_text("building,room\n" + ',"\n"' * 300_000 + "\n")
    assert read_estate(endless)[1] == [
        RowError("units.csv", 2, "a row longer than 204950 characters")
    ]
