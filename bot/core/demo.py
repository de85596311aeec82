"""The demo estate, 阳光花园 Sunshine Gardens, so that a newcomer sees Guanjia working at once.

Its content (name pools, staff, fees, FAQ, payment instructions) is in ``demo_estate.json``; this
module lays it out relative to `today` and writes it through `write_estate`, like an import:

- 5 buildings × 2 entrances × 10 floors × 2 flats = 200 units, rooms ``101`` … ``1002``; the
  warranty of building 5, entrance 2, floors 1-5 (10 units) ends exactly one month after `today`,
  the others' years before or months after;
- 180 owners (15 of them English-speaking), in shuffled units: 12 units have two owners, 10
  owners have a second unit, 22 units are unsold;
- the staff list, with every department and every role;
- 12 months of property fees (floor area × 2.80 yuan/m², due on the 15th) up to `today`'s month,
  and parking for 40 units, all paid except 15 owned units that owe their last 2-4 months (the
  current month's is unpaid, not overdue, when its owner's usual pay day has not come yet);
- the FAQ in Chinese and English, and the payment instructions;
- the service calendar: office hours (weekdays 08:30-17:30, Saturday mornings), promised times
  for repairs, complaints and enquiries, and the duty roster (值班表) from the day before `today`
  to 13 days after: engineering and security by day and by night, customer service in office
  hours, so that urgent reports page whoever is on duty.

It is deterministic: the shuffles use the seed in the JSON file, and all dates follow `today`.
"""

from __future__ import annotations

import calendar
import json
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError

from bot.core.estate_import import (
    BillRow,
    EstateData,
    FaqRow,
    HoursRow,
    ImportFailed,
    OwnerRow,
    RosterRow,
    StaffRow,
    TargetRow,
    UnitRow,
    write_estate,
)
from bot.core.owners import natural_key
from models import BillItem, Department, Estate, Owner, Staff, StaffRole, TicketKind

__all__ = ["DEMO_CODE", "demo_data", "load_demo"]

DEMO_CODE = "demo"
_CONTENT = Path(__file__).with_name("demo_estate.json")
_CENT = Decimal("0.01")
_MONTHS = 12


@cache
def _content() -> dict[str, Any]:
    return json.loads(_CONTENT.read_text(encoding="utf-8"))


