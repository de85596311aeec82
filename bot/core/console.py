"""The staff console's rules, apart from the web: sign-in links, who may use it, what they see.

Staff sign in with a one-time link the bot sends to their bound chat account (`/login` in a
private chat, see `handlers/login.py`): `issue_login_token` makes the token and keeps only its
SHA-256 in `LoginToken`; `redeem_login_token` spends it once, with a compare-and-set, before it
expires. Whoever redeems it gets a session for that staff member (the console adapter keeps it in
an encrypted cookie whose key `session_key` finds). Access is checked on every request, not only
at sign-in (`console_staff`): a staff member made inactive, or with no chat account bound any
more, is out at their next request. Supervisors see the whole estate, other staff their own
department (`visible_tickets`).
"""

from __future__ import annotations

import hashlib
import io
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from bot.core.calendar import ServiceCalendar, load_calendar
from bot.core.desk import location_text
from bot.core.i18n import Catalogues
from bot.core.logsafe import remember_secret
from bot.core.owners import UnboundOwner, estate_unbound
from bot.core.promises import card_resolve_due, is_paused, late, needs_calendar
from models import (
    ApiToken,
    Building,
    ChatIdentity,
    Department,
    Estate,
    LoginToken,
    Owner,
    Platform,
    Staff,
    StaffRole,
    Ticket,
    TicketEvent,
    TicketStatus,
    Unit,
)

__all__ = [
    "EXPORT_MAX",
    "HISTORY_PAGE",
    "NOT_CLOSED",
    "SESSION_KEY_NAME",
    "Board",
    "BoardFilter",
    "ConsoleConfig",
    "Department",
    "Estate",
    "History",
    "HistoryFilter",
    "Page",
    "Staff",
    "Ticket",
    "TicketEvent",
    "TicketStatus",
    "actor_names",
    "board",
    "console_staff",
    "export_workbook",
    "history",
    "history_for_export",
    "is_overdue",
    "is_supervisor",
    "is_waiting",
    "issue_login_token",
    "locations",
    "may_see_owners",
    "promised_done_by",
    "redeem_login_token",
    "session_key",
    "staff_estate",
    "ticket_events",
    "unbound_count",
    "unbound_owners",
    "visible_ticket",
    "visible_tickets",
]

log = logging.getLogger(__name__)

# The name of the store's row that holds the generated cookie key (CONSOLE_SECRET_KEY unset).
SESSION_KEY_NAME = "console-session-key"
# A token is 43 URL-safe characters; anything much longer is not one of ours.
MAX_TOKEN_LENGTH = 128
LOGIN_PATH = "/console/login"


@dataclass(frozen=True)
class ConsoleConfig:
    """Where the console is reached and how long its links and sessions last."""

    # The base URL people reach this server at (PUBLIC_URL): sign-in links start with it.
    public_url: str = "http://127.0.0.1:8080"
    login_minutes: int = 10
    session_hours: float = 12.0

    def login_url(self, token: str) -> str:
        """The sign-in link for a token."""
        return f"{self.public_url.rstrip('/')}{LOGIN_PATH}?token={token}"

    @property
    def secure_cookies(self) -> bool:
        """Whether the session cookie is sent over HTTPS only (the public URL is https)."""
        return self.public_url.lower().startswith("https://")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def issue_login_token(staff: Staff, now: datetime, minutes: int) -> str:
    """A new one-time sign-in token for a staff member, valid `minutes`; only its hash is kept.

    It replaces the staff member's earlier unused ones (the latest link is the one that works),
    and links long expired are forgotten.
    """
    token = secrets.token_urlsafe(32)
    # Out of every log line from now on (the channel may log what it sends).
    remember_secret(token)
    await LoginToken.filter(staff_id=staff.id, used_at__isnull=True).delete()
    await LoginToken.filter(expires_at__lt=now - timedelta(days=1)).delete()
    await LoginToken.create(
        token_hash=_digest(token),
        staff_id=staff.id,
        created_at=now,
        expires_at=now + timedelta(minutes=minutes),
    )
    log.info("issued a console sign-in link to staff %s, valid %d minutes", staff.id, minutes)
    return token


