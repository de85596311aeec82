"""The web chat over real WebSockets on loopback: the aiohttp app, router, staff desk and store.

Each test serves the real `HttpServer` application with aiohttp's test server and opens real
WebSocket connections to it, one per "page". Nothing of ours is faked: the router, the handlers,
the NLU and the store are the ones `guanjia run` uses.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSCloseCode, WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from bot.adapters.http import HttpServer
from bot.adapters.webchat import (
    CHAT_OVERHEAD,
    HELD_BYTES,
    HISTORY_LIMIT,
    MAX_FRAME,
    MAX_PHOTO_BYTES,
    MESSAGE_OVERHEAD,
    ChatLog,
    WebChat,
)
from bot.core.channel import Channel, ChannelHub
from bot.core.clock import FixedClock
from bot.core.context import Services
from bot.core.demo import OWNERS_PAGE
from bot.core.estate_import import EstateData, OwnerRow, UnitRow, write_estate
from bot.core.i18n import Catalogues
from bot.core.reference import EstateCache
from bot.core.router import Router
from bot.core.types import ChatRef, OutgoingMessage, Platform, SentMessage
from handlers import build_handlers
from models import (
    Chat,
    ChatIdentity,
    ChatKind,
    Department,
    Dialog,
    LoginToken,
    Owner,
    SeenMessage,
    Staff,
    StaffRole,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from tests.factories import make_estate, make_owner, make_staff, make_unit

ROOT = Path(__file__).resolve().parents[2]
WAIT = 20  # seconds a frame may take before a test fails (the NLU runs on each message)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 32


@dataclass
class Page:
    """One open web chat page: a real WebSocket and every frame it received."""

    socket: Any
    frames: list[dict[str, Any]] = field(default_factory=list)
    _taken: set[int] = field(default_factory=set)

    async def send(self, frame: dict[str, Any] | str) -> None:
        """Send a frame (a dict as JSON, a str as it is)."""
        await self.socket.send_str(frame if isinstance(frame, str) else json.dumps(frame))

    async def next(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first frame not taken yet that `match` accepts (waiting for it); it is taken."""
        async with asyncio.timeout(WAIT):
            while True:
                for index, frame in enumerate(self.frames):
                    if index not in self._taken and match(frame):
                        self._taken.add(index)
                        return frame
                received = await self.socket.receive()
                if received.type is not WSMsgType.TEXT:
                    raise AssertionError(f"the socket closed: {received}")
                self.frames.append(json.loads(received.data))

    async def of_type(self, kind: str) -> dict[str, Any]:
        """The next frame of a type."""
        return await self.next(lambda frame: frame["type"] == kind)

    async def bot_says(self, chat: str, *needles: str, kind: str = "message") -> dict[str, Any]:
        """The next bot message (or edit) in a chat that contains every needle."""

        def match(frame: dict[str, Any]) -> bool:
            if frame["type"] != kind or frame["chat"] != chat:
                return False
            message = frame["message"]
            return message["from"]["kind"] == "bot" and all(n in message["text"] for n in needles)

        return (await self.next(match))["message"]

    async def error(self) -> dict[str, Any]:
        """The next error frame."""
        return await self.of_type("error")

    async def pick(self, role: str, person_id: int) -> dict[str, Any]:
        """Speak as an owner or a staff member."""
        await self.send({"type": "pick", "role": role, "id": person_id})
        return await self.of_type("picked")

    async def say(self, chat: str, text: str, **extra: Any) -> None:
        """Write in a chat."""
        await self.send({"type": "say", "chat": chat, "text": text, **extra})

    async def press(self, chat: str, message: dict[str, Any], payload: str) -> None:
        """Press a button of a message."""
        await self.send(
            {"type": "press", "chat": chat, "message": message["id"], "payload": payload}
        )


@dataclass
class WebDesk:
    """A small estate served by the web chat on loopback."""

    client: TestClient
    webchat: WebChat
    clock: FixedClock
    owner: Owner
    neighbour: Owner
    engineer: Staff
    supervisor: Staff
    data_dir: Path

    @property
    def origin(self) -> str:
        """The origin of the page the server serves (what a browser sends as `Origin`)."""
        return str(self.client.make_url("")).rstrip("/")

    async def page(self, headers: dict[str, str] | None = None) -> Page:
        """Open a page: a WebSocket from the page's own origin, with the welcome frame read."""
        socket = await self.client.ws_connect(
            "/webchat/ws", headers=headers or {"Origin": self.origin}
        )
        page = Page(socket)
        await page.of_type("welcome")
        return page


