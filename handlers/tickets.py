"""Opening an owner's repair or complaint ticket: where the fault is, what joins what, the reply.

Where the fault is (`Placed`) is what the owner's text says (the NLU's location: a flat, or a
common place with its building), not where the owner lives. The reporter's home is a separate
fact, shown on the card; it stands for the fault's place only for a repair whose text names no
place at all ("卫生间在漏水"), and only when the owner is bound to exactly one unit (in private, an
owner of several is asked which). A flat the estate does not have is kept as written and called
unknown, never echoed as if it were known.

Two reports join one ticket only when they are the same kind of fault (kind, department and
similar words) at the same place (the same flat, or the same common place of the same
building) within the window. A place with no building joins only nearly the same words, and a
report that says nothing about where joins only the same owner's own earlier report. A join is
never silent: the card lists every report, the reporter hears the ticket's number, and an
urgent report makes the ticket urgent and alerts the staff chat again. A report of an outage the
estate announced (停水, 停电, 电梯维保) is answered with the announced times instead.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.core import desk
from bot.core.calendar import promised_times
from bot.core.context import Context, Outbound, Remember
from bot.core.dialogs import DialogKind, keep_photos, open_dialog, start_dialog, take_photos
from bot.core.incidents import match_incident, outage_kind_reported
from bot.core.nlu import Location
from bot.core.nlu import Unit as WrittenUnit
from bot.core.promises import local_time, owner_promise
from bot.core.severity import suggest_severity
from bot.core.types import Button, OutgoingMessage, SentMessage
from handlers.routes import Routes
from models import (
    Building,
    Department,
    Incident,
    IncidentReport,
    Owner,
    Ticket,
    TicketKind,
    TicketReporter,
    Unit,
    lookup,
    unit_label,
)
from models.lifecycle import IllegalTransition, add_photos, join_ticket, make_urgent, open_ticket
from models.statements import fetch_one
from models.ticket import OPEN_STATUSES

log = logging.getLogger(__name__)

# Reports of the same fault within this long join the first one's ticket.
SAME_FAULT_WINDOW = timedelta(hours=1)
SAME_FAULT_SIMILARITY = 0.15
# A common place no building is named for (the gate, the roads) may be several places: its
# reports join only when their words are nearly the same.
UNPLACED_SIMILARITY = 0.5
# The duplicate check compares a report with at most this many open tickets (the newest) of
# its kind at its place within the window: each has its features kept, none is segmented again.
SAME_FAULT_CANDIDATES = 50
# A photo sent alone this soon after its sender's report belongs to that report.
PHOTO_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Placed:
    """Where a reported fault is (a flat, a common place, or unsaid), and where its reporter
    lives."""

    unit: Unit | None = None
    place: str | None = None
    building: str | None = None
    # A flat the owner named that the estate does not have, as written ("8-3-1201").
    unknown: str = ""
    # Whether the owner's text said where (else it is their home, or nothing).
    written: bool = False
    reporter_unit: Unit | None = None

    @property
    def says_where(self) -> bool:
        """Whether anything is known of where the fault is."""
        return bool(self.unit or self.place or self.unknown)


async def estate_unit(estate_id: int, written: WrittenUnit) -> Unit | None:
    """The estate's unit a written unit names, if it has it (the entrance may be left out)."""
    label = unit_label(written.building, written.entrance, written.room)
    unit = await fetch_one(Unit, estate_id=estate_id, label=label)
    if unit is None and written.entrance is None:
        matches = await Unit.filter(
            estate_id=estate_id, building__name=written.building, room=written.room
        ).limit(2)
        unit = matches[0] if len(matches) == 1 else None
    return unit


async def owner_units(owner: Owner | None) -> list[Unit]:
    """The units an owner owns, in label order: none for one an updated register no longer
    lists (moved out), whose home it was is someone else's now."""
    if owner is None or not owner.active:
        return []
    return sorted(await lookup.owner_units(owner.id), key=lambda unit: unit.label)


async def building_of(unit: Unit | None) -> str | None:
    """The name of a unit's building (3, B)."""
    if unit is None:
        return None
    building = await Building.get(id=unit.building_id)
    return building.name


