"""What a ticket promises, in words: one source for the owner's acknowledgement and the card.

A ticket's promised times are its `due_response_at` and `due_resolve_at` (set from the estate's
service standard when it opens). The owner is told them as durations ("工程部将在 15分钟 内响应，
24小时 内完成"), staff see them as times on the card; when the two fall together (a complaint
answered within 24 hours) both say one promise: an answer.

When a ticket is late is said once, here (`late`): the console's board, the month's report and the
desk's escalations (`bot/core/desk.py`'s `breaches`) all ask it.

Waiting on the owner stops the completion clock (`paused_for`): the time a ticket waited for an
appointment, or for the owner, moves its completion time on by as much (`resolve_due`), and
while it waits it is never late to complete. The time waited counts on the ticket's own clock
(`elapsed`): office time on the estate's calendar for a ticket on office time, so a wait from
Friday 17:00 to Monday 10:00 costs it the office hours in between (two, on the default hours)
and its completion time moves on by as much office time (`moved_on`); wall time for a ticket
round the clock. A ticket whose promised times run on office time (`Ticket.office_time`)
is promised absolute times ("工程部将在 04-07 08:45 前响应"): a duration would mislead over a
weekend or a holiday.

The staff card is drawn as of the injected clock's time (`card_promise`): while an appointment
stops the clock it shows the completion time moved on by the whole pause, up to the appointment
(`card_resolve_due`), and says until when it stops; while the ticket waits for the owner, the
time moved on by the wait so far, and since when it waits.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_timedelta

from bot.core.calendar import ServiceCalendar, load_calendar
from bot.core.i18n import Catalogues
from bot.core.reference import EstateCache
from models import Estate, EventKind, Ticket, TicketEvent, TicketStatus
from models.lifecycle import Elapsed

LOCALES = {"zh": "zh_CN", "en": "en_US"}


@functools.lru_cache(maxsize=256)
def duration(delta: timedelta, lang: str) -> str:
    """A promised duration in words ("15分钟", "24 hours"), never rounded up to a larger unit
    (worked out once per duration and language: a ticket's promise names one of a few)."""
    return format_timedelta(delta, threshold=2, locale=LOCALES.get(lang, "zh_CN"))


def local_time(moment: datetime, timezone: str) -> str:
    """A deadline as staff read it on a card: month-day hour:minute in the estate's zone."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%m-%d %H:%M")


def _one_promise(ticket: Ticket) -> bool:
    return ticket.due_response_at == ticket.due_resolve_at


def elapsed(
    ticket: Ticket, start: datetime, end: datetime, calendar: ServiceCalendar
) -> timedelta:
    """How much of the ticket's own clock passes from `start` to `end` (never negative): office
    time on the estate's `calendar` for a ticket on office time, else wall time."""
    if end <= start:
        return timedelta()
    if ticket.office_time:
        return calendar.office_time_between(start, end)
    return end - start


def counted_on(calendar: ServiceCalendar) -> Elapsed:
    """How the store counts a pause's length (`models.lifecycle`'s pause and resume): `elapsed`
    on the estate's `calendar`."""
    return lambda ticket, start, end: elapsed(ticket, start, end, calendar)


def moved_on(ticket: Ticket, due: datetime, by: timedelta, calendar: ServiceCalendar) -> datetime:
    """`due` moved on by `by` of the ticket's own clock: office time on the estate's `calendar`
    for a ticket on office time (a deadline at closing time moves into the next open day), else
    wall time."""
    if by <= timedelta():
        return due
    if ticket.office_time:
        return calendar.add_office_time(due, by)
    return due + by


def paused_for(ticket: Ticket, now: datetime, calendar: ServiceCalendar) -> timedelta:
    """How long the ticket's completion clock has been stopped by `now`, on its own clock
    (`elapsed`): earlier pauses (`Ticket.paused_seconds`) and the part of the current one that
    has passed (an appointment's pause ends at the appointment)."""
    total = timedelta(seconds=ticket.paused_seconds)
    if ticket.paused_at is not None:
        end = now if ticket.paused_until is None else min(now, ticket.paused_until)
        total += elapsed(ticket, ticket.paused_at, end, calendar)
    return total


def ended_pauses(events: Iterable[TicketEvent]) -> list[tuple[datetime, datetime]]:
    """The pauses a ticket's events (in order) record as ended, those `Ticket.paused_seconds`
    counts, as (start, end), since it was last reopened: a pause ends when the clock is
    restarted or another pause starts, an appointment's at the appointment at the latest. The
    pause still running, if any, is not one of them."""
    spans: list[tuple[datetime, datetime]] = []
    running: tuple[datetime, datetime | None] | None = None
    for event in events:
        if event.kind is EventKind.REOPENED:
            spans, running = [], None
            continue
        if event.kind not in (EventKind.PAUSED, EventKind.RESUMED):
            continue
        if running is not None:
            start, until = running
            end = event.at if until is None else min(event.at, until)
            spans.append((start, max(start, end)))
        until_text = event.data.get("until") if event.kind is EventKind.PAUSED else None
        running = (
            (event.at, datetime.fromisoformat(until_text) if until_text else None)
            if event.kind is EventKind.PAUSED
            else None
        )
    return spans


def recounted_pauses(
    events: Iterable[TicketEvent], office_time: bool, calendar: ServiceCalendar
) -> int:
    """The seconds of a ticket's ended pauses (`ended_pauses`) on a clock of `office_time`: for
    a ticket whose clock changes (a complaint's severity moving it on or off office time), whose
    stored `paused_seconds` were counted on the other."""
    return sum(
        int(
            (
                calendar.office_time_between(start, end) if office_time else end - start
            ).total_seconds()
        )
        for start, end in ended_pauses(events)
    )


def needs_calendar(ticket: Ticket) -> bool:
    """Whether the ticket's clock needs its estate's calendar: only to count the time it waited
    on the owner on office time (its promised times are stored worked out)."""
    return ticket.office_time and (ticket.paused_seconds > 0 or ticket.paused_at is not None)


async def ticket_calendar(
    ticket: Ticket, estate: Estate, cache: EstateCache | None = None
) -> ServiceCalendar:
    """The calendar the ticket's clock counts on: its estate's, from `cache` or else read from
    the store, when it needs one (`needs_calendar`); else a default, not read, that nothing will
    ask."""
    if not needs_calendar(ticket):
        return ServiceCalendar(estate.timezone)
    return await cache.calendar(estate) if cache is not None else await load_calendar(estate)


def is_paused(ticket: Ticket, now: datetime) -> bool:
    """Whether the ticket's completion clock is stopped at `now`."""
    return ticket.paused_at is not None and (
        ticket.paused_until is None or now < ticket.paused_until
    )


def resolve_due(ticket: Ticket, now: datetime, calendar: ServiceCalendar) -> datetime:
    """When the ticket is due to be done: its promised time moved on, on the estate's
    `calendar`, by the time it has been paused by `now`."""
    return moved_on(ticket, ticket.due_resolve_at, paused_for(ticket, now, calendar), calendar)


def owner_promise(
    ticket: Ticket, catalogues: Catalogues, lang: str, timezone: str = "Asia/Shanghai"
) -> str:
    """What the owner is promised when the ticket opens, from its own promised times: durations
    round the clock, local times on office time."""
    department = catalogues.text(lang, f"department.{ticket.department}")
    if ticket.office_time:
        respond_by = local_time(ticket.due_response_at, timezone)
        if _one_promise(ticket):
            return catalogues.text(
                lang, "promise.answer_by", department=department, answer_by=respond_by
            )
        return catalogues.text(
            lang,
            "promise.respond_resolve_by",
            department=department,
            respond_by=respond_by,
            resolve_by=local_time(ticket.due_resolve_at, timezone),
        )
    respond = duration(ticket.due_response_at - ticket.created_at, lang)
    if _one_promise(ticket):
        text = catalogues.text(lang, "promise.answer", department=department, answer=respond)
    else:
        resolve = duration(ticket.due_resolve_at - ticket.created_at, lang)
        text = catalogues.text(
            lang,
            "promise.respond_resolve",
            department=department,
            respond=respond,
            resolve=resolve,
        )
    if ticket.urgent:
        text = catalogues.text(lang, "promise.urgent", promise=text)
    return text


def card_resolve_due(ticket: Ticket, now: datetime, calendar: ServiceCalendar) -> datetime:
    """When the card says the ticket is due to be done, as of `now`: `resolve_due`, but while an
    appointment stops its clock, moved on by the whole pause up to the appointment (the card is
    not edited when the appointment comes, and is right from then on). A wait for the owner has
    no end yet: it counts as far as `now`, and the card is edited when the clock restarts."""
    if is_paused(ticket, now) and ticket.paused_until is not None:
        return resolve_due(ticket, ticket.paused_until, calendar)
    return resolve_due(ticket, now, calendar)


def _pause_note(
    ticket: Ticket, catalogues: Catalogues, lang: str, timezone: str, now: datetime
) -> str | None:
    """What the card says of a pause running at `now`: until when its clock stops (the
    appointment), or since when it waits for the owner (until staff restart it)."""
    if not is_paused(ticket, now):
        return None
    assert ticket.paused_at is not None
    if ticket.paused_until is not None:
        return catalogues.text(
            lang, "calendar.card_appointment", until=local_time(ticket.paused_until, timezone)
        )
    return catalogues.text(
        lang,
        "calendar.card_waiting",
        since=local_time(ticket.paused_at, timezone),
        number=ticket.number,
    )


def card_promise(
    ticket: Ticket,
    catalogues: Catalogues,
    lang: str,
    timezone: str,
    calendar: ServiceCalendar,
    now: datetime,
) -> str:
    """The card's line of promised times as of `now` (the same times the owner was told, the
    completion moved on by the time waited on the owner: `card_resolve_due`), with the
    complaint's severity, whether they count office time, and a pause running: until when."""
    respond_by = local_time(ticket.due_response_at, timezone)
    resolve_by = local_time(card_resolve_due(ticket, now, calendar), timezone)
    if _one_promise(ticket) and not ticket.paused_seconds and ticket.paused_at is None:
        line = catalogues.text(lang, "desk.card_due_answer", answer_by=respond_by)
    else:
        line = catalogues.text(lang, "desk.card_due", respond_by=respond_by, resolve_by=resolve_by)
    extras: list[str] = []
    if ticket.severity:
        extras.append(catalogues.text(lang, f"severity.{ticket.severity}"))
    if ticket.office_time:
        extras.append(catalogues.text(lang, "calendar.card_office_time"))
    pause = _pause_note(ticket, catalogues, lang, timezone, now)
    if pause is not None:
        extras.append(pause)
    if extras:
        line = (
            f"{line} ({', '.join(extras)})" if lang == "en" else f"{line}（{'，'.join(extras)}）"
        )
    return line


@dataclass(frozen=True)
class Late:
    """Which promised times a ticket has passed and still owes."""

    response: bool
    resolve: bool

    def __bool__(self) -> bool:
        return self.response or self.resolve


def late(ticket: Ticket, now: datetime, calendar: ServiceCalendar) -> Late:
    """Which promises a ticket has missed by `now`: a response while nobody has taken it (open),
    a result while it is not done (open or taken), its paused time added to the time it is due
    on the estate's `calendar` (`resolve_due`). A resolved or closed ticket owes nothing."""
    return Late(
        response=ticket.status is TicketStatus.OPEN and ticket.due_response_at < now,
        resolve=ticket.status in (TicketStatus.OPEN, TicketStatus.CLAIMED)
        and resolve_due(ticket, now, calendar) < now,
    )