@pytest.fixture
async def web(store: str, nlu, now: datetime, tmp_path: Path) -> AsyncIterator[WebDesk]:
    """The estate `demo` wired to the real router and handlers, served by the web chat."""
    estate = await make_estate("demo")
    unit = await make_unit(estate, "3", "2", "501")
    other = await make_unit(estate, "5", "1", "1202")
    owner = await make_owner(estate, "李华", unit, phone="13800000001")
    neighbour = await make_owner(estate, "王芳", other, phone="13800000002")
    engineer = await make_staff(estate, "张工", StaffRole.ENGINEER, Department.ENGINEERING)
    supervisor = await make_staff(
        estate, "陈主管", StaffRole.SUPERVISOR, Department.CUSTOMER_SERVICE
    )
    clock = FixedClock(now)
    services = Services(
        nlu=nlu, catalogues=Catalogues(), clock=clock, hub=ChannelHub(), cache=EstateCache(clock)
    )
    handlers = build_handlers()
    services.ticket_opened.extend(handlers.ticket_opened)
    router = Router(services, handlers)
    webchat = WebChat(router, tmp_path)
    assert await webchat.register_chats() == 1
    server = HttpServer(host="127.0.0.1", port=0)
    webchat.mount_on(server)
    services.hub.add(webchat)
    client = TestClient(TestServer(server.app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield WebDesk(client, webchat, clock, owner, neighbour, engineer, supervisor, tmp_path)
    finally:
        await webchat.stop()
        await client.close()


async def counts() -> dict[str, int]:
    """How many rows the tables a message could touch hold."""
    return {
        "tickets": await Ticket.all().count(),
        "events": await TicketEvent.all().count(),
        "seen": await SeenMessage.all().count(),
        "identities": await ChatIdentity.all().count(),
        "dialogs": await Dialog.all().count(),
        "chats": await Chat.all().count(),
    }


async def test_web_chat_is_a_channel_with_registered_chats(web: WebDesk) -> None:
    assert isinstance(web.webchat, Channel)
    assert web.webchat.private_chat("owner-1") == ChatRef(
        Platform.WEBCHAT, "private:owner-1", is_group=False
    )
    chats = {c.chat_id: c.kind for c in await Chat.filter(platform=Platform.WEBCHAT)}
    assert chats == {"owners-demo": ChatKind.OWNERS, "staff-demo": ChatKind.STAFF}
    assert await web.webchat.register_chats() == 1  # again: nothing doubled
    assert await Chat.filter(platform=Platform.WEBCHAT).count() == 2


async def test_healthz_on_the_shared_app(web: WebDesk) -> None:
    response = await web.client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"ok": True, "store": True}
    page = await web.client.get("/")
    assert page.status == 200 and "/webchat/static/app.js" in await page.text()
    script = await web.client.get("/webchat/static/app.js")
    assert script.status == 200


async def test_welcome_lists_who_a_page_can_be_and_the_page_words(web: WebDesk) -> None:
    # Another estate's people are nobody's to pick: the demo lets anyone be anyone listed.
    elsewhere = await make_estate("real")
    stranger = await make_owner(
        elsewhere, "赵业主", await make_unit(elsewhere, "1", "1", "101"), phone="13900000009"
    )
    boss = await make_staff(elsewhere, "钱经理", StaffRole.SUPERVISOR, Department.CUSTOMER_SERVICE)
    page = await web.page()
    welcome = page.frames[0]
    [estate] = welcome["estates"]
    assert estate["code"] == "demo"
    assert welcome["demo"] == {"estate": "demo", "public": False}
    shown = json.dumps(welcome, ensure_ascii=False)
    assert "赵业主" not in shown and "钱经理" not in shown and "1-1-101" not in shown
    await page.send({"type": "pick", "role": "owner", "id": stranger.id})
    assert (await page.error())["code"] == "unknown_person"
    await page.send({"type": "pick", "role": "staff", "id": boss.id})
    assert (await page.error())["code"] == "unknown_person"
    assert {"id": web.owner.id, "name": "李华", "units": ["3-2-501"]} in estate["owners"]
    assert [s["name"] for s in estate["staff"]] == ["张工", "陈主管"]
    assert welcome["texts"]["zh"]["ui.send"] == "发送"
    assert welcome["texts"]["en"]["ui.send"] == "Send"
    assert welcome["texts"]["en"]["ui.chat_owners"] == "{estate} owners"
    assert welcome["limits"] == {"text": 4000, "photo_bytes": MAX_PHOTO_BYTES}
    assert welcome["texts"]["zh"]["ui.console"] == "工单看板"


async def test_an_owner_reports_and_staff_claim_through_pages(web: WebDesk) -> None:
    """The web chat wired to the router: a repair in, the reply and the card out, a claim.
    What follows (closing, rating) is the router's: tests/handlers/test_staff.py."""
    owner, staff = await web.page(), await web.page()
    mine = await owner.pick("owner", web.owner.id)
    assert [c["id"] for c in mine["chats"]] == ["owners-demo", f"private:owner-{web.owner.id}"]
    assert "manager" not in mine  # the manager-board token is gone from the protocol
    desk = await staff.pick("staff", web.engineer.id)
    assert [c["id"] for c in desk["chats"]] == [
        "owners-demo",
        "staff-demo",
        f"private:staff-{web.engineer.id}",
    ]
    identity = await ChatIdentity.get(platform=Platform.WEBCHAT, user_id=f"owner-{web.owner.id}")
    assert identity.owner_id == web.owner.id and identity.staff_id is None

    await owner.say("owners-demo", "3栋2单元501 厨房水管漏水了")

    said = await owner.next(
        lambda f: f["type"] == "message" and f["message"]["from"]["kind"] == "owner"
    )
    assert said["message"]["text"] == "3栋2单元501 厨房水管漏水了"
    reply = await owner.bot_says("owners-demo", "R-0001")
    assert reply["reply_to"] == said["message"]["id"]
    assert reply["quote"] == {"name": "李华", "text": "3栋2单元501 厨房水管漏水了"}
    ticket = await Ticket.get(number="R-0001")
    assert ticket.source_chat_id == "owners-demo" and ticket.owner_id == web.owner.id
    assert ticket.reporter_id == f"owner-{web.owner.id}" and ticket.reporter_name == "李华"
    # Every page showing the owner group sees the report and the reply, live.
    await staff.bot_says("owners-demo", "R-0001")
    card = await staff.bot_says("staff-demo", "R-0001")
    payloads = [b["payload"] for row in card["buttons"] for b in row]
    assert payloads == [f"claim:{ticket.id}", f"transfer:{ticket.id}"]

    await staff.press("staff-demo", card, f"claim:{ticket.id}")

    claimed_toast = await staff.of_type("toast")
    assert claimed_toast["text"] == "您已接单 R-0001。"
    edited = await staff.bot_says("staff-demo", "R-0001", kind="edit")
    assert edited["id"] == card["id"] and edited["edited"]
    buttons = [b["payload"] for row in edited["buttons"] for b in row]
    assert buttons == [f"transfer:{ticket.id}", f"close:{ticket.id}"]
    assert "张工" in edited["text"]
    await owner.next(
        lambda f: (
            f["type"] == "message"
            and f["message"]["from"]["kind"] == "bot"
            and "R-0001" in f["message"]["text"]
            and f["message"]["id"] != reply["id"]
        )
    )
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.CLAIMED
    # The edit took the claim button away: pressing it again is refused by the web chat.
    await staff.press("staff-demo", card, f"claim:{ticket.id}")
    assert (await staff.error())["code"] == "bad_button"

    # A page opened later shows the history, with the card as it is now.
    late = await web.page()
    again = await late.pick("staff", web.supervisor.id)
    staff_chat = next(c for c in again["chats"] if c["id"] == "staff-demo")
    assert staff_chat["messages"][0]["id"] == card["id"]
    assert staff_chat["messages"][0]["edited"]


async def test_a_reply_to_the_bots_message_or_a_mention_addresses_it(web: WebDesk) -> None:
    owner = await web.page()
    await owner.pick("owner", web.owner.id)
    chat = ChatRef(Platform.WEBCHAT, "owners-demo", is_group=True)
    notice = await web.webchat.send(OutgoingMessage(chat=chat, text="明天 9:00-12:00 停水"))
    await owner.bot_says("owners-demo", "停水")

    await owner.say("owners-demo", "你好")  # chatter in the group, not addressed: quiet
    await owner.say("owners-demo", "你好", reply_to=notice.message_id)
    await owner.say("owners-demo", "@管家 你好")

    replied = await owner.next(
        lambda f: f["type"] == "message" and f["message"]["reply_to"] == notice.message_id
    )
    assert replied["message"]["from"]["kind"] == "owner"
    first = await owner.bot_says("owners-demo", "管家")
    second = await owner.bot_says("owners-demo", "管家")
    assert first["id"] != second["id"]
    bot_texts = [
        f["message"]["text"]
        for f in owner.frames
        if f["type"] == "message" and f["message"]["from"]["kind"] == "bot"
    ]
    assert len(bot_texts) == 3  # the notice and the two greetings: the first 你好 got nothing


async def test_a_photo_is_saved_shown_and_kept_on_the_ticket(web: WebDesk) -> None:
    owner = await web.page()
    await owner.pick("owner", web.owner.id)
    photo = "data:image/png;base64," + base64.b64encode(PNG).decode()

    await owner.say("owners-demo", "3栋2单元501 卫生间墙面渗水了", photo=photo)

    said = await owner.next(lambda f: f["type"] == "message" and f["message"]["photos"])
    [shown] = said["message"]["photos"]
    assert shown["url"].startswith("/webchat/uploads/") and shown["url"].endswith(".png")
    await owner.bot_says("owners-demo", "R-0001")
    ticket = await Ticket.get(number="R-0001")
    name = shown["url"].rsplit("/", 1)[1]
    assert ticket.photos == [f"webchat:{name}"]
    assert (web.data_dir / "webchat" / "uploads" / name).read_bytes() == PNG
    response = await web.client.get(shown["url"])
    assert response.status == 200 and response.content_type == "image/png"
    assert await response.read() == PNG
    assert (await web.client.get("/webchat/uploads/" + "0" * 32 + ".png")).status == 404
    assert (await web.client.get("/webchat/uploads/..%2Fhistory.png")).status == 404
    # A name that resolves here (DNS rebinding) is not a name of the page.
    rebound = {"Host": f"evil.example:{web.client.port}"}
    assert (await web.client.get(shown["url"], headers=rebound)).status == 403

    # A photo without a word is a message too (what it joins is the router's).
    await owner.say("owners-demo", "", photo=photo)
    await owner.bot_says("owners-demo", "补充到工单 R-0001")
    assert len((await Ticket.get(number="R-0001")).photos) == 2


async def test_refusals_change_nothing(web: WebDesk) -> None:
    owner, staff = await web.page(), await web.page()
    await owner.send({"type": "say", "chat": "owners-demo", "text": "3栋2单元501 水管漏水"})
    assert (await owner.error())["code"] == "pick_first"
    await owner.pick("owner", web.owner.id)
    await staff.pick("staff", web.engineer.id)
    # One real ticket, so there is a card whose buttons an owner could try to press.
    await owner.say("owners-demo", "3栋2单元501 厨房水管漏水了")
    reply = await owner.bot_says("owners-demo", "R-0001")
    card = await staff.bot_says("staff-demo", "R-0001")
    ticket = await Ticket.get(number="R-0001")
    before = await counts()

    refusals: list[tuple[dict[str, Any] | str, str]] = [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_json"),
        ({"type": "dance"}, "unknown_type"),
        ({"text": "no type"}, "unknown_type"),
        ({"type": "say", "chat": "owners-demo", "text": "漏" * 4001}, "too_long"),
        ({"type": "say", "chat": "owners-demo", "text": 42}, "bad_request"),
        ({"type": "say", "chat": "owners-demo", "text": "  "}, "empty"),
        ({"type": "say", "chat": "private:owner-999", "text": "hello"}, "unknown_chat"),
        ({"type": "say", "chat": "staff-demo", "text": "claim R-0001"}, "staff_only"),
        (
            {
                "type": "press",
                "chat": "staff-demo",
                "message": card["id"],
                "payload": f"claim:{ticket.id}",
            },
            "staff_only",
        ),
        (
            {
                "type": "press",
                "chat": "owners-demo",
                "message": reply["id"],
                "payload": f"close:{ticket.id}",
            },
            "staff_only",
        ),
        (
            {
                "type": "press",
                "chat": "owners-demo",
                "message": reply["id"],
                "payload": f"rate:{ticket.id}:5",
            },
            "bad_button",
        ),
        ({"type": "pick", "role": "owner", "id": 99999}, "unknown_person"),
        ({"type": "pick", "role": "boss", "id": web.owner.id}, "bad_request"),
        ({"type": "lang", "lang": "fr"}, "bad_request"),
    ]
    for frame, code in refusals:
        await owner.send(frame)
        error = await owner.error()
        assert error["code"] == code, (frame, error)
        assert error["text"], code

    too_long = await _refused(owner, {"type": "say", "chat": "owners-demo", "text": "x" * 4001})
    assert "4000" in too_long["text"]
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (MAX_PHOTO_BYTES + 1 - 8)
    photo = base64.b64encode(big).decode()
    refused = await _refused(
        owner, {"type": "say", "chat": "owners-demo", "text": "看图", "photo": photo}
    )
    assert refused["code"] == "photo_too_big" and "5 MB" in refused["text"]
    just_over = base64.b64encode(big[:-1] + b"\x00\x00").decode()
    assert (
        await _refused(
            owner, {"type": "say", "chat": "owners-demo", "text": "", "photo": just_over}
        )
    )["code"] == "photo_too_big"
    not_image = base64.b64encode(b"MZ\x90\x00 this is not a photo").decode()
    assert (
        await _refused(
            owner, {"type": "say", "chat": "owners-demo", "text": "", "photo": not_image}
        )
    )["code"] == "bad_photo"
    assert (
        await _refused(owner, {"type": "say", "chat": "owners-demo", "text": "", "photo": "%%%"})
    )["code"] == "bad_photo"
    await owner.send({"type": "lang", "lang": "en", "ref": "r1"})
    assert (await owner.of_type("lang"))["ref"] == "r1"
    english = await _refused(owner, {"type": "say", "chat": "staff-demo", "text": "hi", "ref": 7})
    assert english["ref"] == 7 and "Only staff" in english["text"]

    assert await counts() == before
    assert not (web.data_dir / "webchat" / "uploads").exists()
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.OPEN
    # The staff page saw none of it: the next thing it sees is what an owner really says next.
    await owner.say("owners-demo", "谢谢")
    await staff.next(lambda f: f["type"] == "message" and f["message"]["text"] == "谢谢")
    seen = [f["message"]["text"] for f in staff.frames if f["type"] in ("message", "edit")]
    assert len(seen) == 4 and seen[0] == "3栋2单元501 厨房水管漏水了" and seen[-1] == "谢谢"


async def _refused(page: Page, frame: dict[str, Any]) -> dict[str, Any]:
    await page.send(frame)
    return await page.error()


async def test_a_frame_over_the_limit_closes_the_socket_and_changes_nothing(
    web: WebDesk,
) -> None:
    owner = await web.page()
    await owner.pick("owner", web.owner.id)
    before = await counts()
    # The server may close while the frame is still being written.
    with contextlib.suppress(ConnectionError):
        await owner.send({"type": "say", "chat": "owners-demo", "text": "x" * (MAX_FRAME + 1)})
    async with asyncio.timeout(WAIT):
        closed = await owner.socket.receive()
    assert closed.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR), closed
    assert owner.socket.closed
    # 1009 (message too big) when the close frame arrives; 1006 when it loses the race.
    assert owner.socket.close_code in (WSCloseCode.MESSAGE_TOO_BIG, WSCloseCode.ABNORMAL_CLOSURE)
    assert await counts() == before


