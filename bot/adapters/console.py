"""The staff console: the ticket board, the history with its search, the Excel export of either
list, each ticket's page (its timeline in words), the staff actions, and the owners with no chat
account bound, behind sign-in. At a phone's width each list is a column of cards (CSS only).

Served by the shared `HttpServer` as a sub-application under `/console/`, with its own session
cookie. Staff sign in with the one-time link the bot sends to their bound chat account (`/login`
in a private chat, `handlers/login.py`): `GET /console/login?token=…` only shows a page with a
sign-in button (chat apps fetch a link to preview it), and the button's `POST` spends the token
(`bot/core/console.py`). The session is an aiohttp-session `EncryptedCookieStorage` cookie
(Fernet: encrypted and authenticated), `HttpOnly`, `SameSite=Lax`, `Secure` when PUBLIC_URL is
https, lasting CONSOLE_SESSION_HOURS; its expiry is also checked against the injected clock, and
who it names is checked on every request: an inactive or unbound staff member is out at once.

Every form carries the session's CSRF token and every `POST` is refused (403, nothing changed)
without it; every request's `Host` must be one of the public names (PUBLIC_HOSTS), and a
`POST` that says where it comes from (`Origin`) must come from one of them. Supervisors see the
whole estate and may download the month's report; other staff see their department.

The actions (claim, reply to the owner, close with the result, transfer) are the staff desk's
own (`bot/core/desk_actions.py`): in one transaction the ticket changes (compare-and-set) and
what it sends is kept in the store's outbox; after the commit the cards are edited in every
staff chat and the owners told, exactly as when staff act from the staff chat.

Pages are Jinja2 templates (`console_templates/`, autoescaped) whose every word comes from the
catalogues (`console.*`, `desk.*`).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp_session
import jinja2
from aiohttp import hdrs, web
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from bot.adapters.http import HttpServer
from bot.core import console, desk_actions
from bot.core.calendar import ServiceCalendar
from bot.core.console import (
    BoardFilter,
    ConsoleConfig,
    Department,
    Estate,
    HistoryFilter,
    Staff,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from bot.core.context import Services
from bot.core.desk import ticket_location
from bot.core.i18n import LANGUAGES, Catalogues
from bot.core.reports import (
    BadMonth,
    month_report,
    month_started,
    parse_month,
    report_directory,
    write_report_files,
)
from bot.core.types import safe_text

log = logging.getLogger("guanjia.console")

PREFIX = "/console"
TEMPLATES_DIR = Path(__file__).with_name("console_templates")
STATIC_DIR = Path(__file__).with_name("console_static")
COOKIE = "guanjia_console"
# What staff may write to an owner or as a result, as in a chat message.
MAX_TEXT = 4000
ACTIONS = ("claim", "reply", "close", "transfer")
PhotoUrl = Callable[[str], str | None]
# The columns of the board (tickets not closed) and of the history, as shown and exported.
_LISTED = ("number", "kind", "department", "status", "unit", "reporter", "text", "created")
BOARD_COLUMNS = (*_LISTED, "due", "claimed_by")
HISTORY_COLUMNS = (*_LISTED, "done", "claimed_by", "rated")
# How far back the history looks when no range is given.
HISTORY_DAYS = 30
# What a list shows of a ticket's text (its page and the export have all of it).
SHORT_TEXT = 80
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Row:
    """A ticket as a list shows it: each column's value (words, or a local time), and marks."""

    ticket: Ticket
    values: dict[str, str | datetime | None]
    late: bool = False
    waiting: bool = False


@dataclass
class Entry:
    """One moment of a ticket's timeline: when, who, what happened, and what it said."""

    kind: str
    at: datetime
    who: str
    what: str
    lines: list[str] = field(default_factory=list)
    photos: list[str] = field(default_factory=list)
    unseen_photos: int = 0


