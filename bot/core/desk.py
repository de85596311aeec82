"""The staff desk's platform-neutral core: ticket cards, telling reporters, alerting supervisors,
escalating late tickets and closing unrated ones.

Handlers queue what this module builds into their context's outbox (it goes out after their
transaction commits). What the scheduler's jobs raise on their own (`escalate_overdue`'s alerts,
`close_unrated`'s card edits) is recorded as Notifier deliveries in the same transaction as the
change it tells of, and sent by the Notifier: retried, paced, and recorded once. A card is
posted once per staff chat and then edited: its platform message id is kept in `TicketCard`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.core import roster
from bot.core.calendar import ServiceCalendar
from bot.core.context import Context, Outbound, Remember, Services
from bot.core.i18n import Catalogues
from bot.core.notifier import Audience, Notice, Notifier
from bot.core.promises import card_promise, is_paused, late, resolve_due, ticket_calendar
from bot.core.reference import EstateCache
from bot.core.types import Attachment, Button, ChatRef, Mention, OutgoingMessage, SentMessage
from models import (
    Building,
    Chat,
    ChatIdentity,
    ChatKind,
    Department,
    Escalation,
    Estate,
    EventKind,
    Owner,
    Platform,
    Rating,
    Staff,
    StaffRole,
    Ticket,
    TicketCard,
    TicketEvent,
    TicketReporter,
    TicketStatus,
    Unit,
    lifecycle,
)
from models.lifecycle import IllegalTransition
from models.lookup import escalations_due
from models.statements import Statement, chunks, fetch, fetch_one, select, select_statement

log = logging.getLogger(__name__)

RATING_WINDOW = timedelta(days=3)
# The kinds of the deliveries this module records.
ESCALATION = "escalation"
AUTO_CLOSE = "auto_close"
RESPONSE = "response"
RESOLVE = "resolve"
# Rating buttons, best first, as the revisit form lists them.
RATINGS = (
    Rating.VERY_SATISFIED,
    Rating.SATISFIED,
    Rating.NEUTRAL,
    Rating.DISSATISFIED,
    Rating.VERY_DISSATISFIED,
)
Compose = Callable[[str], str]


def acting_staff(ctx: Context, estate_id: int | None = None) -> Staff | None:
    """The sender as staff of the estate (the chat's, unless given); otherwise refuse and None.

    Staff are staff only by a chat account bound to an active staff member: being in the staff
    chat, or an admin of it, grants nothing.
    """
    wanted = estate_id if estate_id is not None else (ctx.estate.id if ctx.estate else None)
    staff = ctx.staff
    if staff is None or wanted is None or staff.estate_id != wanted:
        log.info(
            "refused %s:%s acting as staff of estate %s",
            ctx.message.chat.platform,
            ctx.message.sender_id,
            wanted,
        )
        ctx.reply("desk.not_staff")
        return None
    return staff


def group_ref(chat: Chat) -> ChatRef:
    """The ChatRef of a registered group chat."""
    return ChatRef(Platform(chat.platform), chat.chat_id, is_group=True)


async def staff_chats(estate_id: int, cache: EstateCache | None = None) -> list[Chat]:
    """An estate's staff chats, oldest first (from the cache, when there is one)."""
    if cache is not None:
        return list(await cache.staff_chats(estate_id))
    return await Chat.filter(estate_id=estate_id, kind=ChatKind.STAFF).order_by("id")


async def on_duty(ticket: Ticket, at: datetime) -> list[Staff]:
    """Who is paged for the ticket at `at`: its department's people on duty by the roster
    (`roster.paged`: else the department's staff, else the supervisors)."""
    return await roster.paged(ticket.estate_id, ticket.department, at)


async def supervisors(estate_id: int) -> list[Staff]:
    """The estate's active supervisors."""
    return await Staff.filter(
        estate_id=estate_id, active=True, role=StaffRole.SUPERVISOR
    ).order_by("id")


def mentions(staff: Sequence[Staff]) -> str:
    """A mention of each staff member, the platform-neutral way (`@name`)."""
    return " ".join(f"@{member.name}" for member in staff)


# Platforms whose user ids are one corp's WeCom userids: an identity on one names the person
# on the other too.
_SAME_USERIDS = {
    Platform.WECOM: (Platform.WECOM, Platform.WECOM_AIBOT),
    Platform.WECOM_AIBOT: (Platform.WECOM_AIBOT, Platform.WECOM),
}


async def platform_mentions(staff: Sequence[Staff], platform: Platform) -> tuple[Mention, ...]:
    """Who of `staff` can be @-mentioned by user id on `platform` (those with an account
    there), so that a mention notifies them rather than being text."""
    if not staff:
        return ()
    platforms = _SAME_USERIDS.get(platform, (platform,))
    # Every one's accounts in one read, oldest first.
    where = {"staff_id": [member.id for member in staff], "platform": list(platforms)}
    accounts: dict[int, list[ChatIdentity]] = {}
    for identity in await fetch(ChatIdentity, where, order_by=["id"]):
        accounts.setdefault(identity.staff_id, []).append(identity)
    found: list[Mention] = []
    for member in staff:
        identities = accounts.get(member.id, [])
        # The platform's own account first, then the one sharing its user ids.
        identities.sort(key=lambda identity: platforms.index(Platform(identity.platform)))
        if identities:
            found.append(Mention(f"@{member.name}", identities[0].user_id))
    return tuple(found)


def _local(moment: datetime, estate: Estate) -> str:
    return moment.astimezone(ZoneInfo(estate.timezone)).strftime("%m-%d %H:%M")


def location_text(
    catalogues: Catalogues,
    lang: str,
    *,
    unit: str | None = None,
    place: str | None = None,
    building: str | None = None,
    unknown: str = "",
    known_building: bool = True,
) -> str:
    """Where a fault is, in words: a flat's label, "2号楼 电梯", or a flat the estate does not
    have ("8-3-1201（本小区无此房号）"); empty when nothing says where."""

    def t(key: str, **fields: object) -> str:
        return catalogues.text(lang, key, **fields)

    if unit:
        return unit
    if unknown:
        return t("location.unknown_unit", unit=unknown)
    if place is None:
        return ""
    named = t(f"place.{place}")
    if building is None:
        return named
    block = t("location.building", building=building)
    if not known_building:
        block = t("location.unknown_building", building=block)
    if place == "other":
        return block
    return t("location.place_in_building", building=block, place=named)


async def building_known(ctx: Context, estate_id: int, name: str | None) -> bool:
    """Whether an estate has a building of this name (no name: nothing to doubt), from the
    estate's cached building names."""
    if name is None:
        return True
    return name in await ctx.services.cache.buildings(estate_id)


@dataclass(frozen=True)
class Known:
    """What the message in hand knows of a ticket it has just opened or joined, read in its
    transaction, so the card reads none of it again: the ticket's estate, and whether the
    building the fault is in is the estate's; for a ticket it opened (`opened`), also the
    owner on record and the reporter's home (a ticket just opened has no other reporter and
    no card yet)."""

    estate: Estate
    known_building: bool
    opened: bool = False
    owner: Owner | None = None
    home: Unit | None = None
    # Units the message read in its transaction, by id (`Context.units_read`): the fault's
    # unit among them is not read again.
    units: Mapping[int, Unit] = field(default_factory=dict)


async def _unit(unit_id: int | None, units: Mapping[int, Unit] | None) -> Unit | None:
    """The unit with this id: from `units` (read in the transaction already), else the store."""
    if unit_id is None:
        return None
    unit = (units or {}).get(unit_id)
    return unit if unit is not None else await fetch_one(Unit, id=unit_id)


def _reports(ticket_id: int) -> Statement:
    """A ticket's reports in order, what its card shows of each."""
    return select_statement(
        TicketReporter,
        {"ticket_id": ticket_id},
        order_by=["id"],
        columns=["name", "user_id", "text"],
    )


async def ticket_location(
    ticket: Ticket,
    catalogues: Catalogues,
    lang: str,
    *,
    known_building: bool | None = None,
    units: Mapping[int, Unit] | None = None,
) -> str:
    """Where a ticket's fault is, in words (see `location_text`); `units`: units read in the
    transaction already, by id."""
    unit = await _unit(ticket.unit_id, units)
    known = known_building
    if known is None:
        known = ticket.location_building is None or await Building.exists(
            estate_id=ticket.estate_id, name=ticket.location_building
        )
    return location_text(
        catalogues,
        lang,
        unit=unit.label if unit else None,
        place=ticket.location_place,
        building=ticket.location_building,
        unknown=ticket.location_unknown,
        known_building=known,
    )


# How many of a ticket's joined reports its card quotes (the newest), and how much of each.
CARD_REPORTS = 5
CARD_REPORT_CHARS = 60


async def render_card(
    ticket: Ticket,
    catalogues: Catalogues,
    lang: str,
    duty: Sequence[Staff] = (),
    *,
    now: datetime,
    known: Known | None = None,
) -> str:
    """A ticket card's text as of `now` (the injected clock's time): urgent first with the
    people paged (`duty`: `on_duty`), where the fault is and who reported it (two separate
    facts), every further report of it, its promised times with the time waited on the owner
    (`card_promise`), never a phone number.

    `known`: what the message in hand read of it already (see `Known`).
    """
    opened = known is not None and known.opened
    if known is not None and known.opened:
        estate, owner, home = known.estate, known.owner, known.home
    else:
        estate = known.estate if known is not None else await Estate.get(id=ticket.estate_id)
        home = await _unit(ticket.reporter_unit_id, known.units if known is not None else None)
        owner = await fetch_one(Owner, id=ticket.owner_id) if ticket.owner_id else None
    holder = await fetch_one(Staff, id=ticket.claimed_by_id) if ticket.claimed_by_id else None

    def t(key: str, **fields: object) -> str:
        return catalogues.text(lang, key, **fields)

    lines: list[str] = []
    if ticket.urgent and ticket.status in (TicketStatus.OPEN, TicketStatus.CLAIMED):
        lines.append(t("desk.card_urgent", mentions=mentions(duty)))
    lines.append(
        t(
            "desk.card_head",
            number=ticket.number,
            kind=t(f"desk.kind_{ticket.kind}"),
            department=t(f"department.{ticket.department}"),
        )
    )
    known_building = known.known_building if known is not None else None
    where = await ticket_location(
        ticket,
        catalogues,
        lang,
        known_building=known_building,
        units=known.units if known is not None else None,
    )
    lines.append(t("desk.card_location", where=where or t("desk.card_no_location")))
    # The owner on record, else the name the chat account shows: a name, never a phone number.
    name = owner.name if owner else ticket.reporter_name or ticket.reporter_id
    if home is not None:
        lines.append(t("desk.card_reporter_home", name=name, unit=home.label))
    elif owner is None:
        lines.append(t("desk.card_reporter_unbound", name=name))
    else:
        lines.append(t("desk.card_reporter", name=name))
    lines.append(t("desk.card_text", text=ticket.text))
    # Every report after the first: only what the card shows of each is read.
    joined = [] if opened else (await select(TicketReporter, _reports(ticket.id)))[1:]
    if joined:
        lines.append(t("desk.card_reports", count=len(joined) + 1))
        for reporter in joined[-CARD_REPORTS:]:
            said = str(reporter["text"])
            text = (
                said if len(said) <= CARD_REPORT_CHARS else (said[: CARD_REPORT_CHARS - 1] + "…")
            )
            name = reporter["name"] or reporter["user_id"]
            lines.append(t("desk.card_report_line", name=name, text=text))
    if ticket.photos:
        lines.append(t("desk.card_photos", count=len(ticket.photos)))
    calendar = await ticket_calendar(ticket, estate)
    lines.append(card_promise(ticket, catalogues, lang, estate.timezone, calendar, now))
    status = t(f"desk.status_{ticket.status}")
    if holder is not None:
        lines.append(t("desk.card_status_held", status=status, holder=holder.name))
    else:
        lines.append(t("desk.card_status", status=status))
    if ticket.reopen_count:
        lines.append(t("desk.card_reopened", count=ticket.reopen_count))
    if ticket.result:
        lines.append(t("desk.card_result", result=ticket.result))
    if ticket.rating is not None:
        lines.append(t("desk.card_rating", rating=t(f"desk.rating_{ticket.rating}")))
    return "\n".join(lines)


def card_buttons(
    ticket: Ticket, catalogues: Catalogues, lang: str
) -> tuple[tuple[Button, ...], ...]:
    """The card's buttons for the ticket's status: claim and transfer while nobody holds it,
    transfer and close once someone does (a ticket nobody holds is not closed by a button)."""
    if ticket.status not in (TicketStatus.OPEN, TicketStatus.CLAIMED):
        return ()  # a resolved or closed ticket waits for its owner, not for staff
    row: list[Button] = []
    if ticket.status is TicketStatus.OPEN:
        row.append(Button(catalogues.text(lang, "desk.button_claim"), f"claim:{ticket.id}"))
    row.append(Button(catalogues.text(lang, "desk.button_transfer"), f"transfer:{ticket.id}"))
    if ticket.status is TicketStatus.CLAIMED:
        row.append(Button(catalogues.text(lang, "desk.button_close"), f"close:{ticket.id}"))
    return (tuple(row),)


def transfer_buttons(
    ticket: Ticket, catalogues: Catalogues, lang: str
) -> tuple[tuple[Button, ...], ...]:
    """One button per department the ticket could move to; each names the department it
    leaves, so a picker pressed after the ticket moved moves nothing."""
    return tuple(
        (
            Button(
                catalogues.text(lang, f"department.{d}"),
                f"transfer_to:{ticket.id}:{ticket.department}:{d}",
            ),
        )
        for d in Department
        if d != ticket.department
    )


def rating_buttons(
    ticket: Ticket, catalogues: Catalogues, lang: str
) -> tuple[tuple[Button, ...], ...]:
    """The five steps of the revisit form as buttons, best first."""
    return tuple(
        (Button(catalogues.text(lang, f"desk.rating_{int(r)}"), f"rate:{ticket.id}:{int(r)}"),)
        for r in RATINGS
    )


async def card_messages(
    ticket: Ticket,
    services: Services,
    *,
    known: Known | None = None,
) -> list[Outbound]:
    """The ticket's card for each staff chat of its estate: an edit where it was posted before.

    `known`: the ticket was opened or changed just now, in this transaction, and is as the
    store holds it; what else the message read of it (see `Known`).
    """
    if known is None:
        ticket = await Ticket.get(id=ticket.id)  # render what the store holds now
    lang = services.catalogues.default
    urgent = ticket.urgent and ticket.status in (TicketStatus.OPEN, TicketStatus.CLAIMED)
    now = services.clock.now()
    duty = await on_duty(ticket, now) if urgent else []
    text = await render_card(ticket, services.catalogues, lang, duty, now=now, known=known)
    buttons = card_buttons(ticket, services.catalogues, lang)
    photos = tuple(Attachment("photo", ref) for ref in ticket.photos)
    cards = (
        {}
        if known is not None and known.opened
        else {
            (card.platform, card.chat_id): card
            for card in await fetch(TicketCard, {"ticket_id": ticket.id})
        }
    )
    entries: list[Outbound] = []
    for chat in await staff_chats(ticket.estate_id, services.cache):
        ref = group_ref(chat)
        message = OutgoingMessage(
            chat=ref,
            text=text,
            buttons=buttons,
            photos=photos,
            mentions=await platform_mentions(duty, ref.platform),
        )
        card = cards.get((ref.platform, ref.chat_id))
        edit = SentMessage(chat=ref, message_id=card.message_id) if card else None
        remember = Remember("ticket_card", {"ticket": ticket.id})
        entries.append(Outbound(message, edit=edit, remember=remember))
    if not entries:
        log.warning(
            "estate %s has no staff chat for the card of %s", ticket.estate_id, ticket.number
        )
    return entries


async def urgent_alerts(ticket: Ticket, services: Services) -> list[Outbound]:
    """A new message in each staff chat when a ticket has just become urgent (an edited card
    notifies nobody)."""
    lang = services.catalogues.default
    duty = await on_duty(ticket, services.clock.now())
    text = services.catalogues.text(
        lang,
        "desk.made_urgent",
        number=ticket.number,
        where=await ticket_location(ticket, services.catalogues, lang)
        or services.catalogues.text(lang, "desk.card_no_location"),
        mentions=mentions(duty),
    )
    entries: list[Outbound] = []
    for chat in await staff_chats(ticket.estate_id, services.cache):
        ref = group_ref(chat)
        named = await platform_mentions(duty, ref.platform)
        entries.append(Outbound(OutgoingMessage(chat=ref, text=text, mentions=named)))
    return entries


async def reporter_messages(
    ticket: Ticket,
    services: Services,
    compose: Compose,
    buttons: Callable[[str], tuple[tuple[Button, ...], ...]] | None = None,
) -> list[Outbound]:
    """A message to every reporter of the ticket, in their language, in the chat each came from
    (quoting their report in a group), on whichever platform that was."""
    entries: list[Outbound] = []
    for reporter in await TicketReporter.filter(ticket_id=ticket.id).order_by("id"):
        platform = Platform(reporter.platform)
        channel = services.hub.get(platform)
        if channel is None:
            log.warning(
                "no %s channel to tell %s about %s", platform, reporter.user_id, ticket.number
            )
            continue
        is_group = channel.private_chat(reporter.user_id).chat_id != reporter.chat_id
        lang = services.catalogues.language(reporter.language)
        message = OutgoingMessage(
            chat=ChatRef(platform, reporter.chat_id, is_group=is_group),
            text=compose(lang),
            buttons=buttons(lang) if buttons else (),
            reply_to=reporter.message_id if is_group else None,
        )
        entries.append(Outbound(message))
    return entries


async def supervisor_alerts(
    estate_id: int, services: Services, compose: Compose
) -> list[Outbound]:
    """An alert to the staff chats, mentioning the supervisors, and to each one privately."""
    entries: list[Outbound] = []
    chiefs = await supervisors(estate_id)
    for platform, to, text, is_group in await _supervisor_recipients(estate_id, services, compose):
        channel = services.hub.get(platform)
        named: tuple[Mention, ...] = ()
        if is_group:
            chat = ChatRef(platform, to, is_group=True)
            named = await platform_mentions(chiefs, platform)
        elif channel is not None:
            chat = channel.private_chat(to)
        else:
            continue
        entries.append(Outbound(OutgoingMessage(chat=chat, text=text, mentions=named)))
    return entries


async def _supervisor_recipients(
    estate_id: int, services: Services, compose: Compose
) -> list[tuple[Platform, str, str, bool]]:
    """Who a supervisor alert goes to, and in which words: each staff chat (platform, chat id,
    the text mentioning the supervisors, True), and each supervisor's account on a running
    platform (platform, user id, the text in their language, False)."""
    chiefs = await supervisors(estate_id)
    lang = services.catalogues.default
    recipients: list[tuple[Platform, str, str, bool]] = []
    for chat in await staff_chats(estate_id, services.cache):
        text = compose(lang)
        if chiefs:
            text += "\n" + services.catalogues.text(
                lang, "desk.supervisors", mentions=mentions(chiefs)
            )
        ref = group_ref(chat)
        recipients.append((ref.platform, ref.chat_id, text, True))
    for chief in chiefs:
        for identity in await ChatIdentity.filter(staff_id=chief.id).order_by("id"):
            platform = Platform(identity.platform)
            if services.hub.get(platform) is not None:
                private_lang = services.catalogues.language(identity.language)
                recipients.append((platform, identity.user_id, compose(private_lang), False))
    return recipients


async def _responded(tickets: Sequence[Ticket]) -> set[int]:
    """Which of `tickets` staff answered the owner of since they were (re)opened: their
    reopenings and answers read together, a read for every `chunks` of tickets."""
    reopened: dict[int, datetime] = {}
    answered: dict[int, datetime] = {}
    for some in chunks(tickets):
        rows = await TicketEvent.filter(
            ticket_id__in=[ticket.id for ticket in some],
            kind__in=[EventKind.REOPENED, EventKind.ANSWERED],
        ).values_list("ticket_id", "kind", "at")
        for ticket_id, kind, at in rows:
            latest = reopened if kind == EventKind.REOPENED else answered
            if ticket_id not in latest or latest[ticket_id] < at:
                latest[ticket_id] = at
    return {
        ticket.id
        for ticket in tickets
        if ticket.id in answered
        and answered[ticket.id] >= reopened.get(ticket.id, ticket.created_at)
    }


async def _escalated_of(
    tickets: Sequence[Ticket],
) -> dict[tuple[int, str, datetime], set[int]]:
    """The levels already raised for each (ticket, breach, deadline) of `tickets`, a read for
    every `chunks` of tickets."""
    done: dict[tuple[int, str, datetime], set[int]] = {}
    for some in chunks(tickets):
        rows = await Escalation.filter(ticket_id__in=[ticket.id for ticket in some]).values_list(
            "ticket_id", "breach", "deadline", "level"
        )
        for ticket_id, breach, deadline, level in rows:
            done.setdefault((ticket_id, breach, deadline), set()).add(level)
    return done


async def breaches(
    ticket: Ticket, now: datetime, calendar: ServiceCalendar, responded: bool | None = None
) -> list[tuple[str, datetime]]:
    """The promised times the ticket has passed and still owes (`late`, on the estate's
    `calendar`), as alerts: (breach, deadline); its completion not while its clock is stopped.
    `responded`: whether staff answered the owner since it was (re)opened, when the caller read
    it already."""
    missed = late(ticket, now, calendar)
    found: list[tuple[str, datetime]] = []
    # An open ticket nobody has claimed or answered owes a response; when both promises fall
    # at the same moment (a complaint's "answered within 24 hours") one alert says it all.
    if (
        missed.response
        and not (missed.resolve and ticket.due_response_at == ticket.due_resolve_at)
        and not (responded if responded is not None else ticket.id in await _responded([ticket]))
    ):
        found.append((RESPONSE, ticket.due_response_at))
    # Time waited on the owner moves the completion deadline (and so the breach) on; while the
    # clock is stopped nothing is owed for it (the deadline would move on with every run, each
    # time a breach of its own alerted anew), and when it restarts the breach is the deadline
    # moved on by the whole wait.
    if missed.resolve and not is_paused(ticket, now):
        found.append((RESOLVE, resolve_due(ticket, now, calendar)))
    return found


# The steps of a staged escalation when an estate's own cannot be read: minutes after the breach.
DEFAULT_STEPS = (0, 30, 120)
# Who each step alerts, by level; a level past the last alerts the last step's people again.
STAGES = ("holder", "supervisor", "manager")


def parse_steps(text: str) -> tuple[int, ...]:
    """Escalation steps as written ("0,30,120": minutes after the breach), ascending and
    distinct; ValueError when they are not whole non-negative minutes."""
    parts = [part.strip() for part in text.replace("，", ",").split(",")]
    if not parts or not all(part.isdigit() for part in parts):
        raise ValueError(f"escalation steps are minutes such as 0,30,120: {text!r}")
    return tuple(sorted({int(part) for part in parts}))


def steps_owed(
    owed: Sequence[tuple[str, datetime]],
    steps: Sequence[timedelta],
    now: datetime,
    escalated: Mapping[tuple[int, str, datetime], set[int]],
    ticket_id: int,
) -> list[tuple[str, datetime, int]]:
    """(breach, deadline, level) of each step come due by `now` for the breaches `owed` of
    ticket `ticket_id` (as `breaches` gives them) and not yet raised (`escalated`: the levels
    raised for each (ticket, breach, deadline)), in order."""
    due: list[tuple[str, datetime, int]] = []
    for breach, deadline in owed:
        done = escalated.get((ticket_id, breach, deadline), set())
        for level, step in enumerate(steps):
            if now - deadline < step:
                break
            if level not in done:
                due.append((breach, deadline, level))
    return due


def escalation_steps(estate: Estate) -> tuple[timedelta, ...]:
    """The estate's escalation steps (`Estate.escalation_steps`, minutes after the breach, e.g.
    "0,30,120"), ascending; the defaults, with a warning, when they cannot be read."""
    try:
        minutes = parse_steps(estate.escalation_steps)
    except ValueError:
        log.warning(
            "estate %s: escalation steps %r are not minutes such as 0,30,120: using %s",
            estate.code,
            estate.escalation_steps,
            DEFAULT_STEPS,
        )
        minutes = DEFAULT_STEPS
    return tuple(timedelta(minutes=m) for m in minutes)


def stage_of(level: int) -> str:
    """Who a level of escalation alerts: the holder (or whoever is on duty), the department's
    supervisor, the estate manager."""
    return STAGES[min(level, len(STAGES) - 1)]


async def stage_people(ticket: Ticket, level: int, now: datetime) -> tuple[str, list[Staff]]:
    """Who a level of a ticket's escalation alerts, and as what ("holder", "duty",
    "supervisor", "manager"): level 0 the holder, or whoever is on duty for its department when
    nobody holds it (`roster.paged`); level 1 the department's supervisors (any supervisor when
    it has none); level 2 and after the estate managers (the supervisors when there is none)."""
    stage = stage_of(level)
    if stage == "holder":
        holder = (
            await Staff.get_or_none(id=ticket.claimed_by_id, active=True)
            if ticket.claimed_by_id
            else None
        )
        if holder is not None:
            return "holder", [holder]
        return "duty", await on_duty(ticket, now)
    if stage == "supervisor":
        return "supervisor", (
            await roster.supervisors(ticket.estate_id, ticket.department)
            or await roster.supervisors(ticket.estate_id)
        )
    return "manager", (
        await roster.managers(ticket.estate_id) or await roster.supervisors(ticket.estate_id)
    )


async def escalate_overdue(now: datetime, services: Services, notifier: Notifier) -> int:
    """Alert in stages for each promised time passed: at each of the estate's steps after the
    breach (`escalation_steps`, by default +0, +30 min, +2 h) the next people (`stage_people`:
    the holder or whoever is on duty, the department's supervisor, the estate manager), each
    step once per breach; returns how many steps were raised.

    Each (ticket, breach, deadline, level) is recorded once in `Escalation`, whose unique key
    makes a second run, or a second process running at the same moment, raise nothing twice.
    Its alerts are Notifier deliveries recorded in the same transaction, then sent: an alert
    whose send fails is retried, and none is lost to a process that dies after the record. A
    job that runs late raises every step that came due, each naming its own people.
    """
    # The tickets that may owe a step, read per set of steps: the store leaves out those whose
    # every step due is recorded already, so a run reads what is due, not every ticket left
    # late (a backlog of unhandled tickets, escalated to the top, is read no more).
    estates = {estate.id: estate for estate in await Estate.all()}
    steps_of = {estate_id: escalation_steps(estate) for estate_id, estate in estates.items()}
    by_steps: dict[tuple[timedelta, ...], list[int]] = {}
    for estate_id, steps in steps_of.items():
        by_steps.setdefault(steps, []).append(estate_id)
    candidates: list[Ticket] = []
    for steps, estate_ids in by_steps.items():
        for some in chunks(estate_ids):
            candidates += await escalations_due(some, steps, now, RESPONSE, RESOLVE)
    if not candidates:
        return 0
    candidates.sort(key=lambda ticket: ticket.id)
    # What each ticket's check needs, read for all of them at once.
    responded = await _responded(candidates)
    escalated = await _escalated_of(candidates)
    raised = 0
    for ticket in candidates:
        estate = estates[ticket.estate_id]
        calendar = await ticket_calendar(ticket, estate, services.cache)
        owed = await breaches(ticket, now, calendar, ticket.id in responded)
        steps = steps_of[ticket.estate_id]
        for breach, deadline, level in steps_owed(owed, steps, now, escalated, ticket.id):
            try:
                async with in_transaction():
                    escalation = await Escalation.create(
                        ticket_id=ticket.id,
                        breach=breach,
                        deadline=deadline,
                        level=level,
                        at=now,
                    )
                    stage, people = await stage_people(ticket, level, now)
                    await TicketEvent.create(
                        ticket_id=ticket.id,
                        kind=EventKind.ESCALATED,
                        actor=lifecycle.SYSTEM,
                        at=now,
                        data={
                            "breach": breach,
                            "level": level,
                            "stage": stage,
                            "to": [member.name for member in people],
                            "deadline": deadline.isoformat(),
                        },
                    )
                    compose = await _escalation_text(
                        ticket, estate, breach, deadline, now, services
                    )
                    alerts = await people_notices(
                        ticket.estate_id,
                        people,
                        stage,
                        services,
                        compose,
                        f"escalation:{escalation.id}",
                    )
                    await notifier.enqueue(alerts, now)
            except IntegrityError:
                continue  # raised already, here or by another process
            raised += 1
    if raised and not notifier.queue_only:
        await notifier.deliver(kinds={ESCALATION})
    return raised


async def people_notices(
    estate_id: int,
    people: Sequence[Staff],
    stage: str,
    services: Services,
    compose: Compose,
    key: str,
) -> list[Notice]:
    """An alert for `people` as deliveries keyed under `key`: in each staff chat, with a line
    mentioning them (by user id where they have an account on the chat's platform), and to
    each of them privately on every running platform they have an account on."""
    lang = services.catalogues.default
    notices: list[Notice] = []
    for chat in await staff_chats(estate_id, services.cache):
        ref = group_ref(chat)
        text = compose(lang)
        if people:
            text += "\n" + services.catalogues.text(
                lang, f"desk.escalate_{stage}", mentions=mentions(people)
            )
        notices.append(
            Notice(
                f"{key}:{ref.platform}:{ref.chat_id}",
                ESCALATION,
                Audience.STAFF,
                ref.platform,
                ref.chat_id,
                text,
                mentions=await platform_mentions(people, ref.platform),
            )
        )
    for member in people:
        for identity in await ChatIdentity.filter(staff_id=member.id).order_by("id"):
            platform = Platform(identity.platform)
            if services.hub.get(platform) is None:
                continue
            private_lang = services.catalogues.language(identity.language)
            notices.append(
                Notice(
                    f"{key}:{platform}:{identity.user_id}",
                    ESCALATION,
                    Audience.PRIVATE,
                    platform,
                    identity.user_id,
                    compose(private_lang),
                )
            )
    return notices


def late_words(catalogues: Catalogues, lang: str, late: timedelta) -> str:
    """How late a ticket is, in words that make sense: "刚刚超时" under a minute, else whole
    minutes rounded down ("已超时 12 分钟"), hours and minutes from an hour ("已超时 2 小时 5
    分钟"): never "0 分钟", never more than it is."""
    minutes = int(late.total_seconds() // 60)
    if minutes < 1:
        return catalogues.text(lang, "desk.late_just_now")
    if minutes < 60:
        return catalogues.text(lang, "desk.late_minutes", minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if minutes == 0:
        return catalogues.text(lang, "desk.late_hours", hours=hours)
    return catalogues.text(lang, "desk.late_hours_minutes", hours=hours, minutes=minutes)


async def _escalation_text(
    ticket: Ticket,
    estate: Estate,
    breach: str,
    deadline: datetime,
    now: datetime,
    services: Services,
) -> Compose:
    """The alert's text, in any language: which promise the ticket broke, how late it is and
    who holds it."""
    holder = await Staff.get_or_none(id=ticket.claimed_by_id) if ticket.claimed_by_id else None
    catalogues = services.catalogues

    def compose(lang: str) -> str:
        return catalogues.text(
            lang,
            "desk.escalation_late",
            number=ticket.number,
            breach=catalogues.text(lang, f"desk.breach_{breach}"),
            deadline=_local(deadline, estate),
            late=late_words(catalogues, lang, now - deadline),
            holder=holder.name if holder else catalogues.text(lang, "desk.nobody"),
        )

    return compose


async def close_unrated(now: datetime, services: Services, notifier: Notifier) -> int:
    """Close the tickets resolved more than 3 days ago that nobody rated; returns how many.
    Each closed card's edit is a delivery recorded with the close, then sent."""
    stale = await Ticket.filter(
        status=TicketStatus.RESOLVED, resolved_at__lte=now - RATING_WINDOW
    ).order_by("id")
    closed = 0
    for ticket in stale:
        try:
            async with in_transaction():
                closed_ticket = await lifecycle.close_unrated(ticket.id, now)
                key = f"auto_close:{ticket.id}:{closed_ticket.reopen_count}"
                await notifier.enqueue(await card_notices(closed_ticket, services, key), now)
        except IllegalTransition:
            continue  # rated, reopened or closed a moment ago
        closed += 1
    if closed and not notifier.queue_only:
        await notifier.deliver(kinds={AUTO_CLOSE})
    return closed


async def card_notices(ticket: Ticket, services: Services, key: str) -> list[Notice]:
    """The ticket's card for each staff chat as deliveries: an edit where it was posted before
    (a new card, remembered, where it was not)."""
    notices = []
    for entry in await card_messages(ticket, services):
        chat = entry.message.chat
        notices.append(
            Notice(
                f"{key}:{chat.platform}:{chat.chat_id}",
                AUTO_CLOSE,
                Audience.STAFF,
                chat.platform,
                chat.chat_id,
                entry.message.text,
                buttons=entry.message.buttons,
                edit=entry.edit.message_id if entry.edit is not None else None,
                remember=entry.remember,
            )
        )
    return notices
