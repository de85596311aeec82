"""An estate's service calendar and its promised times: when the office is open, and by when a
ticket is answered and done.

The calendar (`ServiceCalendar`) is an estate's office hours per weekday, mainland China's public
holidays and swapped working days (调休) from the `chinese-calendar` package, and the estate's own
closed days. A public holiday is closed whatever the weekday; a swapped working day (a Saturday
or Sunday worked to bridge a holiday) is open with the hours of the estate's first weekday that
has any (Monday's, usually). For a year the package has no data for yet (it is updated each year,
when the State Council publishes the next year's holidays), a WARNING is logged once per year and
that year counts weekdays only, with no holidays, until the package is upgraded.

The promised times (`Target`) are per estate, per kind, urgent or not, and per complaint
severity (`ServiceTarget` rows, edited in the estate workbook); what an estate has no row for
follows from its service standard (the `Estate` fields, the seeds' numbers). A target runs on
office time or round the clock: urgent tickets (emergencies) always run round the clock.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import chinese_calendar

from models import ClosedDay, Estate, OfficeHours, ServiceTarget, Severity, Ticket, TicketKind

if TYPE_CHECKING:
    from bot.core.reference import EstateCache

log = logging.getLogger(__name__)

# Office hours when an estate has set none: Monday to Friday, 08:30 to 17:30.
DEFAULT_OPENS = time(8, 30)
DEFAULT_CLOSES = time(17, 30)
# Adding office time looks this many days ahead for an open day before it gives up (an estate
# whose every day is closed) and counts round the clock instead, with a warning.
_HORIZON_DAYS = 400

_warned_years: set[int] = set()


@dataclass(frozen=True)
class Hours:
    """When the office is open on a day: from `opens` to `closes`, local wall time."""

    opens: time
    closes: time


DEFAULT_HOURS: Mapping[int, Hours] = {
    weekday: Hours(DEFAULT_OPENS, DEFAULT_CLOSES) for weekday in range(5)
}


class DayKind(StrEnum):
    """What the official calendar says a day is."""

    HOLIDAY = "holiday"  # a public holiday (法定节假日), the office is closed
    SWAPPED_WORKDAY = "swapped_workday"  # a weekend day worked instead (调休上班)
    ORDINARY = "ordinary"  # a weekday or weekend day like any other
    UNKNOWN = "unknown"  # beyond the package's data: counted as ordinary


def official_day(day: date) -> DayKind:
    """What mainland China's official calendar says `day` is (from `chinese-calendar`)."""
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning(
                "chinese-calendar has no public holidays for %s: that year counts weekdays only "
                "(no holidays, no swapped working days) until the package is upgraded",
                day.year,
            )
        return DayKind.UNKNOWN
    if on_holiday and name is not None:
        return DayKind.HOLIDAY
    if not on_holiday and day.weekday() >= 5:
        return DayKind.SWAPPED_WORKDAY
    return DayKind.ORDINARY


