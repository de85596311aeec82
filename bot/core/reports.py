"""The month's repair and complaint report: the figures the seeds keep, as text, chart, workbook.

`month_report` reads the store once and works out, for the repair and complaint tickets opened in a
calendar month of the estate's time zone: how many were received, dispatched (claimed at least
once, per department), done and still open (and why), the on-time rate against each promised time
(the targets that applied, on the estate's calendar, time paused waiting on the owner excluded;
also per department and per staff member: who first took it answers for the response, who
resolved it for the completion),
the ratings, and the complaint summary table (投诉月度汇总表). The rest are pure functions of that
report: `render_text` for the staff chat, `chart_png` (tickets per department per ISO week) and
`workbook_bytes` (every ticket of the month, and the complaint summary) for the files.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.core.calendar import ServiceCalendar, load_calendar, pick_target, promise_on
from bot.core.i18n import Catalogues
from bot.core.promises import late, moved_on, paused_for
from models import (
    Department,
    Estate,
    EventKind,
    Rating,
    ServiceTarget,
    Severity,
    Staff,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketStatus,
)
from models.lifecycle import POOR_RATINGS

if TYPE_CHECKING:
    from matplotlib.font_manager import FontManager

log = logging.getLogger(__name__)

__all__ = [
    "BadMonth",
    "ComplaintRow",
    "KindFigures",
    "MonthReport",
    "OnTime",
    "OnTimeBy",
    "OpenTicket",
    "ReportFiles",
    "TicketRow",
    "WeekCount",
    "chart_figure",
    "chart_png",
    "cjk_font",
    "installed_fonts",
    "month_bounds",
    "month_report",
    "parse_month",
    "render_text",
    "report_directory",
    "workbook_bytes",
    "write_report_files",
]

REPORTED_KINDS = (TicketKind.REPAIR, TicketKind.COMPLAINT)
DONE = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED})
# The text for the chat keeps the complaint table short; the workbook always has every row.
TEXT_COMPLAINT_ROWS = 20
TEXT_CONTENT_CHARS = 40
# Fonts with Chinese glyphs that matplotlib may find on a machine, best first.
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "STHeiti",
    "Noto Serif CJK SC",
    "AR PL UMing CN",
    "Droid Sans Fallback",
)
_MONTH = re.compile(r"\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?\s*")
_SAFE_CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")


class BadMonth(ValueError):
    """A month that is not written as YYYY-MM, or is out of range."""


def parse_month(text: str) -> str:
    """The month `text` names, as `YYYY-MM` (`2026-11`, `2026/11`, `2026年11月`, `2026-1`)."""
    match = _MONTH.fullmatch(text or "")
    if match is None:
        raise BadMonth(f"{text!r} is not a month written as YYYY-MM")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or not 2000 <= year <= 2100:
        raise BadMonth(f"{text!r} is not a month between 2000-01 and 2100-12")
    return f"{year:04d}-{month:02d}"


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The first moment of `month` in `tz` and the first moment of the month after."""
    year, number = map(int, parse_month(month).split("-"))
    start = datetime(year, number, 1, tzinfo=tz)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=tz)
    return start, end


def month_started(month: str, tz: ZoneInfo, now: datetime) -> bool:
    """Whether `month` has begun at `now` (a report of a month to come has nothing to count)."""
    return month_bounds(month, tz)[0] <= now


@dataclass(frozen=True)
class OnTime:
    """How many promises of one kind were kept, of those whose outcome is known."""

    kept: int
    due: int

    @property
    def rate(self) -> float | None:
        """The share kept, or None when no promise has fallen due."""
        return self.kept / self.due if self.due else None


@dataclass(frozen=True)
class OnTimeBy:
    """The on-time rates of one department or one staff member (`name`: a department's value or
    a staff member's name)."""

    name: str
    response: OnTime
    resolve: OnTime


@dataclass(frozen=True)
class OpenTicket:
    """A ticket not done yet, and why: its status, who holds it, and which promise it missed."""

    number: str
    department: Department
    status: TicketStatus
    claimed_by: str | None
    late_response: bool
    late_resolve: bool
    reopened: bool

    @property
    def overdue(self) -> bool:
        """Whether it has passed a promised time."""
        return self.late_response or self.late_resolve


@dataclass(frozen=True)
class KindFigures:
    """The month's figures for one kind of ticket (repairs or complaints)."""

    kind: TicketKind
    received: int
    dispatched: int
    dispatched_by_department: Mapping[Department, int]
    done: int
    still_open: tuple[OpenTicket, ...]
    response: OnTime
    resolve: OnTime
    # Every rating the owners gave, in order, including a poor one that reopened the ticket.
    ratings: tuple[int, ...]
    reopened_by_rating: int
    # Revisits: the tickets resolved at least once, and how many of those the owner rated.
    resolved_once: int = 0
    rated: int = 0
    # Tickets reopened at least once, by a poor rating or by staff.
    reopened: int = 0

    @property
    def average_rating(self) -> float | None:
        """The mean of the ratings given, or None when there are none."""
        return sum(self.ratings) / len(self.ratings) if self.ratings else None

    @property
    def poor_ratings(self) -> int:
        """How many ratings were 不满意 or 极不满意."""
        return sum(1 for rating in self.ratings if rating in POOR_RATINGS)

    @property
    def poor_share(self) -> float | None:
        """The share of ratings that were 不满意 or 极不满意."""
        return self.poor_ratings / len(self.ratings) if self.ratings else None

    @property
    def revisit(self) -> OnTime:
        """The revisit rate (回访率): of the tickets resolved, how many the owner rated."""
        return OnTime(kept=self.rated, due=self.resolved_once)

    @property
    def satisfaction(self) -> OnTime:
        """The satisfaction rate (满意率): of the ratings given, how many were 满意 or better."""
        good = sum(1 for rating in self.ratings if rating >= Rating.SATISFIED)
        return OnTime(kept=good, due=len(self.ratings))