def _add_months(day: date, months: int) -> date:
    """The same day `months` later (or earlier), on the month's last day when it is shorter."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _cents(yuan: Decimal) -> int:
    return int(yuan.quantize(_CENT, rounding=ROUND_HALF_UP) * 100)


def _units(content: dict[str, Any], today: date) -> list[UnitRow]:
    layout = content["layout"]
    soon = content["warranty_ending_next_month"]
    units = []
    for building in layout["buildings"]:
        areas = content["floor_areas"][building]
        later = _add_months(today, content["warranty_months"][building])
        for entrance in layout["entrances"]:
            for floor in range(1, layout["floors"] + 1):
                ends_soon = (
                    building == soon["building"]
                    and entrance == soon["entrance"]
                    and floor <= soon["floors"]
                )
                for flat in range(1, layout["flats_per_floor"] + 1):
                    units.append(
                        UnitRow(
                            building=building,
                            entrance=entrance,
                            room=f"{floor}{flat:02d}",
                            floor_area=Decimal(areas[flat - 1]),
                            warranty_end=_add_months(today, 1) if ends_soon else later,
                        )
                    )
    return units


def _owners(content: dict[str, Any], owned: list[UnitRow], rng: random.Random) -> list[OwnerRow]:
    """Owners of the shuffled units: one each, then co-owners, and some second units."""
    count, shared, second = content["owners"], content["co_owned_units"], content["second_units"]
    primary = count - shared
    if primary + second > len(owned):
        raise ValueError("the demo has more owned units than units")
    english = content["english_names"]
    step = count // len(english)
    english_at = {step * k + step // 2: name for k, name in enumerate(english)}
    pool = [s + g for s in content["surnames"] for g in content["given_names"]]
    chinese = iter(rng.sample(pool, count - len(english_at)))
    seconds = dict(zip(rng.sample(range(primary), second), owned[primary:], strict=False))
    owners = []
    for i in range(count):
        first = owned[i] if i < primary else owned[i - primary]  # co-owners share units 0, 1, …
        labels = (first.label, seconds[i].label) if i in seconds else (first.label,)
        owners.append(
            OwnerRow(
                name=english_at.get(i) or next(chinese),
                phone=f"138{(i * 7919 + 1357) % 10**8:08d}",
                units=labels,
                language="en" if i in english_at else "zh",
            )
        )
    return owners


def _bills(
    content: dict[str, Any],
    units: list[UnitRow],
    owned: list[UnitRow],
    today: date,
    rng: random.Random,
) -> list[BillRow]:
    """Property fees for every unit and parking for some, paid but for the arrears."""
    occupied = owned[: content["owners"] - content["co_owned_units"] + content["second_units"]]
    owing = rng.sample(occupied, content["arrears_units"])
    unpaid_months = {unit.label: 2 + k % 3 for k, unit in enumerate(owing)}
    parking = {unit.label for unit in rng.sample(occupied, content["parking_units"])}
    rate = Decimal(content["property_fee_per_m2"])
    parking_cents = _cents(Decimal(content["parking_fee"]))
    first = today.replace(day=1)
    months = [_add_months(first, m - _MONTHS + 1) for m in range(_MONTHS)]
    bills = []
    for j, unit in enumerate(units):
        pay_day = 1 + j % 10
        items = [(BillItem.PROPERTY_FEE, _cents((unit.floor_area or Decimal(0)) * rate))]
        if unit.label in parking:
            items.append((BillItem.PARKING, parking_cents))
        for m, month in enumerate(months):
            unpaid = m >= _MONTHS - unpaid_months.get(unit.label, 0)
            if month == first and pay_day > today.day:
                unpaid = True
            paid_at = datetime(month.year, month.month, pay_day, 9 + j % 9, j * 7 % 60)
            for item, cents in items:
                bills.append(
                    BillRow(
                        unit=unit.label,
                        period=f"{month:%Y-%m}",
                        item=item,
                        amount_cents=cents,
                        due_date=month.replace(day=15),
                        paid_at=None if unpaid else paid_at,
                    )
                )
    return bills


def _time(text: str) -> time:
    return time.fromisoformat(text)


def _minutes(text: str) -> int:
    at = _time(text)
    return at.hour * 60 + at.minute


def _calendar(content: dict[str, Any]) -> tuple[list[HoursRow], list[TargetRow]]:
    """The office hours and the promised times."""
    hours = [
        HoursRow(
            weekday=row["weekday"],
            opens_minute=_minutes(row["opens"]),
            closes_minute=_minutes(row["closes"]),
        )
        for row in content["office_hours"]
    ]
    targets = [
        TargetRow(
            kind=TicketKind(row["kind"]),
            urgent=row["urgent"],
            severity=row["severity"],
            respond_minutes=row["respond_minutes"],
            resolve_minutes=row["resolve_minutes"],
            office_time=row["office_time"],
        )
        for row in content["targets"]
    ]
    return hours, targets


def _roster(content: dict[str, Any], today: date) -> list[RosterRow]:
    """Each shift of the pattern on each day around `today`, its people taking turns by date."""
    days = content["roster_days"]
    shifts = []
    for offset in range(-days["before"], days["after"] + 1):
        day = today + timedelta(days=offset)
        for shift in content["roster"]:
            names = shift["names"]
            shifts.append(
                RosterRow(
                    day=day,
                    start=_time(shift["start"]),
                    end=_time(shift["end"]),
                    department=Department(shift["department"]),
                    name=names[day.toordinal() % len(names)],
                )
            )
    return shifts


def _sell(content: dict[str, Any], owned: list[UnitRow]) -> None:
    """Give the units the bot's own examples name (``3-2-501 厨房水管漏水``) an owner of their
    own: each one left unsold by the shuffle swaps places with the last unit that has a single
    owner, so the numbers of owners, shared and unsold units stay as they are."""
    single = content["owners"] - content["co_owned_units"]  # owned[:single]: first units
    occupied = single + content["second_units"]
    labels = [unit.label for unit in owned]
    spare = single - 1
    for label in content["always_sold"]:
        at = labels.index(label)
        if at >= occupied:
            while labels[spare] in content["always_sold"]:
                spare -= 1
            owned[at], owned[spare] = owned[spare], owned[at]
            labels[at], labels[spare] = labels[spare], labels[at]
            spare -= 1


def demo_data(today: date) -> EstateData:
    """The demo estate's rows laid out for `today`; the same day always gives the same rows."""
    content = _content()
    rng = random.Random(content["seed"])
    units = _units(content, today)
    owned = list(units)
    rng.shuffle(owned)
    _sell(content, owned)
    hours, targets = _calendar(content)
    return EstateData(
        units=units,
        owners=_owners(content, owned, rng),
        staff=[
            StaffRow(
                name=member["name"],
                role=StaffRole(member["role"]),
                department=Department(member["department"]),
                phone=member["phone"],
            )
            for member in content["staff"]
        ],
        bills=_bills(content, units, owned, today, rng),
        faq=[
            FaqRow(question=entry[lang]["question"], answer=entry[lang]["answer"], language=lang)
            for lang in ("zh", "en")
            for entry in content["faq"]
        ],
        hours=hours,
        targets=targets,
        roster=_roster(content, today),
        payment_instructions=content["payment_instructions"]["zh"],
        payment_instructions_en=content["payment_instructions"]["en"],
    )


