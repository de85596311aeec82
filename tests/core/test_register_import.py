"""The registers managers already keep: one 业主档案 sheet of owners with their units, under a
title row, with 序号 and columns of their own; 欠费明细 with bills; dates and phone numbers as
they are written in China."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.core import estate_update
from bot.core.estate_import import ImportFailed, import_estate, normalize_phone, read_estate
from bot.core.estate_update import render_update, update_estate
from bot.core.i18n import Catalogues
from models import Bill, ChatIdentity, Estate, Owner, Platform, Ticket, Unit
from tests.core.test_estate_import import write_workbook
from tests.factories import make_ticket

REGISTER_HEADER = [
    "序号",
    "楼栋",
    "单元",
    "房号",
    "业主姓名",
    "联系电话",
    "建筑面积(㎡)",
    "交房日期",
    "保修期至",
    "身份证号",
]


def register_rows() -> list[list[Any]]:
    return [
        ["阳光花园业主档案（2026年12月）", None, None, None, None, None, None, None, None, None],
        [None] * 10,
        REGISTER_HEADER,
        [
            1,
            "3栋",
            "2单元",
            "501",
            "张三",
            "138 0013 8000",
            89.5,
            "2024年6月30日",
            "2029年6月30日",
            "x",
        ],
        [2, "3栋", "2单元", "501", "李梅", "无", 89.5, None, "2029/6/30", None],
        [3, "3", "2", "502", "王五", "0755-8888 0000 转 8001", "126.8", None, "2029.6.30", None],
        [4, "12号楼", None, "1801", "赵六", None, None, None, datetime(2029, 6, 30), None],
        [5, "12", None, "1802", "钱七", "+86 139 0013 9000", None, None, 47299, None],
    ]


ARREARS = [
    ["欠费明细表"],
    ["房屋", "所属月份", "收费项目", "欠费金额", "截止日期"],
    ["3-2-501", "2026年11月", "物业费", 250.6, "2026年11月30日"],
    ["12-1801", "2026-11", "停车费", "300", 46356],
]


async def test_an_owner_register_under_a_title_row_creates_units_and_owners(
    store: str, tmp_path: Path
) -> None:
    sheets = {"业主档案": register_rows(), "欠费明细": ARREARS, "统计": [["楼栋数", 2]]}
    path = write_workbook(tmp_path / "档案.xlsx", sheets)

    report = await import_estate(path, "sunny", "阳光花园")

    assert (report.units, report.owners, report.bills) == (4, 5, 2)
    # 身份证号 is not the import's: skipped, and said so; 序号 and 交房日期 in silence; a sheet
    # of its own (统计) is read past too.
    assert [(w.sheet, w.row, w.reason) for w in report.warnings] == [
        ("业主档案", 3, "unknown column '身份证号'"),
        (
            "统计",
            0,
            "not imported: neither its name nor its header is of a sheet the import reads",
        ),
    ]
    estate = await Estate.get(code="sunny")
    units = {u.label: u for u in await Unit.filter(estate=estate)}
    assert set(units) == {"3-2-501", "3-2-502", "12-1801", "12-1802"}
    assert units["3-2-501"].floor_area == Decimal("89.50")
    assert units["3-2-502"].warranty_end == date(2029, 6, 30)
    assert units["12-1801"].warranty_end == date(2029, 6, 30)
    assert units["12-1802"].warranty_end == date(2029, 6, 30)  # Excel's serial 47299
    phones = dict(await Owner.filter(estate=estate).values_list("name", "phone"))
    assert phones == {
        "张三": "13800138000",
        "李梅": "",
        "王五": "0755-88880000转8001",
        "赵六": "",
        "钱七": "13900139000",
    }
    owners_of_501 = await units["3-2-501"].owners.all().values_list("name", flat=True)
    assert sorted(owners_of_501) == ["张三", "李梅"]
    bills = await Bill.filter(unit__estate=estate).order_by("amount_cents")
    assert [(b.period, b.amount_cents, b.due_date) for b in bills] == [
        ("2026-11", 25060, date(2026, 11, 30)),
        ("2026-11", 30000, date(2026, 11, 30)),
    ]


async def test_a_register_with_combined_units_and_its_own_sheet_name(
    store: str, tmp_path: Path
) -> None:
    rows = [
        ["业主花名册"],
        ["序号", "房号", "姓名", "手机"],
        [1, "3-2-501", "张三", "13800138000"],
        [2, "3栋2单元502室", "王五", "13800138001"],
    ]
    path = write_workbook(tmp_path / "花名册.xlsx", {"Sheet1": rows})

    report = await import_estate(path, "sunny")

    assert (report.units, report.owners) == (2, 2)
    labels = await Unit.filter(estate__code="sunny").values_list("label", flat=True)
    assert sorted(labels) == ["3-2-501", "3-2-502"]


@pytest.mark.parametrize(
    "written",
    ["2025年6月30日", "2025/6/30", "2025.6.30", "2025-06-30", 45838, datetime(2025, 6, 30)],
)
def test_every_date_form_is_read(tmp_path: Path, written: object) -> None:
    rows = [["楼栋", "房号", "保修期至"], ["3", "501", written]]
    data, errors = read_estate(write_workbook(tmp_path / "u.xlsx", {"房屋": rows}))
    assert errors == []
    assert data.units[0].warranty_end == date(2025, 6, 30)


@pytest.mark.parametrize("written", ["2025年13月1日", "30/6/2025", "明年", 12])
def test_what_is_not_a_date_is_refused(tmp_path: Path, written: object) -> None:
    rows = [["楼栋", "房号", "保修期至"], ["3", "501", written]]
    _, errors = read_estate(write_workbook(tmp_path / "u.xlsx", {"房屋": rows}))
    assert [(e.row, e.reason.split(":")[0]) for e in errors] == [(2, "保修期至")]


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("13800138000", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("0755-8888 0000", "0755-88880000"),
        ("010-12345678", "010-12345678"),
        ("0755-8888 0000 转 8001", "0755-88880000转8001"),
        ("0755-88880000分机8001", "0755-88880000转8001"),
        ("+852 9123 4567", "+85291234567"),
    ],
)
def test_phone_numbers_are_checked_and_stored_alike(written: str, stored: str) -> None:
    assert normalize_phone(written) == stored


@pytest.mark.parametrize("written", ["12345", "1380013800", "call me", "88880000"])
def test_what_is_not_a_phone_number_is_refused(tmp_path: Path, written: str) -> None:
    assert normalize_phone(written) is None
    rows = [["业主姓名", "电话", "房屋"], ["张三", written, "3-2-501"]]
    _, errors = read_estate(write_workbook(tmp_path / "o.xlsx", {"业主": rows}))
    assert [e.reason for e in errors] == [f"电话: not a phone number: {written!r}"]


@pytest.mark.parametrize("written", ["无", "", None, "-", "暂无"])
def test_no_phone_is_an_empty_phone(tmp_path: Path, written: str | None) -> None:
    rows = [["业主姓名", "电话", "房屋"], ["张三", written, "3-2-501"]]
    data, errors = read_estate(write_workbook(tmp_path / "o.xlsx", {"业主": rows}))
    assert errors == [] and data.owners[0].phone == ""


async def test_a_register_of_headers_only_is_refused(store: str, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "empty.xlsx", {"业主档案": register_rows()[:3]})
    with pytest.raises(ImportFailed):
        await import_estate(path, "sunny")
    assert not await Estate.exists(code="sunny")


# Updating: next month's register and bills -----------------------------------------------------


def month_register() -> list[list[Any]]:
    """The register a month on: 张三's phone changed, 赵六 sold 12-1801 to 孙八."""
    rows = register_rows()
    rows[3][5] = "139 0013 9001"  # 张三
    del rows[6]  # 赵六
    rows.append([6, "12", None, "1801", "孙八", "13700137000", None, None, None, None])
    return rows