async def redeem_login_token(token: str, now: datetime) -> Staff | None:
    """The staff member a token signs in, spending it; None when it is unknown, used, expired,
    or its staff member may not use the console. Of two redemptions at once, one wins."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    digest = _digest(token)
    spent = await LoginToken.filter(
        token_hash=digest, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    if not spent:
        log.info("refused a console sign-in link: unknown, used or expired")
        return None
    row = await LoginToken.get(token_hash=digest)
    staff = await console_staff(row.staff_id)
    if staff is None:
        log.info("refused a console sign-in link: staff %s may not use the console", row.staff_id)
        return None
    log.info("staff %s signed in to the console", staff.id)
    return staff


async def console_staff(staff_id: object) -> Staff | None:
    """The staff member a session names, while they may use the console: active, and with a
    chat account still bound to them (unbinding every account signs them out)."""
    if type(staff_id) is not int:
        return None
    staff = await Staff.get_or_none(id=staff_id, active=True)
    if staff is None or not await ChatIdentity.exists(staff_id=staff.id):
        return None
    return staff


def is_supervisor(staff: Staff) -> bool:
    """Whether a staff member sees (and reports on) the whole estate."""
    return StaffRole(staff.role).supervises


def visible_tickets(staff: Staff) -> QuerySet[Ticket]:
    """The tickets a staff member may see and act on in the console: the estate's for a
    supervisor, their own department's for anyone else."""
    query = Ticket.filter(estate_id=staff.estate_id)
    if not is_supervisor(staff):
        query = query.filter(department=staff.department)
    return query


async def session_key(configured: str, now: datetime) -> bytes:
    """The 32-byte key that encrypts console session cookies: derived from CONSOLE_SECRET_KEY
    when it is set, otherwise from a key generated once and kept in the store, so that every
    process of a deployment reads the others' cookies. Never logged."""
    material = configured
    if not material:
        row = await ApiToken.get_or_none(name=SESSION_KEY_NAME)
        if row is None:
            fresh = secrets.token_urlsafe(32)
            # Known to the log redaction before the driver's DEBUG log of the INSERT shows it.
            remember_secret(fresh)
            try:
                row = await ApiToken.create(
                    name=SESSION_KEY_NAME,
                    token=fresh,
                    # The table is for expiring platform tokens; this key does not expire.
                    expires_at=now + timedelta(days=365 * 100),
                )
                log.info("generated the console's session key (kept in the store)")
            except IntegrityError:  # another process made it first: use theirs
                row = await ApiToken.get(name=SESSION_KEY_NAME)
        material = row.token
    remember_secret(material)
    return hashlib.sha256(b"guanjia console session\0" + material.encode("utf-8")).digest()


# -- what the console shows -------------------------------------------------------------------

NOT_CLOSED = (TicketStatus.OPEN, TicketStatus.CLAIMED, TicketStatus.RESOLVED)


def is_overdue(ticket: Ticket, now: datetime, calendar: ServiceCalendar) -> bool:
    """Whether a ticket has missed a promised time (`bot/core/promises.py`'s `late`, on its
    estate's `calendar`)."""
    return bool(late(ticket, now, calendar))


def promised_done_by(ticket: Ticket, now: datetime, calendar: ServiceCalendar) -> datetime:
    """When a ticket is due to be done, as its staff card says it (`card_resolve_due`): the time
    it waited on the owner added on its estate's `calendar`, and while an appointment stops its
    clock, the whole pause up to the appointment."""
    return card_resolve_due(ticket, now, calendar)


def is_waiting(ticket: Ticket, now: datetime) -> bool:
    """Whether a ticket's completion clock is stopped (an appointment, waiting for the owner)."""
    return is_paused(ticket, now)


@dataclass(frozen=True)
class BoardFilter:
    """What the board is narrowed to (None: any)."""

    department: Department | None = None
    status: TicketStatus | None = None
    urgent: bool | None = None
    overdue: bool = False


@dataclass(frozen=True)
class Board:
    """The tickets a staff member's board lists, with the counts of all they may see."""

    estate: Estate
    tickets: list[Ticket]
    open_count: int
    overdue_count: int
    # The estate's calendar, read when a ticket's waits count on office time (`needs_calendar`).
    calendar: ServiceCalendar


async def calendar_for(estate: Estate, tickets: Iterable[Ticket]) -> ServiceCalendar:
    """The estate's calendar, read from the store only when one of `tickets`' waits counts on
    office time (`needs_calendar`); otherwise one that only knows the estate's time zone."""
    if any(needs_calendar(ticket) for ticket in tickets):
        return await load_calendar(estate)
    return ServiceCalendar(estate.timezone)


