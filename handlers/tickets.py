"""Opening an owner's repair or complaint ticket: the unit, the same fault twice, the reply."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

from bot.core.context import Context
from bot.core.dialogs import open_dialog, start_dialog
from bot.core.types import Button
from models import Department, Owner, Ticket, TicketKind, TicketStatus, Unit, unit_label
from models.lifecycle import join_ticket, open_ticket

log = logging.getLogger(__name__)

# Reports of the same fault within this long join the first one's ticket.
SAME_FAULT_WINDOW = timedelta(hours=1)
SAME_FAULT_SIMILARITY = 0.15


async def find_unit(ctx: Context) -> Unit | None:
    """The estate's unit the owner wrote, if it exists (the entrance may be left out)."""
    written = ctx.understanding.unit if ctx.understanding else None
    if written is None or ctx.estate is None:
        return None
    label = unit_label(written.building, written.entrance, written.room)
    unit = await Unit.get_or_none(estate_id=ctx.estate.id, label=label)
    if unit is None and written.entrance is None:
        matches = await Unit.filter(
            estate_id=ctx.estate.id, building__name=written.building, room=written.room
        ).limit(2)
        unit = matches[0] if len(matches) == 1 else None
    return unit


def written_unit(ctx: Context) -> str:
    """The unit as the owner wrote it, for a reply; empty when they wrote none."""
    written = ctx.understanding.unit if ctx.understanding else None
    if written is None:
        return ""
    return unit_label(written.building, written.entrance, written.room)


async def owner_units(owner: Owner | None) -> list[Unit]:
    """The units an owner owns, in label order."""
    if owner is None:
        return []
    return sorted(await owner.units.all(), key=lambda unit: unit.label)


async def open_owner_ticket(ctx: Context, kind: TicketKind) -> None:
    """Open (or join) a ticket for the owner's message and tell them its number and promise."""
    assert ctx.understanding is not None and ctx.estate is not None
    unit = await find_unit(ctx)
    if unit is None and ctx.understanding.unit is None:
        units = await owner_units(ctx.owner)
        if len(units) == 1:
            unit = units[0]
        elif len(units) > 1 and not ctx.in_group:
            await ask_unit(ctx, kind, units)
            return
    await _open_or_join(ctx, kind, unit)


async def ask_unit(ctx: Context, kind: TicketKind, units: list[Unit]) -> None:
    """Ask which of their units an owner means, keeping the report until they answer."""
    u = ctx.understanding
    assert u is not None
    await start_dialog(
        ctx,
        "choose_unit",
        {
            "kind": str(kind),
            "text": ctx.message.text,
            "message_id": ctx.message.message_id,
            "department": u.department,
            "urgent": u.urgent,
            "lang": ctx.lang,
            "units": [unit.id for unit in units],
        },
    )
    buttons = [[Button(unit.label, f"unit:{unit.id}")] for unit in units]
    ctx.reply("unit.ask", buttons=buttons)


async def unit_chosen(ctx: Context) -> None:
    """The owner pressed one of their units: open the ticket kept in the dialog."""
    dialog = await open_dialog(ctx)
    payload = ctx.message.payload or ""
    unit_id = payload.removeprefix("unit:")
    if dialog is None or dialog.kind != "choose_unit" or not unit_id.isdigit():
        ctx.reply("input.expired_button")
        return
    if int(unit_id) not in dialog.data.get("units", []):
        log.info("unit button %s is not among %s's units", payload, ctx.message.sender_id)
        ctx.reply("input.bad_button")
        return
    await _resume_pending(ctx, dialog.data, await Unit.get(id=int(unit_id)))
    await dialog.delete()


async def unit_typed(ctx: Context) -> None:
    """The owner typed instead of pressing a unit: open the kept ticket, then handle the text."""
    dialog = await open_dialog(ctx)
    assert dialog is not None
    await dialog.delete()
    await _resume_pending(ctx, dialog.data, None)