@dataclass(frozen=True)
class ComplaintRow:
    """One row of the complaint summary table (投诉月度汇总表); it never holds a phone number.
    Its times are in the estate's time zone; `overdue` is None while no promise has fallen due."""

    opened_at: datetime
    number: str
    owner: str
    unit: str
    content: str
    department: Department
    result: str
    rating: int | None
    handler: str = ""
    resolved_at: datetime | None = None
    overdue: bool | None = None


@dataclass(frozen=True)
class TicketRow:
    """One ticket of the month for the workbook, its times in the estate's time zone."""

    number: str
    kind: TicketKind
    department: Department
    urgent: bool
    status: TicketStatus
    unit: str
    owner: str
    text: str
    created_at: datetime
    claimed_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    rating: int | None
    result: str
    reopen_count: int
    handler: str = ""
    overdue: bool | None = None
    severity: str = ""


@dataclass(frozen=True)
class WeekCount:
    """Repair and complaint tickets opened in one ISO week of the month (up to the day the
    report is taken), per department."""

    year: int
    week: int
    first_day: date
    last_day: date
    repairs: Mapping[Department, int]
    complaints: Mapping[Department, int]

    def of(self, kind: TicketKind) -> Mapping[Department, int]:
        """The week's counts of one kind."""
        return self.repairs if kind is TicketKind.REPAIR else self.complaints


@dataclass(frozen=True)
class MonthReport:
    """Everything the month's report shows, worked out at `generated_at`."""

    estate_id: int
    estate_code: str
    estate_name: str
    month: str
    timezone: str
    generated_at: datetime
    repair: KindFigures
    complaint: KindFigures
    complaints: tuple[ComplaintRow, ...]
    weeks: tuple[WeekCount, ...]
    # Every ticket opened in the month, enquiries too, for the workbook.
    tickets: tuple[TicketRow, ...] = field(default=())
    # Repairs and complaints together, per department and per staff member.
    by_department: tuple[OnTimeBy, ...] = field(default=())
    by_staff: tuple[OnTimeBy, ...] = field(default=())

    def figures(self) -> tuple[KindFigures, KindFigures]:
        """The repair figures, then the complaint figures."""
        return self.repair, self.complaint


@dataclass
class _History:
    """What a ticket's events say beyond its current row."""

    first_claim_at: datetime | None = None
    first_resolved_at: datetime | None = None
    # Who first took it and who first resolved it ("staff:<id>", or another actor).
    first_claim_by: str | None = None
    first_resolved_by: str | None = None
    last_resolved_by: str | None = None
    claimed_in: set[Department] = field(default_factory=set)
    ratings: list[int] = field(default_factory=list)
    poor_rated: bool = False


def _department(value: Any, fallback: Department) -> Department:
    try:
        return Department(str(value))
    except ValueError:
        return fallback


def _history(ticket: Ticket, events: Sequence[TicketEvent]) -> _History:
    """Walk a ticket's events in order: where it was claimed, first claim and resolve, ratings."""
    history = _History()
    transfers = [event for event in events if event.kind is EventKind.TRANSFERRED]
    # Transfers record where the ticket came from, so its first department is recoverable.
    department = (
        _department(transfers[0].data.get("from"), ticket.department)
        if transfers
        else ticket.department
    )
    held = False

    def claim(at: datetime, actor: str) -> None:
        nonlocal held
        held = True
        history.claimed_in.add(department)
        if history.first_claim_at is None:
            history.first_claim_at = at
            history.first_claim_by = actor

    for event in events:
        if event.kind is EventKind.CLAIMED:
            claim(event.at, event.actor)
        elif event.kind is EventKind.TRANSFERRED:
            department = _department(event.data.get("to"), department)
            held = False
        elif event.kind is EventKind.REOPENED:
            held = False
        elif event.kind is EventKind.RESOLVED:
            # Resolving an unclaimed ticket makes the resolver its holder (see resolve_ticket):
            # that is a dispatch and a response at that moment.
            if not held:
                claim(event.at, event.actor)
            held = False
            history.last_resolved_by = event.actor
            if history.first_resolved_at is None:
                history.first_resolved_at = event.at
                history.first_resolved_by = event.actor
        elif event.kind is EventKind.RATED:
            try:
                rating = int(event.data.get("rating"))
            except (TypeError, ValueError):
                continue
            history.ratings.append(rating)
            history.poor_rated = history.poor_rated or rating in POOR_RATINGS
    return history


@dataclass(frozen=True)
class _Rules:
    """What the promised times follow from: the estate's targets and calendar."""

    estate: Estate
    targets: Sequence[ServiceTarget]
    calendar: ServiceCalendar


