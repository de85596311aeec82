"""The demo estate: its promised shape, its dates relative to today, and loading it only once."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from tortoise import connections

from bot.core.calendar import target_for
from bot.core.demo import DEMO_CODE, demo_data, load_demo
from bot.core.i18n import Catalogues
from bot.core.roster import on_duty_at
from models import (
    Bill,
    BillItem,
    Building,
    Department,
    DutyShift,
    Entrance,
    Estate,
    FaqEntry,
    OfficeHours,
    Owner,
    Staff,
    StaffRole,
    TicketKind,
    Unit,
)

TODAY = date(2026, 11, 23)
README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
NEXT_MONTH = date(2026, 12, 23)


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


async def overdue_units(estate: Estate, today: date) -> dict[str, set[str]]:
    """Label → the periods it owes that are past due."""
    owed: dict[str, set[str]] = {}
    bills = Bill.filter(unit__estate_id=estate.id, paid_at=None, due_date__lt=today)
    for bill in await bills.prefetch_related("unit"):
        owed.setdefault(bill.unit.label, set()).add(bill.period)
    return owed


async def test_the_demo_estate_has_the_promised_shape(store: str) -> None:
    estate = await load_demo(TODAY)

    assert (estate.code, estate.name) == (DEMO_CODE, "阳光花园 Sunshine Gardens")
    assert "微信" in estate.payment_instructions
    assert "WeChat" in estate.payment_instructions_en

    units = await Unit.filter(estate_id=estate.id)
    assert len(units) == 200
    assert await Building.filter(estate_id=estate.id).count() == 5
    assert await Entrance.filter(building__estate_id=estate.id).count() == 10
    assert all(unit.floor_area and unit.floor_area > 0 for unit in units)
    assert {"1-1-101", "5-2-1002"} <= {unit.label for unit in units}
    ending_soon = [u for u in units if TODAY < u.warranty_end <= NEXT_MONTH]
    assert len(ending_soon) == 10
    assert all(u.warranty_end.month == 12 for u in ending_soon)
    assert not [u for u in units if NEXT_MONTH < u.warranty_end <= NEXT_MONTH + timedelta(60)]

    owners = await Owner.filter(estate_id=estate.id).prefetch_related("units")
    assert len(owners) == 180
    assert Counter(owner.language for owner in owners) == {"zh": 165, "en": 15}
    assert all(re.fullmatch(r"138\d{8}", owner.phone) for owner in owners)
    assert len({owner.phone for owner in owners}) == 180
    assert len({owner.name for owner in owners}) == 180
    assert sum(len(owner.units) == 2 for owner in owners) == 10
    owners_per_unit = Counter(unit.label for owner in owners for unit in owner.units)
    assert sum(count == 2 for count in owners_per_unit.values()) == 12

    staff = await Staff.filter(estate_id=estate.id)
    assert {member.department for member in staff} == set(Department)
    assert {member.role for member in staff} == set(StaffRole)
    jobs = Counter((member.role, member.department) for member in staff)
    assert jobs[(StaffRole.CLERK, Department.CUSTOMER_SERVICE)] >= 2
    assert jobs[(StaffRole.ENGINEER, Department.ENGINEERING)] >= 3
    assert jobs[(StaffRole.CLEANER, Department.CLEANING)] >= 2
    assert jobs[(StaffRole.GUARD, Department.SECURITY)] >= 2
    assert jobs[(StaffRole.GARDENER, Department.GREENING)] >= 1
    assert jobs[(StaffRole.SUPERVISOR, Department.CUSTOMER_SERVICE)] >= 1
    assert jobs[(StaffRole.MANAGER, Department.CUSTOMER_SERVICE)] == 1

    faq = Counter(entry.language for entry in await FaqEntry.filter(estate_id=estate.id))
    assert faq == {"zh": 15, "en": 15}


async def test_the_demo_bills_follow_area_and_today(store: str) -> None:
    estate = await load_demo(TODAY)
    areas = {unit.id: unit.floor_area for unit in await Unit.filter(estate_id=estate.id)}
    bills = await Bill.filter(unit__estate_id=estate.id)

    fees = [bill for bill in bills if bill.item is BillItem.PROPERTY_FEE]
    assert len(fees) == 200 * 12
    assert sorted({bill.period for bill in fees}) == [
        f"{year}-{month:02d}" for year, month in [(2025, 12), *((2026, m) for m in range(1, 12))]
    ]
    for bill in fees:
        expected = (areas[bill.unit_id] * Decimal("2.80") * 100).quantize(Decimal(1))
        assert bill.amount_cents == int(expected)
        assert bill.due_date == date(int(bill.period[:4]), int(bill.period[5:]), 15)
    parking = [bill for bill in bills if bill.item is BillItem.PARKING]
    assert len({bill.unit_id for bill in parking}) == 40
    assert {bill.amount_cents for bill in parking} == {30000}

    owed = await overdue_units(estate, TODAY)
    assert len(owed) == 15
    assert {len(periods) for periods in owed.values()} == {2, 3, 4}
    assert all("2026-10" in periods for periods in owed.values())
    # On the 23rd every bill is paid or overdue, and none was paid after today.
    assert not [bill for bill in bills if bill.paid_at is None and bill.due_date >= TODAY]
    end_of_today = datetime(2026, 11, 24, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert all(bill.paid_at < end_of_today for bill in bills if bill.paid_at)


@pytest.mark.parametrize("today", [date(2026, 3, 1), date(2027, 1, 31)])
async def test_the_demo_dates_hold_on_any_day(store: str, today: date) -> None:
    estate = await load_demo(today)

    units = await Unit.filter(estate_id=estate.id)
    ending = [u.warranty_end for u in units if today < u.warranty_end <= today + timedelta(31)]
    following = 4 if today.month == 3 else 2
    assert len(ending) == 10
    assert all(end.month == following for end in ending)
    assert len(await overdue_units(estate, today)) == 15
    now = datetime.combine(today, datetime.min.time(), ZoneInfo("Asia/Shanghai"))
    paid = await Bill.filter(unit__estate_id=estate.id, paid_at__not_isnull=True)
    assert all(bill.paid_at <= now + timedelta(days=1) for bill in paid)
    assert max(bill.period for bill in paid) <= f"{today:%Y-%m}"


async def test_the_demo_is_loaded_only_once(store: str) -> None:
    first = await load_demo(TODAY)
    before = await table_counts(store)

    second = await load_demo(date(2027, 5, 1))

    assert second.id == first.id
    assert await table_counts(store) == before
    assert await Estate.filter(code=DEMO_CODE).count() == 1


def test_the_demo_data_is_deterministic() -> None:
    assert demo_data(TODAY) == demo_data(TODAY)
    assert demo_data(TODAY).owners == demo_data(date(2027, 5, 1)).owners


async def test_the_demo_has_its_calendar_targets_and_roster(store: str) -> None:
    estate = await load_demo(TODAY)  # a Monday
    hours = await OfficeHours.filter(estate_id=estate.id).order_by("weekday")
    assert [(h.weekday, h.opens_minute, h.closes_minute) for h in hours] == [
        *[(day, 510, 1050) for day in range(5)],
        (5, 540, 720),
    ]
    repair = await target_for(estate, TicketKind.REPAIR, False, "")
    assert (repair.respond, repair.resolve) == (timedelta(minutes=15), timedelta(hours=24))
    urgent = await target_for(estate, TicketKind.REPAIR, True, "")
    assert (urgent.respond, urgent.resolve) == (timedelta(minutes=5), timedelta(hours=4))
    enquiry = await target_for(estate, TicketKind.ENQUIRY, False, "")
    assert enquiry.office_time and enquiry.respond == timedelta(hours=1)

    # Two weeks of shifts from the day before: someone is on duty, by day and by night.
    assert await DutyShift.filter(estate_id=estate.id).count() == 15 * 5
    zone = ZoneInfo(estate.timezone)
    for day in (TODAY - timedelta(days=1), TODAY, TODAY + timedelta(days=13)):
        noon = datetime.combine(day, time(12), tzinfo=zone)
        night = datetime.combine(day, time(23), tzinfo=zone)
        (by_day,) = await on_duty_at(estate.id, Department.ENGINEERING, noon)
        assert by_day.name in ("张师傅", "刘强")
        assert [s.name for s in await on_duty_at(estate.id, Department.ENGINEERING, night)] == [
            "赵磊"
        ]
        assert len(await on_duty_at(estate.id, Department.SECURITY, night)) == 1
        assert len(await on_duty_at(estate.id, Department.CUSTOMER_SERVICE, noon)) == 1
    mornings = [datetime.combine(TODAY + timedelta(days=k), time(9), zone) for k in range(2)]
    day_people = set()
    for morning in mornings:
        (engineer,) = await on_duty_at(estate.id, Department.ENGINEERING, morning)
        day_people.add(engineer.name)
    assert day_people == {"张师傅", "刘强"}  # they take turns


async def test_the_readme_walkthrough_owner_lives_where_she_reports(store: str) -> None:
    found = re.search(r"pick\s+the owner of (\S+) \(search by unit: `\1`, (\S+)\)", README)
    assert found is not None, "the README's web chat walkthrough names its owner and unit"
    label, name = found.groups()
    estate = await load_demo(TODAY)
    owners = await Owner.filter(estate_id=estate.id, units__label=label).values_list(
        "name", flat=True
    )
    assert name in owners
    assert f"{label[0]}栋{label[2]}单元{label[4:]} 厨房水管漏水了" in README
    # The bot's own examples report at 3-2-501 (`3栋2单元501 厨房水管漏水`): someone lives there.
    assert "3栋2单元501 厨房水管漏水" in Catalogues().text("zh", "wechat.welcome")
    there = await Owner.filter(estate_id=estate.id, units__label="3-2-501").values_list(
        "name", flat=True
    )
    said = re.search(r"name 3-2-501: in the demo (\S+) lives there", " ".join(README.split()))
    assert said is not None and there == [said.group(1)]
