"""The Official Account: real callbacks (signed and encrypted with wechatpy's own crypto, as
WeChat's server does) posted to the running aiohttp routes on loopback, and outbound calls
answered by a fake WeChat API served on loopback."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import urlopen

import aiohttp
import pytest
import xmltodict
from aiohttp import web
from aiohttp.test_utils import TestServer
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto

from bot.adapters.wechat import Template, WeChatChannel, WeChatConfig
from bot.adapters.wxcommon import StoreTokens
from bot.core import chats
from bot.core.channel import NoticeMeta, SendError
from bot.core.notifier import UNREACHABLE, Audience, Notice, Notifier
from bot.core.types import Button, ChatRef, OutgoingMessage, Platform
from models import (
    ApiToken,
    Bill,
    BillItem,
    CallbackNonce,
    ChatIdentity,
    Delivery,
    DeliveryStatus,
    Dialog,
    InboundMessage,
    OutboxMessage,
    SeenMessage,
    Ticket,
)
from scheduler.jobs import push_bills
from tests.adapters.wx_fake import (
    ACCOUNT,
    AES_KEY,
    APP_ID,
    APP_SECRET,
    TOKEN,
    FakeWeChatApi,
    api_base,
    event_xml,
    plain_query,
    plain_request,
    safe_request,
    serve,
    signature,
    text_xml,
)
from tests.bot.test_run import free_port, read_until, start
from tests.desk import STAFF, Desk

OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz1"
# Another owner's openid: 王芳's, who has bills.
WANG = "oWaNgFaNg0123456789abcdefghi"
REPAIR = "3栋2单元501 厨房水管漏水了"


@dataclass
class Rig:
    """A desk, the fake WeChat API, and Official Account channels served on loopback."""

    desk: Desk
    api: FakeWeChatApi
    api_base: str
    servers: list[TestServer] = field(default_factory=list)
    channels: list[WeChatChannel] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)
    http: aiohttp.ClientSession | None = None

    async def sleep(self, seconds: float) -> None:
        """The channels' injected sleep: moves the desk's clock, never waits."""
        self.sleeps.append(seconds)
        self.desk.clock.advance(seconds=seconds)
        await asyncio.sleep(0)

    async def channel(
        self,
        *,
        safe: bool = False,
        wait: float = 5.0,
        templates: dict[str, Template] | None = None,
    ) -> tuple[WeChatChannel, str]:
        """A new channel (a new "process": its own token cache) and its callback URL."""
        config = WeChatConfig(
            app_id=APP_ID,
            app_secret=APP_SECRET,
            token=TOKEN,
            aes_key=AES_KEY if safe else "",
            api_base_url=self.api_base,
            reply_wait=wait,
            templates=templates or {},
        )
        channel = WeChatChannel(config, self.desk.router, self.desk.services, sleep=self.sleep)
        if not self.channels:
            self.desk.services.hub.add(channel)
        app = web.Application()
        app.add_routes(channel.routes())
        server = await serve(app)
        self.servers.append(server)
        self.channels.append(channel)
        return channel, f"http://127.0.0.1:{server.port}{config.callback_path}"

    async def post(self, url: str, body: str | bytes, query: dict[str, str]) -> tuple[int, str]:
        """POST a callback the way WeChat does; the status and body of the answer."""
        assert self.http is not None
        async with self.http.post(url, params=query, data=body) as response:
            return response.status, await response.text()


@pytest.fixture
async def rig(desk: Desk) -> AsyncIterator[Rig]:
    api = FakeWeChatApi(clock=desk.clock)
    api_server = await serve(api.app())
    rig = Rig(desk, api, api_base(api_server), servers=[api_server])
    rig.http = aiohttp.ClientSession()
    try:
        yield rig
    finally:
        for channel in rig.channels:
            await channel.stop()
        await rig.http.close()
        for server in rig.servers:
            await server.close()


def created(rig: Rig) -> int:
    return int(rig.desk.clock.now().timestamp())


def reply_text(answer: str) -> str:
    """The content of a passive text reply."""
    return parse_message(answer).content


async def nothing_written() -> None:
    assert await Ticket.all().count() == 0
    assert await SeenMessage.all().count() == 0
    assert await ChatIdentity.all().count() == 0


STORED = (
    Ticket,
    SeenMessage,
    InboundMessage,
    OutboxMessage,
    Dialog,
    ChatIdentity,
    Delivery,
    CallbackNonce,
)


async def stored() -> dict[str, list[dict[str, object]]]:
    """Every row a callback could write, to show a refused one wrote nothing."""
    return {model.__name__: await model.all().order_by("id").values() for model in STORED}


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The refusals logged (at WARNING, by the channel)."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and "refused a WeChat callback" in record.getMessage()
    ]


# Callbacks ---------------------------------------------------------------------------------


async def test_url_verification_echoes_only_a_signed_check(rig: Rig) -> None:
    _, url = await rig.channel()
    query = plain_query(timestamp=created(rig))
    query["echostr"] = "5837397749017442135"
    assert rig.http is not None
    async with rig.http.get(url, params=query) as response:
        assert response.status == 200 and await response.text() == "5837397749017442135"
    query["signature"] = signature("not-the-token", query["timestamp"], query["nonce"])
    async with rig.http.get(url, params=query) as response:
        assert response.status == 403 and "5837397749017442135" not in await response.text()


async def test_repair_in_plain_mode_opens_a_ticket_and_replies_passively(rig: Rig) -> None:
    _, url = await rig.channel()
    xml = text_xml(OPENID, REPAIR, 6100000000000000001, created(rig))

    status, answer = await rig.post(url, xml, plain_request(xml))

    assert status == 200
    ticket = await Ticket.get()
    assert ticket.number == "R-0001" and ticket.unit_id == rig.desk.units["3-2-501"].id
    assert ticket.source_chat_id == OPENID
    reply = parse_message(answer)
    assert (
        reply.target == OPENID
        and reply.source == ACCOUNT
        and "R-0001" in reply.content
        and "工程部" in reply.content
    )
    # The passive reply was the answer: nothing went through the customer-service API.
    assert rig.api.to("message/custom/send") == [] and rig.api.token_fetches == 0
    # The ticket's card went to the estate's staff chat (the desk's, on the web chat).
    assert any("R-0001" in text for text in rig.desk.channel.texts(STAFF.chat_id))


async def test_repair_in_safe_mode_is_decrypted_and_answered_encrypted(rig: Rig) -> None:
    _, url = await rig.channel(safe=True)
    xml = text_xml(OPENID, REPAIR, 6100000000000000002, created(rig))
    query, body = safe_request(xml, nonce="safe-nonce")

    status, answer = await rig.post(url, body, query)

    assert status == 200
    envelope = xmltodict.parse(answer)["xml"]
    assert "R-0001" not in answer  # encrypted, not in the clear
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    plain = crypto.decrypt_message(
        answer, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
    )
    assert "R-0001" in reply_text(plain)
    assert await Ticket.all().count() == 1


async def test_plain_callback_is_refused_when_safe_mode_is_configured(rig: Rig) -> None:
    _, url = await rig.channel(safe=True)
    xml = text_xml(OPENID, REPAIR, 6100000000000000003, created(rig))
    status, _ = await rig.post(url, xml, plain_request(xml))
    assert status == 400
    await nothing_written()


def gate(rig: Rig) -> asyncio.Event:
    """Hold every ticket opening until the returned event is set (a slow store, say)."""
    release = asyncio.Event()

    async def slow(ctx: object, ticket: Ticket) -> None:
        await release.wait()

    rig.desk.services.ticket_opened.append(slow)
    return release


async def test_slow_answer_says_success_then_sends_a_customer_service_message(rig: Rig) -> None:
    channel, url = await rig.channel(wait=0)
    release = gate(rig)
    xml = text_xml(OPENID, REPAIR, 6100000000000000004, created(rig))

    status, answer = await rig.post(url, xml, plain_request(xml))

    assert (status, answer) == (200, "success")
    assert rig.api.to("message/custom/send") == []
    release.set()
    await channel.drain()
    [sent] = rig.api.to("message/custom/send")
    assert sent.body["touser"] == OPENID and sent.body["msgtype"] == "text"
    assert "R-0001" in sent.body["text"]["content"]
    assert await Ticket.all().count() == 1


@pytest.mark.parametrize(
    "case",
    [
        "forged signature",
        "forged msg_signature",
        "bad AES payload",
        "AES payload of another account",
        "not UTF-8",
        "non-numeric MsgId",
        "repeated fields",
    ],
)
async def test_bad_callbacks_are_refused_and_change_nothing(rig: Rig, case: str) -> None:
    safe = case in ("forged msg_signature", "bad AES payload", "AES payload of another account")
    channel, url = await rig.channel(safe=safe)
    now = created(rig)
    xml = text_xml(OPENID, REPAIR, 6100000000000000006, now)
    query = plain_request(xml)
    body: str | bytes = xml
    expected = 400
    if case == "forged signature":
        query["signature"] = signature("guessed", query["timestamp"], query["nonce"])
        expected = 403
    elif case == "forged msg_signature":
        query, body = safe_request(xml)
        query["msg_signature"] = signature("guessed", query["timestamp"], query["nonce"], "x")
        expected = 403
    elif case == "bad AES payload":
        query, _ = safe_request(xml)
        garbage = "QUJDREVGR0hJSktMTU5PUA=="  # valid base64, not a block of ciphertext
        query["msg_signature"] = signature(TOKEN, query["timestamp"], query["nonce"], garbage)
        body = f"<xml><Encrypt><![CDATA[{garbage}]]></Encrypt></xml>"
    elif case == "AES payload of another account":
        stranger = WeChatCrypto(TOKEN, AES_KEY, "wxSomeoneElse")
        query, _ = safe_request(xml)
        envelope = xmltodict.parse(
            stranger.encrypt_message(xml, query["nonce"], query["timestamp"])
        )
        query["msg_signature"] = envelope["xml"]["MsgSignature"]
        body = f"<xml><Encrypt><![CDATA[{envelope['xml']['Encrypt']}]]></Encrypt></xml>"
    elif case == "not UTF-8":
        body = xml.encode("utf-16")
    elif case == "non-numeric MsgId":
        body = xml.replace("6100000000000000006", "DROP TABLE")
    elif case == "repeated fields":
        body = xml.replace("<Content>", "<Content>a</Content><Content>", 1).replace(
            f"<CreateTime>{now}</CreateTime>", f"<CreateTime>{now}</CreateTime>" * 2
        )

    status, _ = await rig.post(url, body, query)
    await channel.drain()

    assert status == expected
    await nothing_written()
    assert rig.api.calls == []
    # Nothing crashed: the same route still takes a good callback.
    if not safe:
        status, answer = await rig.post(url, xml, plain_request(xml))
        assert status == 200 and "R-0001" in reply_text(answer)


# Replays ----------------------------------------------------------------------------------


@pytest.mark.parametrize("later", [30, 465], ids=["inside the window", "465 s on"])
async def test_a_replayed_callback_naming_another_owner_is_refused(
    rig: Rig, caplog: pytest.LogCaptureFixture, later: int
) -> None:
    _, url = await rig.channel()
    await ChatIdentity.create(
        platform=Platform.WECHAT, user_id=WANG, owner_id=rig.desk.owners["wang"].id
    )
    xml = text_xml(OPENID, "我家物业费还欠多少", 6100000000000000020, created(rig))
    query = plain_request(xml)
    status, _ = await rig.post(url, xml, query)
    assert status == 200
    await rig.channels[0].drain()
    before = await stored()
    # Someone who saw the plain callback sends it again as 王芳's: the same signature, timestamp
    # and nonce, her openid in the query and as the sender.
    rig.desk.clock.advance(seconds=later)
    forged = dict(query, openid=WANG)

    status, answer = await rig.post(url, xml.replace(OPENID, WANG), forged)
    await rig.channels[0].drain()

    assert status == 403 and "<xml>" not in answer and "356" not in answer
    assert await stored() == before
    assert rig.api.calls == []
    why = "nonce seen with other contents" if later < 300 else "outside the 5-minute window"
    assert len(refusals(caplog)) == 1 and why in refusals(caplog)[0]
    assert "物业费" not in caplog.text  # the body is never logged


async def test_plain_mode_refuses_an_openid_that_is_not_the_sender(rig: Rig) -> None:
    _, url = await rig.channel()
    xml = text_xml(OPENID, REPAIR, 6100000000000000025, created(rig))
    query = plain_request(xml)

    forged = await rig.post(url, xml, dict(query, openid=WANG))
    without = await rig.post(url, xml, {k: v for k, v in query.items() if k != "openid"})

    assert forged[0] == without[0] == 403
    await nothing_written()
    assert await CallbackNonce.all().count() == 0
    # The forgeries spent nothing: WeChat's genuine callback with that nonce is taken.
    status, answer = await rig.post(url, xml, query)
    assert status == 200 and "R-0001" in reply_text(answer)


async def test_a_nonce_is_forgotten_once_its_timestamp_is_stale(rig: Rig) -> None:
    _, url = await rig.channel()
    start = created(rig)

    async def say(text: str, msg_id: int, nonce: str, timestamp: int) -> int:
        xml = text_xml(OPENID, text, msg_id, timestamp)
        status, _ = await rig.post(url, xml, plain_request(xml, nonce=nonce))
        return status

    statuses = [
        await say("你好", 6100000000000000026, "77", start - 60),  # signed a minute ago
        await say("你好", 6100000000000000027, "76", start),
    ]
    # 4½ minutes on, the first is stale: WeChat drawing its nonce again is no replay.
    rig.desk.clock.advance(seconds=270)
    statuses.append(await say("谢谢", 6100000000000000028, "77", start + 270))
    assert await CallbackNonce.all().order_by("nonce").values_list("nonce", "timestamp") == [
        ("76", start),
        ("77", start + 270),
    ]
    # A minute later the records no fresh callback can carry are pruned.
    rig.desk.clock.advance(seconds=60)
    statuses.append(await say("好的", 6100000000000000029, "78", start + 330))

    assert statuses == [200] * 4
    assert await CallbackNonce.all().order_by("nonce").values_list("nonce", "timestamp") == [
        ("77", start + 270),
        ("78", start + 330),
    ]


# Following and unfollowing -----------------------------------------------------------------


async def test_subscribe_and_menu_clicks_are_each_welcomed_once(rig: Rig) -> None:
    _, url = await rig.channel()
    now = created(rig)
    subscribe = event_xml(OPENID, "subscribe", now)
    # In the same second: a click on the menu, and a click on another of its buttons.
    click = event_xml(OPENID, "CLICK", now, extra="<EventKey><![CDATA[HELP]]></EventKey>")
    other = event_xml(OPENID, "CLICK", now, extra="<EventKey><![CDATA[FEES]]></EventKey>")
    subscribe_query, click_query = plain_request(subscribe), plain_request(click)

    followed = await rig.post(url, subscribe, subscribe_query)
    clicked = await rig.post(url, click, click_query)
    clicked_other = await rig.post(url, other, plain_request(other))
    # WeChat's own retries (the same nonce, timestamp and body): answered, not welcomed again.
    rig.desk.clock.advance(seconds=5)
    retries = [
        await rig.post(url, subscribe, subscribe_query),
        await rig.post(url, click, click_query),
    ]

    welcome = rig.desk.services.catalogues.text("zh", "wechat.welcome")
    for status, answer in (followed, clicked, clicked_other):
        assert status == 200 and reply_text(answer) == welcome
    assert retries == [(200, "success")] * 2
    assert await SeenMessage.filter(chat_id=OPENID).count() == 3
    assert await Ticket.all().count() == 0


async def test_unsubscribe_stops_notices_and_subscribing_again_resumes_them(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    _, url = await rig.channel(templates={"bill": Template.parse("TPL-BILL")})
    clock = rig.desk.clock
    wang = rig.desk.owners["wang"]
    await ChatIdentity.create(platform=Platform.WECHAT, user_id=WANG, owner_id=wang.id)
    await Bill.create(
        unit=rig.desk.units["5-1-1202"],
        period="2026-11",
        item=BillItem.PROPERTY_FEE,
        amount_cents=35680,
        due_date=date(2026, 12, 15),
    )
    notifier = Notifier(hub=rig.desk.services.hub, clock=clock, sleep=rig.sleep)
    caplog.set_level(logging.INFO)

    unsubscribe = event_xml(WANG, "unsubscribe", created(rig))
    query = plain_request(unsubscribe)
    answer = await rig.post(url, unsubscribe, query)
    unfollowed_at = clock.now()
    clock.advance(seconds=5)
    retry = await rig.post(url, unsubscribe, query)  # WeChat's retry: changes nothing
    identity = await ChatIdentity.get(platform=Platform.WECHAT, user_id=WANG)

    assert answer == retry == (200, "success")
    assert identity.unreachable_at == unfollowed_at
    # The month's bill notice is not sent: it ends at once, failed for that reason, untried.
    assert await push_bills(clock.now(), rig.desk.services, notifier) == 0
    row = await Delivery.get()
    assert row.status is DeliveryStatus.FAILED and row.last_error == UNREACHABLE
    assert row.attempts == 1 and row.next_attempt_at is None
    assert rig.api.calls == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    # 王芳 follows again: welcomed, reachable, and the next notice goes out.
    clock.advance(minutes=1)
    subscribe = event_xml(WANG, "subscribe", created(rig))
    status, welcome = await rig.post(url, subscribe, plain_request(subscribe))
    assert status == 200 and reply_text(welcome) == rig.desk.services.catalogues.text(
        "zh", "wechat.welcome"
    )
    assert (await ChatIdentity.get(user_id=WANG)).unreachable_at is None
    notice = Notice("bill:again", "bill", Audience.PRIVATE, Platform.WECHAT, WANG, "您的账单")
    assert await notifier.notify([notice]) == 1
    [sent] = rig.api.to("message/custom/send")  # inside the window her follow opened
    assert sent.body["touser"] == WANG


async def test_43004_marks_the_owner_unreachable_and_is_logged_at_info(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    channel, _ = await rig.channel()
    await ChatIdentity.create(platform=Platform.WECHAT, user_id=OPENID)
    caplog.set_level(logging.INFO, logger="guanjia")
    # The 48-hour window has passed (and no template is set): refused, expected, reachable.
    rig.api.script("message/custom/send", {"errcode": 45015, "errmsg": "response out of time"})
    with pytest.raises(SendError, match="window"):
        await channel.send(text_to(channel, "您的报修已完成"))
    assert (await ChatIdentity.get(user_id=OPENID)).unreachable_at is None
    # The owner unfollowed: refused, expected, and the account is marked unreachable.
    rig.api.script("message/custom/send", {"errcode": 43004, "errmsg": "require subscribe"})
    with pytest.raises(SendError) as raised:
        await channel.send(text_to(channel, "您的报修已完成"))

    assert raised.value.answered and raised.value.retry_after is None
    assert (await ChatIdentity.get(user_id=OPENID)).unreachable_at == rig.desk.clock.now()
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert [r.getMessage()[-7:] for r in refused] == ["(45015)", "(43004)"]
    assert {r.levelno for r in refused} == {logging.INFO}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    # Notices to the owner stop without asking WeChat again.
    notifier = Notifier(hub=rig.desk.services.hub, clock=rig.desk.clock, sleep=rig.sleep)
    notice = Notice("bill:x", "bill", Audience.PRIVATE, Platform.WECHAT, OPENID, "您的账单")
    assert await notifier.notify([notice]) == 0
    assert (await Delivery.get()).last_error == UNREACHABLE
    assert len(rig.api.to("message/custom/send")) == 2


async def test_buttons_go_as_a_menu_message_and_a_tap_comes_back_as_a_press(rig: Rig) -> None:
    channel, url = await rig.channel()
    chat = channel.private_chat(OPENID)
    buttons = ((Button("满意", "menu:5"), Button("不满意", "menu:2")),)

    await channel.send(OutgoingMessage(chat=chat, text="请评价", buttons=buttons))

    [sent] = rig.api.to("message/custom/send")
    assert sent.body["msgtype"] == "msgmenu"
    assert sent.body["msgmenu"]["list"] == [
        {"id": "menu:5", "content": "满意"},
        {"id": "menu:2", "content": "不满意"},
    ]
    # The owner taps "满意": WeChat posts it as a text carrying the item's id.
    tap = text_xml(
        OPENID,
        "满意",
        6100000000000000007,
        created(rig),
        extra="<bizmsgmenuid>menu:5</bizmsgmenuid>",
    )
    status, answer = await rig.post(url, tap, plain_request(tap))
    assert status == 200
    # The router took it as a press of an unknown button (no "menu" handler) and said so.
    bad_button = rig.desk.services.catalogues.text("zh", "input.bad_button")
    assert reply_text(answer) == bad_button


# Outbound ----------------------------------------------------------------------------------


def text_to(channel: WeChatChannel, text: str) -> OutgoingMessage:
    return OutgoingMessage(chat=channel.private_chat(OPENID), text=text)


async def test_one_token_serves_many_sends_across_two_processes(rig: Rig) -> None:
    first, _ = await rig.channel()
    second, _ = await rig.channel()

    for n in range(4):
        await first.send(text_to(first, f"a{n}"))
        await second.send(text_to(second, f"b{n}"))

    sends = rig.api.to("message/custom/send")
    assert len(sends) == 8 and rig.api.token_fetches == 1
    assert {call.query["access_token"] for call in sends} == {"ACCESS-1"}
    assert (await ApiToken.get()).token == "ACCESS-1"

    # Two hours on, the token has expired: one process renews it, the other reads it.
    rig.desk.clock.advance(hours=2)
    await first.send(text_to(first, "later"))
    await second.send(text_to(second, "later"))
    assert rig.api.token_fetches == 2
    assert [c.query["access_token"] for c in rig.api.to("message/custom/send")[-2:]] == [
        "ACCESS-2",
        "ACCESS-2",
    ]


async def test_a_refused_token_is_renewed_once_and_the_send_retried(rig: Rig) -> None:
    first, _ = await rig.channel()
    second, _ = await rig.channel()
    await first.send(text_to(first, "one"))
    rig.api.revoke_tokens()  # as when WeChat's token was reset in the admin console

    await second.send(text_to(second, "two"))
    await first.send(text_to(first, "three"))

    # Each process's first try with the revoked token is refused (42001), the retry goes out.
    calls = rig.api.to("message/custom/send")
    assert [(c.body["text"]["content"], c.query["access_token"]) for c in calls] == [
        ("one", "ACCESS-1"),
        ("two", "ACCESS-1"),
        ("two", "ACCESS-2"),
        ("three", "ACCESS-1"),
        ("three", "ACCESS-2"),
    ]
    assert rig.api.token_fetches == 2


async def test_concurrent_processes_fetch_the_token_once(rig: Rig) -> None:
    channels = [(await rig.channel())[0] for _ in range(3)]
    await asyncio.gather(
        *(channel.send(text_to(channel, f"m{i}")) for i, channel in enumerate(channels))
    )
    assert rig.api.token_fetches == 1 and len(rig.api.to("message/custom/send")) == 3


async def test_notice_outside_the_window_goes_as_a_template_message(rig: Rig) -> None:
    templates = {
        "bill": Template.parse("TPL-BILL thing1=unit amount2=amount thing3=text"),
        "notice": Template.parse("TPL-NOTICE"),
    }
    channel, _ = await rig.channel(templates=templates)
    notice = text_to(channel, "您的 2026-11 物业费账单已出，请在 12 月 15 日前缴纳。")

    await channel.send_notice(notice, NoticeMeta("bill", {"unit": "3-2-501", "amount": "¥356.80"}))

    [call] = rig.api.to("message/template/send")
    assert call.body["touser"] == OPENID and call.body["template_id"] == "TPL-BILL"
    assert call.body["data"]["thing1"] == {"value": "3-2-501"}
    assert call.body["data"]["amount2"] == {"value": "¥356.80"}
    # A `thing` value is at most 20 characters on WeChat: the text is cut to fit.
    assert len(call.body["data"]["thing3"]["value"]) == 20
    assert rig.api.to("message/custom/send") == []

    # Inside the 48-hour window (the owner just wrote), it is an ordinary message.
    await chats.saw(Platform.WECHAT, OPENID, rig.desk.clock.now())
    await channel.send_notice(notice, NoticeMeta("bill", {"unit": "3-2-501", "amount": "¥356.80"}))
    assert len(rig.api.to("message/custom/send")) == 1
    # WeChat says the window closed after all (45015): the notice falls back to the template.
    rig.api.script("message/custom/send", {"errcode": 45015, "errmsg": "response out of time"})
    await channel.send_notice(notice, NoticeMeta("warranty"))
    assert [c.body["template_id"] for c in rig.api.to("message/template/send")] == [
        "TPL-BILL",
        "TPL-NOTICE",
    ]


async def test_a_notice_kind_without_a_template_is_refused_clearly(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    channel, _ = await rig.channel()
    with pytest.raises(SendError, match="no WeChat template"):
        await channel.send_notice(text_to(channel, "保修到期提醒"), NoticeMeta("warranty"))
    assert "WECHAT_TEMPLATE_WARRANTY" in caplog.text.upper()
    assert rig.api.calls == []


@pytest.mark.parametrize(
    ("answers", "delivered", "retry_after", "tries"),
    [
        ([{"errcode": -1, "errmsg": "system busy"}], True, None, 2),
        ([{"errcode": -1, "errmsg": "system busy"}] * 2, False, 5, 2),
        ([{"errcode": 45009, "errmsg": "reach max api daily quota limit"}], False, 60, 1),
        ([{"errcode": 40003, "errmsg": "invalid openid"}], False, None, 1),
    ],
)
async def test_api_error_codes_are_retried_or_logged(
    rig: Rig,
    caplog: pytest.LogCaptureFixture,
    answers: list[dict[str, object]],
    delivered: bool,
    retry_after: float | None,
    tries: int,
) -> None:
    channel, _ = await rig.channel()
    rig.api.script("message/custom/send", *answers)
    caplog.set_level(logging.INFO, logger="guanjia.wechat")

    if delivered:
        await channel.send(text_to(channel, "hello"))
        assert rig.sleeps == [1.0]  # one pause before the second try, on the injected clock
    else:
        with pytest.raises(SendError) as raised:
            await channel.send(text_to(channel, "hello"))
        assert raised.value.retry_after == retry_after and raised.value.answered
        assert str(answers[-1]["errcode"]) in caplog.text

    assert len(rig.api.to("message/custom/send")) == tries


async def test_a_group_chat_is_refused(rig: Rig) -> None:
    channel, _ = await rig.channel()
    with pytest.raises(SendError):
        await channel.send(OutgoingMessage(ChatRef(Platform.WECHAT, "g", is_group=True), "x"))
    assert rig.api.calls == []


async def test_token_store_waits_for_another_process_refreshing(rig: Rig) -> None:
    fetched = asyncio.Event()
    proceed = asyncio.Event()

    async def slow_fetch() -> tuple[str, int]:
        fetched.set()
        await proceed.wait()
        return "SHARED", 7200

    async def never() -> tuple[str, int]:
        raise AssertionError("the second process must not fetch")

    clock = rig.desk.clock
    first = StoreTokens("wechat:test", slow_fetch, clock, sleep=rig.sleep)

    async def poll(seconds: float) -> None:
        # The second process polls while the first holds the lease; let the first finish.
        proceed.set()
        await asyncio.sleep(0)

    second = StoreTokens("wechat:test", never, clock, sleep=poll)
    one = asyncio.create_task(first.get())
    await fetched.wait()
    two = asyncio.create_task(second.get())
    assert await asyncio.gather(one, two) == ["SHARED", "SHARED"]
    assert first.fetches == 1 and second.fetches == 0
    assert clock.now() - (await ApiToken.get(name="wechat:test")).expires_at < timedelta(0)


def test_guanjia_run_starts_the_wechat_channels_when_their_settings_are_present(
    tmp_path: Path,
) -> None:
    port = free_port()
    process = start(
        tmp_path,
        HTTP_PORT=str(port),
        WECHAT_APP_ID=APP_ID,
        WECHAT_APP_SECRET=APP_SECRET,
        WECHAT_TOKEN=TOKEN,
        WECHAT_API_BASE_URL="http://127.0.0.1:9/cgi-bin/",
        WECOM_ROBOTS="sunshine/owners=robot-key",
    )
    try:
        log = read_until(process, "Guanjia is running")
        assert "WeChat Official Account at /wechat/callback, plain mode" in log
        assert "1 robot group(s)" in log and "wechat" in log and "wecom" in log
        query = plain_query()  # the real clock's time, as the process runs on it
        query["echostr"] = "hello-wechat"
        url = f"http://127.0.0.1:{port}/wechat/callback?{urlencode(query)}"
        with urlopen(url, timeout=10) as response:
            assert response.read() == b"hello-wechat"
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=60)
    assert process.returncode == 0 and "Traceback" not in rest
