"""The WeChat-family callback pipeline on its own (`WxCallbackPipeline`).

The pipeline is served on loopback through real aiohttp routes, with a minimal platform given to
it (`Loopback`: WeChat's token signature, an optional AES mode through wechatpy's own crypto, and
text messages handed to the real router through a `CallbackRunner`), not through the WeChat or
WeCom channels. Callbacks are built as WeChat's server builds them (`tests/adapters/wx_fake.py`).
What each platform adds of its own is tested in `test_wechat.py` and `test_wecom.py`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import aiohttp
import pytest
import xmltodict
from aiohttp import web
from aiohttp.test_utils import TestServer
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.messages import BaseMessage, TextMessage
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot.adapters.wxcommon import (
    MAX_CALLBACK_BYTES,
    CallbackRunner,
    Refusal,
    WxCallbackPipeline,
    callback_digest,
    text_field,
)
from bot.core.callbacks import CallbackGuard
from bot.core.channel import NoticeMeta
from bot.core.types import ChatRef, IncomingMessage, OutgoingMessage, Platform, SentMessage
from models import (
    CallbackNonce,
    ChatIdentity,
    Dialog,
    InboundMessage,
    OutboxMessage,
    SeenMessage,
    Ticket,
)
from tests.adapters.wx_fake import (
    ACCOUNT,
    AES_KEY,
    APP_ID,
    TOKEN,
    event_xml,
    plain_query,
    plain_request,
    safe_request,
    serve,
    signature,
    text_xml,
)
from tests.desk import Desk

SENDER = re.compile(r"[A-Za-z0-9_-]{1,64}")
OWNER = "oLoopbackOwner0001"
TURNED_AWAY = "oTurnedAway0001"
REPAIR = "3栋2单元501 厨房水管漏水了"
# The platform's answer to a follow: `]]>` would end wechatpy's CDATA section early.
WELCOME = "欢迎关注]]>阳光花园"
PATH = "/loopback/callback"
log = logging.getLogger("guanjia.loopback")


class Loopback:
    """A minimal WeChat-family platform: the `WxCallbacks` the pipeline asks for, and the
    `Channel` its runner answers through. Late answers are kept in `late` (the platform's API)."""

    platform = Platform.WECHAT
    empty_answer = "success"

    def __init__(self, desk: Desk, *, safe: bool, wait: float) -> None:
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID) if safe else None
        self.clock = desk.clock
        self.late: list[OutgoingMessage] = []
        self._ids = itertools.count(1)
        self.runner = CallbackRunner(
            desk.router, self, self._deliver, wait=wait, passive=lambda m: not m.buttons
        )
        self.pipeline = WxCallbackPipeline(
            "Loopback", self, CallbackGuard("loopback", desk.clock), sender=SENDER, logger=log
        )

    # WxCallbacks -------------------------------------------------------------------------

    def echo(self, query: Mapping[str, str]) -> str:
        self.check_signature(query)
        return query.get("echostr", "")

    def echo_digest(self, query: Mapping[str, str]) -> str:
        return callback_digest("GET", query.get("echostr", ""))

    def check_signature(self, query: Mapping[str, str]) -> None:
        try:
            check_signature(
                TOKEN,
                query.get("signature", ""),
                query.get("timestamp", ""),
                query.get("nonce", ""),
            )
        except InvalidSignatureException as exc:
            raise Refusal(403, "bad signature") from exc

    def open(self, query: Mapping[str, str], body: bytes) -> str:
        if (query.get("encrypt_type") == "aes") != bool(self.crypto):
            raise Refusal(400, "not this platform's mode")
        try:
            xml = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Refusal(400, "callback is not UTF-8") from exc
        if self.crypto is None:
            return xml
        try:
            return self.crypto.decrypt_message(
                xml, query.get("msg_signature", ""), query["timestamp"], query["nonce"]
            )
        except InvalidSignatureException as exc:
            raise Refusal(403, "bad msg_signature") from exc
        except Exception as exc:
            raise Refusal(400, f"undecryptable payload ({type(exc).__name__})") from exc

    def parse(self, xml: str) -> BaseMessage:
        return parse_message(xml)

    def check_sender(
        self, query: Mapping[str, str], message: BaseMessage, sender: str
    ) -> web.Response | None:
        return web.Response(text="not for us") if sender == TURNED_AWAY else None

    def digest(self, query: Mapping[str, str], body: bytes) -> str:
        return callback_digest("POST", body)

    async def dispatch(self, message: BaseMessage, sender: str) -> str | None:
        if not isinstance(message, TextMessage):
            return WELCOME if message.type == "event" else None
        incoming = IncomingMessage(
            chat=self.private_chat(sender),
            sender_id=sender,
            sender_name=sender,
            text=text_field(message.content, "Content"),
            message_id=str(message.id),
            received_at=self.clock.now(),
        )
        reply = await self.runner.run(f"msg:{incoming.message_id}", incoming)
        return reply.text if reply is not None else None

    def reply(self, query: Mapping[str, str], source: str, sender: str, text: str) -> str:
        rendered = TextReply(
            source=source, target=sender, content=text, time=int(time.time())
        ).render()
        if self.crypto is not None:
            rendered = self.crypto.encrypt_message(rendered, query["nonce"], query["timestamp"])
        return rendered

    # Channel -----------------------------------------------------------------------------

    def private_chat(self, user_id: str) -> ChatRef:
        return ChatRef(Platform.WECHAT, user_id, is_group=False)

    async def send(self, message: OutgoingMessage) -> SentMessage:
        captured = await self.runner.intercept(message)
        return captured if captured is not None else await self._deliver(message)

    async def send_notice(self, message: OutgoingMessage, notice: NoticeMeta) -> SentMessage:
        return await self.send(message)

    async def edit(self, sent: SentMessage, message: OutgoingMessage) -> SentMessage:
        return await self.send(message)

    async def _deliver(self, message: OutgoingMessage) -> SentMessage:
        self.late.append(message)
        return SentMessage(chat=message.chat, message_id=f"late-{next(self._ids)}")