async def board(staff: Staff, wanted: BoardFilter, now: datetime) -> Board:
    """The not-closed tickets a staff member sees, urgent first, narrowed by `wanted`."""
    estate = await Estate.get(id=staff.estate_id)
    query = visible_tickets(staff).filter(status__in=list(NOT_CLOSED))
    everything = await query
    calendar = await calendar_for(estate, everything)
    if wanted.department is not None:
        query = query.filter(department=wanted.department)
    if wanted.status is not None:
        query = query.filter(status=wanted.status)
    if wanted.urgent is not None:
        query = query.filter(urgent=wanted.urgent)
    tickets = await query.order_by("-urgent", "created_at", "id").select_related("claimed_by")
    if wanted.overdue:
        tickets = [ticket for ticket in tickets if is_overdue(ticket, now, calendar)]
    return Board(
        estate=estate,
        tickets=tickets,
        open_count=len(everything),
        overdue_count=sum(is_overdue(ticket, now, calendar) for ticket in everything),
        calendar=calendar,
    )


async def staff_estate(staff: Staff) -> Estate:
    """The estate a staff member works for."""
    return await Estate.get(id=staff.estate_id)


async def visible_ticket(staff: Staff, ticket_id: int) -> Ticket | None:
    """One ticket, when the staff member may see it."""
    return await visible_tickets(staff).get_or_none(id=ticket_id).select_related("claimed_by")


async def ticket_events(ticket: Ticket) -> list[TicketEvent]:
    """A ticket's events, oldest first."""
    return await TicketEvent.filter(ticket_id=ticket.id).order_by("id")


async def actor_names(actors: Iterable[str]) -> dict[str, str]:
    """Readable names of event actors: `staff:<id>`, `owner:<id>`, `<platform>:<user id>` (the
    owner or staff member the account is bound to, else the name the account shows)."""
    names: dict[str, str] = {}
    platforms = {p.value for p in Platform}
    for actor in set(actors):
        kind, _, ident = actor.partition(":")
        name: str | None = None
        if kind == "staff" and ident.isdigit():
            member = await Staff.get_or_none(id=int(ident))
            name = member.name if member else None
        elif kind == "owner" and ident.isdigit():
            owner = await Owner.get_or_none(id=int(ident))
            name = owner.name if owner else None
        elif kind in platforms:
            # The register's name of whom the account is bound to, else the name it shows.
            identity = await ChatIdentity.get_or_none(platform=kind, user_id=ident).select_related(
                "owner", "staff"
            )
            if identity is not None:
                person = identity.owner or identity.staff
                name = person.name if person else identity.display_name or None
        if name:
            names[actor] = name
    return names


# -- the history: every ticket, closed ones too, by when it was opened -------------------------

# Tickets on a page of the history, owners on a page of the unbound list.
HISTORY_PAGE = 50
OWNERS_PAGE = 200
# The most rows an export writes: more is refused, with the advice to narrow the range.
EXPORT_MAX = 10_000
# A search longer than this is cut (nobody types more to find a ticket).
MAX_SEARCH = 64


@dataclass(frozen=True)
class HistoryFilter:
    """The history narrowed to tickets opened from `since` to `until` (local dates, both
    included), and to those whose number, reporter, owner, unit or text contains `search`."""

    since: date
    until: date
    search: str = ""
    department: Department | None = None
    status: TicketStatus | None = None


@dataclass(frozen=True)
class Page:
    """Which page of how many (from 1)."""

    number: int
    count: int
    total: int


@dataclass(frozen=True)
class History:
    """A page of the tickets a staff member's history lists, newest first."""

    estate: Estate
    tickets: list[Ticket]
    page: Page


