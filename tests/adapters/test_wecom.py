"""WeCom: the app's encrypted callbacks (built with wechatpy's own crypto, as WeCom's server does)
posted to the running aiohttp routes on loopback, ticket cards and their button presses, app
group chats, and the owner groups' robots at their rate limit, against a fake WeCom API."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
import xmltodict
from aiohttp import web
from aiohttp.test_utils import TestServer
from wechatpy.enterprise import parse_message
from wechatpy.enterprise.crypto import WeChatCrypto

from bot.adapters.wecom import WeComChannel, WeComConfig
from bot.core.channel import SendError, sends_local
from bot.core.types import Attachment, Button, ChatRef, OutgoingMessage, Platform
from models import (
    CallbackNonce,
    Chat,
    ChatIdentity,
    ChatKind,
    InboundMessage,
    OutboxMessage,
    SeenMessage,
    Ticket,
    TicketStatus,
)
from tests.adapters.wx_fake import (
    AES_KEY,
    AGENT_ID,
    CORP_ID,
    CORP_SECRET,
    TOKEN,
    FakeWeChatApi,
    api_base,
    event_xml,
    serve,
    signature,
    text_xml,
    wecom_request,
)
from tests.desk import OWNERS, Desk, bind
from tests.staffdesk import payloads

STAFF_CHAT = "wrStaffChat01"
ROBOT_CHAT = "demo/owners-1"
ROBOT_KEY = "robot-key-1"
REPAIR = "3栋2单元501 厨房水管漏水了"


@dataclass
class Rig:
    """A desk, the fake WeCom API and a WeCom channel served on loopback."""

    desk: Desk
    api: FakeWeChatApi
    channel: WeComChannel
    url: str
    http: aiohttp.ClientSession
    servers: list[TestServer] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    async def post(self, xml: str, **tamper: str) -> tuple[int, str]:
        """POST an encrypted callback carrying `xml`; `tamper` overrides query values."""
        query, body = wecom_request(xml)
        query.update(tamper)
        return await self.send(query, body)

    async def send(
        self, query: dict[str, str], body: str, url: str | None = None
    ) -> tuple[int, str]:
        """POST a callback as built (to this channel, or to `url`)."""
        async with self.http.post(url or self.url, params=query, data=body) as response:
            return response.status, await response.text()

    def created(self) -> int:
        return int(self.desk.clock.now().timestamp())


def decrypt(answer: str) -> str:
    """The plain XML of an encrypted passive reply."""
    envelope = xmltodict.parse(answer)["xml"]
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    return crypto.decrypt_message(
        answer, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
    )


@pytest.fixture
async def rig(desk: Desk) -> AsyncIterator[Rig]:
    api = FakeWeChatApi(clock=desk.clock)
    api.members[STAFF_CHAT] = ["zhanggong", "chenzhuguan"]
    api_server = await serve(api.app())
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        desk.clock.advance(seconds=seconds)
        await asyncio.sleep(0)

    config = WeComConfig(
        corp_id=CORP_ID,
        agent_id=AGENT_ID,
        secret=CORP_SECRET,
        token=TOKEN,
        aes_key=AES_KEY,
        api_base_url=api_base(api_server),
        reply_wait=5.0,
        staff_chats={"demo": STAFF_CHAT},
        robots={ROBOT_CHAT: ROBOT_KEY},
    )
    channel = WeComChannel(config, desk.router, desk.services, sleep=sleep)
    desk.services.hub.add(channel)
    await channel.start()
    app = web.Application()
    app.add_routes(channel.routes())
    server = await serve(app)
    http = aiohttp.ClientSession()
    url = f"http://127.0.0.1:{server.port}{config.callback_path}"
    rig = Rig(desk, api, channel, url, http, [api_server, server], sleeps)
    try:
        yield rig
    finally:
        await channel.stop()
        await http.close()
        for each in rig.servers:
            await each.close()


async def test_start_registers_the_staff_chat_and_robot_groups(rig: Rig) -> None:
    staff = await Chat.get(platform=Platform.WECOM, chat_id=STAFF_CHAT)
    owners = await Chat.get(platform=Platform.WECOM, chat_id=ROBOT_CHAT)
    assert staff.kind is ChatKind.STAFF and staff.estate_id == rig.desk.estate.id
    assert owners.kind is ChatKind.OWNERS and owners.estate_id == rig.desk.estate.id
    await rig.channel.start()  # again: nothing doubles
    assert await Chat.filter(platform=Platform.WECOM).count() == 2


def url_check(echo: str, timestamp: int, nonce: str = "n") -> dict[str, str]:
    """The query of WeCom's URL check, whose echostr is `echo` encrypted."""
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    envelope = xmltodict.parse(crypto.encrypt_message(echo, nonce, str(timestamp)))["xml"]
    echostr = envelope["Encrypt"]
    return {
        "msg_signature": signature(TOKEN, str(timestamp), nonce, echostr),
        "timestamp": str(timestamp),
        "nonce": nonce,
        "echostr": echostr,
    }