async def load_demo(today: date) -> Estate:
    """The demo estate, written first (for `today`) unless it is already in the store."""
    estate = await Estate.get_or_none(code=DEMO_CODE)
    if estate is not None:
        return estate
    try:
        await write_estate(demo_data(today), DEMO_CODE, _content()["name"])
    except (IntegrityError, ImportFailed):
        # Another process may have written it at the same moment; else the demo data is wrong.
        estate = await Estate.get_or_none(code=DEMO_CODE)
        if estate is None:
            raise
        return estate
    return await Estate.get(code=DEMO_CODE)


# How many owners a page of the web chat's picker lists at a time.
OWNERS_PAGE = 50


@dataclass(frozen=True)
class DemoOwner:
    """An owner of the demo estate as the web chat's picker lists them: with their units'
    labels, in natural order."""

    id: int
    name: str
    units: list[str]


@dataclass(frozen=True)
class DemoPeople:
    """Whom the web chat demo lets a page speak as: a page of the demo estate's owners (with
    the labels of their units) that match a search, how many match in all, and its active
    staff."""

    estate: Estate
    owners: list[DemoOwner]
    total: int
    staff: list[Staff]


async def demo_people(
    query: str = "", offset: int = 0, limit: int = OWNERS_PAGE
) -> list[DemoPeople]:
    """The demo estate's people (none when it is not in the store): at most `limit` of its
    owners on the register (not those marked inactive) from `offset`, in the order of their first
    unit, those whose name or a unit's label contains `query` (ignoring case) when one is given.

    The owners are read as plain (id, name, unit label) rows, not as objects with their units:
    one light query (about 10 ms for 2,580 owners), whatever the page."""
    found: list[DemoPeople] = []
    needle = query.strip().lower()
    for estate in await Estate.filter(code=DEMO_CODE):
        # Plain rows: tortoise's values_list over the join costs ten times as much here.
        _, rows = await connections.get("default").execute_query(
            "SELECT o.id, o.name, u.label FROM owner o"
            " LEFT JOIN owner_unit ou ON ou.owner_id = o.id"
            " LEFT JOIN unit u ON u.id = ou.unit_id"
            f" WHERE o.estate_id = {int(estate.id)} AND o.active"
        )
        names: dict[int, str] = {}
        units: dict[int, list[str]] = {}
        for row in rows:
            owner_id, name, label = row["id"], row["name"], row["label"]
            names[owner_id] = name
            labels = units.setdefault(owner_id, [])
            if label is not None:
                labels.append(label)
        owners = []
        for owner_id, name in names.items():
            labels = sorted(units[owner_id], key=natural_key)
            if (
                needle
                and needle not in name.lower()
                and not any(needle in label.lower() for label in labels)
            ):
                continue
            owners.append(DemoOwner(owner_id, name, labels))
        owners.sort(key=lambda o: (natural_key(o.units[0]) if o.units else (), o.id))
        staff = await Staff.filter(estate_id=estate.id, active=True).order_by("id")
        found.append(
            DemoPeople(
                estate=estate,
                owners=owners[offset : offset + limit],
                total=len(owners),
                staff=list(staff),
            )
        )
    return found


async def demo_person(role: str, person_id: int) -> tuple[Owner | Staff, Estate] | None:
    """An active owner (one the register lists) or staff member of the demo estate, with the
    estate; None otherwise."""
    person: Owner | Staff | None
    if role == "owner":
        person = await Owner.get_or_none(id=person_id, active=True, estate__code=DEMO_CODE)
    else:
        person = await Staff.get_or_none(id=person_id, active=True, estate__code=DEMO_CODE)
    if person is None:
        return None
    return person, await Estate.get(id=person.estate_id)