BILLS_NOVEMBER = [
    ["单号", "房屋", "所属月份", "收费项目", "应收金额", "截止日期", "缴费时间"],
    ["B-1101", "3-2-501", "2026-11", "物业费", 250.6, "2026-11-30", None],
    ["B-1102", "3-2-502", "2026-11", "物业费", 320, "2026-11-30", "2026-11-20 10:00"],
    ["B-1103", "12-1801", "2026-11", "停车费", 300, "2026-11-30", None],
]


def december_bills() -> list[list[Any]]:
    """November's again (one unpaid amount corrected, one paid one different) and December's."""
    rows = [list(row) for row in BILLS_NOVEMBER]
    rows[1][4] = 260.6  # unpaid: corrected
    rows[2][4] = 330  # paid: reported, not changed
    rows.append(["B-1201", "3-2-501", "2026-12", "物业费", 250.6, "2026-12-31", None])
    return rows


async def owners_by_name(code: str) -> dict[str, tuple[str, bool]]:
    rows = await Owner.filter(estate__code=code).values_list("name", "phone", "active")
    return {name: (phone, active) for name, phone, active in rows}


async def store_snapshot(code: str) -> tuple[object, ...]:
    owners = (
        await Owner.filter(estate__code=code).order_by("id").values_list("name", "phone", "active")
    )
    bills = (
        await Bill.filter(unit__estate__code=code)
        .order_by("id")
        .values_list("number", "amount_cents", "paid_at")
    )
    units = await Unit.filter(estate__code=code).order_by("id").values_list("label", flat=True)
    return tuple(owners), tuple(bills), tuple(units)