async def place_of(ctx: Context) -> Placed:
    """Where the fault the message reports is, and the reporter's home, in the estate."""
    assert ctx.understanding is not None and ctx.estate is not None
    u = ctx.understanding
    homes = await owner_units(ctx.owner)
    ctx.units_read.update((unit.id, unit) for unit in homes)
    named = await estate_unit(ctx.estate.id, u.unit) if u.unit else None
    home = named if named in homes else (homes[0] if len(homes) == 1 else None)
    location: Location | None = u.location
    if location is not None and location.unit is not None:
        # Most often the unit the text names is the fault's: it is not read twice.
        same = location.unit == u.unit
        unit = named if same else await estate_unit(ctx.estate.id, location.unit)
        if unit is None:
            written = location.unit
            label = unit_label(written.building, written.entrance, written.room)
            return Placed(unknown=label, written=True, reporter_unit=home)
        ctx.units_read[unit.id] = unit
        return Placed(unit=unit, written=True, reporter_unit=home)
    if location is not None:
        return Placed(
            place=location.place, building=location.building, written=True, reporter_unit=home
        )
    if u.intent == "repair" and home is not None:
        # A repair that names no place is in the reporter's home ("马桶堵了").
        return Placed(unit=home, reporter_unit=home)
    return Placed(reporter_unit=home)


async def open_owner_ticket(ctx: Context, kind: TicketKind) -> None:
    """Open (or join) a ticket for the owner's message and tell them its number and promise."""
    assert ctx.understanding is not None and ctx.estate is not None
    placed = await place_of(ctx)
    u = ctx.understanding
    if (
        kind is TicketKind.REPAIR
        and u.location is None
        and not placed.says_where
        and not ctx.in_group
    ):
        homes = await owner_units(ctx.owner)
        if len(homes) > 1:
            await ask_unit(ctx, kind, homes)
            return
    if await _answered_by_incident(ctx, placed):
        return
    await _open_or_join(ctx, kind, placed)


async def ask_unit(ctx: Context, kind: TicketKind, units: list[Unit]) -> None:
    """Ask which of their units an owner means, keeping the report until they answer."""
    u = ctx.understanding
    assert u is not None
    await start_dialog(
        ctx,
        DialogKind.CHOOSE_UNIT,
        {
            "kind": str(kind),
            "text": ctx.message.text,
            "message_id": ctx.message.message_id,
            "department": u.department,
            "urgent": u.urgent,
            "lang": ctx.lang,
            "units": [unit.id for unit in units],
            "photos": [a.ref for a in ctx.message.attachments if a.kind == "photo"],
        },
    )
    buttons = [[Button(unit.label, f"unit:{unit.id}")] for unit in units]
    ctx.reply("unit.ask", buttons=buttons)


async def unit_chosen(ctx: Context) -> None:
    """The owner pressed one of their units: open the ticket kept in the dialog."""
    dialog = await open_dialog(ctx)
    payload = ctx.message.payload or ""
    unit_id = payload.removeprefix("unit:")
    if dialog is None or dialog.kind != DialogKind.CHOOSE_UNIT or not unit_id.isdigit():
        ctx.answer_press("input.expired_button")
        return
    if int(unit_id) not in dialog.data.get("units", []):
        log.info("unit button %s is not among %s's units", payload, ctx.message.sender_id)
        ctx.answer_press("input.bad_button")
        return
    unit = await Unit.get(id=int(unit_id))
    ctx.replace_pressed(ctx.text("unit.chosen", unit=unit.label))
    await _resume_pending(ctx, dialog.data, unit)
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
        ctx.message,
        text=str(data["text"]),
        message_id=str(data["message_id"]),
        payload=None,
        replied_to=None,
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
    placed = Placed(unit=unit, reporter_unit=unit)
    photos = [str(ref) for ref in data.get("photos", [])]
    await _open_or_join(ctx, kind, placed, photos=photos)


# --- What joins what ---------------------------------------------------------------------------