@dataclass
class Rig:
    """The desk, and Loopback platforms ("processes" sharing the store) served on loopback."""

    desk: Desk
    http: aiohttp.ClientSession
    platforms: list[Loopback] = field(default_factory=list)
    servers: list[TestServer] = field(default_factory=list)

    async def platform(self, *, safe: bool = False, wait: float = 5.0) -> tuple[Loopback, str]:
        """A new platform process with its routes served; its callback URL."""
        platform = Loopback(self.desk, safe=safe, wait=wait)
        if not self.platforms:
            self.desk.services.hub.add(platform)
        app = web.Application()
        app.add_routes(
            [web.get(PATH, platform.pipeline.verify), web.post(PATH, platform.pipeline.receive)]
        )
        server = await serve(app)
        self.platforms.append(platform)
        self.servers.append(server)
        return platform, f"http://127.0.0.1:{server.port}{PATH}"

    async def post(self, url: str, query: Mapping[str, str], body: object) -> tuple[int, str]:
        async with self.http.post(url, params=dict(query), data=body) as response:
            return response.status, await response.text()

    async def get(self, url: str, query: Mapping[str, str]) -> tuple[int, str]:
        async with self.http.get(url, params=dict(query)) as response:
            return response.status, await response.text()

    async def drain(self) -> None:
        for platform in self.platforms:
            await platform.runner.drain()

    def created(self) -> int:
        return int(self.desk.clock.now().timestamp())


@pytest.fixture
async def rig(desk: Desk) -> AsyncIterator[Rig]:
    rig = Rig(desk, aiohttp.ClientSession())
    try:
        yield rig
    finally:
        for platform in rig.platforms:
            await platform.runner.stop()
        await rig.http.close()
        for server in rig.servers:
            await server.close()


STORED = (Ticket, SeenMessage, InboundMessage, OutboxMessage, Dialog, ChatIdentity, CallbackNonce)


async def stored() -> dict[str, list[dict[str, object]]]:
    """Every row a callback could write."""
    return {model.__name__: await model.all().order_by("id").values() for model in STORED}


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The refusals the pipeline logged, with their reasons."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING
        and "refused a Loopback callback" in record.getMessage()
    ]


def gate(desk: Desk) -> asyncio.Event:
    """Hold every ticket opening until the returned event is set (a slow store, say)."""
    release = asyncio.Event()

    async def slow(ctx: object, ticket: Ticket) -> None:
        await release.wait()

    desk.services.ticket_opened.append(slow)
    return release