async def test_url_verification_decrypts_echostr_only_when_signed(rig: Rig) -> None:
    query = url_check("echo-1234", rig.created())
    async with rig.http.get(rig.url, params=query) as response:
        assert response.status == 200 and await response.text() == "echo-1234"
    query["msg_signature"] = signature("guessed", query["timestamp"], "n", query["echostr"])
    async with rig.http.get(rig.url, params=query) as response:
        assert response.status == 403


async def test_a_repair_sent_to_the_app_is_answered_passively(rig: Rig) -> None:
    xml = text_xml("lihua", REPAIR, 7100000000000000001, rig.created(), to=CORP_ID)

    status, answer = await rig.post(xml)

    assert status == 200
    reply = parse_message(decrypt(answer))
    assert reply.target == "lihua" and "R-0001" in reply.content
    ticket = await Ticket.get()
    assert ticket.source_chat_id == "lihua"
    assert rig.api.to("message/send") != []  # the ticket's card went to the staff chat


async def card_for_new_ticket(rig: Rig) -> tuple[Ticket, dict[str, object]]:
    """Open a ticket from the web chat's owner group; its card reaches the WeCom staff chat."""
    await rig.desk.say(REPAIR)
    ticket = await Ticket.get()
    [call] = rig.api.to("message/send")
    assert call.body["msgtype"] == "template_card"
    return ticket, call.body


async def test_ticket_card_goes_to_the_staff_chat_members_as_a_template_card(rig: Rig) -> None:
    ticket, body = await card_for_new_ticket(rig)

    assert body["touser"] == "zhanggong|chenzhuguan" and body["agentid"] == AGENT_ID
    card = body["template_card"]
    assert card["card_type"] == "button_interaction"
    assert card["task_id"].startswith(f"g-{STAFF_CHAT}-")
    assert "R-0001" in card["main_title"]["title"] + card.get("sub_title_text", "")
    keys = [button["key"] for button in card["button_list"]]
    assert keys == [f"claim:{ticket.id}", f"transfer:{ticket.id}"]
    assert len(rig.api.to("appchat/get")) == 1


async def test_a_template_card_press_claims_the_ticket(rig: Rig) -> None:
    await ChatIdentity.create(
        platform=Platform.WECOM, user_id="zhanggong", staff_id=rig.desk.staff["zhang"].id
    )
    ticket, body = await card_for_new_ticket(rig)
    task_id = body["template_card"]["task_id"]  # type: ignore[index]
    press = event_xml(
        "zhanggong",
        "template_card_event",
        rig.created(),
        to=CORP_ID,
        extra=(
            f"<EventKey><![CDATA[claim:{ticket.id}]]></EventKey>"
            f"<TaskId><![CDATA[{task_id}]]></TaskId>"
            "<CardType><![CDATA[button_interaction]]></CardType>"
            "<ResponseCode><![CDATA[PRESS-CODE-1]]></ResponseCode>"
            f"<AgentID>{AGENT_ID}</AgentID>"
        ),
    )

    status, answer = await rig.post(press)
    await rig.channel.drain()
    retry = await rig.post(press)
    await rig.channel.drain()

    assert (status, answer) == (200, "")
    assert retry == (200, "")
    ticket = await Ticket.get()
    assert ticket.status is TicketStatus.CLAIMED
    assert ticket.claimed_by_id == rig.desk.staff["zhang"].id
    # The card was updated in place with the press's one-time response code.
    [update] = rig.api.to("message/update_template_card")
    assert update.body["response_code"] == "PRESS-CODE-1"
    assert update.body["template_card"]["task_id"] == task_id
    assert f"claim:{ticket.id}" not in str(update.body["template_card"]["button_list"])


