"""The estate manager's page of the web chat: open and overdue tickets, each with its history.

`GET /manager?token=…` lists the tickets of the staff member's estate that are not closed, with
filters (`department`, `status`, `urgent`, `overdue`); `GET /manager/tickets/<id>?token=…` shows
one ticket and its events. The token is issued over the web chat's WebSocket to a page that
picked a staff member, and dies with that page; without a live token both routes answer 403.
Every word on the page comes from the catalogues (`webchat.manager.*`), in `?lang=zh|en`.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.core.clock import Clock
from bot.core.desk import ticket_location
from bot.core.i18n import LANGUAGES, Catalogues
from models import (
    ChatIdentity,
    Department,
    Estate,
    Owner,
    Platform,
    Staff,
    Ticket,
    TicketStatus,
)

log = logging.getLogger("guanjia.webchat")

NOT_CLOSED = (TicketStatus.OPEN, TicketStatus.CLAIMED, TicketStatus.RESOLVED)


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    """Whether a ticket has missed a promised time: nobody responded, or it is not done."""
    if ticket.status is TicketStatus.OPEN and ticket.due_response_at < now:
        return True
    return ticket.status in (TicketStatus.OPEN, TicketStatus.CLAIMED) and (
        ticket.due_resolve_at < now
    )


class ManagerPages:
    """The `/manager` routes; `staff_for_token` says which staff member a token belongs to."""

    def __init__(
        self,
        catalogues: Catalogues,
        clock: Clock,
        staff_for_token: Callable[[str], int | None],
        photo_url: Callable[[str], str | None],
    ) -> None:
        self.catalogues = catalogues
        self.clock = clock
        self.staff_for_token = staff_for_token
        self.photo_url = photo_url

    def routes(self) -> list[web.RouteDef]:
        """The routes to mount on the shared server."""
        return [
            web.get("/manager", self.board),
            web.get(r"/manager/tickets/{id:\d+}", self.history),
        ]

    # -- helpers --------------------------------------------------------------------------------

    def _lang(self, request: web.Request) -> str:
        lang = request.query.get("lang", "")
        return lang if lang in LANGUAGES else self.catalogues.default

    def _t(self, lang: str, key: str, **fields: object) -> str:
        """A catalogue text, escaped for HTML."""
        return html.escape(self.catalogues.text(lang, key, **fields))

    def _plain(self, lang: str, key: str, **fields: object) -> str:
        """A catalogue text, not escaped (for `_options`, which escapes)."""
        return self.catalogues.text(lang, key, **fields)

    async def _staff(self, request: web.Request, lang: str) -> Staff:
        token = request.query.get("token", "")
        staff_id = self.staff_for_token(token) if token else None
        staff = await Staff.get_or_none(id=staff_id, active=True) if staff_id else None
        if staff is None:
            log.info("refused the manager page: no live staff token")
            raise web.HTTPForbidden(
                text=self._page(
                    lang,
                    self._t(lang, "webchat.manager.title_plain"),
                    self._notice(lang, "webchat.manager.forbidden"),
                ),
                content_type="text/html",
            )
        return staff

    def _notice(self, lang: str, key: str, **fields: object) -> str:
        return f'<p class="notice">{self._t(lang, key, **fields)}</p>'

    def _page(self, lang: str, title: str, body: str) -> str:
        return (
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title>"
            '<link rel="stylesheet" href="/webchat/static/manager.css"></head>'
            f'<body><main class="manager">{body}</main></body></html>'
        )

    @staticmethod
    def _link(path: str, **query: str) -> str:
        return html.escape(f"{path}?{urlencode({k: v for k, v in query.items() if v})}")

    @staticmethod
    def _time(value: datetime | None, tz: ZoneInfo) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else ""

    def _bad_filter(self, lang: str, name: str) -> web.HTTPBadRequest:
        return web.HTTPBadRequest(
            text=self._page(
                lang,
                self._t(lang, "webchat.manager.title_plain"),
                self._notice(lang, "webchat.manager.bad_filter", name=name),
            ),
            content_type="text/html",
        )

    def _options(
        self, lang: str, name: str, chosen: str, values: Iterable[tuple[str, str]]
    ) -> str:
        options = [f'<option value="">{self._t(lang, "webchat.manager.any")}</option>']
        for value, label in values:
            selected = " selected" if value == chosen else ""
            options.append(
                f'<option value="{html.escape(value)}"{selected}>{html.escape(label)}</option>'
            )
        label = self._t(lang, f"webchat.manager.filter_{name}")
        return f'<label>{label}<select name="{name}">{"".join(options)}</select></label>'

    # -- the board ------------------------------------------------------------------------------

    async def board(self, request: web.Request) -> web.Response:
        """The open and overdue tickets of the staff member's estate, filtered."""
        lang = self._lang(request)
        staff = await self._staff(request, lang)
        estate = await Estate.get(id=staff.estate_id)
        tz = ZoneInfo(estate.timezone)
        token = request.query["token"]
        department = request.query.get("department", "")
        status = request.query.get("status", "")
        urgent = request.query.get("urgent", "")
        overdue_only = request.query.get("overdue", "") == "1"
        if department and department not in {d.value for d in Department}:
            raise self._bad_filter(lang, "department")
        if status and status not in {s.value for s in NOT_CLOSED}:
            raise self._bad_filter(lang, "status")
        if urgent not in ("", "yes", "no"):
            raise self._bad_filter(lang, "urgent")
        now = self.clock.now()
        query = Ticket.filter(estate_id=estate.id, status__in=list(NOT_CLOSED))
        if department:
            query = query.filter(department=department)
        if status:
            query = query.filter(status=status)
        if urgent:
            query = query.filter(urgent=urgent == "yes")
        tickets = await query.order_by("-urgent", "created_at").select_related(
            "unit", "claimed_by"
        )
        all_open = await Ticket.filter(estate_id=estate.id, status__in=list(NOT_CLOSED))
        overdue_count = sum(is_overdue(t, now) for t in all_open)
        if overdue_only:
            tickets = [t for t in tickets if is_overdue(t, now)]
        t = self._t
        other = "en" if lang == "zh" else "zh"
        switch = self._link(
            "/manager",
            token=token,
            lang=other,
            department=department,
            status=status,
            urgent=urgent,
            overdue="1" if overdue_only else "",
        )
        filters = (
            f'<form class="filters" method="get" action="/manager">'
            f'<input type="hidden" name="token" value="{html.escape(token)}">'
            f'<input type="hidden" name="lang" value="{lang}">'
            + self._options(
                lang,
                "department",
                department,
                (
                    (d.value, self.catalogues.text(lang, f"department.{d.value}"))
                    for d in Department
                ),
            )
            + self._options(
                lang,
                "status",
                status,
                (
                    (s.value, self.catalogues.text(lang, f"webchat.status.{s.value}"))
                    for s in NOT_CLOSED
                ),
            )
            + self._options(
                lang,
                "urgent",
                urgent,
                (
                    ("yes", self.catalogues.text(lang, "webchat.manager.urgent_yes")),
                    ("no", self.catalogues.text(lang, "webchat.manager.urgent_no")),
                ),
            )
            + '<label class="check"><input type="checkbox" name="overdue" value="1"'
            + (" checked" if overdue_only else "")
            + f">{t(lang, 'webchat.manager.overdue_only')}</label>"
            + f'<button type="submit">{t(lang, "webchat.manager.apply")}</button></form>'
        )
        rows = []
        for ticket in tickets:
            late = is_overdue(ticket, now)
            flags = []
            if ticket.urgent:
                flags.append(
                    f'<span class="tag urgent">{t(lang, "webchat.manager.urgent")}</span>'
                )
            if late:
                flags.append(f'<span class="tag late">{t(lang, "webchat.manager.overdue")}</span>')
            link = self._link(f"/manager/tickets/{ticket.id}", token=token, lang=lang)
            where = await ticket_location(ticket, self.catalogues, lang)
            claimed_by = ticket.claimed_by.name if ticket.claimed_by else ""
            rows.append(
                f'<tr class="{"late" if late else ""}" data-ticket="{html.escape(ticket.number)}">'
                f'<td><a href="{link}">{html.escape(ticket.number)}</a> {"".join(flags)}</td>'
                f"<td>{t(lang, f'webchat.kind.{ticket.kind.value}')}</td>"
                f"<td>{t(lang, f'department.{ticket.department.value}')}</td>"
                f'<td><span class="status {ticket.status.value}">'
                f"{t(lang, f'webchat.status.{ticket.status.value}')}</span></td>"
                f"<td>{html.escape(where)}</td>"
                f"<td>{html.escape(ticket.reporter_name)}</td>"
                f'<td class="text">{html.escape(ticket.text[:80])}</td>'
                f"<td>{self._time(ticket.created_at, tz)}</td>"
                f"<td>{self._time(ticket.due_resolve_at, tz)}</td>"
                f"<td>{html.escape(claimed_by)}</td></tr>"
            )
        heads = (
            "number",
            "kind",
            "department",
            "status",
            "unit",
            "reporter",
            "text",
            "created",
            "due",
            "claimed_by",
        )
        table = (
            '<div class="table"><table><thead><tr>'
            + "".join(f"<th>{t(lang, f'webchat.manager.col_{h}')}</th>" for h in heads)
            + "</tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table></div>"
            if rows
            else self._notice(lang, "webchat.manager.empty")
        )
        body = (
            f"<header><h1>{t(lang, 'webchat.manager.title', estate=estate.name)}</h1>"
            f'<a class="lang" href="{switch}">'
            f"{t(lang, 'webchat.manager.switch_lang')}</a></header>"
            f'<p class="counts"><span>{t(lang, "webchat.manager.open_count", count=len(all_open))}'
            f'</span><span class="{"late" if overdue_count else ""}">'
            f"{t(lang, 'webchat.manager.overdue_count', count=overdue_count)}</span>"
            f'<span class="who">{t(lang, "webchat.manager.viewer", name=staff.name)}</span></p>'
            + filters
            + table
        )
        return web.Response(
            text=self._page(lang, t(lang, "webchat.manager.title", estate=estate.name), body),
            content_type="text/html",
        )

    # -- one ticket's history -------------------------------------------------------------------

    async def history(self, request: web.Request) -> web.Response:
        """One ticket of the staff member's estate and every event of it."""
        lang = self._lang(request)
        staff = await self._staff(request, lang)
        token = request.query["token"]
        ticket = await Ticket.get_or_none(
            id=int(request.match_info["id"]), estate_id=staff.estate_id
        ).select_related("unit", "claimed_by")
        t = self._t
        back = self._link("/manager", token=token, lang=lang)
        if ticket is None:
            raise web.HTTPNotFound(
                text=self._page(
                    lang,
                    t(lang, "webchat.manager.title_plain"),
                    self._notice(lang, "webchat.manager.not_found")
                    + f'<p><a href="{back}">{t(lang, "webchat.manager.back")}</a></p>',
                ),
                content_type="text/html",
            )
        estate = await Estate.get(id=ticket.estate_id)
        tz = ZoneInfo(estate.timezone)
        events = await ticket.events.all().order_by("id")
        names = await self._actor_names(event.actor for event in events)
        rows = []
        for event in events:
            detail = "; ".join(
                f"{html.escape(str(key))}: {html.escape(_plain(value))}"
                for key, value in (event.data or {}).items()
            )
            rows.append(
                f'<tr data-event="{event.kind.value}"><td>{self._time(event.at, tz)}</td>'
                f"<td>{t(lang, f'webchat.event.{event.kind.value}')}</td>"
                f"<td>{html.escape(names.get(event.actor) or self._system(lang, event.actor))}"
                f'</td><td class="text">{detail}</td></tr>'
            )
        urls = [self.photo_url(ref) for ref in ticket.photos if isinstance(ref, str)]
        photos = "".join(f'<img src="{html.escape(url)}" alt="">' for url in urls if url)
        urgent = (
            f' <span class="tag urgent">{t(lang, "webchat.manager.urgent")}</span>'
            if ticket.urgent
            else ""
        )
        facts = [
            ("kind", t(lang, f"webchat.kind.{ticket.kind.value}")),
            ("department", t(lang, f"department.{ticket.department.value}")),
            ("status", t(lang, f"webchat.status.{ticket.status.value}") + urgent),
            ("unit", html.escape(await ticket_location(ticket, self.catalogues, lang))),
            ("reporter", html.escape(ticket.reporter_name)),
            ("claimed_by", html.escape(ticket.claimed_by.name if ticket.claimed_by else "")),
            ("created", self._time(ticket.created_at, tz)),
            ("due_response", self._time(ticket.due_response_at, tz)),
            ("due", self._time(ticket.due_resolve_at, tz)),
            ("text", html.escape(ticket.text)),
            ("result", html.escape(ticket.result)),
            ("rating", str(ticket.rating) if ticket.rating is not None else ""),
        ]
        facts_html = "".join(
            f"<dt>{t(lang, f'webchat.manager.col_{key}')}</dt><dd>{value}</dd>"
            for key, value in facts
            if value
        )
        heads = ("at", "event", "actor", "detail")
        body = (
            f"<header><h1>{t(lang, 'webchat.manager.history_title', number=ticket.number)}</h1>"
            f'<a class="back" href="{back}">{t(lang, "webchat.manager.back")}</a></header>'
            f'<dl class="facts">{facts_html}</dl>'
            + (f'<div class="photos">{photos}</div>' if photos else "")
            + '<div class="table"><table class="events"><thead><tr>'
            + "".join(f"<th>{t(lang, f'webchat.manager.col_{h}')}</th>" for h in heads)
            + "</tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table></div>"
        )
        title = t(lang, "webchat.manager.history_title", number=ticket.number)
        return web.Response(text=self._page(lang, title, body), content_type="text/html")

    def _system(self, lang: str, actor: str) -> str:
        return self.catalogues.text(lang, "webchat.manager.system") if actor == "system" else actor

    @staticmethod
    async def _actor_names(actors: Iterable[str]) -> dict[str, str]:
        """Readable names of event actors: staff:<id>, owner:<id>, <platform>:<user id>."""
        names: dict[str, str] = {}
        for actor in set(actors):
            kind, _, ident = actor.partition(":")
            name: str | None = None
            if kind == "staff" and ident.isdigit():
                staff = await Staff.get_or_none(id=int(ident))
                name = staff.name if staff else None
            elif kind == "owner" and ident.isdigit():
                owner = await Owner.get_or_none(id=int(ident))
                name = owner.name if owner else None
            elif kind in {p.value for p in Platform}:
                identity = await ChatIdentity.get_or_none(platform=kind, user_id=ident)
                name = identity.display_name if identity and identity.display_name else None
            if name:
                names[actor] = name
        return names


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    return str(value)