async def test_a_lone_surrogate_is_cleaned_and_another_pages_repair_is_answered(
    web: WebDesk,
) -> None:
    """A frame holding text no encoder can write (a lone surrogate, a NUL) is cleaned where it
    arrives: the page it came from and every other page go on as before."""
    mallory, owner, staff = await web.page(), await web.page(), await web.page()
    await mallory.pick("owner", web.neighbour.id)
    await owner.pick("owner", web.owner.id)
    await staff.pick("staff", web.engineer.id)
    # The frame exactly as a script writes it: JSON's escape decodes to a lone surrogate.
    await mallory.send('{"type": "say", "chat": "owners-demo", "text": "hi \\ud800 \\u0000there"}')
    echoed = await owner.next(
        lambda f: f["type"] == "message" and f["message"]["from"]["kind"] != "bot"
    )
    assert echoed["message"]["text"] == "hi \ufffd there"

    await owner.say("owners-demo", "3栋2单元501 厨房水管漏水了")
    reply = await owner.bot_says("owners-demo", "R-0001")
    assert reply["text"]
    assert await staff.bot_says("staff-demo", "R-0001")
    # A page opened after it all is welcomed, and picks, as any other.
    late = await web.page()
    assert (await late.pick("owner", web.owner.id))["type"] == "picked"
    assert await Ticket.filter(number="R-0001").exists()