def _first_promise(rules: _Rules, ticket: Ticket) -> tuple[datetime, datetime]:
    """The response and resolve times promised when the ticket was opened."""
    if ticket.reopen_count == 0:
        return ticket.due_response_at, ticket.due_resolve_at
    # A reopen replaces the stored promise; the owner's first one follows from the targets.
    target = pick_target(rules.estate, rules.targets, ticket.kind, ticket.urgent, ticket.severity)
    promise = promise_on(rules.calendar, target, ticket.created_at)
    return promise.respond_by, promise.resolve_by


def _outcomes(
    rules: _Rules, ticket: Ticket, history: _History, now: datetime
) -> tuple[bool | None, bool | None]:
    """Whether the ticket's first promises were kept: the response, and the completion with the
    time it waited on the owner (by when it was done, or by now) added."""
    respond_by, resolve_by = _first_promise(rules, ticket)
    paused = paused_for(ticket, history.first_resolved_at or now, rules.calendar)
    resolve_by = moved_on(ticket, resolve_by, paused, rules.calendar)
    return (
        _kept(history.first_claim_at, respond_by, now),
        _kept(history.first_resolved_at, resolve_by, now),
    )


def _kept(done_at: datetime | None, due: datetime, now: datetime) -> bool | None:
    """True when done by the due time, False when done late or not done and past due, else None."""
    if done_at is not None:
        return done_at <= due
    return False if now > due else None


def _on_time(outcomes: Iterable[bool | None]) -> OnTime:
    known = [outcome for outcome in outcomes if outcome is not None]
    return OnTime(kept=sum(known), due=len(known))


def _figures(
    rules: _Rules,
    kind: TicketKind,
    tickets: Sequence[Ticket],
    histories: Mapping[int, _History],
    now: datetime,
) -> KindFigures:
    mine = [ticket for ticket in tickets if ticket.kind is kind]
    dispatched_by: dict[Department, int] = {}
    responses: list[bool | None] = []
    resolves: list[bool | None] = []
    ratings: list[int] = []
    still_open: list[OpenTicket] = []
    for ticket in mine:
        history = histories[ticket.id]
        for department in history.claimed_in:
            dispatched_by[department] = dispatched_by.get(department, 0) + 1
        response, resolve = _outcomes(rules, ticket, history, now)
        responses.append(response)
        resolves.append(resolve)
        ratings.extend(history.ratings)
        if ticket.status not in DONE:
            missed = late(ticket, now, rules.calendar)
            still_open.append(
                OpenTicket(
                    number=ticket.number,
                    department=ticket.department,
                    status=ticket.status,
                    claimed_by=ticket.claimed_by.name if ticket.claimed_by else None,
                    late_response=missed.response,
                    late_resolve=missed.resolve,
                    reopened=ticket.reopen_count > 0,
                )
            )
    return KindFigures(
        kind=kind,
        received=len(mine),
        dispatched=sum(1 for ticket in mine if histories[ticket.id].claimed_in),
        dispatched_by_department={d: dispatched_by[d] for d in Department if d in dispatched_by},
        done=sum(1 for ticket in mine if ticket.status in DONE),
        still_open=tuple(still_open),
        response=_on_time(responses),
        resolve=_on_time(resolves),
        ratings=tuple(ratings),
        reopened_by_rating=sum(1 for ticket in mine if histories[ticket.id].poor_rated),
        resolved_once=sum(1 for t in mine if histories[t.id].first_resolved_at is not None),
        rated=sum(
            1
            for t in mine
            if histories[t.id].first_resolved_at is not None and histories[t.id].ratings
        ),
        reopened=sum(1 for ticket in mine if ticket.reopen_count > 0),
    )


def _by_whom(
    rules: _Rules,
    tickets: Sequence[Ticket],
    histories: Mapping[int, _History],
    staff_names: Mapping[str, str],
    now: datetime,
) -> tuple[tuple[OnTimeBy, ...], tuple[OnTimeBy, ...]]:
    """On-time rates of repairs and complaints per department (the ticket's) and per staff
    member (the response of who first took it, the completion of who resolved it)."""
    departments: dict[str, tuple[list[bool | None], list[bool | None]]] = {}
    staff: dict[str, tuple[list[bool | None], list[bool | None]]] = {}
    for ticket in tickets:
        if ticket.kind not in REPORTED_KINDS:
            continue
        history = histories[ticket.id]
        response, resolve = _outcomes(rules, ticket, history, now)
        mine = departments.setdefault(str(ticket.department), ([], []))
        mine[0].append(response)
        mine[1].append(resolve)
        for actor, index, outcome in (
            (history.first_claim_by, 0, response),
            (history.first_resolved_by, 1, resolve),
        ):
            name = staff_names.get(actor or "")
            if name is not None:
                staff.setdefault(name, ([], []))[index].append(outcome)
    by_department = tuple(
        OnTimeBy(str(d), _on_time(departments[d][0]), _on_time(departments[d][1]))
        for d in Department
        if str(d) in departments
    )
    by_staff = tuple(
        OnTimeBy(name, _on_time(outcomes[0]), _on_time(outcomes[1]))
        for name, outcomes in sorted(staff.items())
    )
    return by_department, by_staff