async def test_an_update_merges_next_months_register_and_bills(store: str, tmp_path: Path) -> None:
    first = write_workbook(
        tmp_path / "11月.xlsx", {"业主档案": register_rows(), "欠费明细": BILLS_NOVEMBER}
    )
    await import_estate(first, "sunny")
    second = write_workbook(
        tmp_path / "12月.xlsx", {"业主档案": month_register(), "欠费明细": december_bills()}
    )

    # A dry run says what would change and writes nothing.
    before = await store_snapshot("sunny")
    dry = await update_estate(second, "sunny", dry_run=True)
    assert await store_snapshot("sunny") == before
    assert [row.name for row in dry.new_owners] == ["孙八"]
    assert [(c.name, c.phone_before, c.phone) for c in dry.owners_changed] == [
        ("张三", "13800138000", "13900139001")
    ]
    assert [name for _, name, _ in dry.owners_gone] == ["赵六"]
    assert dry.owners_unchanged == 3
    assert [warning.reason for warning in dry.warnings] == ["unknown column '身份证号'"]
    assert [(b.unit, b.period) for b in dry.new_bills] == [("3-2-501", "2026-12")]
    assert [(b.unit, b.amount_before, b.amount, b.paid) for b in dry.bills_changed] == [
        ("3-2-501", 25060, 26060, False),
        ("3-2-502", 32000, 33000, True),
    ]
    assert dry.bills_unchanged == 1

    done = await update_estate(second, "sunny")

    assert done.written is not None and done.written.owners == 1 and done.written.bills == 1
    owners = await owners_by_name("sunny")
    assert owners["张三"] == ("13900139001", True)
    assert owners["赵六"] == ("", False)  # kept, inactive
    assert owners["孙八"] == ("13700137000", True)
    assert owners["李梅"] == ("", True)
    # 孙八 owns the same unit as before (reused), and 赵六 still has it in their history.
    unit = await Unit.get(estate__code="sunny", label="12-1801")
    assert sorted(await unit.owners.all().values_list("name", flat=True)) == ["孙八", "赵六"]
    assert await Unit.filter(estate__code="sunny").count() == 4
    amounts = dict(
        await Bill.filter(unit__estate__code="sunny").values_list("number", "amount_cents")
    )
    assert amounts == {"B-1101": 26060, "B-1102": 32000, "B-1103": 30000, "B-1201": 25060}

    # The same file again changes nothing.
    before = await store_snapshot("sunny")
    again = await update_estate(second, "sunny")
    assert await store_snapshot("sunny") == before
    assert (again.new_owners, again.owners_changed, again.owners_gone, again.new_bills) == (
        [],
        [],
        [],
        [],
    )
    assert [b.paid for b in again.bills_changed] == [True]  # still reported, still not changed


async def test_bills_without_a_number_are_matched_by_unit_item_and_period(
    store: str, tmp_path: Path
) -> None:
    await import_estate(
        write_workbook(tmp_path / "a.xlsx", {"业主档案": register_rows()}), "sunny"
    )
    bills = [row[1:] for row in BILLS_NOVEMBER]
    path = write_workbook(tmp_path / "b.xlsx", {"账单": bills})
    first = await update_estate(path, "sunny")
    assert len(first.new_bills) == 3 and first.owners_gone == []  # no owners sheet: none left
    again = await update_estate(path, "sunny")
    assert again.new_bills == [] and again.bills_unchanged == 3 and again.bills_changed == []
    assert await Bill.filter(unit__estate__code="sunny").count() == 3


async def test_a_re_import_without_update_says_to_use_it(store: str, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "a.xlsx", {"业主档案": register_rows()})
    await import_estate(path, "sunny")
    with pytest.raises(ImportFailed) as failed:
        await import_estate(path, "sunny")
    rendered = failed.value.render(Catalogues(), "zh", "a.xlsx")
    assert "「业主档案」第 4 行：业主 张三（同一电话）已导入过。" in rendered
    assert "如要更新已导入的业主档案，请加 --update 重新导入。" in rendered