async def test_json_nested_beyond_the_bound_is_refused_and_the_page_goes_on(
    web: WebDesk,
) -> None:
    owner = await web.page()
    await owner.pick("owner", web.owner.id)
    before = await counts()
    deep = '{"type": "say", "chat": "owners-demo", "text": "x", "extra": ' + (
        "[" * 100_000 + "]" * 100_000 + "}"
    )
    for frame in (deep, '{"type": "say", "chat": "owners-demo", "text": [[[[["x"]]]]]}'):
        await owner.send(frame)
        assert (await owner.error())["code"] == "bad_json"
    assert await counts() == before
    await owner.say("owners-demo", "3栋2单元501 厨房水管漏水了")
    assert await owner.bot_says("owners-demo", "R-0001")


def upgrade(**headers: str) -> dict[str, str]:
    """The headers of a WebSocket upgrade, with `headers` added."""
    return {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(),
        **headers,
    }


async def test_a_socket_from_another_site_no_origin_or_a_rebound_name_is_refused(
    web: WebDesk, caplog: pytest.LogCaptureFixture
) -> None:
    port = web.client.port
    refused = {
        "another site": upgrade(Origin="https://evil.example"),
        "no origin": upgrade(),
        "a null origin": upgrade(Origin="null"),
        # DNS rebinding: the attacker's name resolves here, so Host and Origin agree.
        "a rebound name": upgrade(
            Host=f"evil.example:{port}", Origin=f"http://evil.example:{port}"
        ),
    }
    for why, headers in refused.items():
        response = await web.client.get("/webchat/ws", headers=headers)
        assert response.status == 403, why
    assert "not one of the public names" in caplog.text
    assert not web.webchat.pages
    same = await web.page(headers={"Origin": web.origin})
    assert same.frames[0]["type"] == "welcome"
    # localhost is this machine too.
    local = await web.page(headers={"Origin": f"http://localhost:{port}"})
    assert local.frames[0]["type"] == "welcome"


