"""The staff console over real aiohttp routes on loopback, with the real router, staff desk and
store: sign-in by a one-time link, sessions, CSRF, who sees what, and the desk's actions.

Staff get their link as they would on Telegram: `/login` in a private chat goes through the
router (its answer lands in a FakeChannel, the far end faked at our seam), and the test client
follows it. Time is the desk's FixedClock, moved forward, never slept on.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import load_workbook

from bot.adapters.console import COOKIE, XLSX, Console
from bot.adapters.http import HttpServer
from bot.core.calendar import ServiceCalendar
from bot.core.console import HISTORY_PAGE, ConsoleConfig, session_key
from bot.core.promises import counted_on
from models import (
    ApiToken,
    ChatIdentity,
    Department,
    EventKind,
    LoginToken,
    Owner,
    Platform,
    Rating,
    Staff,
    StaffRole,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketStatus,
)
from models.lifecycle import (
    add_note,
    add_photos,
    claim_ticket,
    open_ticket,
    pause_ticket,
    rate_ticket,
    resolve_ticket,
    resume_ticket,
    transfer_ticket,
)
from tests.desk import OWNERS, STAFF, Desk, bind
from tests.factories import make_staff
from tests.staffdesk import bind_staff, is_card, payloads, report

LINK = re.compile(r"/console/login\?token=([A-Za-z0-9_-]+)")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SECURITY = {
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
}


def photo_link(ref: str) -> str | None:
    """Where the console finds a photo: the web chat's (`webchat:`) only."""
    return f"/photos/{ref.removeprefix('webchat:')}" if ref.startswith("webchat:") else None


@dataclass
class Served:
    """The console on a loopback port, beside the desk's router."""

    client: TestClient
    desk: Desk