def card_press(rig: Rig, userid: str, key: str, task_id: str, code: str) -> str:
    """A press on a template card's button, as WeCom calls back."""
    return event_xml(
        userid,
        "template_card_event",
        rig.created(),
        to=CORP_ID,
        extra=(
            f"<EventKey><![CDATA[{key}]]></EventKey>"
            f"<TaskId><![CDATA[{task_id}]]></TaskId>"
            "<CardType><![CDATA[button_interaction]]></CardType>"
            f"<ResponseCode><![CDATA[{code}]]></ResponseCode>"
            f"<AgentID>{AGENT_ID}</AgentID>"
        ),
    )


async def test_close_on_the_staff_chats_card_asks_privately_and_the_private_reply_closes(
    rig: Rig,
) -> None:
    # Members' messages in an app group chat never reach the app: the result must come privately.
    await ChatIdentity.create(
        platform=Platform.WECOM, user_id="zhanggong", staff_id=rig.desk.staff["zhang"].id
    )
    await bind("u-li", rig.desk.owners["li"])
    ticket, body = await card_for_new_ticket(rig)
    task_id = str(body["template_card"]["task_id"])  # type: ignore[index]
    await rig.post(card_press(rig, "zhanggong", f"claim:{ticket.id}", task_id, "CODE-1"))
    await rig.channel.drain()
    rig.api.calls.clear()
    rig.desk.channel.clear()

    status, answer = await rig.post(
        card_press(rig, "zhanggong", f"close:{ticket.id}", task_id, "CODE-2")
    )
    await rig.channel.drain()

    assert (status, answer) == (200, "")
    [prompt] = rig.api.to("message/send")
    assert prompt.body["touser"] == "zhanggong" and prompt.body["msgtype"] == "text"
    assert prompt.body["text"]["content"].startswith("请直接回复工单 R-0001 的处理结果")
    assert rig.api.to("appchat/send") == []  # nothing asked where no answer can come from

    # The staff member's private messages are the desk's: a command, then the result.
    status, answer = await rig.post(
        text_xml("zhanggong", "队列", 7100000000000000011, rig.created(), to=CORP_ID)
    )
    assert parse_message(decrypt(answer)).content.startswith("待处理工单 1 张：\nR-0001")
    status, answer = await rig.post(
        text_xml(
            "zhanggong", "已更换热水器，测试正常", 7100000000000000012, rig.created(), to=CORP_ID
        )
    )
    await rig.channel.drain()

    assert status == 200
    assert parse_message(decrypt(answer)).content == "工单 R-0001 已办结，已请业主评价。"
    resolved = await Ticket.get(id=ticket.id)
    assert resolved.status is TicketStatus.RESOLVED
    assert resolved.result == "已更换热水器，测试正常"
    assert await Ticket.all().count() == 1  # the result opened no ticket
    # The owner is asked to rate it, where they reported (the web chat's owner group).
    [asked] = [m for m in rig.desk.channel.to(OWNERS.chat_id) if payloads(m)]
    assert asked.text.startswith("您的工单 R-0001 已处理完毕：已更换热水器，测试正常")
    assert payloads(asked)[0] == f"rate:{ticket.id}:5"
    # The staff chat's card, updated in place with the close press's response code.
    [update] = rig.api.to("message/update_template_card")
    assert update.body["response_code"] == "CODE-2"


async def test_staff_chatter_to_the_app_opens_no_ticket(rig: Rig) -> None:
    await ChatIdentity.create(
        platform=Platform.WECOM, user_id="zhanggong", staff_id=rig.desk.staff["zhang"].id
    )

    status, answer = await rig.post(
        text_xml(
            "zhanggong", "已更换热水器，测试正常", 7100000000000000021, rig.created(), to=CORP_ID
        )
    )

    assert status == 200
    assert parse_message(decrypt(answer)).content.startswith("这里是您的员工工作台")
    assert await Ticket.all().count() == 0


async def test_text_to_the_staff_chat_goes_to_the_app_group_chat(rig: Rig) -> None:
    chat = ChatRef(Platform.WECOM, STAFF_CHAT, is_group=True)
    await rig.channel.send(OutgoingMessage(chat=chat, text="今晚 22:00 停水检修"))
    [call] = rig.api.to("appchat/send")
    assert call.body == {
        "chatid": STAFF_CHAT,
        "safe": 0,
        "msgtype": "text",
        "text": {"content": "今晚 22:00 停水检修"},
    }


async def nothing_written() -> None:
    assert await Ticket.all().count() == 0
    assert await SeenMessage.all().count() == 0
    assert await ChatIdentity.all().count() == 0