async def test_a_staff_page_reaches_the_console_by_login_in_private(web: WebDesk) -> None:
    # The manager-board token is gone; the console is reached as staff reach it anywhere.
    assert (await web.client.get("/manager")).status == 404
    staff, owner = await web.page(), await web.page()
    await staff.pick("staff", web.supervisor.id)
    await owner.pick("owner", web.owner.id)
    mine = f"private:staff-{web.supervisor.id}"

    await staff.say(mine, "/login")

    link = await staff.bot_says(mine, "/console/login?token=")
    assert "http://127.0.0.1:8080/console/login?token=" in link["text"]
    assert await LoginToken.filter(staff_id=web.supervisor.id).count() == 1
    await owner.say(f"private:owner-{web.owner.id}", "/login")
    refused = await owner.bot_says(f"private:owner-{web.owner.id}", "只有已绑定的员工")
    assert "token=" not in refused["text"]
    await staff.say("staff-demo", "/login")
    await staff.bot_says("staff-demo", "私聊")
    assert await LoginToken.all().count() == 1


async def test_the_demo_is_not_served_off_loopback_unless_unsafe(
    web: WebDesk, caplog: pytest.LogCaptureFixture
) -> None:
    router = web.webchat.router
    off = HttpServer(host="0.0.0.0", port=0)
    with caplog.at_level(logging.INFO, logger="guanjia.webchat"):
        closed = WebChat(router, web.data_dir)
        closed.mount_on(off)
        assert closed.demo is False
    assert "web chat demo is off" in caplog.text
    client = TestClient(TestServer(off.app, host="127.0.0.1"))
    await client.start_server()
    try:
        for path in ("/", "/webchat/ws", "/webchat/static/app.js"):
            assert (await client.get(path)).status == 404, path
    finally:
        await client.close()

    unsafe = HttpServer(host="0.0.0.0", port=0)
    public = WebChat(router, web.data_dir)
    public.unsafe_public = True
    with caplog.at_level(logging.WARNING, logger="guanjia.webchat"):
        public.mount_on(unsafe)
    assert public.demo is True
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "WEBCHAT_DEMO_UNSAFE_PUBLIC" in warning.getMessage()
    assert "0.0.0.0" in warning.getMessage()
    client = TestClient(TestServer(unsafe.app, host="127.0.0.1"))
    await client.start_server()
    try:
        page = await client.get("/")
        assert page.status == 200
        origin = str(client.make_url("")).rstrip("/")
        socket = await client.ws_connect("/webchat/ws", headers={"Origin": origin})
        welcome = json.loads((await socket.receive()).data)
        assert welcome["demo"] == {"estate": "demo", "public": True}
        await socket.close()
    finally:
        await public.stop()
        await client.close()