async def _same_fault(
    ctx: Context, kind: TicketKind, department: Department, placed: Placed
) -> Ticket | None:
    """An open ticket of the same fault at the same place reported within the window."""
    assert ctx.estate is not None
    message = ctx.message
    threshold = SAME_FAULT_SIMILARITY
    reporter = None
    # All four place columns, each equal to the place's (None: NULL), in every case: a ticket
    # is placed by one of them only (`place_of`, `open_from_message`; nothing changes them
    # later), so the others are empty and this selects the same tickets as comparing the one
    # alone, while the open tickets' index, which holds them all before the time, reads only
    # the tickets at the place rather than every open ticket of the fault in the estate.
    unit_id = None
    place = building = None
    unknown = ""
    if placed.unit is not None:
        unit_id = placed.unit.id
    elif placed.unknown:
        unknown = placed.unknown
    elif placed.place is not None:
        # No building said: only reports that name none either (NULL).
        place, building = placed.place, placed.building
        if placed.building is None:
            threshold = UNPLACED_SIMILARITY
    else:
        # Nothing says where: only the same owner saying it again is the same report.
        reporter = (message.chat.platform, message.sender_id)
    where: dict[str, object] = {
        "estate_id": ctx.estate.id,
        "kind": kind,
        "department": department,
        "unit_id": unit_id,
        "location_place": place,
        "location_building": building,
        "location_unknown": unknown,
    }
    # The newest few (by the index's order), compared oldest first (a tie goes to the earlier
    # report, as it always did). Rows: only the ticket joined is made a model.
    newest = await lookup.open_tickets_like(
        where,
        ctx.now - SAME_FAULT_WINDOW,
        SAME_FAULT_CANDIDATES,
        reporter=reporter,
    )
    if not newest:
        return None
    candidates = newest[::-1]
    nlu = ctx.services.nlu
    entries = []
    computed: dict[int, list[str]] = {}
    for row in candidates:
        features = row.features
        if features is None:
            # Opened before tickets kept their features: computed once, and kept.
            features = computed[row.id] = nlu.match_features(row.text)
            await Ticket.filter(id=row.id).update(features=features)
        entries.append((str(row.id), features))
    index = nlu.match_index(entries, threshold=threshold)
    best = index.best_for(ctx.match_features())
    if best is None:
        return None
    chosen = next(row for row in candidates if str(row.id) == best[0])
    ticket = chosen.model()
    if chosen.id in computed:
        ticket.features = computed[chosen.id]
    return ticket


async def _open_or_join(
    ctx: Context, kind: TicketKind, placed: Placed, photos: list[str] | None = None
) -> None:
    u = ctx.understanding
    assert u is not None and ctx.estate is not None
    department = Department(u.department or "customer_service")
    same = await _same_fault(ctx, kind, department, placed)
    if same is None:
        await open_from_message(
            ctx, kind, department, urgent=u.urgent, placed=placed, photos=photos
        )
        return
    message = ctx.message
    joined = await join_ticket(
        same,
        platform=message.chat.platform,
        chat_id=message.chat.chat_id,
        user_id=message.sender_id,
        message_id=message.message_id,
        text=message.text,
        now=ctx.now,
        language=ctx.lang,
        name=message.sender_name,
    )
    refs = [*(photos or []), *await _message_photos(ctx)]
    if refs:
        same = await add_photos(same.id, refs, _actor(ctx), ctx.now)
    made_urgent = None
    if u.urgent and not same.urgent:
        urgent = await promised_times(
            ctx.estate, same.kind, True, same.severity, ctx.now, ctx.services.cache
        )
        made_urgent = await make_urgent(
            same.id, _actor(ctx), ctx.now, text=message.text, respond_by=urgent.respond_by
        )
    # The ticket as this transaction read or changed it, in the estate of the message.
    current = made_urgent or same
    building = await desk.building_known(ctx, ctx.estate.id, current.location_building)
    known = desk.Known(ctx.estate, building, units=ctx.units_read)
    ctx.outbox.extend(await desk.card_messages(current, ctx.services, known=known))
    if made_urgent is not None:
        ctx.outbox.extend(await desk.urgent_alerts(made_urgent, ctx.services))
    log.info("%s's report joined %s", message.sender_id, same.number)
    where = await location_words(ctx, placed) if placed.written else ""
    ctx.reply(
        "ticket.joined" if joined else "ticket.already_reported",
        number=same.number,
        where=ctx.text("ticket.where", where=where) if where else "",
        department=ctx.text(f"department.{same.department}"),
    )