@pytest.mark.parametrize("case", ["forged signature", "bad AES payload"])
async def test_bad_callbacks_are_refused_and_change_nothing(rig: Rig, case: str) -> None:
    xml = text_xml("lihua", REPAIR, 7100000000000000002, rig.created(), to=CORP_ID)
    query, body = wecom_request(xml)
    expected = 400
    if case == "forged signature":
        query["msg_signature"] = signature("guessed", query["timestamp"], query["nonce"], "x")
        expected = 403
    elif case == "bad AES payload":
        garbage = "QUJDREVGR0hJSktMTU5PUA=="
        query["msg_signature"] = signature(TOKEN, query["timestamp"], query["nonce"], garbage)
        body = f"<xml><Encrypt><![CDATA[{garbage}]]></Encrypt></xml>"

    async with rig.http.post(rig.url, params=query, data=body) as response:
        assert response.status == expected
    await rig.channel.drain()
    await nothing_written()
    assert rig.api.calls == []
    status, answer = await rig.post(xml)
    assert status == 200 and "R-0001" in parse_message(decrypt(answer)).content


# Replays ----------------------------------------------------------------------------------


async def stored() -> dict[str, list[dict[str, object]]]:
    """Every row a callback could write, to show a refused one wrote nothing."""
    models = (Ticket, SeenMessage, InboundMessage, OutboxMessage, ChatIdentity, CallbackNonce)
    return {model.__name__: await model.all().order_by("id").values() for model in models}


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and "refused a WeCom callback" in record.getMessage()
    ]


async def test_a_nonce_reused_with_other_contents_is_refused(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    # What a WeCom callback carried is its signature and encrypted body: another body under the
    # same nonce is a replay (the pipeline's guard, across processes: test_wxcommon.py).
    stamp = rig.created()
    query, body = wecom_request(text_xml("lihua", REPAIR, 7100000000000000011, stamp, to=CORP_ID))
    status, _ = await rig.send(query, body)
    assert status == 200
    await rig.channel.drain()
    before = await stored()
    rig.desk.clock.advance(seconds=20)
    other = text_xml("wangfang", "5栋1单元1202 电梯坏了", 7100000000000000012, stamp, to=CORP_ID)

    status, _ = await rig.send(*wecom_request(other, nonce=query["nonce"], timestamp=stamp))
    await rig.channel.drain()

    assert status == 403
    assert await stored() == before
    [refused] = refusals(caplog)
    assert "nonce seen with other contents" in refused


async def test_wecoms_retry_of_a_callback_is_answered_empty_and_handled_once(rig: Rig) -> None:
    query, body = wecom_request(
        text_xml("lihua", REPAIR, 7100000000000000013, rig.created(), to=CORP_ID)
    )

    status, answer = await rig.send(query, body)
    await rig.channel.drain()
    # The same callback again (nonce, timestamp, signature, body): WeCom's empty answer.
    rig.desk.clock.advance(seconds=5)
    retry = await rig.send(query, body)
    await rig.channel.drain()

    assert status == 200 and "R-0001" in parse_message(decrypt(answer)).content
    assert retry == (200, "")
    assert await Ticket.all().count() == 1
    assert await CallbackNonce.filter(nonce=query["nonce"]).count() == 1


# Following and unfollowing -----------------------------------------------------------------


async def test_follow_and_click_in_one_second_are_welcomed_and_unfollow_stops_notices(
    rig: Rig,
) -> None:
    await ChatIdentity.create(platform=Platform.WECOM, user_id="lihua")
    welcome = rig.desk.services.catalogues.text("zh", "wechat.welcome")
    now = rig.created()
    subscribe = event_xml("lihua", "subscribe", now, to=CORP_ID)
    click = event_xml("lihua", "click", now, to=CORP_ID, extra="<EventKey>HELP</EventKey>")
    click_query, click_body = wecom_request(click)

    followed = await rig.post(subscribe)
    clicked = await rig.send(click_query, click_body)
    retried = await rig.send(click_query, click_body)  # WeCom's retry of the click

    for status, answer in (followed, clicked):
        assert status == 200 and parse_message(decrypt(answer)).content == welcome
    assert retried == (200, "")
    assert (await ChatIdentity.get(user_id="lihua")).unreachable_at is None

    rig.desk.clock.advance(minutes=1)
    assert await rig.post(event_xml("lihua", "unsubscribe", rig.created(), to=CORP_ID)) == (
        200,
        "",
    )
    assert (await ChatIdentity.get(user_id="lihua")).unreachable_at == rig.desk.clock.now()
    rig.desk.clock.advance(minutes=1)
    await rig.post(event_xml("lihua", "subscribe", rig.created(), to=CORP_ID))
    assert (await ChatIdentity.get(user_id="lihua")).unreachable_at is None


async def test_robot_messages_are_paced_to_twenty_a_minute(rig: Rig) -> None:
    chat = ChatRef(Platform.WECOM, ROBOT_CHAT, is_group=True)
    start = rig.desk.clock.now()

    for n in range(25):
        await rig.channel.send(OutgoingMessage(chat=chat, text=f"中秋节快乐 {n}"))

    calls = rig.api.to("webhook/send")
    assert len(calls) == 25 and {c.query["key"] for c in calls} == {ROBOT_KEY}
    assert calls[0].body == {"msgtype": "text", "text": {"content": "中秋节快乐 0"}}
    times = [c.at for c in calls]
    assert times[0] == start
    # Evenly spaced, 3 seconds apart: never more than 20 in any minute.
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(times)}
    assert gaps == {3.0}
    for index, at in enumerate(times):
        assert sum(1 for t in times[index:] if t - at < timedelta(minutes=1)) <= 20
    assert rig.sleeps == [3.0] * 24