async def _resume_pending(ctx: Context, data: dict, unit: Unit | None) -> None:
    from bot.core.nlu import Understanding

    ctx.message = dataclasses.replace(
        ctx.message, text=str(data["text"]), message_id=str(data["message_id"]), payload=None
    )
    ctx.lang = str(data.get("lang") or ctx.lang)
    kind = TicketKind(str(data["kind"]))
    ctx.understanding = Understanding(
        intent=str(kind),
        confidence=1.0,
        urgent=bool(data.get("urgent")),
        department=data.get("department"),
        unit=None,
        lang=ctx.lang,
    )
    await _open_or_join(ctx, kind, unit)


async def _same_fault(
    ctx: Context, kind: TicketKind, department: Department, unit: Unit | None
) -> Ticket | None:
    """An open ticket of the same fault reported within the window, if there is one."""
    assert ctx.estate is not None
    candidates = await Ticket.filter(
        estate_id=ctx.estate.id,
        kind=kind,
        department=department,
        status__in=[TicketStatus.OPEN, TicketStatus.CLAIMED],
        created_at__gte=ctx.now - SAME_FAULT_WINDOW,
        unit_id=unit.id if unit else None,
    ).order_by("id")
    if not candidates:
        return None
    index = ctx.services.nlu.faq_index(
        [(str(t.id), t.text) for t in candidates], threshold=SAME_FAULT_SIMILARITY
    )
    best = index.best(ctx.message.text)
    if best is None:
        return None
    return next(t for t in candidates if str(t.id) == best[0])


async def _open_or_join(ctx: Context, kind: TicketKind, unit: Unit | None) -> None:
    u = ctx.understanding
    assert u is not None and ctx.estate is not None
    department = Department(u.department or "customer_service")
    message = ctx.message
    same = await _same_fault(ctx, kind, department, unit)
    if same is not None:
        await join_ticket(
            same,
            platform=message.chat.platform,
            chat_id=message.chat.chat_id,
            user_id=message.sender_id,
            message_id=message.message_id,
            text=message.text,
            now=ctx.now,
            language=ctx.lang,
        )
        ctx.reply("ticket.joined", number=same.number)
        return
    await open_from_message(ctx, kind, department, urgent=u.urgent, unit=unit)


async def open_from_message(
    ctx: Context,
    kind: TicketKind,
    department: Department,
    *,
    urgent: bool = False,
    unit: Unit | None = None,
) -> Ticket:
    """Open a ticket from the message in hand, tell the listeners (the staff card), and reply."""
    assert ctx.estate is not None
    message = ctx.message
    ticket = await open_ticket(
        estate=ctx.estate,
        kind=kind,
        department=department,
        urgent=urgent,
        text=message.text,
        platform=message.chat.platform,
        chat_id=message.chat.chat_id,
        message_id=message.message_id,
        reporter_id=message.sender_id,
        reporter_name=message.sender_name,
        language=ctx.lang,
        owner=ctx.owner,
        unit=unit,
        photos=[a.ref for a in message.attachments if a.kind == "photo"],
        now=ctx.now,
    )
    for listener in ctx.services.ticket_opened:
        await listener(ctx, ticket)
    reply_ticket_opened(ctx, ticket)
    return ticket


def reply_ticket_opened(ctx: Context, ticket: Ticket) -> None:
    """Tell the owner the ticket's number, who acts and by when; never another owner's data."""
    assert ctx.estate is not None
    estate = ctx.estate
    if ticket.kind is TicketKind.COMPLAINT:
        promise = ctx.text("promise.complaint", hours=estate.complaint_hours)
    elif ticket.urgent:
        promise = ctx.text("promise.urgent", minutes=estate.urgent_minutes)
    elif ticket.kind is TicketKind.REPAIR:
        promise = ctx.text("promise.onsite", minutes=estate.onsite_minutes)
    else:
        promise = ctx.text("promise.enquiry", hours=estate.enquiry_hours)
    unit = written_unit(ctx)
    ctx.reply(
        f"{ticket.kind}.opened",
        number=ticket.number,
        department=ctx.text(f"department.{ticket.department}"),
        promise=promise,
        unit=ctx.text("ticket.unit", unit=unit) if unit else "",
        urgent=ctx.text("ticket.urgent_flag") if ticket.urgent else "",
    )