def _weeks(
    start: datetime, end: datetime, tickets: Sequence[Ticket], tz: ZoneInfo, now: datetime
) -> tuple[WeekCount, ...]:
    """The month's ISO weeks up to today (a week to come has nothing to draw), with the repairs
    and the complaints opened in each, per department."""
    days: dict[tuple[int, int], list[date]] = {}
    day, today = start.date(), now.astimezone(tz).date()
    while day < end.date() and day <= today:
        iso = day.isocalendar()
        days.setdefault((iso.year, iso.week), []).append(day)
        day += timedelta(days=1)
    counts: dict[tuple[int, int, TicketKind], dict[Department, int]] = {}
    for ticket in tickets:
        if ticket.kind not in REPORTED_KINDS:
            continue
        iso = ticket.created_at.astimezone(tz).date().isocalendar()
        week = counts.setdefault((iso.year, iso.week, ticket.kind), {})
        week[ticket.department] = week.get(ticket.department, 0) + 1

    def of(year: int, week: int, kind: TicketKind) -> dict[Department, int]:
        found = counts.get((year, week, kind), {})
        return {d: found[d] for d in Department if d in found}

    return tuple(
        WeekCount(
            year=year,
            week=week,
            first_day=dates[0],
            last_day=dates[-1],
            repairs=of(year, week, TicketKind.REPAIR),
            complaints=of(year, week, TicketKind.COMPLAINT),
        )
        for (year, week), dates in days.items()
    )


def _owner_name(ticket: Ticket) -> str:
    # The owner's name on file, else the name the chat showed; a phone number is never used.
    return ticket.owner.name if ticket.owner else ticket.reporter_name


def _local(value: datetime | None, tz: ZoneInfo) -> datetime | None:
    return value.astimezone(tz) if value is not None else None


def _handler(ticket: Ticket, history: _History, staff_names: Mapping[str, str]) -> str:
    """Who handled the ticket: who last resolved it, else who holds it now, else nobody."""
    name = staff_names.get(history.last_resolved_by or "")
    if name is not None:
        return name
    return ticket.claimed_by.name if ticket.claimed_by else ""


def _overdue(outcomes: tuple[bool | None, bool | None]) -> bool | None:
    """Whether a promise was missed (response or completion), None while none has fallen due
    and none was missed."""
    if False in outcomes:
        return True
    return None if None in outcomes else False


async def month_report(estate: Estate, month: str, now: datetime) -> MonthReport:
    """The report of the repair and complaint tickets opened in `month` (YYYY-MM), as of `now`."""
    if now.tzinfo is None:
        raise ValueError("month_report needs an aware `now`")
    tz = ZoneInfo(estate.timezone)
    month = parse_month(month)
    start, end = month_bounds(month, tz)
    window = {
        "created_at__gte": start.astimezone(UTC),
        "created_at__lt": end.astimezone(UTC),
    }
    tickets = (
        await Ticket.filter(estate_id=estate.id, **window)
        .order_by("created_at", "id")
        .prefetch_related("owner", "unit", "claimed_by")
    )
    events: dict[int, list[TicketEvent]] = {ticket.id: [] for ticket in tickets}
    ticket_window = {f"ticket__{name}": value for name, value in window.items()}
    if tickets:
        # A join rather than a list of ids: a busy month must not exceed SQLite's variable
        # limit. Tickets are numbered as they are opened, so the month's lie between its first
        # and last ids: that range lets the events be read through their ticket index, not all.
        ids = [ticket.id for ticket in tickets]
        for event in await TicketEvent.filter(
            ticket__estate_id=estate.id,
            ticket_id__gte=min(ids),
            ticket_id__lte=max(ids),
            **ticket_window,
        ).order_by("id"):
            events[event.ticket_id].append(event)  # type: ignore[attr-defined]
    histories = {ticket.id: _history(ticket, events[ticket.id]) for ticket in tickets}
    rules = _Rules(
        estate, await ServiceTarget.filter(estate_id=estate.id), await load_calendar(estate)
    )
    staff_names = {
        f"staff:{member.id}": member.name for member in await Staff.filter(estate_id=estate.id)
    }
    by_department, by_staff = _by_whom(rules, tickets, histories, staff_names, now)
    overdue = {
        ticket.id: _overdue(_outcomes(rules, ticket, histories[ticket.id], now))
        for ticket in tickets
    }
    handlers = {
        ticket.id: _handler(ticket, histories[ticket.id], staff_names) for ticket in tickets
    }
    complaints = tuple(
        ComplaintRow(
            opened_at=ticket.created_at.astimezone(tz),
            number=ticket.number,
            owner=_owner_name(ticket),
            unit=ticket.unit.label if ticket.unit else "",
            content=ticket.text,
            department=ticket.department,
            result=ticket.result,
            rating=ticket.rating,
            handler=handlers[ticket.id],
            resolved_at=_local(ticket.resolved_at, tz),
            overdue=overdue[ticket.id],
        )
        for ticket in tickets
        if ticket.kind is TicketKind.COMPLAINT
    )
    rows = tuple(
        TicketRow(
            number=ticket.number,
            kind=ticket.kind,
            department=ticket.department,
            urgent=ticket.urgent,
            status=ticket.status,
            unit=ticket.unit.label if ticket.unit else "",
            owner=_owner_name(ticket),
            text=ticket.text,
            created_at=ticket.created_at.astimezone(tz),
            claimed_at=_local(ticket.claimed_at, tz),
            resolved_at=_local(ticket.resolved_at, tz),
            closed_at=_local(ticket.closed_at, tz),
            rating=ticket.rating,
            result=ticket.result,
            reopen_count=ticket.reopen_count,
            handler=handlers[ticket.id],
            # An enquiry promises nothing the report counts.
            overdue=overdue[ticket.id] if ticket.kind in REPORTED_KINDS else None,
            severity=ticket.severity,
        )
        for ticket in tickets
    )
    return MonthReport(
        estate_id=estate.id,
        estate_code=estate.code,
        estate_name=estate.name,
        month=month,
        timezone=estate.timezone,
        generated_at=now.astimezone(tz),
        repair=_figures(rules, TicketKind.REPAIR, tickets, histories, now),
        complaint=_figures(rules, TicketKind.COMPLAINT, tickets, histories, now),
        complaints=complaints,
        weeks=_weeks(start, end, tickets, tz, now),
        tickets=rows,
        by_department=by_department,
        by_staff=by_staff,
    )


