"""Importing an estate from a workbook or CSV folder: good files, bad files, all or nothing."""

from __future__ import annotations

import csv
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from tortoise import connections

from bot.core.estate_import import (
    ImportFailed,
    RowError,
    import_estate,
    normalize_building,
    normalize_entrance,
    normalize_room,
    parse_unit_label,
    read_estate,
)
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
        query = "SELECT name FROM sqlite_master WHERE type = 'table'"
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
    path = write_workbook(tmp_path / "odd.xlsx", {"业主信息": [["业主姓名"], ["张三"]]})
    assert read_estate(path)[1] == [
        RowError(
            "业主信息", 0, "unknown sheet; expected one of units / owners / staff / bills / faq"
        )
    ]
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip file")
    [error] = read_estate(broken)[1]
    assert (error.sheet, error.row) == ("broken.xlsx", 0)
    assert error.reason.startswith("cannot read the workbook")
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

    # The FAQ is written last: units, owners, staff and bills are in the transaction by then.
    monkeypatch.setattr(FaqEntry, "bulk_create", broken)
    with pytest.raises(RuntimeError, match="the disk is full"):
        await import_estate(path, "sunny")

    assert await table_counts(store) == before