async def test_robot_over_its_limit_is_held_for_a_minute(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    chat = ChatRef(Platform.WECOM, ROBOT_CHAT, is_group=True)
    rig.api.script("webhook/send", {"errcode": 45009, "errmsg": "api freq out of limit"})
    caplog.set_level(logging.WARNING, logger="guanjia.wechat")

    with pytest.raises(SendError) as raised:
        await rig.channel.send(OutgoingMessage(chat=chat, text="通知"))
    assert raised.value.retry_after == 60 and raised.value.answered
    assert "45009" in caplog.text

    await rig.channel.send(OutgoingMessage(chat=chat, text="通知"))
    assert rig.sleeps == [60.0] and len(rig.api.to("webhook/send")) == 2


async def test_private_message_with_buttons_is_a_card_and_without_is_text(rig: Rig) -> None:
    chat = rig.channel.private_chat("lihua")
    await rig.channel.send(OutgoingMessage(chat=chat, text="您好"))
    sent = await rig.channel.send(
        OutgoingMessage(chat=chat, text="请评价 R-0001", buttons=((Button("满意", "rate:1:4"),),))
    )
    text, card = rig.api.to("message/send")
    assert text.body["touser"] == "lihua" and text.body["text"] == {"content": "您好"}
    assert card.body["template_card"]["button_list"][0]["key"] == "rate:1:4"
    assert sent.message_id.startswith("p-")


async def test_a_report_chart_and_workbook_are_uploaded_to_the_staff_chat(
    rig: Rig, tmp_path: Path
) -> None:
    chart = tmp_path / "chart.png"
    chart.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    workbook = tmp_path / "report.xlsx"
    workbook.write_bytes(b"PK" + b"0" * 200)
    chat = ChatRef(Platform.WECOM, STAFF_CHAT, is_group=True)

    await rig.channel.send(
        OutgoingMessage(
            chat=chat,
            text="2026-11 报修统计",
            photos=(Attachment("photo", str(chart)), Attachment("photo", "AgACAgIAAxk-telegram")),
            attachments=(Attachment("file", str(workbook)),),
        )
    )

    uploads = rig.api.to("media/upload")
    assert [(u.query["type"], u.body["filename"], u.body["size"]) for u in uploads] == [
        ("image", "chart.png", 108),
        ("file", "report.xlsx", 202),
    ]
    sends = rig.api.to("appchat/send")
    assert [s.body["msgtype"] for s in sends] == ["text", "image", "file"]
    assert sends[1].body["image"] == {"media_id": "MEDIA-1"}
    assert sends[2].body["file"] == {"media_id": "MEDIA-2"}


def test_the_app_says_it_sends_files_and_a_robot_that_it_does_not(rig: Rig) -> None:
    # What `报表` reads to attach the chart and workbook or say where to get them.
    app_group = ChatRef(Platform.WECOM, STAFF_CHAT, is_group=True)
    person = ChatRef(Platform.WECOM, "lihua", is_group=False)
    robot = ChatRef(Platform.WECOM, ROBOT_CHAT, is_group=True)
    for kind in ("photo", "file"):
        assert sends_local(rig.channel, app_group, kind) and sends_local(rig.channel, person, kind)
        assert not sends_local(rig.channel, robot, kind)