class Console:
    """The console: a part of the shared web server (`bot.adapters.lifecycle.WebPart`) whose
    routes go on with `mount_on`; it holds nothing of its own to start, drain or stop."""

    # Its pages need nothing before the server listens, and it holds no connection of its own:
    # it stops once the server has stopped sending it requests.
    after_server = False
    stops_before_server = False

    def __init__(
        self,
        services: Services,
        config: ConsoleConfig,
        key: bytes,
        *,
        photo_url: PhotoUrl | None = None,
    ) -> None:
        self.services = services
        self.catalogues = services.catalogues
        self.clock = services.clock
        self.config = config
        self.key = key
        # Photos the console can show (the web chat demo's, when it is served); others counted.
        self.photo_url = photo_url
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.server: HttpServer | None = None

    # -- wiring ---------------------------------------------------------------------------------

    def mount_on(self, server: HttpServer) -> None:
        """Serve the console under /console/ on the shared server (before it starts)."""
        self.server = server
        app = web.Application()
        storage = EncryptedCookieStorage(
            self.key,
            cookie_name=COOKIE,
            max_age=int(self.config.session_hours * 3600),
            path=PREFIX,
            secure=self.config.secure_cookies,
            httponly=True,
            samesite="Lax",
        )
        # The guard runs first: a request by a name that is not ours reads no cookie.
        app.middlewares.append(self._guard)
        aiohttp_session.setup(app, storage)
        app.add_routes(
            [
                web.get("/", self._board),
                web.get("/history", self._history),
                web.get("/export", self._export),
                web.get("/owners/unbound", self._unbound),
                web.get("/login", self._login_page),
                web.post("/login", self._login),
                web.post("/logout", self._logout),
                web.get(r"/tickets/{id:\d+}", self._ticket),
                web.post(r"/tickets/{id:\d+}/{action:" + "|".join(ACTIONS) + "}", self._act),
                web.post("/report", self._report),
                web.static("/static", STATIC_DIR, append_version=False),
            ]
        )
        # Before the sub-application, which would otherwise answer /console itself with a 404.
        server.add_routes([web.get(PREFIX, self._to_board)])
        server.add_subapp(PREFIX, app)

    async def start(self) -> None:
        """Nothing to start: every page is a request the server hands over."""

    async def drain(self) -> None:
        """Nothing to wait for: a page's action is done within its own request."""

    async def stop(self) -> None:
        """Nothing to close: the server closes the connections."""

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        """The public names only, forms from our own pages only, and nothing kept by caches."""
        assert self.server is not None
        # An Origin, when the browser names one, must be ours on every form. A missing one, or
        # `null` (what browsers send from a page whose Referrer-Policy is no-referrer, as ours
        # are), is judged by the form's CSRF token alone.
        origin = request.headers.get(hdrs.ORIGIN, "null")
        posted = request.method == hdrs.METH_POST and origin != "null"
        self.server.hosts.check(request, origin=posted)
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as answer:  # redirects and error pages
            answer.headers["Cache-Control"] = "no-store"
            raise
        response.headers["Cache-Control"] = "no-store"
        return response

    async def _to_board(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"{PREFIX}/")

    # -- sessions -------------------------------------------------------------------------------

    async def _session(self, request: web.Request) -> aiohttp_session.Session:
        session = await aiohttp_session.get_session(request)
        if not isinstance(session.get("csrf"), str):
            session["csrf"] = secrets.token_urlsafe(32)
        return session

    async def _signed_in(self, request: web.Request) -> tuple[aiohttp_session.Session, Staff]:
        """The session and the staff member it names, checked now; otherwise a redirect to the
        sign-in page (a GET) or a 403 (a POST)."""
        session = await self._session(request)
        staff_id, since = session.get("staff"), session.get("at")
        staff: Staff | None = None
        if staff_id is not None:
            now = self.clock.now().timestamp()
            fresh = isinstance(since, int | float) and (
                since <= now <= since + self.config.session_hours * 3600
            )
            staff = await console.console_staff(staff_id) if fresh else None
            if staff is None:
                log.info(
                    "ended the console session of staff %s: %s",
                    staff_id,
                    "inactive or unbound" if fresh else "expired",
                )
                self._sign_out(session)
                if request.method != hdrs.METH_POST:
                    session["ended"] = True  # the sign-in page says why
        if staff is None:
            if request.method == hdrs.METH_POST:
                raise self._error(request, session, 403, "console.session_ended")
            raise web.HTTPSeeOther(f"{PREFIX}/login")
        return session, staff

    @staticmethod
    def _sign_out(session: aiohttp_session.Session) -> None:
        lang = session.get("lang")
        session.invalidate()
        session["csrf"] = secrets.token_urlsafe(32)
        if lang in LANGUAGES:
            session["lang"] = lang

    async def _check_csrf(self, request: web.Request, session: aiohttp_session.Session) -> None:
        """Refuse a form without the session's CSRF token (another site's form, a stale page)."""
        form = await request.post()
        sent = form.get("csrf")
        expected = session.get("csrf")
        if (
            not isinstance(sent, str)
            or not isinstance(expected, str)
            or not hmac.compare_digest(sent.encode(), expected.encode())
        ):
            log.warning(
                "refused a console form without the session's CSRF token: %s", request.path
            )
            raise self._error(request, session, 403, "console.bad_csrf")

    # -- pages ----------------------------------------------------------------------------------

    def _lang(self, request: web.Request, session: aiohttp_session.Session) -> str:
        wanted = request.query.get("lang")
        if wanted in LANGUAGES:
            session["lang"] = wanted
        lang = session.get("lang")
        return lang if lang in LANGUAGES else self.catalogues.default

    def _render(
        self,
        request: web.Request,
        session: aiohttp_session.Session,
        template: str,
        **context: Any,
    ) -> web.Response:
        """A page of the console."""
        text = self._page(request, session, template, **context)
        return web.Response(text=text, content_type="text/html")

    def _page(
        self,
        request: web.Request,
        session: aiohttp_session.Session,
        template: str,
        *,
        staff: Staff | None = None,
        tz: ZoneInfo | None = None,
        **context: Any,
    ) -> str:
        """A template filled in the session's language, with the session's CSRF token."""
        lang = self._lang(request, session)
        other = "en" if lang == "zh" else "zh"
        query = {k: v for k, v in request.query.items() if k != "lang"}
        zone = tz or ZoneInfo("Asia/Shanghai")

        def t(key: str, **fields: object) -> str:
            return self.catalogues.text(lang, key, **fields)

        def when(moment: datetime | None) -> str:
            return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else ""

        notice = session.pop("notice", None)
        if session.pop("ended", None):
            notice = t("console.session_ended")
        return self.templates.get_template(template).render(
            t=t,
            when=when,
            lang=lang,
            switch_url=f"{request.path}?{urlencode({**query, 'lang': other})}",
            staff=staff,
            csrf=session.get("csrf", ""),
            notice=notice if isinstance(notice, str) else None,
            **context,
        )

    def _error(
        self,
        request: web.Request,
        session: aiohttp_session.Session,
        status: int,
        key: str,
        **fields: object,
    ) -> web.HTTPException:
        """An error page as an exception to raise (aiohttp-session still saves the cookie)."""
        lang = self._lang(request, session)
        message = self.catalogues.text(lang, key, **fields)
        text = self._page(request, session, "message.html", message=message)
        return _STATUS[status](text=text, content_type="text/html")

    # -- signing in and out ---------------------------------------------------------------------

    async def _login_page(self, request: web.Request) -> web.StreamResponse:
        """The sign-in button for a link's token; fetching it (a chat's link preview) spends
        nothing. Without a token: how to get one."""
        session = await self._session(request)
        token = request.query.get("token", "")
        if not token and isinstance(session.get("staff"), int):
            raise web.HTTPSeeOther(f"{PREFIX}/")
        if len(token) > console.MAX_TOKEN_LENGTH:
            token = ""
        return self._render(request, session, "login.html", token=token)

    async def _login(self, request: web.Request) -> web.StreamResponse:
        """Spend a sign-in token: a fresh session for its staff member."""
        session = await self._session(request)
        await self._check_csrf(request, session)
        token = (await request.post()).get("token")
        staff = await console.redeem_login_token(
            token if isinstance(token, str) else "", self.clock.now()
        )
        if staff is None:
            raise self._error(request, session, 403, "console.login_failed")
        self._sign_out(session)  # a new session, a new CSRF token: nothing carried over
        session["staff"] = staff.id
        session["at"] = self.clock.now().timestamp()
        raise web.HTTPSeeOther(f"{PREFIX}/")

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        session = await self._session(request)
        await self._check_csrf(request, session)
        if isinstance(session.get("staff"), int):
            log.info("staff %s signed out of the console", session["staff"])
        self._sign_out(session)
        session["notice"] = self.catalogues.text(
            self._lang(request, session), "console.signed_out"
        )
        raise web.HTTPSeeOther(f"{PREFIX}/login")

    # -- the board ------------------------------------------------------------------------------

    def _board_filter(
        self, request: web.Request, session: aiohttp_session.Session, staff: Staff
    ) -> BoardFilter:
        """The board's filter from the query; a value out of its choices is a 400."""
        query = request.query
        department = query.get("department", "") if console.is_supervisor(staff) else ""
        status = query.get("status", "")
        urgent = query.get("urgent", "")
        if department and department not in {d.value for d in Department}:
            raise self._error(request, session, 400, "console.bad_filter", name="department")
        if status and status not in {s.value for s in console.NOT_CLOSED}:
            raise self._error(request, session, 400, "console.bad_filter", name="status")
        if urgent not in ("", "yes", "no"):
            raise self._error(request, session, 400, "console.bad_filter", name="urgent")
        return BoardFilter(
            department=Department(department) if department else None,
            status=TicketStatus(status) if status else None,
            urgent=None if not urgent else urgent == "yes",
            overdue=query.get("overdue", "") == "1",
        )

    def _history_filter(
        self,
        request: web.Request,
        session: aiohttp_session.Session,
        staff: Staff,
        today: date,
    ) -> HistoryFilter:
        """The history's filter from the query: a range of local dates (the last 30 days when
        none is given), a search, a department and a status; a bad value is a 400."""
        query = request.query
        department = query.get("department", "") if console.is_supervisor(staff) else ""
        status = query.get("status", "")
        if department and department not in {d.value for d in Department}:
            raise self._error(request, session, 400, "console.bad_filter", name="department")
        if status and status not in {s.value for s in TicketStatus}:
            raise self._error(request, session, 400, "console.bad_filter", name="status")
        days: dict[str, date] = {}
        for name, default in (("since", today - timedelta(days=HISTORY_DAYS)), ("until", today)):
            written = query.get(name, "").strip()
            try:
                days[name] = date.fromisoformat(written) if written else default
            except ValueError:
                raise self._error(
                    request, session, 400, "console.bad_date", date=written[:20]
                ) from None
        if days["since"] > days["until"]:
            raise self._error(
                request,
                session,
                400,
                "console.bad_range",
                since=days["since"].isoformat(),
                until=days["until"].isoformat(),
            )
        return HistoryFilter(
            since=days["since"],
            until=days["until"],
            search=safe_text(query.get("q", "")).strip(),
            department=Department(department) if department else None,
            status=TicketStatus(status) if status else None,
        )

    async def _rows(
        self,
        tickets: Sequence[Ticket],
        columns: Sequence[str],
        lang: str,
        estate: Estate,
        now: datetime,
        calendar: ServiceCalendar | None = None,
    ) -> list[Row]:
        """The tickets as a list shows and exports them: each column in words or local time
        (`calendar`: the estate's, when the caller read it already, as the board does)."""

        def t(key: str, **fields: object) -> str:
            return self.catalogues.text(lang, key, **fields)

        def local(moment: datetime | None) -> datetime | None:
            return moment.astimezone(tz) if moment else None

        tz = ZoneInfo(estate.timezone)
        if calendar is None:
            calendar = await console.calendar_for(estate, tickets)
        rows = []
        places = await console.locations(tickets, self.catalogues, lang)
        for ticket, where in zip(tickets, places, strict=True):
            due = console.promised_done_by(ticket, now, calendar)
            every: dict[str, str | datetime | None] = {
                "number": ticket.number,
                "kind": t(f"console.kind.{ticket.kind.value}"),
                "department": t(f"department.{ticket.department.value}"),
                "status": t(f"console.status.{ticket.status.value}"),
                "unit": where,
                "reporter": ticket.reporter_name,
                "text": ticket.text,
                "created": local(ticket.created_at),
                "due": local(due),
                "done": local(ticket.closed_at or ticket.resolved_at),
                "claimed_by": ticket.claimed_by.name if ticket.claimed_by else "",
                "rated": t(f"desk.rating_{ticket.rating}") if ticket.rating else "",
            }
            live = ticket.status is not TicketStatus.CLOSED
            rows.append(
                Row(
                    ticket=ticket,
                    values={key: every[key] for key in columns},
                    late=live and console.is_overdue(ticket, now, calendar),
                    waiting=live and console.is_waiting(ticket, now),
                )
            )
        return rows

    async def _list(
        self,
        request: web.Request,
        session: aiohttp_session.Session,
        staff: Staff,
        estate: Estate,
        view: str,
        tickets: Sequence[Ticket],
        calendar: ServiceCalendar | None = None,
        **context: Any,
    ) -> web.Response:
        """A list of tickets (the board's or the history's) with its filters and export link."""
        now = self.clock.now()
        tz = ZoneInfo(estate.timezone)
        columns = BOARD_COLUMNS if view == "open" else HISTORY_COLUMNS
        lang = self._lang(request, session)
        return self._render(
            request,
            session,
            "board.html",
            staff=staff,
            tz=tz,
            view=view,
            estate=estate,
            supervisor=console.is_supervisor(staff),
            columns=columns,
            rows=await self._rows(tickets, columns, lang, estate, now, calendar),
            short=SHORT_TEXT,
            unbound=await self._unbound_count(staff),
            departments=[d.value for d in Department],
            this_month=now.astimezone(tz).strftime("%Y-%m"),
            **context,
        )

    async def _board(self, request: web.Request) -> web.StreamResponse:
        """The not-closed tickets the staff member sees, filtered."""
        session, staff = await self._signed_in(request)
        wanted = self._board_filter(request, session, staff)
        shown = await console.board(staff, wanted, self.clock.now())
        return await self._list(
            request,
            session,
            staff,
            shown.estate,
            "open",
            shown.tickets,
            shown.calendar,
            open_count=shown.open_count,
            overdue_count=shown.overdue_count,
            statuses=[s.value for s in console.NOT_CLOSED],
            chosen={
                "department": wanted.department.value if wanted.department else "",
                "status": wanted.status.value if wanted.status else "",
                "urgent": request.query.get("urgent", ""),
                "overdue": wanted.overdue,
            },
            export_url=f"{PREFIX}/export?{urlencode({**request.query, 'view': 'open'})}",
        )

    async def _unbound_count(self, staff: Staff) -> int | None:
        """How many owners have no chat account bound, for who may list them (else None)."""
        if not console.may_see_owners(staff):
            return None
        return await console.unbound_count(staff.estate_id)

    async def _history(self, request: web.Request) -> web.StreamResponse:
        """Every ticket the staff member sees, closed ones too, opened in a range of days and
        matching a search; newest first, a page at a time."""
        session, staff = await self._signed_in(request)
        estate = await console.staff_estate(staff)
        today = self.clock.now().astimezone(ZoneInfo(estate.timezone)).date()
        wanted = self._history_filter(request, session, staff, today)
        page = request.query.get("page", "1")
        shown = await console.history(staff, wanted, int(page) if page.isdigit() else 1)
        chosen = {
            "since": wanted.since.isoformat(),
            "until": wanted.until.isoformat(),
            "q": wanted.search,
            "department": wanted.department.value if wanted.department else "",
            "status": wanted.status.value if wanted.status else "",
        }
        kept = {key: value for key, value in chosen.items() if value}
        return await self._list(
            request,
            session,
            staff,
            estate,
            "history",
            shown.tickets,
            page=shown.page,
            page_url=lambda number: f"{PREFIX}/history?{urlencode({**kept, 'page': number})}",
            statuses=[s.value for s in TicketStatus],
            chosen=chosen,
            export_url=f"{PREFIX}/export?{urlencode({**kept, 'view': 'history'})}",
        )

    async def _export(self, request: web.Request) -> web.StreamResponse:
        """The list a board or history page shows, every row of it, as an Excel workbook."""
        session, staff = await self._signed_in(request)
        now = self.clock.now()
        estate = await console.staff_estate(staff)
        tz = ZoneInfo(estate.timezone)
        lang = self._lang(request, session)
        today = now.astimezone(tz).date()
        calendar: ServiceCalendar | None = None  # the board reads it; the history, `_rows`
        if request.query.get("view") == "history":
            wanted = self._history_filter(request, session, staff, today)
            found = await console.history_for_export(staff, wanted)
            if found is None:
                raise self._error(
                    request, session, 400, "console.export_too_big", limit=console.EXPORT_MAX
                )
            tickets, columns = found, HISTORY_COLUMNS
            name = f"{wanted.since.isoformat()}_{wanted.until.isoformat()}"
        else:
            wanted_open = self._board_filter(request, session, staff)
            shown = await console.board(staff, wanted_open, now)
            tickets, calendar = shown.tickets, shown.calendar
            columns, name = BOARD_COLUMNS, today.isoformat()
        rows = await self._rows(tickets, columns, lang, estate, now, calendar)
        t = self.catalogues.text
        content = await asyncio.to_thread(
            console.export_workbook,
            t(lang, "console.export_sheet"),
            [t(lang, f"console.col_{key}") for key in columns],
            [[row.values[key] for key in columns] for row in rows],
        )
        filename = f"tickets-{_file_part(estate.code)}-{name}.xlsx"
        log.info("console: staff %s exported %d tickets", staff.id, len(rows))
        return web.Response(
            body=content,
            headers={
                hdrs.CONTENT_TYPE: XLSX,
                hdrs.CONTENT_DISPOSITION: f'attachment; filename="{filename}"',
            },
        )

    async def _unbound(self, request: web.Request) -> web.StreamResponse:
        """The owners with no chat account bound (they get no bills or notices): unit and
        name, for staff to invite; supervisors and the front desk only."""
        session, staff = await self._signed_in(request)
        if not console.may_see_owners(staff):
            log.info("refused the unbound owners to staff %s", staff.id)
            raise self._error(request, session, 403, "console.owners_not_yours")
        page = request.query.get("page", "1")
        owners, shown = await console.unbound_owners(
            staff.estate_id, int(page) if page.isdigit() else 1
        )
        return self._render(
            request,
            session,
            "unbound.html",
            staff=staff,
            owners=owners,
            page=shown,
            page_url=lambda number: f"{PREFIX}/owners/unbound?{urlencode({'page': number})}",
        )

    # -- one ticket -----------------------------------------------------------------------------

    async def _visible(
        self, request: web.Request, session: aiohttp_session.Session, staff: Staff
    ) -> Ticket:
        ticket = await console.visible_ticket(staff, int(request.match_info["id"]))
        if ticket is None:
            raise self._error(request, session, 404, "console.not_found")
        return ticket

    async def _ticket(self, request: web.Request) -> web.StreamResponse:
        """One ticket, its events, and what the staff member can do with it."""
        session, staff = await self._signed_in(request)
        ticket = await self._visible(request, session, staff)
        lang = self._lang(request, session)
        estate = await console.staff_estate(staff)
        events = await console.ticket_events(ticket)
        names = await console.actor_names(event.actor for event in events)
        tz = ZoneInfo(estate.timezone)
        live = ticket.status in (TicketStatus.OPEN, TicketStatus.CLAIMED)
        return self._render(
            request,
            session,
            "ticket.html",
            staff=staff,
            tz=tz,
            ticket=ticket,
            where=await ticket_location(ticket, self.catalogues, lang),
            timeline=timeline(ticket, events, names, self.catalogues, lang, tz, self.photo_url),
            photo_count=len(ticket.photos),
            can_claim=ticket.status is TicketStatus.OPEN,
            can_reply=ticket.status is not TicketStatus.CLOSED,
            can_close=live,
            can_transfer=live,
            departments=[d.value for d in Department if d != ticket.department],
            max_text=MAX_TEXT,
        )

    async def _act(self, request: web.Request) -> web.StreamResponse:
        """A staff action on a ticket: the desk's own, then its cards and owner messages sent."""
        session, staff = await self._signed_in(request)
        await self._check_csrf(request, session)
        ticket = await self._visible(request, session, staff)
        lang = self._lang(request, session)
        form = await request.post()
        action = request.match_info["action"]
        now = self.clock.now()
        here = f"{PREFIX}/tickets/{ticket.id}"
        text = ""
        if action in ("reply", "close"):
            written = form.get("text")
            text = safe_text(written).strip() if isinstance(written, str) else ""
            problem = "console.empty_text" if not text else None
            if len(text) > MAX_TEXT:
                problem = "console.too_long"
            if problem is not None:
                session["notice"] = self.catalogues.text(lang, problem, limit=MAX_TEXT)
                raise web.HTTPSeeOther(here)
        department = expected = None
        if action == "transfer":
            departments = {d.value for d in Department}
            to, leaving = form.get("department"), form.get("from")
            if to not in departments or leaving not in departments:
                raise self._error(request, session, 400, "console.bad_filter", name="department")
            department, expected = Department(str(to)), Department(str(leaving))

        def run() -> Awaitable[desk_actions.DeskOutcome]:
            if action == "claim":
                return desk_actions.claim(ticket, staff, now, self.services, lang)
            if action == "reply":
                return desk_actions.answer_owner(ticket, staff, text, now, self.services, lang)
            if action == "close":
                return desk_actions.resolve(ticket, staff, text, now, self.services, lang)
            assert department is not None
            return desk_actions.transfer(
                ticket, staff, department, now, self.services, lang, expected=expected
            )

        # The desk's own action, then its cards and owner messages, once it committed.
        outcome = await desk_actions.run_and_send(run, self.services, now)
        log.info(
            "console: staff %s %s %s: %s",
            staff.id,
            action,
            ticket.number,
            "done" if outcome.done else outcome.key,
        )
        session["notice"] = self.catalogues.text(lang, outcome.key, **outcome.fields)
        if await console.visible_ticket(staff, ticket.id) is None:
            here = f"{PREFIX}/"  # transferred out of the staff member's department
        raise web.HTTPSeeOther(here)

    # -- the report -----------------------------------------------------------------------------

    async def _report(self, request: web.Request) -> web.StreamResponse:
        """The month's workbook, as the `report` command builds it; supervisors only."""
        session, staff = await self._signed_in(request)
        await self._check_csrf(request, session)
        if not console.is_supervisor(staff):
            log.info("refused the report to staff %s: not a supervisor", staff.id)
            raise self._error(request, session, 403, "console.supervisors_only")
        lang = self._lang(request, session)
        written = (await request.post()).get("month")
        estate = await console.staff_estate(staff)
        now = self.clock.now()
        try:
            month = parse_month(written if isinstance(written, str) else "")
        except BadMonth:
            shown = " ".join(str(written or "").split())[:20]
            raise self._error(request, session, 400, "console.bad_month", month=shown) from None
        if not month_started(month, ZoneInfo(estate.timezone), now):
            raise self._error(request, session, 400, "report.future_month", month=month)
        report = await month_report(estate, month, now)
        directory = report_directory(self.services.reports_dir, report)
        files = await asyncio.to_thread(
            write_report_files, report, self.catalogues, lang, directory, prepared_by=staff.name
        )
        log.info("console: report %s %s for staff %s", estate.code, month, staff.id)
        return web.FileResponse(
            files.workbook,
            headers={
                hdrs.CONTENT_TYPE: (
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                ),
                hdrs.CONTENT_DISPOSITION: f'attachment; filename="{files.workbook.name}"',
            },
        )