async def test_an_update_of_an_estate_not_imported_is_refused(store: str, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "a.xlsx", {"业主档案": register_rows()})
    with pytest.raises(ImportFailed) as failed:
        await update_estate(path, "nowhere", dry_run=True)
    assert [error.reason for error in failed.value.errors] == [
        "there is no estate nowhere to update"
    ]
    assert "请先不加 --update 导入" in failed.value.render(Catalogues(), "zh", "a.xlsx")
    assert not await Estate.exists(code="nowhere")


async def owned_units(code: str) -> dict[str, list[str]]:
    """Each owner's unit labels, by name."""
    owned: dict[str, list[str]] = {}
    for owner in await Owner.filter(estate__code=code).order_by("id"):
        owned[owner.name] = sorted(await owner.units.all().values_list("label", flat=True))
    return owned


def moved_register() -> list[list[Any]]:
    """The register after two moves within the estate: 钱七 from 12-1802 to 12-1803 (a unit new
    to the store), 王五 from 3-2-502 into 12-1802; both are found by their phone."""
    rows = register_rows()
    rows[5][1:4] = ["12", None, "1802"]
    rows[5][6] = rows[5][8] = None  # no area or warranty given for 12-1802
    rows[7][3] = "1803"
    return rows


async def test_an_owner_who_moved_within_the_estate_is_linked_to_the_new_unit_only(
    store: str, tmp_path: Path, now: datetime
) -> None:
    await import_estate(
        write_workbook(tmp_path / "a.xlsx", {"业主档案": register_rows()}), "sunny"
    )
    estate = await Estate.get(code="sunny")
    qian = await Owner.get(estate=estate, name="钱七")
    old = await Unit.get(estate=estate, label="12-1802")
    # What 钱七 did from the old home: a ticket, and a chat account bound to them.
    ticket = await make_ticket(estate, now)
    await Ticket.filter(id=ticket.id).update(
        owner_id=qian.id, unit_id=old.id, reporter_unit_id=old.id
    )
    account = await ChatIdentity.create(platform=Platform.WEBCHAT, user_id="q", owner_id=qian.id)
    path = write_workbook(tmp_path / "b.xlsx", {"业主档案": moved_register()})

    before = await owned_units("sunny")
    dry = await update_estate(path, "sunny", dry_run=True)
    assert await owned_units("sunny") == before
    assert [(c.name, c.units_removed, c.units_added) for c in dry.owners_changed] == [
        ("王五", ("3-2-502",), ("12-1802",)),
        ("钱七", ("12-1802",), ("12-1803",)),
    ]
    assert (dry.new_owners, dry.owners_gone, dry.new_units) == ([], [], ["12-1803"])
    summary = render_update(dry, Catalogues(), "zh")
    assert "换了房屋的业主（已与原房屋解除关联，工单记录保留）：2 人" in summary
    assert "    钱七: 12-1802 → 12-1803" in summary

    await update_estate(path, "sunny")

    owned = await owned_units("sunny")
    assert (owned["钱七"], owned["王五"]) == (["12-1803"], ["12-1802"])
    assert owned["张三"] == ["3-2-501"]  # the others as they were
    assert await Owner.filter(estate=estate, active=True).count() == 5
    # The same owner, with their history: the ticket and the chat account are theirs still.
    again = await Owner.get(estate=estate, name="钱七")
    assert (again.id, again.active) == (qian.id, True)
    kept = await Ticket.get(id=ticket.id)
    assert (kept.owner_id, kept.unit_id) == (qian.id, old.id)
    assert (await ChatIdentity.get(id=account.id)).owner_id == qian.id
    # The same file again changes nothing.
    assert (await update_estate(path, "sunny")).owners_changed == []
    assert await owned_units("sunny") == owned


async def test_a_move_that_fails_to_be_written_is_taken_back(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await import_estate(
        write_workbook(tmp_path / "a.xlsx", {"业主档案": register_rows()}), "sunny"
    )
    before = (await owned_units("sunny"), await store_snapshot("sunny"))

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the store went away")

    monkeypatch.setattr(estate_update, "_move_owners", broken)
    path = write_workbook(tmp_path / "b.xlsx", {"业主档案": moved_register()})
    with pytest.raises(RuntimeError):
        await update_estate(path, "sunny")

    # 12-1803, written before the move, is taken back with it.
    assert (await owned_units("sunny"), await store_snapshot("sunny")) == before
