"""Staff commands of the promised times: an appointment with the owner (`约 R-0012 明天15:00`),
waiting for the owner (`等待 R-0012`), both of which stop the ticket's completion clock,
restarting it (`继续 R-0012`), and a complaint's severity (`等级 C-0003 严重`), which sets its
promised times from the estate's targets.
"""

from __future__ import annotations

import logging

from bot.core import desk, vocabulary
from bot.core.calendar import ServiceCalendar, load_calendar, parse_appointment, promised_times
from bot.core.context import Context
from bot.core.promises import counted_on, local_time, recounted_pauses, resolve_due
from handlers.routes import Routes, StaffCommand
from handlers.staff import ticket_from
from models import Estate, Severity, Ticket, TicketEvent, TicketKind
from models.lifecycle import (
    IllegalTransition,
    pause_ticket,
    resume_ticket,
    set_severity,
    staff_actor,
)

log = logging.getLogger(__name__)


async def _calendar(estate: Estate, ticket: Ticket) -> ServiceCalendar:
    """The calendar a pause of the ticket counts on: the estate's when the ticket runs on office
    time (read even before a first pause, unlike `ticket_calendar`), else none read."""
    return await load_calendar(estate) if ticket.office_time else ServiceCalendar(estate.timezone)


def _cannot(ctx: Context, ticket: Ticket) -> None:
    ctx.reply("desk.cannot", number=ticket.number, status=ctx.text(f"desk.status_{ticket.status}"))


async def appoint_command(ctx: Context, rest: str) -> None:
    """`约 R-0012 明天15:00`: the owner expects staff then; the completion clock waits till
    then, the owner is told the time now (every reporter, where each reported) and reminded
    before."""
    found = await ticket_from(ctx, rest, "calendar.appoint_usage", need_text=True)
    if found is None:
        return
    ticket, written = found
    assert ctx.staff is not None
    estate = await Estate.get(id=ctx.staff.estate_id)
    at = parse_appointment(written, ctx.now, estate.timezone)
    if at is None:
        log.info("not an appointment time: %r", written)
        ctx.reply("calendar.appoint_bad_time", time=written)
        return
    try:
        paused = await pause_ticket(
            ticket.id,
            staff_actor(ctx.staff),
            ctx.now,
            until=at,
            appointment=at,
            elapsed=counted_on(await _calendar(estate, ticket)),
        )
    except IllegalTransition:
        _cannot(ctx, ticket)
        return
    when = local_time(at, estate.timezone)
    catalogues = ctx.services.catalogues

    def told(lang: str) -> str:
        return catalogues.text(lang, "calendar.appointed_owner", number=ticket.number, at=when)

    ctx.outbox.extend(await desk.card_messages(paused, ctx.services))
    ctx.outbox.extend(await desk.reporter_messages(paused, ctx.services, told))
    ctx.reply("calendar.appointed", number=ticket.number, at=when)


async def wait_command(ctx: Context, rest: str) -> None:
    """`等待 R-0012`: waiting for the owner; the completion clock stops until `继续`."""
    found = await ticket_from(ctx, rest, "calendar.wait_usage")
    if found is None:
        return
    ticket, _ = found
    assert ctx.staff is not None
    estate = await Estate.get(id=ctx.staff.estate_id)
    try:
        paused = await pause_ticket(
            ticket.id,
            staff_actor(ctx.staff),
            ctx.now,
            elapsed=counted_on(await _calendar(estate, ticket)),
        )
    except IllegalTransition:
        _cannot(ctx, ticket)
        return
    ctx.outbox.extend(await desk.card_messages(paused, ctx.services))
    ctx.reply("calendar.waiting", number=ticket.number)


async def resume_command(ctx: Context, rest: str) -> None:
    """`继续 R-0012`: the completion clock runs again, moved on by the time it waited."""
    found = await ticket_from(ctx, rest, "calendar.resume_usage")
    if found is None:
        return
    ticket, _ = found
    assert ctx.staff is not None
    estate = await Estate.get(id=ctx.staff.estate_id)
    calendar = await _calendar(estate, ticket)
    resumed = await resume_ticket(
        ticket.id, staff_actor(ctx.staff), ctx.now, elapsed=counted_on(calendar)
    )
    if resumed is None:
        ctx.reply("calendar.not_paused", number=ticket.number)
        return
    ctx.outbox.extend(await desk.card_messages(resumed, ctx.services))
    due = resolve_due(resumed, ctx.now, calendar)
    ctx.reply("calendar.resumed", number=ticket.number, due=local_time(due, estate.timezone))


async def severity_command(ctx: Context, rest: str) -> None:
    """`等级 C-0003 严重`: a complaint's severity, and the promised times that follow."""
    found = await ticket_from(ctx, rest, "calendar.severity_usage", need_text=True)
    if found is None:
        return
    ticket, written = found
    assert ctx.staff is not None
    estate = await Estate.get(id=ctx.staff.estate_id)
    value = vocabulary.SEVERITY_WORDS.get(written.split(" ", 1)[0].lower())
    if value is None:
        ctx.reply("calendar.severity_usage")
        return
    if ticket.kind is not TicketKind.COMPLAINT:
        ctx.reply("calendar.severity_not_complaint", number=ticket.number)
        return
    severity = Severity(value)
    promise = await promised_times(
        estate, ticket.kind, ticket.urgent, str(severity), ticket.created_at, ctx.services.cache
    )
    paused = None
    if ticket.paused_seconds and promise.office_time != ticket.office_time:
        # The time it waited was counted on its old clock: count it again on the new one.
        events = await TicketEvent.filter(ticket_id=ticket.id).order_by("id")
        paused = recounted_pauses(events, promise.office_time, await load_calendar(estate))
    try:
        changed = await set_severity(
            ticket.id,
            str(severity),
            (promise.respond_by, promise.resolve_by),
            promise.office_time,
            staff_actor(ctx.staff),
            ctx.now,
            paused_seconds=paused,
        )
    except IllegalTransition:
        _cannot(ctx, ticket)
        return
    ctx.outbox.extend(await desk.card_messages(changed, ctx.services))
    ctx.reply(
        "calendar.severity_set",
        number=ticket.number,
        severity=ctx.text(f"severity.{severity}"),
        respond_by=local_time(changed.due_response_at, estate.timezone),
    )


ROUTES = Routes(
    commands=(
        StaffCommand(vocabulary.APPOINT, appoint_command, help="calendar.help_appoint"),
        StaffCommand(vocabulary.WAIT, wait_command, help="calendar.help_wait"),
        StaffCommand(vocabulary.RESUME, resume_command, help="calendar.help_resume"),
        StaffCommand(vocabulary.SEVERITY, severity_command, help="calendar.help_severity"),
    ),
)