# -- text ---------------------------------------------------------------------------------------


def _rate_text(on_time: OnTime, catalogues: Catalogues, lang: str) -> str:
    if on_time.rate is None:
        return catalogues.text(lang, "report.rate_none")
    return catalogues.text(
        lang,
        "report.rate",
        kept=on_time.kept,
        due=on_time.due,
        percent=f"{on_time.rate * 100:.0f}%",
    )


def _rating_text(rating: int | None, catalogues: Catalogues, lang: str) -> str:
    if rating is None or rating not in {int(step) for step in Rating}:
        return catalogues.text(lang, "report.unrated")
    return catalogues.text(lang, f"report.rating.{rating}")


def _open_reason(item: OpenTicket, catalogues: Catalogues, lang: str) -> str:
    t = catalogues.text
    parts = [
        t(lang, "report.state.claimed", staff=item.claimed_by)
        if item.claimed_by
        else t(lang, "report.state.unclaimed")
    ]
    if item.late_response:
        parts.append(t(lang, "report.state.late_response"))
    if item.late_resolve:
        parts.append(t(lang, "report.state.late_resolve"))
    if item.reopened:
        parts.append(t(lang, "report.state.reopened"))
    return t(lang, "report.state_sep").join(parts)


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _kind_lines(figures: KindFigures, catalogues: Catalogues, lang: str) -> list[str]:
    t = catalogues.text
    sep = t(lang, "report.list_sep")
    departments = sep.join(
        t(lang, "report.department_count", department=t(lang, f"department.{d}"), count=n)
        for d, n in figures.dispatched_by_department.items()
    )
    lines = [
        t(
            lang,
            "report.figures",
            kind=t(lang, f"report.kind.{figures.kind}"),
            received=figures.received,
            dispatched=figures.dispatched,
            done=figures.done,
            open=len(figures.still_open),
        ),
        t(lang, "report.dispatched", departments=departments or t(lang, "report.none")),
        t(
            lang,
            "report.on_time",
            response=_rate_text(figures.response, catalogues, lang),
            resolve=_rate_text(figures.resolve, catalogues, lang),
        ),
    ]
    if figures.ratings:
        assert figures.average_rating is not None and figures.poor_share is not None
        lines.append(
            t(
                lang,
                "report.ratings",
                count=len(figures.ratings),
                average=f"{figures.average_rating:.2f}",
                poor=figures.poor_ratings,
                share=f"{figures.poor_share * 100:.0f}%",
                reopened=figures.reopened_by_rating,
            )
        )
    else:
        lines.append(t(lang, "report.no_ratings"))
    if figures.still_open:
        lines.append(t(lang, "report.open_header"))
        lines.extend(
            t(
                lang,
                "report.open_line",
                number=item.number,
                department=t(lang, f"department.{item.department}"),
                reason=_open_reason(item, catalogues, lang),
            )
            for item in figures.still_open
        )
    return lines


def render_text(report: MonthReport, catalogues: Catalogues, lang: str) -> str:
    """The report as a message for the staff chat, in `lang`."""
    t = catalogues.text
    lines = [
        t(
            lang,
            "report.title",
            estate=report.estate_name,
            month=report.month,
            asof=report.generated_at.strftime("%Y-%m-%d %H:%M"),
        )
    ]
    for figures in report.figures():
        lines.append("")
        lines.extend(_kind_lines(figures, catalogues, lang))
    for header, rows, departments in (
        ("report.by_department", report.by_department, True),
        ("report.by_staff", report.by_staff, False),
    ):
        if not rows:
            continue
        lines.append("")
        lines.append(t(lang, header))
        lines.extend(
            t(
                lang,
                "report.by_line",
                name=t(lang, f"department.{row.name}") if departments else row.name,
                response=_rate_text(row.response, catalogues, lang),
                resolve=_rate_text(row.resolve, catalogues, lang),
            )
            for row in rows
        )
    lines.append("")
    lines.append(t(lang, "report.complaints_header"))
    if not report.complaints:
        lines.append(t(lang, "report.no_complaints"))
    for row in report.complaints[:TEXT_COMPLAINT_ROWS]:
        lines.append(
            t(
                lang,
                "report.complaint_line",
                date=row.opened_at.strftime("%m-%d"),
                owner=row.owner or "-",
                unit=row.unit or "-",
                content=_short(row.content, TEXT_CONTENT_CHARS),
                department=t(lang, f"department.{row.department}"),
                result=_short(row.result, TEXT_CONTENT_CHARS) or t(lang, "report.no_result"),
                rating=_rating_text(row.rating, catalogues, lang),
            )
        )
    hidden = len(report.complaints) - TEXT_COMPLAINT_ROWS
    if hidden > 0:
        lines.append(t(lang, "report.complaints_more", count=hidden))
    return "\n".join(lines)


# -- chart --------------------------------------------------------------------------------------