async def test_behind_a_proxy_the_demo_answers_to_loopback_names_only(web: WebDesk) -> None:
    # A reverse proxy forwarding everything for bot.example.com to a loopback server: the
    # console answers to that name, the demo does not.
    server = HttpServer(host="127.0.0.1", port=0, public_hosts={"127.0.0.1", "bot.example.com"})
    demo = WebChat(web.webchat.router, web.data_dir)
    demo.mount_on(server)
    assert demo.demo is True
    client = TestClient(TestServer(server.app, host="127.0.0.1"))
    await client.start_server()
    try:
        proxied = {"Host": "bot.example.com", "Origin": "https://bot.example.com"}
        assert (await client.get("/", headers=proxied)).status == 403
        assert (await client.get("/webchat/ws", headers=upgrade(**proxied))).status == 403
        assert (await client.get("/")).status == 200
    finally:
        await demo.stop()
        await client.close()


async def test_every_demo_answer_carries_the_security_headers(web: WebDesk) -> None:
    answers = [
        await web.client.get("/"),
        await web.client.get("/webchat/static/app.js"),
        await web.client.get("/webchat/uploads/" + "0" * 32 + ".png"),
        await web.client.get("/nowhere"),
        await web.client.get("/healthz"),
        await web.client.get("/webchat/ws", headers=upgrade()),
    ]
    assert [a.status for a in answers] == [200, 200, 404, 404, 200, 403]
    for answer in answers:
        assert answer.headers["X-Frame-Options"] == "DENY", answer.url
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        policy = answer.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy


async def test_an_edit_of_a_message_no_longer_kept_is_sent_anew(web: WebDesk) -> None:
    staff = await web.page()
    await staff.pick("staff", web.engineer.id)
    chat = ChatRef(Platform.WEBCHAT, "staff-demo", is_group=True)
    sent = await web.webchat.send(OutgoingMessage(chat=chat, text="第一版"))
    first = await staff.bot_says("staff-demo", "第一版")
    assert first["id"] == sent.message_id
    again = await web.webchat.edit(sent, OutgoingMessage(chat=chat, text="第二版"))
    assert again == sent
    assert (await staff.bot_says("staff-demo", "第二版", kind="edit"))["id"] == sent.message_id
    lost = SentMessage(chat=chat, message_id="b-gone")
    fresh = await web.webchat.edit(lost, OutgoingMessage(chat=chat, text="第三版"))
    assert fresh.message_id != "b-gone"
    assert (await staff.bot_says("staff-demo", "第三版"))["id"] == fresh.message_id


async def test_the_history_survives_a_restart(web: WebDesk) -> None:
    chat = ChatRef(Platform.WEBCHAT, "owners-demo", is_group=True)
    sent = await web.webchat.send(OutgoingMessage(chat=chat, text="停水通知"))
    await web.webchat.edit(sent, OutgoingMessage(chat=chat, text="停水通知（已更新）"))
    restarted = WebChat(web.webchat.router, web.data_dir)
    [kept] = restarted.log.messages("owners-demo")
    assert kept.id == sent.message_id and kept.text == "停水通知（已更新）" and kept.edited


async def test_an_urgent_card_names_the_paged_people_for_the_page_to_highlight(
    web: WebDesk,
) -> None:
    owner, staff = await web.page(), await web.page()
    await owner.pick("owner", web.owner.id)
    await staff.pick("staff", web.engineer.id)  # binds the page's account to 张工

    await owner.say("owners-demo", "救命！电梯困人了，5栋的电梯卡在8楼，里面有老人")

    card = await staff.bot_says("staff-demo", "【紧急】")
    assert card["text"].startswith("【紧急】请值班人员立即处理：@张工")
    assert card["mentions"] == [{"name": "@张工", "id": f"staff-{web.engineer.id}"}]
    # Kept with the message: a page opened later, or after a restart, highlights them too.
    restarted = WebChat(web.webchat.router, web.data_dir)
    kept = next(m for m in restarted.log.messages("staff-demo") if m.id == card["id"])
    assert kept.mentions == card["mentions"]


async def test_notices_reach_the_pages_of_their_chat_only(web: WebDesk) -> None:
    owner, neighbour = await web.page(), await web.page()
    await owner.pick("owner", web.owner.id)
    await neighbour.pick("owner", web.neighbour.id)
    private = web.webchat.private_chat(f"owner-{web.owner.id}")
    group = ChatRef(Platform.WEBCHAT, "owners-demo", is_group=True)

    await web.webchat.send(OutgoingMessage(chat=private, text="您 11 月的物业费账单"))
    await web.webchat.send(OutgoingMessage(chat=group, text="明天 9:00-12:00 停水"))

    await owner.bot_says(private.chat_id, "物业费账单")
    await owner.bot_says("owners-demo", "停水")
    await neighbour.bot_says("owners-demo", "停水")
    assert not [f for f in neighbour.frames if "物业费账单" in json.dumps(f, ensure_ascii=False)]


def test_guanjia_run_serves_the_web_chat_with_nothing_configured(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in {"DATABASE_URL", "DATA_DIR", "HTTP_HOST", "DEMO_ON_EMPTY"}
    }
    # Only the port (8080 may be taken on a test machine) and the trained model (to save time).
    environment["HTTP_PORT"] = str(port)
    environment["NLU_MODEL_PATH"] = str(ROOT / "data" / "nlu" / "model.pkl")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=environment,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stderr is not None
        lines: list[str] = []
        for line in process.stderr:
            lines.append(line)
            if "Guanjia is running" in line or len(lines) > 200:
                break
        log = "".join(lines)
        url = f"http://127.0.0.1:{port}"
        assert url in lines[0], log  # the very first line says where the web chat is
        assert "store open: sqlite://data/guanjia.sqlite3" in log
        assert "loaded the demo estate" in log and f"web chat: open {url}" in log
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
            assert json.load(response) == {"ok": True, "store": True}
        with urllib.request.urlopen(url, timeout=10) as response:
            assert "/webchat/static/app.js" in response.read().decode()
        assert (tmp_path / "data" / "guanjia.sqlite3").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=60)
    assert process.returncode == 0 and "Traceback" not in rest, rest