async def _message_photos(ctx: Context) -> list[str]:
    own = [a.ref for a in ctx.message.attachments if a.kind == "photo"]
    return [*own, *(ref for ref in await take_photos(ctx) if ref not in own)]


def _actor(ctx: Context) -> str:
    return f"{ctx.message.chat.platform}:{ctx.message.sender_id}"


# --- Announced outages -----------------------------------------------------------------------


async def _answered_by_incident(ctx: Context, placed: Placed) -> bool:
    """Answer a report of an announced outage with its times; True when it was one."""
    assert ctx.estate is not None
    kind = outage_kind_reported(ctx.message.text)
    if kind is None:
        return False
    building = placed.building or await building_of(placed.unit or placed.reporter_unit)
    incident = await match_incident(ctx.estate.id, kind, building, ctx.now, ctx.services.cache)
    if incident is None:
        return False
    message = ctx.message
    _, created = await IncidentReport.get_or_create(
        incident_id=incident.id,
        platform=message.chat.platform,
        user_id=message.sender_id,
        defaults={
            "chat_id": message.chat.chat_id,
            "message_id": message.message_id,
            "text": message.text,
            "at": ctx.now,
        },
    )
    tz = ctx.estate_tz
    ctx.reply(
        "incident.answer",
        what=incident_words(ctx, incident),
        start=incident.starts_at.astimezone(tz).strftime("%m-%d %H:%M"),
        end=incident.ends_at.astimezone(tz).strftime("%m-%d %H:%M"),
    )
    if created:
        ctx.outbox.extend(await incident_cards(incident, ctx))
    log.info("%s asked about incident %s", message.sender_id, incident.id)
    return True


def incident_words(ctx: Context, incident: Incident, lang: str | None = None) -> str:
    """What an incident is, in the reader's language ("3号楼停水")."""
    what = ctx.text(f"incident.kind_{incident.kind}", lang=lang)
    if incident.building is None:
        return ctx.text("incident.estate_wide", lang=lang, what=what)
    return ctx.text("incident.in_building", lang=lang, what=what, building=incident.building)


async def incident_cards(incident: Incident, ctx: Context) -> list[Outbound]:
    """The staff chats' count of owners who asked about an incident: posted, then edited."""
    asked = await IncidentReport.filter(incident_id=incident.id).count()
    lang = ctx.services.catalogues.default
    text = ctx.text(
        "incident.card",
        lang=lang,
        what=incident_words(ctx, incident, lang),
        end=incident.ends_at.astimezone(ctx.estate_tz).strftime("%m-%d %H:%M"),
        count=asked,
    )
    entries: list[Outbound] = []
    for chat in await desk.staff_chats(incident.estate_id, ctx.services.cache):
        ref = desk.group_ref(chat)
        key = f"{ref.platform}:{ref.chat_id}"
        sent_id = incident.cards.get(key)
        edit = SentMessage(chat=ref, message_id=str(sent_id)) if sent_id else None

        message = OutgoingMessage(chat=ref, text=text)
        remember = None if edit else Remember("incident_card", {"incident": incident.id})
        entries.append(Outbound(message, edit=edit, remember=remember))
    return entries


# --- Opening -----------------------------------------------------------------------------------