def cjk_font(available: Iterable[str]) -> str | None:
    """The best font for Chinese among the `available` font names, or None when there is none."""
    names = set(available)
    for name in CJK_FONTS:
        if name in names:
            return name
    generic = sorted(name for name in names if "CJK" in name)
    return generic[0] if generic else None


def installed_fonts(manager: FontManager | None = None) -> set[str]:
    """The names of the fonts matplotlib can draw with (`manager`: its font manager). Its list
    is cached from the first time it ran on the machine: when it holds no font for Chinese,
    the system's font files it does not know (a font installed since; the files are listed
    once per process) are added to it before giving up on Chinese labels."""
    from matplotlib import font_manager

    manager = manager or font_manager.fontManager
    names = {entry.name for entry in manager.ttflist}
    if cjk_font(names) is not None:
        return names
    known = {entry.fname for entry in manager.ttflist}
    for path in _system_font_files():
        if path in known:
            continue
        try:
            manager.addfont(path)
        except (OSError, RuntimeError, ValueError):  # a file FreeType cannot read
            log.warning("font file %s cannot be read", path)
    return {entry.name for entry in manager.ttflist}


@functools.cache
def _system_font_files() -> tuple[str, ...]:
    from matplotlib import font_manager

    return tuple(sorted(font_manager.findSystemFonts()))


def chart_lang(lang: str) -> tuple[str, str | None]:
    """The language the chart can be labelled in here, and the CJK font to use for it."""
    font = cjk_font(installed_fonts())
    # Without a font that has Chinese glyphs, Chinese labels would render as empty boxes.
    if lang == "zh" and font is None:
        return "en", None
    return lang, font