@dataclass(frozen=True)
class ServiceCalendar:
    """An estate's office hours, closed days and the official calendar, in its time zone."""

    timezone: str = "Asia/Shanghai"
    hours: Mapping[int, Hours] = field(default_factory=lambda: dict(DEFAULT_HOURS))
    closed_days: frozenset[date] = frozenset()

    @property
    def zone(self) -> ZoneInfo:
        """The estate's time zone."""
        return ZoneInfo(self.timezone)

    def hours_on(self, day: date) -> Hours | None:
        """The office hours of a local day, or None when the office is closed all day."""
        if day in self.closed_days:
            return None
        kind = official_day(day)
        if kind is DayKind.HOLIDAY:
            return None
        if kind is DayKind.SWAPPED_WORKDAY:
            weekdays = [self.hours[d] for d in range(5) if d in self.hours]
            return self.hours.get(day.weekday()) or (weekdays[0] if weekdays else None)
        return self.hours.get(day.weekday())

    def _span(self, day: date) -> tuple[datetime, datetime] | None:
        hours = self.hours_on(day)
        if hours is None or hours.closes <= hours.opens:
            return None
        zone = self.zone
        return (
            datetime.combine(day, hours.opens, tzinfo=zone),
            datetime.combine(day, hours.closes, tzinfo=zone),
        )

    def is_open(self, moment: datetime) -> bool:
        """Whether the office is open at `moment`."""
        span = self._span(moment.astimezone(self.zone).date())
        return span is not None and span[0] <= moment < span[1]

    def next_opening(self, moment: datetime) -> datetime | None:
        """`moment` when the office is open then, else when it next opens (None: never, within
        the horizon)."""
        day = moment.astimezone(self.zone).date()
        for offset in range(_HORIZON_DAYS):
            span = self._span(day + timedelta(days=offset))
            if span is None or span[1] <= moment:
                continue
            return max(span[0], moment)
        return None

    def add_office_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment `duration` of office time after `start` (counted from the next opening
        when the office is closed at `start`)."""
        left = duration
        day = start.astimezone(self.zone).date()
        for offset in range(_HORIZON_DAYS):
            span = self._span(day + timedelta(days=offset))
            if span is None or span[1] <= start:
                continue
            begin = max(span[0], start)
            if begin + left <= span[1]:
                return begin + left
            left -= span[1] - begin
        log.warning(
            "no office hours within %d days of %s: counting %s round the clock",
            _HORIZON_DAYS,
            start.isoformat(),
            duration,
        )
        return start + duration

    def office_time_between(self, start: datetime, end: datetime) -> timedelta:
        """How much office time passes from `start` to `end`."""
        total = timedelta()
        day = start.astimezone(self.zone).date()
        last = end.astimezone(self.zone).date()
        while day <= last:
            span = self._span(day)
            if span is not None:
                begin, close = max(span[0], start), min(span[1], end)
                if close > begin:
                    total += close - begin
            day += timedelta(days=1)
        return total


def add_clock_time(start: datetime, duration: timedelta) -> datetime:
    """The moment `duration` after `start`, round the clock (emergencies)."""
    return start + duration


def clock_time(minute: int) -> time:
    """A wall time from minutes after midnight (1440 is read as 23:59)."""
    minute = max(0, min(minute, 24 * 60 - 1))
    return time(minute // 60, minute % 60)


def minute_of(moment: time) -> int:
    """Minutes after midnight of a wall time."""
    return moment.hour * 60 + moment.minute


def calendar_of(
    timezone: str, hours: Iterable[OfficeHours], closed: Iterable[ClosedDay]
) -> ServiceCalendar:
    """The calendar of an estate's rows (no hours rows: the default hours)."""
    rows = list(hours)
    by_day = {
        row.weekday: Hours(clock_time(row.opens_minute), clock_time(row.closes_minute))
        for row in rows
    }
    return ServiceCalendar(
        timezone=timezone,
        hours=by_day if rows else dict(DEFAULT_HOURS),
        closed_days=frozenset(row.day for row in closed),
    )


async def load_calendar(estate: Estate) -> ServiceCalendar:
    """An estate's service calendar, from the store."""
    return calendar_of(
        estate.timezone,
        await OfficeHours.filter(estate_id=estate.id),
        await ClosedDay.filter(estate_id=estate.id),
    )


# --- Promised times ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A promised time: respond within, complete within, on office time or round the clock."""

    respond: timedelta
    resolve: timedelta
    office_time: bool = False


def default_target(estate: Estate, kind: TicketKind, urgent: bool, severity: str) -> Target:
    """The promised times an estate has no row for: its service standard (the seeds' numbers).

    A serious complaint (严重) is answered within an hour and settled within half the complaint
    time, an important one (重要) answered within 4 hours; a general one (一般), or a complaint of
    no severity, keeps the service standard's single answer time.
    """
    minutes, hours = timedelta(minutes=1), timedelta(hours=1)
    if kind is TicketKind.REPAIR:
        respond = estate.urgent_minutes if urgent else estate.onsite_minutes
        return Target(respond * minutes, estate.repair_hours * hours)
    total = (estate.complaint_hours if kind is TicketKind.COMPLAINT else estate.enquiry_hours) * (
        hours
    )
    if urgent:
        return Target(estate.urgent_minutes * minutes, total)
    if kind is TicketKind.COMPLAINT and severity == Severity.SERIOUS:
        return Target(min(hours, total), total / 2)
    if kind is TicketKind.COMPLAINT and severity == Severity.IMPORTANT:
        return Target(min(4 * hours, total), total)
    return Target(total, total)