def _local_bounds(wanted: HistoryFilter, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The moments the filter's local dates start and end (the day after `until` begins)."""
    start = datetime.combine(wanted.since, time(), zone)
    end = datetime.combine(wanted.until + timedelta(days=1), time(), zone)
    return start, end


def _history_query(staff: Staff, estate: Estate, wanted: HistoryFilter) -> QuerySet[Ticket]:
    """The tickets a history filter selects. They are read through the (estate, opened at)
    index: the date range bounds what the search reads, whatever it looks for."""
    start, end = _local_bounds(wanted, ZoneInfo(estate.timezone))
    query = visible_tickets(staff).filter(created_at__gte=start, created_at__lt=end)
    if wanted.department is not None:
        query = query.filter(department=wanted.department)
    if wanted.status is not None:
        query = query.filter(status=wanted.status)
    needle = " ".join(wanted.search.split())[:MAX_SEARCH]
    if needle:
        matches = (
            Q(number__icontains=needle)
            | Q(reporter_name__icontains=needle)
            | Q(text__icontains=needle)
            | Q(location_unknown__icontains=needle)
        )
        # The estate's units and owners whose label or name has it, as subqueries (an estate
        # may have more units than a statement may have parameters).
        units = Unit.filter(estate_id=estate.id, label__icontains=needle).values("id")
        owners = Owner.filter(estate_id=estate.id, name__icontains=needle).values("id")
        matches |= (
            Q(unit_id__in=Subquery(units))
            | Q(reporter_unit_id__in=Subquery(units))
            | Q(owner_id__in=Subquery(owners))
        )
        query = query.filter(matches)
    return query


def _pages(total: int, per_page: int, wanted: int) -> Page:
    count = max(1, -(-total // per_page))
    return Page(number=min(max(1, wanted), count), count=count, total=total)


async def history(staff: Staff, wanted: HistoryFilter, page: int) -> History:
    """A page of the tickets, closed ones too, a staff member sees, newest first."""
    estate = await Estate.get(id=staff.estate_id)
    query = _history_query(staff, estate, wanted)
    shown = _pages(await query.count(), HISTORY_PAGE, page)
    tickets = (
        await query.order_by("-created_at", "-id")
        .offset((shown.number - 1) * HISTORY_PAGE)
        .limit(HISTORY_PAGE)
        .select_related("claimed_by")
    )
    return History(estate=estate, tickets=tickets, page=shown)


async def history_for_export(staff: Staff, wanted: HistoryFilter) -> list[Ticket] | None:
    """Every ticket a history filter selects, newest first; None when there are more than
    EXPORT_MAX (the range should be narrowed)."""
    estate = await Estate.get(id=staff.estate_id)
    query = _history_query(staff, estate, wanted)
    tickets = await (
        query.order_by("-created_at", "-id").limit(EXPORT_MAX + 1).select_related("claimed_by")
    )
    return None if len(tickets) > EXPORT_MAX else tickets


async def locations(tickets: Sequence[Ticket], catalogues: Catalogues, lang: str) -> list[str]:
    """Where each ticket's fault is, in words (as its card says), in two queries for a list."""
    if not tickets:
        return []
    unit_ids = {ticket.unit_id for ticket in tickets if ticket.unit_id}
    labels = dict(await Unit.filter(id__in=list(unit_ids)).values_list("id", "label"))
    buildings = set(
        await Building.filter(estate_id=tickets[0].estate_id).values_list("name", flat=True)
    )
    return [
        location_text(
            catalogues,
            lang,
            unit=labels.get(ticket.unit_id) if ticket.unit_id else None,
            place=ticket.location_place,
            building=ticket.location_building,
            unknown=ticket.location_unknown,
            known_building=ticket.location_building is None
            or ticket.location_building in buildings,
        )
        for ticket in tickets
    ]


# -- owners who will not hear: no chat account bound -------------------------------------------


def may_see_owners(staff: Staff) -> bool:
    """Whether a staff member may list the owners to invite: supervisors and the front desk."""
    return is_supervisor(staff) or staff.department is Department.CUSTOMER_SERVICE


def _unbound(estate_id: int) -> QuerySet[Owner]:
    bound = ChatIdentity.filter(owner_id__isnull=False).values("owner_id")
    return Owner.filter(estate_id=estate_id, active=True).exclude(id__in=Subquery(bound))


async def unbound_count(estate_id: int) -> int:
    """How many of an estate's owners have no chat account bound."""
    return await _unbound(estate_id).count()


async def unbound_owners(estate_id: int, page: int) -> tuple[list[UnboundOwner], Page]:
    """A page of an estate's owners with no chat account bound, in the order of their first
    unit (`bot.core.owners`, which the notice runs and `guanjia owners unbound` read too)."""
    found = (await estate_unbound(await Estate.get(id=estate_id))).unbound
    shown = _pages(len(found), OWNERS_PAGE, page)
    first = (shown.number - 1) * OWNERS_PAGE
    return found[first : first + OWNERS_PAGE], shown


# -- the export -------------------------------------------------------------------------------


def export_workbook(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """An .xlsx of one sheet: the headers in bold, frozen and filtered, then the rows as given
    (times already local, text kept as text: an owner's "=…" is not a formula)."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append(list(headers))
    widths = [max(8, len(str(head)) * 2) for head in headers]
    for values in rows:
        cells = []
        for index, value in enumerate(values):
            if isinstance(value, datetime):
                value = value.replace(tzinfo=None)
            elif isinstance(value, str):
                value = ILLEGAL_CHARACTERS_RE.sub("", value)
                widths[index] = min(60, max(widths[index], len(value) + 2))
            cells.append(value)
        sheet.append(cells)
        for cell in sheet[sheet.max_row]:
            if cell.data_type == "f":
                cell.data_type = "s"
            elif isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{sheet.max_row}"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