async def test_a_staff_page_uses_the_staff_commands_in_its_private_chat(web: WebDesk) -> None:
    owner, staff = await web.page(), await web.page()
    await owner.pick("owner", web.owner.id)
    await staff.pick("staff", web.engineer.id)
    mine = f"private:staff-{web.engineer.id}"
    await owner.say("owners-demo", "3栋2单元501 厨房水管漏水了")
    await owner.bot_says("owners-demo", "R-0001")

    await staff.say(mine, "卫生间天花板在漏水")
    await staff.bot_says(mine, "员工工作台")
    await staff.say(mine, "队列")
    await staff.bot_says(mine, "待处理工单 1 张", "R-0001")
    await staff.say(mine, "转派 R-0001 保洁")
    await staff.bot_says(mine, "已转派至保洁部")

    assert await Ticket.all().count() == 1
    assert (await Ticket.get()).department is Department.CLEANING


def _thousands(count: int) -> EstateData:
    """`count` owners, one flat each, in buildings 10 to 39 (beside the fixture's 3 and 5)."""
    units = [
        UnitRow(str(10 + n // 100), "1", f"{n % 100 // 4 + 1}{n % 4 + 1:02d}")
        for n in range(count)
    ]
    owners = [
        OwnerRow(name=f"业主{n}", phone=f"137{n:08d}", units=(unit.label,))
        for n, unit in enumerate(units)
    ]
    return EstateData(units=units, owners=owners)


async def test_an_estate_of_thousands_gets_a_bounded_welcome_and_is_searched_page_by_page(
    web: WebDesk,
) -> None:
    await write_estate(_thousands(3000), "demo")
    page = await web.page()
    [estate] = page.frames[0]["estates"]
    # A page, not the directory: the first owners by unit, and how many there are in all.
    assert len(estate["owners"]) == OWNERS_PAGE == estate["owners_page"]
    assert estate["owners_total"] == 3002
    first = estate["owners"]
    assert first[0] == {"id": web.owner.id, "name": "李华", "units": ["3-2-501"]}
    assert first[1]["units"] == ["5-1-1202"] and first[2]["units"] == ["10-1-101"]
    assert len(json.dumps(page.frames[0], ensure_ascii=False)) < 40_000
    # The next page continues where the first stopped.
    await page.send({"type": "people", "offset": OWNERS_PAGE, "ref": 1})
    more = await page.of_type("people")
    assert more["ref"] == 1 and more["total"] == 3002 and more["offset"] == OWNERS_PAGE
    assert len(more["owners"]) == OWNERS_PAGE
    assert not {o["id"] for o in more["owners"]} & {o["id"] for o in first}
    assert more["owners"][0]["units"] == ["10-1-1301"]
    # A search by unit or by name finds an owner far beyond the first page, who can be picked.
    await page.send({"type": "people", "query": "39-1-2504", "ref": 2})
    found = await page.of_type("people")
    assert [o["units"] for o in found["owners"]] == [["39-1-2504"]] and found["total"] == 1
    await page.send({"type": "people", "query": "业主1234", "ref": 3})
    named = await page.of_type("people")
    assert [o["name"] for o in named["owners"]] == ["业主1234"]
    picked_id = found["owners"][0]["id"]
    await page.send({"type": "pick", "role": "owner", "id": picked_id})
    assert (await page.of_type("picked"))["me"]["id"] == picked_id
    # The last page holds what is left; past the end there is nothing.
    await page.send({"type": "people", "offset": 3000, "ref": 4})
    assert len((await page.of_type("people"))["owners"]) == 2
    await page.send({"type": "people", "offset": 5000, "ref": 5})
    assert (await page.of_type("people"))["owners"] == []


async def test_a_bad_people_frame_is_refused(web: WebDesk) -> None:
    page = await web.page()
    for frame in (
        {"type": "people", "offset": -1},
        {"type": "people", "offset": "2"},
        {"type": "people", "offset": True},
        {"type": "people", "query": 5},
        {"type": "people", "query": "x" * 65},
    ):
        await page.send(frame)
        assert (await page.error())["code"] == "bad_request"
    # The page goes on.
    await page.send({"type": "people", "query": "李华"})
    assert [o["id"] for o in (await page.of_type("people"))["owners"]] == [web.owner.id]


async def test_a_message_reaches_only_the_pages_that_show_its_chat_now(web: WebDesk) -> None:
    page, other = await web.page(), await web.page()
    await page.pick("staff", web.engineer.id)
    await other.pick("owner", web.owner.id)
    staff_chat = ChatRef(Platform.WEBCHAT, "staff-demo", is_group=True)
    await web.webchat.send(OutgoingMessage(chat=staff_chat, text="卡片一"))
    assert (await page.bot_says("staff-demo", "卡片一"))["text"] == "卡片一"
    # The same page speaks as an owner now: the staff chat's messages no longer reach it.
    await page.pick("owner", web.owner.id)
    await web.webchat.send(OutgoingMessage(chat=staff_chat, text="卡片二"))
    mine = web.webchat.private_chat(f"owner-{web.owner.id}")
    await web.webchat.send(OutgoingMessage(chat=mine, text="私信"))
    for shown in (page, other):
        await shown.bot_says(mine.chat_id, "私信")
    # Frames of one socket come in order: what came before the private message is all there is.
    staff_texts = [
        [f["message"]["text"] for f in shown.frames if f.get("chat") == "staff-demo"]
        for shown in (page, other)
    ]
    assert staff_texts == [["卡片一"], []]
    assert set(web.webchat.viewers) == {"owners-demo", mine.chat_id}
    # A page that goes away is forgotten by every chat it showed.
    await page.socket.close()
    await other.socket.close()
    for _ in range(1000):  # loop turns for the server to end each socket's handler
        if not web.webchat.pages:
            break
        await asyncio.sleep(0)
    assert not web.webchat.pages
    assert web.webchat.viewers == {}


async def test_the_chat_log_holds_a_bounded_size_of_chats_each_with_a_bounded_history(
    web: WebDesk,
) -> None:
    log = web.webchat.log
    # Room for about 40 private chats of three short messages: 300 do not fit.
    log.budget = 40 * (CHAT_OVERHEAD + 3 * (MESSAGE_OVERHEAD + 300))
    people = 300
    for round_ in range(3):
        for n in range(people):
            chat = web.webchat.private_chat(f"owner-{n}")
            await web.webchat.send(OutgoingMessage(chat=chat, text=f"第{round_}条 to {n}"))
            assert log.held_bytes() <= log.budget
    held = log.held()
    assert 20 <= len(held) < people
    assert f"private:owner-{people - 1}" in held and "private:owner-0" not in held
    # A chat let go of is read back from its file, whole, when it is shown again.
    assert [m.text for m in log.messages("private:owner-0")] == [
        "第0条 to 0",
        "第1条 to 0",
        "第2条 to 0",
    ]
    assert log.held_bytes() <= log.budget
    # The chat in use is held whatever its size; each holds its last HISTORY_LIMIT messages.
    for n in range(HISTORY_LIMIT + 30):
        await web.webchat.send(
            OutgoingMessage(chat=ChatRef(Platform.WEBCHAT, "owners-demo", True), text=f"群{n}")
        )
    assert log.held()["owners-demo"] == HISTORY_LIMIT
    assert log.held_bytes() <= log.budget
    log.budget = CHAT_OVERHEAD
    await web.webchat.send(
        OutgoingMessage(chat=ChatRef(Platform.WEBCHAT, "owners-demo", True), text="群又一条")
    )
    assert log.held() == {"owners-demo": HISTORY_LIMIT}
    assert log.held_bytes() > log.budget
    # What is counted as it goes is what the chats cost when read back from their files.
    fresh = ChatLog(log.folder, held_bytes=log.budget)
    assert len(fresh.messages("owners-demo")) == HISTORY_LIMIT
    assert fresh.held_bytes() == log.held_bytes()


async def test_the_chat_log_holds_many_short_chats_at_once(web: WebDesk) -> None:
    log = web.webchat.log
    # More chats than a count of chats would have held: short ones all fit the default budget.
    for n in range(400):
        chat = web.webchat.private_chat(f"owner-{n}")
        await web.webchat.send(OutgoingMessage(chat=chat, text=f"你好 {n}"))
    assert len(log.held()) == 400
    assert log.held_bytes() <= HELD_BYTES
    # An edit is counted at its new size: what is counted as it goes is what the chats cost
    # when read back from their files.
    chat = web.webchat.private_chat("owner-0")
    sent = await web.webchat.send(OutgoingMessage(chat=chat, text="短"))
    after_send = log.held_bytes()
    await web.webchat.edit(sent, OutgoingMessage(chat=chat, text="长" * 100))
    assert log.held_bytes() - after_send >= len(("长" * 100).encode()) - len("短".encode())
    fresh = ChatLog(log.folder)
    for n in range(400):
        fresh.messages(f"private:owner-{n}")
    assert fresh.held_bytes() == log.held_bytes()


async def test_a_busy_chats_file_stays_as_short_as_what_is_shown(web: WebDesk) -> None:
    group = ChatRef(Platform.WEBCHAT, "owners-demo", is_group=True)
    sent = []
    for n in range(HISTORY_LIMIT * 5 + 7):
        sent.append(await web.webchat.send(OutgoingMessage(chat=group, text=f"群消息{n}")))
        if n % 50 == 0:
            # An edit of a message still shown keeps its place.
            await web.webchat.edit(sent[-1], OutgoingMessage(chat=group, text=f"群消息{n}改"))
    path = web.data_dir / "webchat" / "history" / "owners-demo.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert HISTORY_LIMIT <= len(lines) <= 2 * HISTORY_LIMIT
    expected = [
        f"群消息{n}改" if n % 50 == 0 else f"群消息{n}"
        for n in range(HISTORY_LIMIT * 4 + 7, HISTORY_LIMIT * 5 + 7)
    ]
    held = web.webchat.log.messages("owners-demo")
    assert [m.text for m in held] == expected
    assert [m.id for m in held] == [s.message_id for s in sent[-HISTORY_LIMIT:]]
    # After a restart the file gives the same messages, in the same order.
    restarted = WebChat(web.webchat.router, web.data_dir)
    assert [m.text for m in restarted.log.messages("owners-demo")] == expected
    # Held as encoded text, not objects: a few hundred bytes a message.
    assert web.webchat.log.held_bytes() < HISTORY_LIMIT * 400
