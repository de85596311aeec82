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
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet

from bot.core.calendar import ServiceCalendar, load_calendar
from bot.core.logsafe import remember_secret
from bot.core.promises import is_paused, late, needs_calendar, resolve_due
from models import (
    ApiToken,
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
)

__all__ = [
    "NOT_CLOSED",
    "SESSION_KEY_NAME",
    "Board",
    "BoardFilter",
    "ConsoleConfig",
    "Department",
    "Staff",
    "Ticket",
    "TicketStatus",
    "actor_names",
    "board",
    "console_staff",
    "is_overdue",
    "is_supervisor",
    "is_waiting",
    "issue_login_token",
    "promised_done_by",
    "redeem_login_token",
    "session_key",
    "staff_estate",
    "ticket_events",
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
    """When a ticket is due to be done, the time it waited on the owner added on its estate's
    `calendar`."""
    return resolve_due(ticket, now, calendar)


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


async def board(staff: Staff, wanted: BoardFilter, now: datetime) -> Board:
    """The not-closed tickets a staff member sees, urgent first, narrowed by `wanted`."""
    estate = await Estate.get(id=staff.estate_id)
    query = visible_tickets(staff).filter(status__in=list(NOT_CLOSED))
    everything = await query
    calendar = (
        await load_calendar(estate)
        if any(needs_calendar(ticket) for ticket in everything)
        else ServiceCalendar(estate.timezone)
    )
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
    """Readable names of event actors: `staff:<id>`, `owner:<id>`, `<platform>:<user id>`."""
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
            identity = await ChatIdentity.get_or_none(platform=kind, user_id=ident)
            name = identity.display_name if identity and identity.display_name else None
        if name:
            names[actor] = name
    return names