_STATUS: Mapping[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
}


def _file_part(code: str) -> str:
    """An estate's code as a safe part of a file name."""
    return "".join(c for c in code if c.isascii() and (c.isalnum() or c in "-_")) or "estate"


def _word(value: object) -> str:
    """A value of an event's data as plain text (never a repr)."""
    if isinstance(value, list | tuple):
        return ", ".join(_word(v) for v in value)
    return "" if value is None else str(value)


def timeline(
    ticket: Ticket,
    events: Sequence[TicketEvent],
    names: Mapping[str, str],
    catalogues: Catalogues,
    lang: str,
    tz: ZoneInfo,
    photo_url: PhotoUrl | None,
) -> list[Entry]:
    """A ticket's events as a timeline in words: who (a name), when (local time), what happened
    and what was said; the photos with the report or the event that added them."""

    def t(key: str, **fields: object) -> str:
        return catalogues.text(lang, key, **fields)

    def local(iso: object) -> str:
        try:
            return datetime.fromisoformat(str(iso)).astimezone(tz).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return ""

    # The photos the report came with, then each addition's, in the order they were kept.
    added = sum(
        int(e.data.get("count", 0)) for e in events if e.kind.value == "photos_added" and e.data
    )
    photos = list(ticket.photos)
    first = max(0, len(photos) - added)
    batches = {"opened": photos[:first]}
    rest = photos[first:]
    reporter = f"{ticket.source_platform.value}:{ticket.reporter_id}"
    entries = []
    for event in events:
        kind, data = event.kind.value, dict(event.data or {})
        who = names.get(event.actor)
        if who is None:
            if event.actor == "system":
                who = t("console.system")
            elif event.actor == reporter and ticket.reporter_name:
                who = ticket.reporter_name
            else:
                who = t("console.timeline.owner")
        lines: list[str] = []
        if kind in ("opened", "joined", "noted", "answered", "made_urgent") and data.get("text"):
            lines.append(_word(data["text"]))
        elif kind == "resolved" and data.get("result"):
            lines.append(_word(data["result"]))
        elif kind == "transferred":
            moved = {}
            for end in ("from", "to"):
                value = _word(data.get(end))
                known = value in {d.value for d in Department}
                moved[end] = t(f"department.{value}") if known else value
            lines.append(t("console.timeline.transferred", **moved))
            if data.get("reason"):
                lines.append(_word(data["reason"]))
        elif kind == "rated" and str(data.get("rating")) in ("1", "2", "3", "4", "5"):
            lines.append(t(f"desk.rating_{data['rating']}"))
        elif kind == "reopened" and data.get("reason"):
            reason = _word(data["reason"])
            lines.append(t("console.timeline.poor_rating") if reason == "poor rating" else reason)
        elif kind == "closed":
            rated = "rated" if data.get("rated") else "unrated"
            lines.append(t(f"console.timeline.closed_{rated}"))
        elif kind == "escalated":
            breach = _word(data.get("breach"))
            if breach in ("response", "resolve"):
                breach = t(f"desk.breach_{breach}")
            lines.append(
                t(
                    "console.timeline.escalated",
                    breach=breach,
                    level=_word(data.get("level")),
                    deadline=local(data.get("deadline")),
                    to=_word(data.get("to")) or "-",
                )
            )
        elif kind == "paused":
            until = local(data["until"]) if data.get("until") else ""
            lines.append(
                t("console.timeline.paused_until", until=until)
                if until
                else t("console.timeline.paused")
            )
        elif kind == "resumed":
            minutes = int(data.get("paused_seconds", 0) or 0) // 60
            lines.append(t("console.timeline.resumed", minutes=minutes))
        elif kind == "severity" and data.get("severity"):
            lines.append(t(f"severity.{_word(data['severity'])}"))
        refs: list[str] = []
        if kind == "opened":
            refs = batches.pop("opened", [])
        elif kind == "photos_added":
            count = int(data.get("count", 0) or 0)
            refs, rest = rest[:count], rest[count:]
            lines.append(t("console.timeline.photos", count=count))
        urls = [url for url in (photo_url(ref) if photo_url else None for ref in refs) if url]
        entries.append(
            Entry(
                kind=kind,
                at=event.at.astimezone(tz),
                who=who,
                what=t(f"console.event.{kind}"),
                lines=lines,
                photos=urls,
                unseen_photos=len(refs) - len(urls),
            )
        )
    return entries
