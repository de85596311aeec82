"""The duty roster (值班表): who is on duty when, per department, and who is paged.

A shift (`models.DutyShift`) puts one staff member on duty for one department from one instant
until another (a night shift ends the next morning). The roster comes from the estate workbook's
roster sheet (`bot/core/estate_import.py`) and is changed from the staff chat (`换班`); every
question asks the store at the moment in question, so a change takes effect at once.

Who is paged for a department at a moment (`paged`): the active staff whose shift covers it;
when nobody's does, the department's active staff marked on duty (`Staff.on_duty`); when the
department has nobody, the estate's supervisors. Somebody is always named while the estate has
a supervisor.

Who may swap a shift (`may_swap`): a supervisor or the estate manager, or either of the two
people whose shifts change; nobody else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from models import Department, DutyShift, Estate, Staff, StaffRole
from models.lookup import on_duty_staff
from models.statements import fetch

_MONTH_DAY = re.compile(r"(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?")
_FULL_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?")
TODAY_WORDS = frozenset({"今天", "今日", "today"})
TOMORROW_WORDS = frozenset({"明天", "明日", "tomorrow"})
YESTERDAY_WORDS = frozenset({"昨天", "昨日", "yesterday"})


async def on_duty_at(estate_id: int, department: Department | str, at: datetime) -> list[Staff]:
    """The active staff whose shift for `department` covers the instant `at`, in shift order."""
    at = at.astimezone(UTC)  # SQLite compares the stored text: UTC against UTC
    found: list[Staff] = []
    for member in await on_duty_staff(estate_id, Department(department), at):
        if member.active and all(member.id != other.id for other in found):
            found.append(member)
    return found


async def department_staff(estate_id: int, department: Department | str) -> list[Staff]:
    """The department's active staff marked on duty (the fallback when the roster is empty)."""
    where = {
        "estate_id": estate_id,
        "department": Department(department),
        "active": True,
        "on_duty": True,
    }
    return await fetch(Staff, where, order_by=["id"])


async def supervisors(estate_id: int, department: Department | str | None = None) -> list[Staff]:
    """The estate's active supervisors (of `department`, when given)."""
    where: dict[str, object] = {
        "estate_id": estate_id,
        "active": True,
        "role": StaffRole.SUPERVISOR,
    }
    if department is not None:
        where["department"] = Department(department)
    return await fetch(Staff, where, order_by=["id"])


async def managers(estate_id: int) -> list[Staff]:
    """The estate's active managers (项目经理)."""
    return await Staff.filter(estate_id=estate_id, active=True, role=StaffRole.MANAGER).order_by(
        "id"
    )


async def paged(estate_id: int, department: Department | str, at: datetime) -> list[Staff]:
    """Who is paged for the department's urgent tickets at `at`: whoever is on duty, else the
    department's staff, else the estate's supervisors."""
    return (
        await on_duty_at(estate_id, department, at)
        or await department_staff(estate_id, department)
        or await supervisors(estate_id)
    )


def local_day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The instants (UTC) a local calendar day starts and ends at in the estate's time zone."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


async def shifts_on(estate: Estate, day: date) -> list[DutyShift]:
    """The shifts that start on a local day, by department (in `Department`'s order) and time
    (staff prefetched)."""
    start, end = local_day_bounds(day, estate.timezone)
    shifts = (
        await DutyShift.filter(estate_id=estate.id, starts_at__gte=start, starts_at__lt=end)
        .order_by("starts_at", "id")
        .prefetch_related("staff")
    )
    order = list(Department)
    return sorted(shifts, key=lambda shift: order.index(Department(shift.department)))


def parse_day(word: str, today: date) -> date | None:
    """A day as staff write it: 今天/明天/昨天, `12-08`, `12月8日`, `2026-12-08`; None when it
    is none. A month and day without a year is the nearest such date (a December date written
    in January is last December's only when it is closer than next December's)."""
    text = word.strip().lower()
    if text in TODAY_WORDS:
        return today
    if text in TOMORROW_WORDS:
        return today + timedelta(days=1)
    if text in YESTERDAY_WORDS:
        return today - timedelta(days=1)
    try:
        full = _FULL_DATE.fullmatch(text)
        if full:
            return date(int(full[1]), int(full[2]), int(full[3]))
        short = _MONTH_DAY.fullmatch(text)
        if short:
            month, day = int(short[1]), int(short[2])
            candidates = []
            for year in (today.year - 1, today.year, today.year + 1):
                try:
                    candidates.append(date(year, month, day))
                except ValueError:
                    continue
            if not candidates:
                return None
            return min(candidates, key=lambda d: abs((d - today).days))
    except ValueError:
        return None
    return None


def may_swap(actor: Staff, first: Staff, second: Staff) -> bool:
    """Whether `actor` may swap the two people's shifts: a supervisor or manager, or one of
    the two."""
    return StaffRole(actor.role).supervises or actor.id in (first.id, second.id)


@dataclass(frozen=True)
class Swapped:
    """What a swap changed: the shifts that went from the first to the second, and back."""

    given: int
    taken: int


async def swap(estate: Estate, first: Staff, second: Staff, day: date) -> Swapped:
    """Swap the two people's shifts starting on the local `day`: the first's go to the
    second and the second's (if any) to the first, in one transaction. Nothing changes (0, 0)
    when the first has no shift that day."""
    start, end = local_day_bounds(day, estate.timezone)
    async with in_transaction():
        mine = await DutyShift.filter(
            estate_id=estate.id, staff_id=first.id, starts_at__gte=start, starts_at__lt=end
        ).values_list("id", flat=True)
        if not mine:
            return Swapped(0, 0)
        theirs = await DutyShift.filter(
            estate_id=estate.id, staff_id=second.id, starts_at__gte=start, starts_at__lt=end
        ).values_list("id", flat=True)
        await DutyShift.filter(id__in=list(mine)).update(staff_id=second.id)
        if theirs:
            await DutyShift.filter(id__in=list(theirs)).update(staff_id=first.id)
    return Swapped(len(mine), len(theirs))


@dataclass(frozen=True)
class ShiftRow:
    """A shift to write: the staff member by name, wall-clock start and end in the estate's
    zone (an end at or before the start is the next day's)."""

    day: date
    start: time
    end: time
    department: Department
    name: str


def shift_instants(row: ShiftRow, timezone: str) -> tuple[datetime, datetime]:
    """A shift row's start and end as instants (UTC)."""
    zone = ZoneInfo(timezone)
    starts = datetime.combine(row.day, row.start, tzinfo=zone)
    end_day = row.day if row.end > row.start else row.day + timedelta(days=1)
    ends = datetime.combine(end_day, row.end, tzinfo=zone)
    return starts.astimezone(UTC), ends.astimezone(UTC)