def _week_bars(
    axes: Any,
    report: MonthReport,
    kind: TicketKind,
    catalogues: Catalogues,
    lang: str,
    props: Any,
) -> None:
    """One kind's tickets per department per week, as grouped bars on `axes`."""
    from matplotlib.ticker import MaxNLocator

    t = catalogues.text
    weeks = report.weeks
    departments = [d for d in Department if any(week.of(kind).get(d) for week in weeks)]
    positions = list(range(len(weeks)))
    width = 0.8 / max(len(departments), 1)
    for index, department in enumerate(departments):
        offset = (index - (len(departments) - 1) / 2) * width
        axes.bar(
            [x + offset for x in positions],
            [week.of(kind).get(department, 0) for week in weeks],
            width=width,
            label=t(lang, f"department.{department}"),
            # A department keeps its colour in both charts.
            color=f"C{list(Department).index(department)}",
        )
    axes.set_xticks(positions)
    axes.set_xticklabels(
        [
            t(
                lang,
                "report.chart.week",
                week=week.week,
                first=week.first_day.strftime("%m-%d"),
                last=week.last_day.strftime("%m-%d"),
            )
            for week in weeks
        ],
        fontproperties=props,
    )
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(bottom=0)
    axes.set_ylabel(t(lang, "report.chart.ylabel"), fontproperties=props)
    axes.set_title(t(lang, f"report.chart.kind.{kind}"), fontproperties=props)
    if departments:
        # To the right of the axes, so that it never hides a bar.
        axes.legend(prop=props, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        axes.text(
            0.5,
            0.5,
            t(lang, f"report.chart.empty.{kind}"),
            transform=axes.transAxes,
            ha="center",
            fontproperties=props,
        )


def chart_figure(report: MonthReport, catalogues: Catalogues, lang: str = "zh") -> Any:
    """The chart as a matplotlib Figure: the month's tickets per department per ISO week up to
    the day the report is taken, the repairs above, the complaints below, each on its own axes."""
    # Imported here: matplotlib is slow to import and only reports need it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    lang, font = chart_lang(lang)
    props = FontProperties(family=[font, "DejaVu Sans"]) if font else FontProperties()
    figure = Figure(figsize=(9, 7), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    for axes, kind in zip(figure.subplots(2, 1), REPORTED_KINDS, strict=True):
        _week_bars(axes, report, kind, catalogues, lang, props)
    figure.suptitle(
        catalogues.text(lang, "report.chart.title", estate=report.estate_name, month=report.month),
        fontproperties=props,
    )
    return figure


def chart_png(report: MonthReport, catalogues: Catalogues, lang: str = "zh") -> bytes:
    """The chart (`chart_figure`) as a PNG."""
    buffer = io.BytesIO()
    chart_figure(report, catalogues, lang).savefig(buffer, format="png")
    return buffer.getvalue()


# -- workbook -----------------------------------------------------------------------------------

SUMMARY_COLUMNS = ("group", "item", "count", "ratio", "rate")
COMPLAINT_COLUMNS = (
    "seq",
    "opened",
    "owner",
    "unit",
    "text",
    "department",
    "handler",
    "result",
    "resolved",
    "overdue",
    "rating",
)
TICKET_COLUMNS = (
    "seq",
    "number",
    "kind",
    "department",
    "urgent",
    "status",
    "unit",
    "owner",
    "text",
    "created",
    "claimed",
    "resolved",
    "closed",
    "handler",
    "result",
    "overdue",
    "rating",
    "reopened",
)
_WIDTHS = {"text": 40, "result": 30, "created": 17, "claimed": 17, "opened": 17, "item": 24}
_WIDTHS.update(resolved=17, closed=17, owner=14, unit=12, department=14, status=14, group=14)
_WIDTHS.update(seq=6, handler=12, overdue=10, rating=12, ratio=12, rate=10, number=10)
# Every sheet: a title row, the header block, a blank row, then the table's header row.
HEADER_ROW = 4
# The chart on the summary sheet, to the right of its table, at this size in pixels.
CHART_ANCHOR = "G4"
CHART_WIDTH = 720


def _cell(value: object) -> object:
    """A value as a workbook cell takes it: local times without zone, text never a formula."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, datetime):
        # Excel has no time zones; the times are already in the estate's zone.
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


@dataclass(frozen=True)
class _Book:
    """What every sheet of one workbook shares: the report, its language, the header block."""

    report: MonthReport
    catalogues: Catalogues
    lang: str
    prepared_by: str
    approved_by: str

    def t(self, key: str, **fields: object) -> str:
        return self.catalogues.text(self.lang, key, **fields)

    def yes_no(self, value: bool | None) -> str:
        """是 / 否, or 未到期 while nothing has fallen due."""
        if value is None:
            return self.t("report.not_due")
        return self.t("report.yes" if value else "report.no")


def _header_block(sheet: Any, book: _Book, title: str, width: int) -> None:
    """The title row and the header block (estate, month, prepared and approved by, when)."""
    from openpyxl.styles import Alignment, Font

    report = book.report
    heading = book.t(
        "report.book.title", estate=report.estate_name, month=report.month, sheet=title
    )
    cell = _put(sheet, 1, 1, heading)
    cell.font = Font(bold=True, size=14)
    cell.alignment = Alignment(horizontal="center")
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=max(width, 2))
    generated = report.generated_at.strftime("%Y-%m-%d %H:%M")
    pairs = (
        ("report.book.estate", report.estate_name),
        ("report.book.month", report.month),
        ("report.book.prepared", book.prepared_by),
        ("report.book.approved", book.approved_by),
        ("report.book.generated", f"{generated} ({report.timezone})"),
    )
    for index, (key, value) in enumerate(pairs):
        _put(sheet, 2, 1 + 2 * index, book.t(key)).font = Font(bold=True)
        _put(sheet, 2, 2 + 2 * index, value)


def _put(sheet: Any, row: int, column: int, value: object) -> Any:
    """Write a value into a cell as `_cell` makes it; a text that starts with "=" (an owner's,
    an estate's name) stays text, never a formula."""
    cell = sheet.cell(row, column, _cell(value))
    if cell.data_type == "f":
        cell.data_type = "s"
    elif isinstance(cell.value, datetime):
        cell.number_format = "yyyy-mm-dd hh:mm"
    elif isinstance(value, float):
        cell.number_format = "0%"
    return cell


def _table(
    sheet: Any, book: _Book, title: str, keys: Sequence[str], rows: Iterable[Sequence[object]]
) -> None:
    """A sheet that files well: the header block, the table under it, each column its width,
    a filter on the table, its header frozen and repeated on every printed page, A4 landscape
    fitted to the page's width."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    _header_block(sheet, book, title, len(keys))
    for column, key in enumerate(keys, start=1):
        cell = sheet.cell(HEADER_ROW, column, book.t(f"report.col.{key}"))
        cell.font = Font(bold=True)
        sheet.column_dimensions[get_column_letter(column)].width = _WIDTHS.get(key, 10)
    row_number = HEADER_ROW
    for values in rows:
        row_number += 1
        for column, value in enumerate(values, start=1):
            _put(sheet, row_number, column, value)
    last = get_column_letter(len(keys))
    sheet.auto_filter.ref = f"A{HEADER_ROW}:{last}{row_number}"
    sheet.freeze_panes = f"A{HEADER_ROW + 1}"
    sheet.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True


def _rate_cells(book: _Book, on_time: OnTime) -> list[object]:
    """The count, kept/due and share columns of a rate (the share as a number, or 暂无)."""
    rate = on_time.rate
    return [
        None,
        f"{on_time.kept}/{on_time.due}",
        rate if rate is not None else book.t("report.rate_none"),
    ]


def _summary_rows(book: _Book) -> list[list[object]]:
    """The summary sheet's rows: (group, item, count, kept/due, share)."""
    report, t = book.report, book.t
    kinds = {kind: t(f"report.kind.{kind}") for kind in TicketKind}
    rows: list[list[object]] = []

    def add(group: str, item: str, cells: list[object]) -> None:
        rows.append([t(f"report.group.{group}"), item, *cells])

    for kind in TicketKind:
        add("kind", kinds[kind], [sum(1 for row in report.tickets if row.kind is kind)])
    reported = [row for row in report.tickets if row.kind in REPORTED_KINDS]
    for department in Department:
        count = sum(1 for row in reported if row.department is department)
        if count:
            add("department", t(f"department.{department}"), [count])
    # Every category, in a fixed order, zeros too: a repair's urgency, a complaint's severity.
    severities = [str(severity) for severity in Severity]
    categories: dict[tuple[TicketKind, str], int] = {
        (TicketKind.REPAIR, "urgent"): 0,
        (TicketKind.REPAIR, "ordinary"): 0,
        **{(TicketKind.COMPLAINT, severity): 0 for severity in severities},
        (TicketKind.COMPLAINT, "unrated"): 0,
    }
    for row in reported:
        if row.kind is TicketKind.REPAIR:
            key = (row.kind, "urgent" if row.urgent else "ordinary")
        else:
            key = (row.kind, row.severity if row.severity in severities else "unrated")
        categories[key] += 1
    for (kind, category), count in categories.items():
        label = t(
            f"severity.{category}" if category in severities else f"report.category.{category}"
        )
        add("category", t("report.item", a=kinds[kind], b=label), [count])
    response, resolve = t("report.col.response"), t("report.col.resolve_rate")
    for figures in report.figures():
        kind = kinds[figures.kind]
        add("on_time", t("report.item", a=kind, b=response), _rate_cells(book, figures.response))
        add("on_time", t("report.item", a=kind, b=resolve), _rate_cells(book, figures.resolve))
    for group, people, departments in (
        ("on_time_department", report.by_department, True),
        ("on_time_staff", report.by_staff, False),
    ):
        for person in people:
            name = t(f"department.{person.name}") if departments else person.name
            add(group, t("report.item", a=name, b=response), _rate_cells(book, person.response))
            add(group, t("report.item", a=name, b=resolve), _rate_cells(book, person.resolve))
    for figures in report.figures():
        add("revisit", kinds[figures.kind], _rate_cells(book, figures.revisit))
    for figures in report.figures():
        add("satisfaction", kinds[figures.kind], _rate_cells(book, figures.satisfaction))
    for figures in report.figures():
        add("reopened", kinds[figures.kind], [figures.reopened])
    return rows


def _embed_chart(sheet: Any, chart: bytes) -> None:
    from openpyxl.drawing.image import Image

    image = Image(io.BytesIO(chart))
    scale = CHART_WIDTH / image.width
    image.width, image.height = CHART_WIDTH, round(image.height * scale)
    sheet.add_image(image, CHART_ANCHOR)


def workbook_bytes(
    report: MonthReport,
    catalogues: Catalogues,
    lang: str,
    *,
    prepared_by: str = "",
    approved_by: str = "",
    chart: bytes | None = None,
) -> bytes:
    """The 投诉月度汇总表 as an .xlsx to file: the summary (with the chart), the complaint
    summary, and every ticket of the month; each sheet opens with the header block."""
    from openpyxl import Workbook

    book = _Book(report, catalogues, lang, prepared_by, approved_by)
    t = book.t
    workbook = Workbook()
    summary = workbook.active
    summary.title = t("report.sheet.summary")
    _table(summary, book, summary.title, SUMMARY_COLUMNS, _summary_rows(book))
    _embed_chart(summary, chart if chart is not None else chart_png(report, catalogues, lang))
    complaints = workbook.create_sheet(t("report.sheet.complaints"))
    _table(
        complaints,
        book,
        complaints.title,
        COMPLAINT_COLUMNS,
        (
            [
                index,
                row.opened_at,
                row.owner,
                row.unit,
                row.content,
                t(f"department.{row.department}"),
                row.handler,
                row.result,
                row.resolved_at,
                book.yes_no(row.overdue),
                _rating_text(row.rating, catalogues, lang),
            ]
            for index, row in enumerate(report.complaints, start=1)
        ),
    )
    tickets = workbook.create_sheet(t("report.sheet.tickets"))
    _table(
        tickets,
        book,
        tickets.title,
        TICKET_COLUMNS,
        (
            [
                index,
                row.number,
                t(f"report.kind.{row.kind}"),
                t(f"department.{row.department}"),
                t("report.yes" if row.urgent else "report.no"),
                t(f"report.status.{row.status}"),
                row.unit,
                row.owner,
                row.text,
                row.created_at,
                row.claimed_at,
                row.resolved_at,
                row.closed_at,
                row.handler,
                row.result,
                book.yes_no(row.overdue) if row.kind in REPORTED_KINDS else "",
                _rating_text(row.rating, catalogues, lang),
                row.reopen_count,
            ]
            for index, row in enumerate(report.tickets, start=1)
        ),
    )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# -- files --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFiles:
    """Where a report's chart and workbook were written."""

    chart: Path
    workbook: Path


def _file_code(report: MonthReport) -> str:
    """The estate's code for a file name; a code unfit for one is replaced by the estate's id."""
    if _SAFE_CODE.fullmatch(report.estate_code):
        return report.estate_code
    return f"estate-{report.estate_id}"


def report_directory(base: Path, report: MonthReport) -> Path:
    """Where a report's files go under `base`: `base/<estate code>/<month>/`."""
    return base / _file_code(report) / report.month


def _write_atomically(path: Path, content: bytes) -> None:
    # Two reports of the same month at once must not leave a half-written file behind.
    partial = path.with_name(f".{path.name}.{os.getpid()}.{id(content)}.part")
    partial.write_bytes(content)
    partial.replace(path)


def write_report_files(
    report: MonthReport,
    catalogues: Catalogues,
    lang: str,
    directory: Path,
    *,
    prepared_by: str = "",
    approved_by: str = "",
) -> ReportFiles:
    """Write the chart (PNG) and the workbook (XLSX) of a report into `directory`; the
    workbook's header block names who prepared it and who approves it (blank to sign)."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{_file_code(report)}-{report.month}"
    files = ReportFiles(chart=directory / f"{stem}.png", workbook=directory / f"{stem}.xlsx")
    chart = chart_png(report, catalogues, lang)
    _write_atomically(files.chart, chart)
    book = workbook_bytes(
        report, catalogues, lang, prepared_by=prepared_by, approved_by=approved_by, chart=chart
    )
    _write_atomically(files.workbook, book)
    return files