@pytest.fixture
async def served(desk: Desk) -> AsyncIterator[Served]:
    """The console of the desk's estate, served on loopback."""
    server = HttpServer(host="127.0.0.1", port=0)
    key = await session_key("", desk.clock.now())
    # The web chat's photos are shown (a link to them); others are counted.
    console = Console(desk.services, ConsoleConfig(), key, photo_url=photo_link)
    console.mount_on(server)
    client = TestClient(TestServer(server.app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield Served(client, desk)
    finally:
        await client.close()


async def login_link(desk: Desk, user: str) -> str:
    """Ask for a link with `/login` in private, as staff do; returns the token it holds."""
    before = len(desk.channel.to(desk.private(user).chat_id))
    await desk.say("/login", user, desk.private(user))
    answers = desk.channel.to(desk.private(user).chat_id)[before:]
    found = LINK.search(answers[-1].text)
    assert found is not None, answers
    return found.group(1)


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = CSRF.search(html)
    assert found is not None, html
    return found.group(1)


async def sign_in(served: Served, user: str, staff: Staff) -> str:
    """Bind, ask for a link, open it and press the button; returns the session's CSRF token."""
    await bind_staff(user, staff)
    token = await login_link(served.desk, user)
    page = await served.client.get(f"/console/login?token={token}")
    posted = await served.client.post(
        "/console/login",
        data={"token": token, "csrf": csrf_of(await page.text())},
        allow_redirects=False,
    )
    assert posted.status == 303 and posted.headers["Location"] == "/console/"
    board = await served.client.get("/console/")
    assert board.status == 200
    return csrf_of(await board.text())


async def act(
    served: Served, ticket: Ticket, action: str, csrf: str, **form: str
) -> ClientResponse:
    """Post a staff action's form on a ticket's page."""
    return await served.client.post(
        f"/console/tickets/{ticket.id}/{action}",
        data={"csrf": csrf, **form},
        allow_redirects=False,
    )


def cookie_of(response: ClientResponse) -> Any:
    """The session cookie a response sets, with its attributes."""
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        jar.load(header)
    return jar[COOKIE]


async def test_opening_a_link_spends_nothing_and_its_button_signs_in_once(
    served: Served,
) -> None:
    desk = served.desk
    await bind_staff("u-zhang", desk.staff["zhang"])
    token = await login_link(desk, "u-zhang")

    # A chat's link preview fetches the link: the page only offers the button.
    for _ in range(2):
        page = await served.client.get(f"/console/login?token={token}")
        assert page.status == 200
    html = await page.text()
    assert f'name="token" value="{token}"' in html and 'id="sign-in"' in html
    assert (await LoginToken.get()).used_at is None
    assert (await served.client.get("/console/", allow_redirects=False)).status == 303

    posted = await served.client.post(
        "/console/login", data={"token": token, "csrf": csrf_of(html)}, allow_redirects=False
    )

    assert posted.status == 303 and posted.headers["Location"] == "/console/"
    assert (await LoginToken.get()).used_at == desk.clock.now()
    cookie = cookie_of(posted)
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax"
    assert cookie["max-age"] == str(12 * 3600) and cookie["expires"]
    assert cookie["path"] == "/console" and not cookie["secure"]
    board = await served.client.get("/console/")
    assert board.status == 200 and "张工" in await board.text()
    assert board.headers["Cache-Control"] == "no-store"

    # The same link again, from a fresh browser: refused.
    served.client.session.cookie_jar.clear()
    page = await served.client.get(f"/console/login?token={token}")
    again = await served.client.post(
        "/console/login",
        data={"token": token, "csrf": csrf_of(await page.text())},
        allow_redirects=False,
    )
    assert again.status == 403 and "/login" in await again.text()
    assert (await served.client.get("/console/", allow_redirects=False)).status == 303


async def test_a_link_works_only_for_its_minutes(served: Served) -> None:
    desk = served.desk
    await bind_staff("u-zhang", desk.staff["zhang"])
    token = await login_link(desk, "u-zhang")
    page = await served.client.get(f"/console/login?token={token}")
    desk.clock.advance(minutes=10, seconds=1)
    late = await served.client.post(
        "/console/login",
        data={"token": token, "csrf": csrf_of(await page.text())},
        allow_redirects=False,
    )
    assert late.status == 403
    assert (await LoginToken.get()).used_at is None

    token = await login_link(desk, "u-zhang")
    desk.clock.advance(minutes=9, seconds=59)
    in_time = await served.client.post(
        "/console/login",
        data={"token": token, "csrf": csrf_of(await page.text())},
        allow_redirects=False,
    )
    assert in_time.status == 303


async def test_sign_in_needs_the_pages_csrf_token(served: Served) -> None:
    desk = served.desk
    await bind_staff("u-zhang", desk.staff["zhang"])
    token = await login_link(desk, "u-zhang")
    # Another site's form (no session of ours, so no CSRF token) cannot sign anyone in.
    forged = await served.client.post(
        "/console/login", data={"token": token, "csrf": "guess"}, allow_redirects=False
    )
    assert forged.status == 403
    assert (await LoginToken.get()).used_at is None


async def test_the_cookie_is_secure_when_the_public_url_is_https(desk: Desk) -> None:
    server = HttpServer(host="127.0.0.1", port=0)
    key = await session_key("", desk.clock.now())
    console = Console(desk.services, ConsoleConfig(public_url="https://bot.example.com"), key)
    console.mount_on(server)
    client = TestClient(TestServer(server.app, host="127.0.0.1"))
    await client.start_server()
    try:
        page = await client.get("/console/login")
        assert cookie_of(page)["secure"] is True
    finally:
        await client.close()


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    served: Served,
) -> None:
    desk = served.desk
    csrf = await sign_in(served, "u-zhang", desk.staff["zhang"])
    ticket = await report(desk)
    sent, events = len(desk.channel.sent), await TicketEvent.all().count()

    refused = [
        await served.client.post(f"/console/tickets/{ticket.id}/claim", allow_redirects=False),
        await act(served, ticket, "claim", "wrong"),
        await act(served, ticket, "reply", csrf[:-1], text="马上到"),
        await served.client.post(
            f"/console/tickets/{ticket.id}/claim",
            data={"csrf": csrf},
            headers={"Origin": "https://evil.example"},
            allow_redirects=False,
        ),
    ]

    assert [r.status for r in refused] == [403, 403, 403, 403]
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.OPEN
    assert await TicketEvent.all().count() == events
    assert len(desk.channel.sent) == sent and not desk.channel.edits
    # The real form works.
    assert (await act(served, ticket, "claim", csrf)).status == 303


async def test_a_rebinding_host_is_refused(served: Served) -> None:
    port = served.client.port
    evil = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    for method, path in (("GET", "/console/login"), ("POST", "/console/login")):
        response = await served.client.request(method, path, headers=evil)
        assert response.status == 403, (method, path)
        assert "Set-Cookie" not in response.headers  # refused before any session is read
    assert (await served.client.get("/console/login")).status == 200


async def test_an_engineer_sees_their_department_a_supervisor_the_estate(served: Served) -> None:
    desk = served.desk
    leak = await report(desk)
    trash = await report(desk, "5栋1单元1202 楼道垃圾好几天没人清理了，很臭")
    assert trash.department is not Department.ENGINEERING

    engineer = await sign_in(served, "u-zhang", desk.staff["zhang"])
    board = await (await served.client.get("/console/")).text()
    assert leak.number in board and trash.number not in board
    assert (await served.client.get(f"/console/tickets/{trash.id}")).status == 404
    assert (await act(served, trash, "claim", engineer)).status == 404
    month = desk.clock.now().strftime("%Y-%m")
    refused = await served.client.post("/console/report", data={"csrf": engineer, "month": month})
    assert refused.status == 403
    assert (await Ticket.get(id=trash.id)).status is TicketStatus.OPEN

    chief = await sign_in(served, "u-chen", desk.staff["chen"])
    board = await (await served.client.get("/console/")).text()
    assert leak.number in board and trash.number in board
    page = await served.client.get(f"/console/tickets/{trash.id}")
    assert page.status == 200 and "垃圾" in await page.text()
    workbook = await served.client.post("/console/report", data={"csrf": chief, "month": month})
    assert workbook.status == 200
    assert "attachment" in workbook.headers["Content-Disposition"]
    data = await workbook.read()
    assert data[:2] == b"PK"  # an .xlsx is a zip
    # The 投诉月度汇总表, prepared by the supervisor who downloaded it, the chart inside.
    summary = load_workbook(io.BytesIO(data))["汇总"]
    assert summary["F2"].value == "陈主管" and len(summary._images) == 1
    bad = await served.client.post("/console/report", data={"csrf": chief, "month": "soon"})
    assert bad.status == 400


async def effects(desk: Desk, ticket: Ticket) -> dict[str, Any]:
    """What an action did that the staff chat's own would also do, with the ticket's number
    taken out: events, the card edits in the staff chat, and what the owner was told."""

    def plain(text: str) -> str:
        return text.replace(ticket.number, "N")

    def state(card: str) -> str:
        # What an action changes on a card (who reported what, where, is the ticket's own).
        kept = ("【", "状态", "结果", "评价")
        return "\n".join(line for line in plain(card).splitlines() if line.startswith(kept))

    number = ticket.number
    return {
        "status": (await Ticket.get(id=ticket.id)).status,
        # Each opened by its own owner: what staff did comes after.
        "events": [
            (e.kind, e.actor)
            for e in await TicketEvent.filter(ticket_id=ticket.id).order_by("id")
            if e.kind is not EventKind.OPENED
        ],
        "cards": [
            (state(m.text), [p.replace(str(ticket.id), "ID") for p in payloads(m)])
            for _, m in desk.channel.edits
            if m.chat == STAFF and is_card(m, number)
        ],
        "owners": [
            (plain(m.text), len(m.buttons))
            for m in desk.channel.sent
            if m.chat == OWNERS and number in m.text
        ][1:],  # after the acknowledgement of the report
    }


async def test_console_actions_have_the_staff_chats_effects(served: Served) -> None:
    desk = served.desk
    csrf = await sign_in(served, "u-zhang", desk.staff["zhang"])
    await bind("u-li", desk.owners["li"])
    by_chat = await report(desk)
    by_console = await report(desk, "5栋1单元1202 厨房水管漏水了", sender="u-wang")

    # Claim, answer the owner, close with the result: from the staff chat…
    card = next(m for m in desk.channel.to(STAFF.chat_id) if is_card(m, by_chat.number))
    await desk.press(f"claim:{by_chat.id}", "u-zhang", STAFF, on=desk.channel.id_of(card))
    await desk.say(f"回复 {by_chat.number} 师傅十分钟到", "u-zhang", STAFF)
    await desk.say(f"结单 {by_chat.number} 已更换水管接头", "u-zhang", STAFF)
    # …and from the console.
    for action, form in (
        ("claim", {}),
        ("reply", {"text": "师傅十分钟到"}),
        ("close", {"text": "已更换水管接头"}),
    ):
        answer = await act(served, by_console, action, csrf, **form)
        assert answer.status == 303
        assert answer.headers["Location"] == f"/console/tickets/{by_console.id}"
        shown = await (await served.client.get(answer.headers["Location"])).text()
        assert by_console.number in shown and 'id="notice"' in shown

    chat_side, console_side = await effects(desk, by_chat), await effects(desk, by_console)
    assert console_side == chat_side
    assert console_side["status"] is TicketStatus.RESOLVED
    assert [kind for kind, _ in console_side["events"]] == [
        EventKind.CLAIMED,
        EventKind.ANSWERED,
        EventKind.RESOLVED,
    ]
    assert len(console_side["cards"]) == 2  # claimed, then resolved: edited, not re-posted
    assert "张工" in console_side["cards"][0][0]
    told = [text for text, _ in console_side["owners"]]
    assert any("张工" in text for text in told) and any("师傅十分钟到" in text for text in told)
    assert console_side["owners"][-1][1] == 5  # the result comes with the five ratings
    # A second claim of a ticket already dealt with changes nothing and says why.
    again = await act(served, by_console, "claim", csrf)
    assert again.status == 303 and await effects(desk, by_console) == console_side


async def test_a_transfer_from_the_console_moves_it_once(served: Served) -> None:
    desk = served.desk
    chief = await make_staff(desk.estate, "刘主管", StaffRole.SUPERVISOR, Department.SECURITY)
    csrf = await sign_in(served, "u-liu", chief)
    ticket = await report(desk)
    form = {"department": "cleaning", "from": "engineering"}

    moved = await act(served, ticket, "transfer", csrf, **form)
    stale = await act(served, ticket, "transfer", csrf, department="security", **{"from": "x"})
    again = await act(
        served, ticket, "transfer", csrf, department="security", **{"from": form["from"]}
    )

    assert moved.status == 303 and stale.status == 400 and again.status == 303
    ticket = await Ticket.get(id=ticket.id)
    assert ticket.department is Department.CLEANING and ticket.status is TicketStatus.OPEN
    transfers = await TicketEvent.filter(ticket_id=ticket.id, kind=EventKind.TRANSFERRED)
    assert len(transfers) == 1 and transfers[0].actor == f"staff:{chief.id}"
    [(_, edited)] = [(s, m) for s, m in desk.channel.edits if m.chat == STAFF]
    assert "保洁部" in edited.text


async def test_an_engineer_who_transfers_a_ticket_away_is_back_on_the_board(
    served: Served,
) -> None:
    desk = served.desk
    csrf = await sign_in(served, "u-zhang", desk.staff["zhang"])
    ticket = await report(desk)
    moved = await act(
        served, ticket, "transfer", csrf, department="cleaning", **{"from": "engineering"}
    )
    assert moved.status == 303 and moved.headers["Location"] == "/console/"
    board = await (await served.client.get("/console/")).text()
    assert f'data-ticket="{ticket.number}"' not in board
    assert "已转派至保洁部" in board  # the notice says where it went


async def test_an_inactive_or_unbound_staff_members_session_stops(served: Served) -> None:
    desk = served.desk
    zhang = desk.staff["zhang"]
    csrf = await sign_in(served, "u-zhang", zhang)
    ticket = await report(desk)
    zhang.active = False
    await zhang.save()

    assert (await served.client.get("/console/", allow_redirects=False)).status == 303
    assert (await act(served, ticket, "claim", csrf)).status == 403
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.OPEN

    zhang.active = True
    await zhang.save()
    csrf = await sign_in(served, "u-zhang", zhang)
    await ChatIdentity.filter(staff_id=zhang.id).update(staff_id=None)  # unbound
    page = await served.client.get("/console/")
    assert page.url.path == "/console/login" and "登录已失效" in await page.text()
    assert (await act(served, ticket, "claim", csrf)).status == 403
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.OPEN


async def test_a_session_lasts_its_hours_and_ends_on_sign_out(served: Served) -> None:
    desk = served.desk
    await sign_in(served, "u-zhang", desk.staff["zhang"])
    desk.clock.advance(hours=11, minutes=59)
    assert (await served.client.get("/console/", allow_redirects=False)).status == 200
    desk.clock.advance(minutes=2)
    assert (await served.client.get("/console/", allow_redirects=False)).status == 303

    csrf = await sign_in(served, "u-zhang", desk.staff["zhang"])
    out = await served.client.post("/console/logout", data={"csrf": csrf}, allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/console/login"
    assert (await served.client.get("/console/", allow_redirects=False)).status == 303


async def test_every_console_answer_carries_the_security_headers(served: Served) -> None:
    csrf = await sign_in(served, "u-zhang", served.desk.staff["zhang"])
    answers = [
        await served.client.get("/console/login?token=x"),
        await served.client.get("/console/"),
        await served.client.get("/console", allow_redirects=False),
        await served.client.get("/console/static/console.css"),
        await served.client.get("/console/tickets/999"),
        await served.client.post("/console/logout", allow_redirects=False),
        await served.client.post("/console/logout", data={"csrf": csrf}, allow_redirects=False),
    ]
    assert [a.status for a in answers] == [200, 200, 302, 200, 404, 403, 303]
    for answer in answers:
        assert SECURITY <= set(answer.headers), answer.url
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]


async def test_the_cookie_key_is_made_once_and_shared(desk: Desk) -> None:
    first = await session_key("", desk.clock.now())
    second = await session_key("", desk.clock.now())
    assert first == second and len(first) == 32
    assert await ApiToken.filter(name="console-session-key").count() == 1
    configured = await session_key("x" * 40, desk.clock.now())
    assert configured != first and len(configured) == 32


async def test_the_login_page_without_a_token_says_how_to_get_one(served: Served) -> None:
    page = await served.client.get("/console/login")
    assert page.status == 200 and "/login" in await page.text()
    english = await served.client.get("/console/login?lang=en")
    assert "Send /login to Guanjia in a private chat" in await english.text()


async def test_the_board_shows_the_due_time_moved_by_a_pause_and_the_severity(
    served: Served,
) -> None:
    desk = served.desk
    leak = await report(desk)  # Monday 10:00: due to be done Tuesday 10:00
    await bind_staff("u-zhang", desk.staff["zhang"])
    await desk.say(f"约 {leak.number} 明天15:00", "u-zhang", STAFF)  # paused from 10:00
    await desk.say("楼上天天半夜12点还在装修电钻响，物业管不管", "u-wang")

    await sign_in(served, "u-chen", desk.staff["chen"])
    board = await (await served.client.get("/console/")).text()
    row = board[board.index(f'data-ticket="{leak.number}"') :]
    row = row[: row.index("</tr>")]
    # The board says the clock is stopped, and (as the card) that the appointment's 29 hours
    # move the deadline from Tuesday 10:00 to Wednesday 15:00.
    assert "11-25 15:00" in row and "暂停计时" in row
    desk.clock.advance(hours=2)
    board = await (await served.client.get("/console/")).text()
    row = board[board.index(f'data-ticket="{leak.number}"') :]
    row = row[: row.index("</tr>")]
    assert "11-25 15:00" in row  # the same two hours later: the appointment has not moved
    complaint = board[board.index('data-ticket="C-0001"') :]
    assert "一般" in complaint[: complaint.index("</tr>")]


# -- the history, the timeline, the export, the owners to invite --------------------------------


async def opened_at(desk: Desk, when: datetime, text: str, sender: str = "u-li") -> Ticket:
    """A report made at `when` (the desk's clock moved there and back)."""
    moved = (when - desk.clock.now()).total_seconds()
    desk.clock.advance(seconds=moved)
    try:
        return await report(desk, text, sender)
    finally:
        desk.clock.advance(seconds=-moved)


async def closed(desk: Desk, ticket: Ticket, result: str, rating: Rating) -> Ticket:
    """Claimed, resolved and rated by its owner (closed, or reopened by a poor rating)."""
    zhang = desk.staff["zhang"]
    at = desk.clock.now()
    await claim_ticket(ticket.id, zhang, at)
    await resolve_ticket(ticket.id, zhang, result, at + timedelta(hours=1))
    owner = await ticket.owner if ticket.owner_id else None
    actor = f"owner:{owner.id}" if owner else "webchat:u-li"
    return await rate_ticket(ticket.id, rating, actor, at + timedelta(hours=2))


def numbers_on(html: str) -> list[str]:
    """The ticket numbers a list shows, in order."""
    return re.findall(r'data-ticket="([^"]+)"', html)


async def test_the_history_finds_closed_tickets_by_dates_and_search(served: Served) -> None:
    desk = served.desk
    now = desk.clock.now()  # Monday 2026-11-23 10:00 in Shanghai
    await bind("u-li", desk.owners["li"])
    await bind("u-wang", desk.owners["wang"])
    old = await opened_at(desk, now - timedelta(days=40), "3栋2单元501 卫生间地漏堵了")
    leak = await opened_at(desk, now - timedelta(days=3), "3栋2单元501 厨房水管漏水了")
    lift = await opened_at(
        desk, now - timedelta(days=1), "5栋1单元1202 电梯按钮坏了", sender="u-wang"
    )
    await closed(desk, leak, "已更换水管接头", Rating.SATISFIED)
    await sign_in(served, "u-chen", desk.staff["chen"])

    # The open board has no closed ticket; the history has it, newest first, the last 30 days.
    board = await (await served.client.get("/console/")).text()
    assert leak.number not in numbers_on(board) and lift.number in numbers_on(board)
    page = await served.client.get("/console/history")
    html = await page.text()
    assert page.status == 200
    assert numbers_on(html) == [lift.number, leak.number]
    row = html[html.index(f'data-ticket="{leak.number}"') :]
    row = row[: row.index("</tr>")]
    assert "已关闭" in row and "满意" in row and "张工" in row
    assert 'value="2026-10-24"' in html and 'value="2026-11-23"' in html  # the default range

    # A wider range reaches back; a search narrows by number, owner, unit and text.
    wide = {"since": "2026-10-01", "until": "2026-11-23"}
    for query, found in (
        ({}, [lift.number, leak.number, old.number]),
        ({"q": old.number}, [old.number]),
        ({"q": "王芳"}, [lift.number]),  # the owner's name
        ({"q": "3-2-501"}, [leak.number, old.number]),  # the unit
        ({"q": "地漏"}, [old.number]),  # the text
        ({"q": "  电梯  "}, [lift.number]),
        ({"q": "没有这回事"}, []),
        ({"status": "closed"}, [leak.number]),
        ({"department": "cleaning"}, []),
        ({"since": "2026-10-14", "until": "2026-10-14"}, [old.number]),  # one local day
    ):
        shown = await (
            await served.client.get("/console/history", params={**wide, **query})
        ).text()
        assert numbers_on(shown) == found, query

    # Bad input: a clear page, nothing else.
    for query, words in (
        ({"since": "2026-13-01"}, "2026-13-01"),
        ({"since": "2026-11-20", "until": "2026-11-01"}, "晚于"),
        ({"status": "gone"}, "status"),
    ):
        bad = await served.client.get("/console/history", params=query)
        assert bad.status == 400 and words in await bad.text(), query


async def test_the_history_pages_fifty_at_a_time(served: Served) -> None:
    desk = served.desk
    now = desk.clock.now()
    for i in range(HISTORY_PAGE + 5):
        await open_ticket(
            estate=desk.estate,
            kind=TicketKind.REPAIR,
            department=Department.ENGINEERING,
            text=f"第{i}号 路灯不亮",
            platform=Platform.WEBCHAT,
            chat_id="owners",
            message_id=f"m-{i}",
            reporter_id="u-li",
            now=now - timedelta(minutes=i),
        )
    await sign_in(served, "u-chen", served.desk.staff["chen"])
    first = await (await served.client.get("/console/history", params={"q": "路灯"})).text()
    assert len(numbers_on(first)) == HISTORY_PAGE and "共 55 张" in first
    assert "第 1 / 2 页" in first and 'id="previous"' not in first
    found = re.search(r'id="next"|href="([^"]+)" id="next"', first)
    assert found is not None and found.group(1)
    second = await (await served.client.get(found.group(1).replace("&amp;", "&"))).text()
    assert len(numbers_on(second)) == 5 and "第 2 / 2 页" in second
    assert not set(numbers_on(first)) & set(numbers_on(second))
    # A page past the last shows the last.
    beyond = await served.client.get("/console/history", params={"q": "路灯", "page": "9"})
    assert numbers_on(await beyond.text()) == numbers_on(second)


async def test_the_export_is_the_filtered_list_as_a_workbook(served: Served) -> None:
    desk = served.desk
    now = desk.clock.now()
    leak = await opened_at(desk, now - timedelta(days=3), "3栋2单元501 厨房水管漏水了")
    await opened_at(desk, now - timedelta(days=1), "5栋1单元1202 电梯按钮坏了", sender="u-wang")
    formula = await opened_at(desk, now - timedelta(hours=2), "=1+1 3栋2单元501 水管又漏了")
    await closed(desk, leak, "已更换水管接头", Rating.VERY_SATISFIED)
    await sign_in(served, "u-chen", desk.staff["chen"])

    page = await (await served.client.get("/console/history", params={"q": "漏"})).text()
    found = re.search(r'id="export" href="([^"]+)"', page)
    assert found is not None
    answer = await served.client.get(found.group(1).replace("&amp;", "&"))
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith(XLSX)
    assert "attachment" in answer.headers["Content-Disposition"]
    assert ".xlsx" in answer.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(await answer.read())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == (
        "编号", "类型", "部门", "状态", "房号", "报告人", "内容", "报告时间", "完成时间",
        "处理人", "评价",
    )  # fmt: skip
    # As the page lists them, newest first; times local (10:00 in Shanghai, 02:00 UTC).
    assert [row[0] for row in rows[1:]] == numbers_on(page) == [formula.number, leak.number]
    done = rows[2]
    assert done[1:7] == ("报修", "工程部", "已关闭", "3-2-501", "u-li", leak.text)
    assert done[7] == datetime(2026, 11, 20, 10, 0)  # reported 3 days ago
    assert done[8] == datetime(2026, 11, 23, 12, 0)  # closed by the rating, today 12:00
    assert done[9:] == ("张工", "非常满意")
    assert rows[1][6] == formula.text  # an owner's "=…" stays text
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:K3"

    # The open board's export has the board's columns, and English headers in English.
    board = await served.client.get("/console/export", params={"lang": "en"})
    sheet = load_workbook(io.BytesIO(await board.read())).active
    header = next(sheet.iter_rows(values_only=True))
    assert header[0] == "Number" and len(header) == 10 and sheet.max_row == 3


async def test_the_timeline_tells_the_story_in_words(served: Served) -> None:
    desk = served.desk
    await bind("u-li", desk.owners["li"])
    ticket = await report(desk)
    await add_photos(
        ticket.id, ["webchat:leak.png", "wechat:media-1"], "webchat:u-li", desk.clock.now()
    )
    desk.clock.advance(minutes=5)
    csrf = await sign_in(served, "u-zhang", desk.staff["zhang"])
    assert (await act(served, ticket, "claim", csrf)).status == 303
    desk.clock.advance(minutes=5)
    await add_note(ticket.id, f"staff:{desk.staff['zhang'].id}", "需要带扳手", desk.clock.now())
    assert (await act(served, ticket, "reply", csrf, text="师傅十分钟到")).status == 303
    desk.clock.advance(hours=1)
    assert (await act(served, ticket, "close", csrf, text="已更换水管接头")).status == 303
    desk.clock.advance(minutes=30)
    await rate_ticket(
        ticket.id, Rating.SATISFIED, f"owner:{desk.owners['li'].id}", desk.clock.now()
    )

    html = await (await served.client.get(f"/console/tickets/{ticket.id}")).text()
    timeline = html[html.index('id="timeline"') :]
    entries = re.findall(
        r'<li class="entry [^"]+" data-event="([^"]+)">(.*?)</li>', timeline, re.S
    )
    kinds = [kind for kind, _ in entries]
    assert kinds == [
        "opened", "photos_added", "claimed", "noted", "answered", "resolved", "rated", "closed",
    ]  # fmt: skip
    said = {kind: " ".join(re.sub(r"<[^>]+>", " ", body).split()) for kind, body in entries}
    assert "2026-11-23 10:00" in said["opened"] and "李华" in said["opened"]
    assert "厨房水管漏水了" in said["opened"]
    assert "补充了 2 张照片" in said["photos_added"]
    assert 'src="/photos/leak.png"' in dict(entries)["photos_added"]
    assert "1 张照片在聊天中查看" in said["photos_added"]
    assert "接单 · 张工" in said["claimed"] and "2026-11-23 10:05" in said["claimed"]
    assert "需要带扳手" in said["noted"] and "师傅十分钟到" in said["answered"]
    assert "已更换水管接头" in said["resolved"] and "2026-11-23 11:10" in said["resolved"]
    assert "评价 · 李华" in said["rated"] and "满意" in said["rated"]
    assert "业主已评价" in said["closed"]
    # Never the store's raw data.
    for raw in ("text:", "result:", "rating:", "count:", "rated:", "owner:", "webchat:"):
        assert raw not in timeline, raw


WALL = counted_on(ServiceCalendar())  # waits counted in wall time


async def test_the_timeline_words_transfers_escalations_and_pauses(served: Served) -> None:
    desk = served.desk
    ticket = await report(desk)
    chen = desk.staff["chen"]
    now = desk.clock.now()
    await transfer_ticket(ticket.id, Department.CLEANING, f"staff:{chen.id}", now, "不是水管问题")
    await pause_ticket(
        ticket.id, f"staff:{chen.id}", now, until=now + timedelta(hours=5), elapsed=WALL
    )
    await resume_ticket(ticket.id, f"staff:{chen.id}", now + timedelta(hours=1), elapsed=WALL)
    await TicketEvent.create(
        ticket_id=ticket.id,
        kind=EventKind.ESCALATED,
        actor="system",
        at=now + timedelta(hours=2),
        data={"breach": "response", "level": 1, "stage": "supervisor", "to": ["陈主管"],
              "deadline": (now + timedelta(minutes=30)).isoformat()},
    )  # fmt: skip
    await sign_in(served, "u-chen", chen)
    html = await (await served.client.get(f"/console/tickets/{ticket.id}")).text()
    text = " ".join(re.sub(r"<[^>]+>", " ", html[html.index('id="timeline"') :]).split())
    assert "从工程部转派至保洁部" in text and "不是水管问题" in text
    assert "暂停计时至 2026-11-23 15:00" in text and "已暂停 60 分钟" in text
    assert "响应超时（2026-11-23 10:30），第 1 级上报：陈主管" in text
    assert "超时上报 · 系统" in text
    english = await (await served.client.get(f"/console/tickets/{ticket.id}?lang=en")).text()
    assert "from engineering to cleaning" in english and "step 1: 陈主管" in english


async def test_the_board_counts_owners_with_no_chat_and_lists_them(served: Served) -> None:
    desk = served.desk
    await bind("u-li", desk.owners["li"])  # 李华 is bound; 王芳 and John Smith are not
    await sign_in(served, "u-chen", desk.staff["chen"])
    board = await (await served.client.get("/console/")).text()
    assert "2 位业主未绑定聊天账号" in board and 'href="/console/owners/unbound"' in board
    page = await served.client.get("/console/owners/unbound")
    html = await page.text()
    assert page.status == 200
    listed = re.findall(
        r"<tr data-owner=\"\d+\">\s*<td[^>]*>([^<]*)</td>\s*<td[^>]*>([^<]*)</td>", html
    )
    assert listed == [("3-1-501", "John Smith"), ("5-1-1202, 7-1-302", "王芳")]
    assert "申请绑定" in html

    # An owner the register no longer lists (moved out) is not one to invite.
    await Owner.filter(id=desk.owners["wang"].id).update(active=False)
    board = await (await served.client.get("/console/")).text()
    assert "1 位业主未绑定聊天账号" in board
    html = await (await served.client.get("/console/owners/unbound")).text()
    assert "John Smith" in html and "王芳" not in html

    # An engineer neither sees the count nor the list.
    await sign_in(served, "u-zhang", desk.staff["zhang"])
    board = await (await served.client.get("/console/")).text()
    assert "未绑定" not in board
    assert (await served.client.get("/console/owners/unbound")).status == 403


async def test_an_engineers_history_and_export_hold_their_department_only(
    served: Served,
) -> None:
    desk = served.desk
    leak = await report(desk)
    trash = await report(desk, "5栋1单元1202 楼道垃圾好几天没人清理了，很臭", sender="u-wang")
    assert trash.department is not Department.ENGINEERING
    await sign_in(served, "u-zhang", desk.staff["zhang"])
    # Asking for another department changes nothing: an engineer's scope is their own.
    wanted = {"department": trash.department.value}
    page = await (await served.client.get("/console/history", params=wanted)).text()
    assert numbers_on(page) == [leak.number]
    for view in ("history", "open"):
        answer = await served.client.get("/console/export", params={**wanted, "view": view})
        sheet = load_workbook(io.BytesIO(await answer.read())).active
        assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [leak.number]