def pick_target(
    estate: Estate, rows: Iterable[ServiceTarget], kind: TicketKind, urgent: bool, severity: str
) -> Target:
    """The target that applies: the row of this kind, urgency and severity, else the row of any
    severity, else the default. Urgent tickets always run round the clock."""
    by_key = {(row.kind, row.urgent, row.severity): row for row in rows}
    row = by_key.get((kind, urgent, severity)) or by_key.get((kind, urgent, ""))
    if row is None:
        return default_target(estate, kind, urgent, severity)
    return Target(
        timedelta(minutes=row.respond_minutes),
        timedelta(minutes=row.resolve_minutes),
        office_time=row.office_time and not urgent,
    )


async def target_for(estate: Estate, kind: TicketKind, urgent: bool, severity: str) -> Target:
    """The target of a ticket of the estate, from the store."""
    rows = await ServiceTarget.filter(estate_id=estate.id, kind=kind, urgent=urgent)
    return pick_target(estate, rows, kind, urgent, severity)


@dataclass(frozen=True)
class Promise:
    """A ticket's promised times, worked out on the calendar from when it (re)opened."""

    respond_by: datetime
    resolve_by: datetime
    office_time: bool


def promise_on(calendar: ServiceCalendar, target: Target, start: datetime) -> Promise:
    """The promised times of `target` for a ticket opened at `start`."""
    if target.office_time:
        return Promise(
            calendar.add_office_time(start, target.respond),
            calendar.add_office_time(start, target.resolve),
            office_time=True,
        )
    return Promise(
        add_clock_time(start, target.respond), add_clock_time(start, target.resolve), False
    )


async def promised_times(
    estate: Estate,
    kind: TicketKind,
    urgent: bool,
    severity: str,
    start: datetime,
    cache: EstateCache | None = None,
) -> Promise:
    """A ticket's promised times: the estate's target on the estate's calendar (read through
    `cache` when there is one, else from the store)."""
    if cache is not None:
        target = pick_target(estate, await cache.targets(estate.id), kind, urgent, severity)
        calendar = await cache.calendar(estate) if target.office_time else ServiceCalendar()
    else:
        target = await target_for(estate, kind, urgent, severity)
        calendar = await load_calendar(estate) if target.office_time else ServiceCalendar()
    return promise_on(calendar, target, start)


# --- An appointment as staff write it ------------------------------------------------------------

_APPOINTMENT = re.compile(
    r"^(?:(?P<word>今天|今日|明天|明日|后天|today|tomorrow)|(?:(?P<month>\d{1,2})[-/.月](?P<day>\d{1,2})日?))?"
    r"\s*(?P<hour>\d{1,2})(?:[:：点時时](?P<minute>\d{2})?分?)?\s*$",
    re.IGNORECASE,
)
_DAY_WORDS = {"今天": 0, "今日": 0, "today": 0, "明天": 1, "明日": 1, "tomorrow": 1, "后天": 2}


def parse_appointment(text: str, now: datetime, timezone: str) -> datetime | None:
    """The moment staff wrote for an appointment, read in the estate's time zone: `明天15:00`,
    `今天 9点`, `12-08 15:00`, `15:00` (today, or tomorrow when that has passed). None when it is
    not a time, or not one in the future."""
    match = _APPOINTMENT.match(text.strip())
    if match is None:
        return None
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    hour, minute = int(match["hour"]), int(match["minute"] or 0)
    if hour > 23 or minute > 59:
        return None
    if match["word"]:
        day = today + timedelta(days=_DAY_WORDS[match["word"].lower()])
    elif match["month"]:
        try:
            day = date(today.year, int(match["month"]), int(match["day"]))
        except ValueError:
            return None
        if day < today:
            day = day.replace(year=today.year + 1)
    else:
        day = today
    moment = datetime.combine(day, time(hour, minute), tzinfo=zone)
    if not match["word"] and not match["month"] and moment <= now:
        moment += timedelta(days=1)
    return moment if moment > now else None


async def promise_again(ticket: Ticket, now: datetime) -> tuple[datetime, datetime]:
    """A reopened ticket's new promised times, from `now` (its kind, urgency and severity)."""
    estate = await Estate.get(id=ticket.estate_id)  # type: ignore[attr-defined]
    promise = await promised_times(estate, ticket.kind, ticket.urgent, ticket.severity, now)
    return promise.respond_by, promise.resolve_by