def request(
    xml: str, safe: bool, *, nonce: str | None = None, timestamp: int | None = None
) -> tuple[dict[str, str], str]:
    """The query and body WeChat posts for `xml`, in plain or safe mode."""
    if safe:
        return safe_request(xml, nonce=nonce, timestamp=timestamp)
    return plain_request(xml, nonce=nonce, timestamp=timestamp), xml


def decrypted(answer: str) -> str:
    """The plain XML of a safe-mode passive reply."""
    envelope = xmltodict.parse(answer)["xml"]
    return WeChatCrypto(TOKEN, AES_KEY, APP_ID).decrypt_message(
        answer, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
    )


# The URL check ------------------------------------------------------------------------------


async def test_the_url_check_is_echoed_only_when_signed_fresh_and_no_replay(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    _, url = await rig.platform()
    check = dict(plain_query(timestamp=rig.created()), echostr="5837397749017442135")
    forged = dict(check, signature=signature("guessed", check["timestamp"], check["nonce"]))
    stale = dict(plain_query(timestamp=rig.created() - 360), echostr="42")
    replayed = dict(check, echostr="another-echo")  # signed: the signature leaves echostr out

    answers = [await rig.get(url, q) for q in (check, forged, stale, replayed, check)]

    assert answers[0] == (200, "5837397749017442135")
    assert [status for status, _ in answers[1:4]] == [403, 403, 403]
    assert all("5837397749017442135" not in text for _, text in answers[1:4])
    assert "another-echo" not in answers[3][1] and "42" not in answers[2][1]
    # The platform's retry of the same check is answered again.
    assert answers[4] == (200, "5837397749017442135")
    why = refusals(caplog)
    assert "bad signature" in why[0] and "outside the 5-minute window" in why[1]
    assert "nonce seen with other contents" in why[2] and len(why) == 3
    assert await CallbackNonce.all().count() == 1


# Signatures and the time window ------------------------------------------------------------


async def test_a_forged_signature_is_refused_writes_nothing_and_spends_no_nonce(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    _, url = await rig.platform()
    xml = text_xml(OWNER, REPAIR, 6200000000000000001, rig.created())
    query = plain_request(xml)
    forged = dict(query, signature=signature("guessed", query["timestamp"], query["nonce"]))

    status, answer = await rig.post(url, forged, xml)
    await rig.drain()

    assert (status, answer) == (403, "bad signature")
    assert all(rows == [] for rows in (await stored()).values())
    assert refusals(caplog) == ["refused a Loopback callback from 127.0.0.1: bad signature"]
    # The genuine callback carrying that nonce is still taken.
    status, answer = await rig.post(url, query, xml)
    assert status == 200 and "R-0001" in parse_message(answer).content


@pytest.mark.parametrize(
    ("skew", "nonce", "why"),
    [
        (-360, None, "outside the 5-minute window (360 s old)"),
        (360, None, "outside the 5-minute window (360 s ahead)"),
        (0, "bad nonce!", "no valid nonce"),
    ],
    ids=["6 minutes old", "6 minutes ahead", "a nonce that is no nonce"],
)
async def test_a_callback_outside_the_window_or_without_a_nonce_is_refused(
    rig: Rig, caplog: pytest.LogCaptureFixture, skew: int, nonce: str | None, why: str
) -> None:
    _, url = await rig.platform()
    xml = text_xml(OWNER, REPAIR, 6200000000000000002, rig.created() + skew)

    status, _ = await rig.post(url, plain_request(xml, nonce=nonce), xml)
    await rig.drain()

    assert status == 403
    assert all(rows == [] for rows in (await stored()).values())
    [refused] = refusals(caplog)
    assert refused.endswith(why)
    # Four minutes away is inside the window.
    inside = text_xml(OWNER, REPAIR, 6200000000000000003, rig.created() + skew * 2 // 3)
    status, answer = await rig.post(url, plain_request(inside), inside)
    assert status == 200 and "R-0001" in parse_message(answer).content


# Replays and retries ------------------------------------------------------------------------


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe"])
async def test_a_nonce_reused_with_other_contents_is_refused_by_every_process(
    rig: Rig, caplog: pytest.LogCaptureFixture, safe: bool
) -> None:
    _, url = await rig.platform(safe=safe)
    _, other_url = await rig.platform(safe=safe)  # another process, sharing the store
    stamp = rig.created()
    query, body = request(text_xml(OWNER, REPAIR, 6200000000000000010, stamp), safe)
    assert (await rig.post(url, query, body))[0] == 200
    await rig.drain()
    before = await stored()
    rig.desk.clock.advance(seconds=20)
    other = text_xml(OWNER, "5栋1单元1202 电梯坏了", 6200000000000000011, stamp)
    replay_query, replay_body = request(other, safe, nonce=query["nonce"], timestamp=stamp)

    here = await rig.post(url, replay_query, replay_body)
    elsewhere = await rig.post(other_url, replay_query, replay_body)
    await rig.drain()

    assert here[0] == elsewhere[0] == 403
    assert await stored() == before
    assert len(refusals(caplog)) == 2
    assert all("nonce seen with other contents" in line for line in refusals(caplog))
    assert "电梯" not in caplog.text  # a body is never logged


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe"])
async def test_retries_of_a_callback_are_answered_and_it_is_handled_once(
    rig: Rig, safe: bool
) -> None:
    # A reply wait of nothing: every answer goes out late, through the platform's API.
    platform, url = await rig.platform(safe=safe, wait=0)
    release = gate(rig.desk)
    xml = text_xml(OWNER, REPAIR, 6200000000000000020, rig.created())
    query, body = request(xml, safe)

    first = await rig.post(url, query, body)
    # The platform's retries (the same nonce, timestamp, signature and body) while it is handled.
    rig.desk.clock.advance(seconds=5)
    second = await rig.post(url, query, body)
    rig.desk.clock.advance(seconds=5)
    third = await rig.post(url, query, body)
    release.set()
    await rig.drain()
    # Once handled: a retry here, one reaching another process, and the message delivered again
    # under a new nonce.
    again = await rig.post(url, query, body)
    _, other_url = await rig.platform(safe=safe, wait=0)
    elsewhere = await rig.post(other_url, query, body)
    renewed = await rig.post(url, *request(xml, safe))
    await rig.drain()

    assert [first, second, third, again, elsewhere, renewed] == [(200, "success")] * 6
    assert await Ticket.all().count() == 1
    assert await SeenMessage.filter(message_id="6200000000000000020").count() == 1
    assert await CallbackNonce.filter(nonce=query["nonce"]).count() == 1
    [late] = platform.late
    assert late.chat.chat_id == OWNER and "R-0001" in late.text


# Plain and safe mode; passive and late replies ---------------------------------------------


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe"])
async def test_an_answer_in_time_is_the_passive_reply_in_the_callbacks_mode(
    rig: Rig, safe: bool
) -> None:
    platform, url = await rig.platform(safe=safe)
    query, body = request(text_xml(OWNER, REPAIR, 6200000000000000030, rig.created()), safe)

    status, answer = await rig.post(url, query, body)

    assert status == 200
    if safe:
        assert "R-0001" not in answer  # encrypted, not in the clear
        answer = decrypted(answer)
    reply = parse_message(answer)
    assert reply.target == OWNER and reply.source == ACCOUNT
    assert "R-0001" in reply.content and "工程部" in reply.content
    assert platform.late == []  # the passive reply was the answer
    assert await Ticket.all().count() == 1


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe"])
async def test_a_callback_in_the_other_mode_is_refused(rig: Rig, safe: bool) -> None:
    _, url = await rig.platform(safe=safe)
    query, body = request(text_xml(OWNER, REPAIR, 6200000000000000031, rig.created()), not safe)
    assert await rig.post(url, query, body) == (400, "not this platform's mode")
    assert all(rows == [] for rows in (await stored()).values())


async def test_a_forged_msg_signature_in_safe_mode_is_refused(rig: Rig) -> None:
    _, url = await rig.platform(safe=True)
    query, body = safe_request(text_xml(OWNER, REPAIR, 6200000000000000032, rig.created()))
    query["msg_signature"] = signature("guessed", query["timestamp"], query["nonce"], "x")
    assert await rig.post(url, query, body) == (403, "bad msg_signature")
    assert all(rows == [] for rows in (await stored()).values())


async def test_an_answer_after_the_wait_is_success_then_a_late_reply(rig: Rig) -> None:
    platform, url = await rig.platform(wait=0)
    release = gate(rig.desk)
    xml = text_xml(OWNER, REPAIR, 6200000000000000033, rig.created())

    answer = await rig.post(url, plain_request(xml), xml)

    assert answer == (200, "success")
    assert platform.late == []
    release.set()
    await rig.drain()
    [late] = platform.late
    assert late.chat == platform.private_chat(OWNER) and "R-0001" in late.text


async def test_a_passive_reply_keeps_a_cdata_end_in_its_text(rig: Rig) -> None:
    _, url = await rig.platform()
    follow = event_xml(OWNER, "subscribe", rig.created())
    status, answer = await rig.post(url, plain_request(follow), follow)
    assert status == 200 and parse_message(answer).content == WELCOME


async def test_a_sender_the_platform_turns_away_gets_its_answer_and_spends_no_nonce(
    rig: Rig,
) -> None:
    _, url = await rig.platform()
    xml = text_xml(TURNED_AWAY, REPAIR, 6200000000000000034, rig.created())
    assert await rig.post(url, plain_request(xml), xml) == (200, "not for us")
    assert all(rows == [] for rows in (await stored()).values())


# Bad bodies ---------------------------------------------------------------------------------


async def streamed(body: bytes) -> AsyncIterator[bytes]:
    """A body sent in chunks, without a Content-Length."""
    for start in range(0, len(body), 8192):
        yield body[start : start + 8192]


REFUSED_BODIES = {
    "malformed XML": "malformed XML (",
    "a DTD": "XML with a DTD",
    "no sender": "no valid FromUserName",
    "a sender that is no account id": "no valid FromUserName",
    "not UTF-8": "callback is not UTF-8",
    "huge": "callback too large",
    "huge, streamed without a length": "callback too large",
}


@pytest.mark.parametrize("case", list(REFUSED_BODIES))
async def test_a_bad_body_is_refused_and_writes_nothing(
    rig: Rig, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    platform, url = await rig.platform()
    xml = text_xml(OWNER, REPAIR, 6200000000000000040, rig.created())
    body: object = {
        "malformed XML": xml[:-10],
        "a DTD": '<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">]>' + xml,
        "no sender": xml.replace(f"<FromUserName><![CDATA[{OWNER}]]></FromUserName>", ""),
        "a sender that is no account id": xml.replace(OWNER, "o<script>"),
        "not UTF-8": xml.encode("utf-16"),
        "huge": xml.replace(REPAIR, "漏" * (MAX_CALLBACK_BYTES // 2)),
        "huge, streamed without a length": streamed(
            xml.replace(REPAIR, "漏" * (MAX_CALLBACK_BYTES // 2)).encode()
        ),
    }[case]
    query = plain_request(xml)

    status, answer = await rig.post(url, query, body)
    await rig.drain()

    assert status == (413 if case.startswith("huge") else 400)
    assert answer.startswith(REFUSED_BODIES[case]) and "漏" not in answer
    assert all(rows == [] for rows in (await stored()).values())
    assert platform.late == [] and rig.desk.channel.sent == []
    [refused] = refusals(caplog)
    assert refused.endswith(answer)
    # Nothing was spent or broken: the genuine callback is taken.
    status, answer = await rig.post(url, query, xml)
    assert status == 200 and "R-0001" in parse_message(answer).content


async def test_a_field_that_is_not_what_the_platform_sends_is_refused_and_handled_nowhere(
    rig: Rig,
) -> None:
    platform, url = await rig.platform()
    xml = text_xml(OWNER, REPAIR, 6200000000000000041, rig.created())
    repeated = xml.replace("<Content>", "<Content>a</Content><Content>", 1)

    status, answer = await rig.post(url, plain_request(repeated), repeated)
    await rig.drain()

    assert status == 400 and answer == "bad field (Content is not text)"
    assert await Ticket.all().count() == 0 and await SeenMessage.all().count() == 0
    assert platform.late == [] and rig.desk.channel.sent == []