async def open_from_message(
    ctx: Context,
    kind: TicketKind,
    department: Department,
    *,
    urgent: bool = False,
    placed: Placed | None = None,
    photos: list[str] | None = None,
) -> Ticket:
    """Open a ticket from the message in hand, tell the listeners (the staff card), and reply."""
    assert ctx.estate is not None
    placed = placed or Placed()
    message = ctx.message
    refs = [*(photos or []), *await _message_photos(ctx)]
    severity = (
        str(suggest_severity(ctx.understanding, message.text))
        if kind is TicketKind.COMPLAINT
        else ""
    )
    promise = await promised_times(ctx.estate, kind, urgent, severity, ctx.now, ctx.services.cache)
    ticket = await open_ticket(
        estate=ctx.estate,
        severity=severity,
        due=(promise.respond_by, promise.resolve_by),
        office_time=promise.office_time,
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
        unit=placed.unit,
        location_place=placed.place,
        location_building=placed.building,
        location_unknown=placed.unknown,
        reporter_unit=placed.reporter_unit,
        photos=refs,
        now=ctx.now,
        features=ctx.match_features(),
    )
    for listener in ctx.services.ticket_opened:
        await listener(ctx, ticket)
    await reply_ticket_opened(ctx, ticket, placed)
    return ticket


async def location_words(ctx: Context, placed: Placed) -> str:
    """Where the fault is, in the owner's words and language (what the card also shows)."""
    assert ctx.estate is not None
    known = await desk.building_known(ctx, ctx.estate.id, placed.building)
    return desk.location_text(
        ctx.services.catalogues,
        ctx.lang,
        unit=placed.unit.label if placed.unit else None,
        place=placed.place,
        building=placed.building,
        unknown=placed.unknown,
        known_building=known,
    )


async def reply_ticket_opened(ctx: Context, ticket: Ticket, placed: Placed) -> None:
    """Tell the owner the ticket's number, where it is, who acts and what is promised.

    The place is said only when the owner's own text gave it (a reply in a group never shows
    where someone lives), and the promise is the ticket's own promised times.
    """
    assert ctx.estate is not None
    where = await location_words(ctx, placed) if placed.written else ""
    timezone = ctx.estate.timezone
    promise = owner_promise(ticket, ctx.services.catalogues, ctx.lang, timezone)
    if ticket.office_time and not ticket.urgent:
        # Out of hours, the owner hears when the office will look at it.
        calendar = await ctx.services.cache.calendar(ctx.estate)
        if not calendar.is_open(ticket.created_at):
            opening = calendar.next_opening(ticket.created_at)
            if opening is not None:
                closed = ctx.text("calendar.out_of_hours", opens=local_time(opening, timezone))
                promise = f"{closed}{promise}" if ctx.lang != "en" else f"{closed} {promise}"
    ctx.reply(
        f"{ticket.kind}.opened",
        number=ticket.number,
        where=ctx.text("ticket.where", where=where) if where else "",
        promise=promise,
        urgent=ctx.text("ticket.urgent_flag") if ticket.urgent else "",
    )


# --- Photos sent alone -----------------------------------------------------------------------


async def photos_sent(ctx: Context) -> None:
    """Photos with no words: they join the sender's report of the last minutes, or are kept
    for the next one (and, in private or when addressed, the owner is asked what they show)."""
    message = ctx.message
    refs = [a.ref for a in message.attachments if a.kind == "photo"]
    if not refs:
        if not ctx.in_group:
            ctx.reply("input.unreadable")
        return
    recent = (
        await TicketReporter.filter(
            platform=message.chat.platform,
            chat_id=message.chat.chat_id,
            user_id=message.sender_id,
            at__gte=ctx.now - PHOTO_WINDOW,
            ticket__status__in=list(OPEN_STATUSES),
        )
        .order_by("-at", "-id")
        .first()
    )
    if recent is not None:
        try:
            ticket = await add_photos(recent.ticket_id, refs, _actor(ctx), ctx.now)
        except IllegalTransition:
            ticket = None
        if ticket is not None:
            ctx.outbox.extend(await desk.card_messages(ticket, ctx.services))
            ctx.reply("ticket.photos_added", number=ticket.number, count=len(refs))
            return
    await keep_photos(ctx, refs)
    if not ctx.in_group or message.addressed:
        ctx.reply("photo.what")
    else:
        log.info("kept %d photo(s) from %s for their next report", len(refs), message.sender_id)


# --- What this module answers ------------------------------------------------------------------

ROUTES = Routes(
    buttons={"unit": unit_chosen},
    dialogs={DialogKind.CHOOSE_UNIT: unit_typed},
)
