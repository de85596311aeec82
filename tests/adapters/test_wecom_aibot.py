"""The WeCom AI bot channel through its real client code: the long connection against a fake of
WeCom's AI bot service on loopback (subscribe, heartbeat, reconnect, replies, card presses and
their updates, pushes), and callback mode's encrypted JSON posted to the running routes.

Time is injected: the channel's sleeps (heartbeat, backoff, a press's deadline) wait until the
test wakes them, so a test says which came first by what it woke, never by the wall clock.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.adapters.wecom import WeComChannel, WeComConfig
from bot.adapters.wecom_aibot import AIBotConfig, WeComAIBotChannel
from bot.core.codes import issue_code
from bot.core.desk import escalate_overdue
from bot.core.types import ChatRef, Mention, OutgoingMessage, Platform
from models import (
    Chat,
    ChatIdentity,
    ChatKind,
    CodePurpose,
    SeenMessage,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from tests.adapters.wecom_aibot_fake import (
    AES_KEY,
    BOT_ID,
    BOT_SECRET,
    TOKEN,
    WAIT,
    FakeAIBot,
    callback_request,
    open_answer,
    press_body,
    text_body,
)
from tests.adapters.wx_fake import FakeWeChatApi, api_base, serve
from tests.desk import Desk, unsure_request

GROUP = "wrAIStaffGroup01"
REPAIR = "3栋2单元501 厨房水管漏水了"
HEARTBEAT = 30.0
CARD_WAIT = 3.0


@dataclass
class ManualSleep:
    """An injected sleep that returns only when the test wakes it."""

    waiting: list[tuple[float, asyncio.Future[None]]] = field(default_factory=list)
    woken: list[float] = field(default_factory=list)
    # Lengths of sleep that end at once (a deadline the test lets pass straight away).
    instant: set[float] = field(default_factory=set)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def sleep(self, seconds: float) -> None:
        if seconds in self.instant:
            self.woken.append(seconds)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (seconds, future)
        self.waiting.append(entry)
        async with self.changed:
            self.changed.notify_all()
        try:
            await future
        finally:
            self.waiting.remove(entry)

    def pending(self) -> list[float]:
        """The lengths of the sleeps now waiting, in the order they began."""
        return [seconds for seconds, future in self.waiting if not future.done()]

    async def until_pending(self, seconds: float) -> None:
        """Wait until a sleep of `seconds` is waiting."""
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: seconds in self.pending()), WAIT)

    async def wake(self, seconds: float) -> None:
        """End the first waiting sleep of `seconds` (it must be waiting)."""
        await self.until_pending(seconds)
        for length, future in self.waiting:
            if length == seconds and not future.done():
                future.set_result(None)
                self.woken.append(seconds)
                return


@dataclass
class Rig:
    desk: Desk
    fake: FakeAIBot
    channel: WeComAIBotChannel
    sleeps: ManualSleep
    servers: list[TestServer]


def config(port: int, **changes: object) -> AIBotConfig:
    values: dict[str, object] = {
        "bot_id": BOT_ID,
        "secret": BOT_SECRET,
        "ws_url": f"ws://127.0.0.1:{port}/",
        "heartbeat": HEARTBEAT,
        "card_wait": CARD_WAIT,
    }
    values.update(changes)
    return AIBotConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
async def rig(desk: Desk) -> AsyncIterator[Rig]:
    fake = FakeAIBot()
    server = await serve(fake.app())
    sleeps = ManualSleep()
    channel = WeComAIBotChannel(
        config(server.port), desk.router, desk.services, sleep=sleeps.sleep
    )
    desk.services.hub.add(channel)
    # The group is the estate's staff chat (`@bot /register CODE` makes it so in the product).
    await Chat.create(
        platform=Platform.WECOM_AIBOT, chat_id=GROUP, kind=ChatKind.STAFF, estate=desk.estate
    )
    await ChatIdentity.create(
        platform=Platform.WECOM_AIBOT, user_id="zhanggong", staff_id=desk.staff["zhang"].id
    )
    await channel.start()
    rig = Rig(desk, fake, channel, sleeps, [server])
    await fake.until(lambda: fake.subscribes == 1)
    assert channel.connection is not None
    await asyncio.wait_for(channel.connection.subscribed.wait(), WAIT)
    try:
        yield rig
    finally:
        await channel.stop()
        for each in rig.servers:
            await each.close()


def answers_to(req_id: str, cmd: str):
    return lambda frame: frame.get("cmd") == cmd and frame["headers"]["req_id"] == req_id


async def card_in_group(rig: Rig) -> tuple[Ticket, dict]:
    """An owner reports a repair in the web chat; its card is pushed to the AI bot group."""
    await rig.desk.say(REPAIR)
    ticket = await Ticket.get()
    frame = await rig.fake.wait_for(
        lambda f: f.get("cmd") == "aibot_send_msg" and f["body"]["msgtype"] == "template_card"
    )
    return ticket, frame["body"]


# The connection ----------------------------------------------------------------------------


async def test_subscribes_pings_and_reconnects_after_the_socket_drops(rig: Rig) -> None:
    fake, sleeps = rig.fake, rig.sleeps
    first = fake.received[0]
    assert first["cmd"] == "aibot_subscribe"
    assert first["body"] == {"bot_id": BOT_ID, "secret": BOT_SECRET}

    await sleeps.wake(HEARTBEAT)
    ping = await fake.wait_for(lambda f: f.get("cmd") == "ping")
    assert ping["headers"]["req_id"].startswith("ping")

    await fake.drop()
    await sleeps.until_pending(1.0)  # the first reconnect waits a second
    assert fake.connections == 1
    await sleeps.wake(1.0)
    await fake.until(lambda: fake.subscribes == 2)
    assert fake.connections == 2
    assert [f["cmd"] for f in fake.received].count("aibot_subscribe") == 2


async def test_two_unanswered_pings_close_the_connection_and_it_reconnects(rig: Rig) -> None:
    fake, sleeps = rig.fake, rig.sleeps
    fake.answer_pings = False
    for _ in range(2):
        await sleeps.wake(HEARTBEAT)
    await fake.until(lambda: len(fake.sent("ping")) == 2)
    await sleeps.wake(HEARTBEAT)  # the third beat finds two pings unanswered and closes
    await fake.until(lambda: fake.closes == 1)
    await sleeps.wake(1.0)
    await fake.until(lambda: fake.subscribes == 2)  # (until fails the test when it times out)
    assert fake.closes == 1 and fake.connections == 2


async def test_a_refused_subscription_is_retried_with_growing_backoff(desk: Desk) -> None:
    fake = FakeAIBot()
    server = await serve(fake.app())
    sleeps = ManualSleep()
    channel = WeComAIBotChannel(
        config(server.port, secret="wrong"), desk.router, desk.services, sleep=sleeps.sleep
    )
    await channel.start()
    try:
        for delay in (1.0, 2.0, 4.0):
            await sleeps.wake(delay)
        await sleeps.until_pending(8.0)
        assert fake.subscribes == 0 and fake.connections == 4
        assert sleeps.woken == [1.0, 2.0, 4.0]
    finally:
        await channel.stop()
        await server.close()


# Staff in the group ------------------------------------------------------------------------


async def test_queue_at_the_bot_in_the_group_is_answered_as_a_reply(rig: Rig) -> None:
    await card_in_group(rig)

    req_id = await rig.fake.push_text("zhanggong", "@管家 队列", chatid=GROUP)

    reply = await rig.fake.wait_for(answers_to(req_id, "aibot_respond_msg"))
    assert reply["body"]["msgtype"] == "stream"
    assert reply["body"]["stream"]["finish"] is True
    assert "R-0001" in reply["body"]["stream"]["content"]
    seen = await SeenMessage.get(platform=Platform.WECOM_AIBOT)
    assert seen.chat_id == GROUP


async def test_a_ticket_card_reaches_the_group_with_its_buttons(rig: Rig) -> None:
    ticket, body = await card_in_group(rig)

    assert body["chatid"] == GROUP and body["chat_type"] == 2
    card = body["template_card"]
    assert card["card_type"] == "button_interaction"
    assert "R-0001" in card["main_title"]["title"] + card.get("sub_title_text", "")
    keys = [button["key"] for button in card["button_list"]]
    assert keys == [f"claim:{ticket.id}", f"transfer:{ticket.id}"]


async def test_a_claim_press_is_answered_with_the_updated_card_before_its_deadline(
    rig: Rig,
) -> None:
    ticket, body = await card_in_group(rig)
    task_id = body["template_card"]["task_id"]

    req_id = await rig.fake.push_press("zhanggong", task_id, f"claim:{ticket.id}", GROUP)

    update = await rig.fake.wait_for(answers_to(req_id, "aibot_respond_update_msg"))
    await rig.channel.drain()
    # Answered by the router's own edit of the card: the deadline never had to end.
    assert CARD_WAIT not in rig.sleeps.woken
    assert update["body"]["response_type"] == "update_template_card"
    assert "userids" not in update["body"]  # the card changes for everybody
    card = update["body"]["template_card"]
    assert card["task_id"] == task_id
    assert f"claim:{ticket.id}" not in json.dumps(card)
    assert f"close:{ticket.id}" in json.dumps(card)
    assert "张工" in json.dumps(card, ensure_ascii=False)
    ticket = await Ticket.get()
    assert ticket.status is TicketStatus.CLAIMED
    assert ticket.claimed_by_id == rig.desk.staff["zhang"].id
    # The one answer to the press is its update; nothing else used its req_id.
    assert [f for f in rig.fake.received if f["headers"]["req_id"] == req_id] == [update]


async def test_close_from_the_card_prompts_and_the_result_closes_it(rig: Rig) -> None:
    ticket, body = await card_in_group(rig)
    task_id = body["template_card"]["task_id"]
    await rig.fake.push_press("zhanggong", task_id, f"claim:{ticket.id}", GROUP)
    await rig.fake.until(lambda: len(rig.fake.sent("aibot_respond_update_msg")) == 1)
    await rig.channel.drain()
    [claimed] = rig.fake.sent("aibot_respond_update_msg")

    await rig.fake.push_press("zhanggong", task_id, f"close:{ticket.id}", GROUP)
    prompt = await rig.fake.wait_for(
        lambda f: (
            f.get("cmd") == "aibot_send_msg"
            and "R-0001" in json.dumps(f["body"], ensure_ascii=False)
            and f["body"]["msgtype"] == "markdown"
            and f["body"]["chatid"] == GROUP
        )
    )
    await rig.channel.drain()
    assert prompt["body"]["chat_type"] == 2
    # The group hears only @-mentions: the prompt asks for one, and the presser's next is the
    # result, with or without the ticket's number.
    assert "@我" in prompt["body"]["markdown"]["content"]
    req_id = await rig.fake.push_text("zhanggong", "@管家 已更换水管，测试正常", GROUP)
    await rig.fake.wait_for(answers_to(req_id, "aibot_respond_msg"))
    await rig.channel.drain()
    ticket = await Ticket.get()
    assert ticket.status is TicketStatus.RESOLVED
    assert "已更换水管" in (ticket.result or "")
    assert claimed["body"]["template_card"]["task_id"] == task_id


async def test_claimed_in_the_group_then_closed_with_a_result_in_private(rig: Rig) -> None:
    ticket, body = await card_in_group(rig)
    task_id = body["template_card"]["task_id"]
    await rig.fake.push_press("zhanggong", task_id, f"claim:{ticket.id}", GROUP)
    await rig.fake.until(lambda: len(rig.fake.sent("aibot_respond_update_msg")) == 1)
    await rig.channel.drain()

    # In the 1:1 chat with the bot a staff member's words are staff commands, never a report.
    queue = await rig.fake.push_text("zhanggong", "我的")
    mine = await rig.fake.wait_for(answers_to(queue, "aibot_respond_msg"))
    await rig.channel.drain()
    assert "R-0001" in json.dumps(mine["body"], ensure_ascii=False)
    close = await rig.fake.push_text("zhanggong", "结单 R-0001 已更换水管，测试正常")
    done = await rig.fake.wait_for(answers_to(close, "aibot_respond_msg"))
    await rig.channel.drain()

    assert "R-0001" in json.dumps(done["body"], ensure_ascii=False)
    closed = await Ticket.get(id=ticket.id)
    assert closed.status is TicketStatus.RESOLVED
    assert closed.result == "已更换水管，测试正常"
    assert await Ticket.all().count() == 1  # the private words opened nothing


@pytest.mark.parametrize("who, key", [("stranger", "claim:{id}"), ("zhanggong", "bogus:{id}")])
async def test_a_refused_press_is_told_in_the_card_for_the_presser_and_changes_nothing(
    rig: Rig, who: str, key: str
) -> None:
    ticket, body = await card_in_group(rig)
    task_id = body["template_card"]["task_id"]

    req_id = await rig.fake.push_press(who, task_id, key.format(id=ticket.id), GROUP)

    update = await rig.fake.wait_for(answers_to(req_id, "aibot_respond_update_msg"))
    await rig.channel.drain()
    assert update["body"]["userids"] == [who]  # only the presser's card says so
    card = update["body"]["template_card"]
    assert card["task_id"] == task_id
    assert card["button_list"] == body["template_card"]["button_list"]
    assert card["sub_title_text"] != body["template_card"].get("sub_title_text")
    ticket = await Ticket.get()
    assert ticket.status is TicketStatus.OPEN and ticket.claimed_by_id is None
    assert await TicketEvent.filter(ticket_id=ticket.id, kind="claimed").count() == 0


async def test_a_press_not_handled_by_its_deadline_is_answered_from_the_card(
    rig: Rig,
) -> None:
    ticket, body = await card_in_group(rig)
    task_id = body["template_card"]["task_id"]
    # The deadline ends at once, before the router (which waits on the store) is through: the
    # card is answered from what is known, for the presser; the router's result comes after.
    rig.sleeps.instant.add(CARD_WAIT)

    req_id = await rig.fake.push_press("zhanggong", task_id, f"claim:{ticket.id}", GROUP)

    update = await rig.fake.wait_for(answers_to(req_id, "aibot_respond_update_msg"))
    assert update["body"]["userids"] == ["zhanggong"]
    card = update["body"]["template_card"]
    assert card["sub_title_text"].startswith("⏳ 已收到，正在处理")
    assert card["button_list"] == body["template_card"]["button_list"]
    await rig.channel.drain()
    assert (await Ticket.get()).status is TicketStatus.CLAIMED
    # The press was answered: the claimed card goes out anew, and the claim is told privately.
    cards = [f for f in rig.fake.sent("aibot_send_msg") if f["body"]["msgtype"] == "template_card"]
    assert len(cards) == 2 and f"close:{ticket.id}" in json.dumps(cards[1]["body"])
    told = [f for f in rig.fake.sent("aibot_send_msg") if f["body"]["chatid"] == "zhanggong"]
    assert [f["body"]["chat_type"] for f in told] == [1]
    assert [f["headers"]["req_id"] for f in rig.fake.received].count(req_id) == 1


async def test_an_urgent_ticket_mentions_the_staff_on_duty_by_userid(rig: Rig) -> None:
    await rig.desk.say("3号楼电梯坏了，停在5楼不动，里面有人被困！", "u-b")
    ticket = await Ticket.get()
    assert ticket.urgent

    line = await rig.fake.wait_for(
        lambda f: (
            f.get("cmd") == "aibot_send_msg"
            and f["body"]["msgtype"] == "markdown"
            and "<@zhanggong>" in f["body"]["markdown"]["content"]
        )
    )
    assert line["body"]["chatid"] == GROUP
    # 陈主管 has no WeCom account: named, but nobody to notify.
    assert "<@" not in line["body"]["markdown"]["content"].replace("<@zhanggong>", "")


async def test_an_escalation_mentions_the_person_on_duty_by_userid(rig: Rig) -> None:
    ticket, _ = await card_in_group(rig)
    start = rig.desk.clock.now()

    # Past its 15 minutes nobody has it: the first step alerts whoever is on duty (张工).
    at = start + timedelta(minutes=27)
    assert await escalate_overdue(at, rig.desk.services, rig.desk.notifier) == 1

    alert = await rig.fake.wait_for(
        lambda f: (
            f.get("cmd") == "aibot_send_msg"
            and f["body"]["chatid"] == GROUP
            and "已超时 12 分钟" in json.dumps(f["body"], ensure_ascii=False)
        )
    )
    content = json.dumps(alert["body"], ensure_ascii=False)
    assert ticket.number in content and "<@zhanggong>" in content
    assert await escalate_overdue(at, rig.desk.services, rig.desk.notifier) == 0


async def test_a_private_message_is_an_ordinary_private_message(rig: Rig) -> None:
    req_id = await rig.fake.push_text("lihua", REPAIR)

    reply = await rig.fake.wait_for(answers_to(req_id, "aibot_respond_msg"))
    await rig.channel.drain()
    assert "R-0001" in reply["body"]["stream"]["content"]
    ticket = await Ticket.get()
    assert ticket.source_chat_id == "lihua"
    assert (await SeenMessage.get(platform=Platform.WECOM_AIBOT)).chat_id == "lihua"


async def test_bad_frames_are_refused_and_change_nothing(rig: Rig) -> None:
    fake = rig.fake
    await fake.push_raw("not json")
    await fake.push_raw(json.dumps(["a", "list"]))
    await fake.push_raw(json.dumps({"cmd": "aibot_msg_callback", "body": {}}))  # no req_id
    forged = text_body("another-bot", "zhanggong", "@管家 队列", GROUP)
    await fake.push("aibot_msg_callback", forged)
    no_sender = text_body(BOT_ID, "zhanggong", REPAIR)
    del no_sender["from"]
    await fake.push("aibot_msg_callback", no_sender)
    bad_user = text_body(BOT_ID, "<script>", REPAIR)
    await fake.push("aibot_msg_callback", bad_user)
    no_task = press_body(BOT_ID, "zhanggong", "c-1", "claim:1", GROUP)
    del no_task["event"]["template_card_event"]["task_id"]
    await fake.push("aibot_event_callback", no_task, kind="press")
    await fake.push("aibot_unknown_cmd", text_body(BOT_ID, "zhanggong", REPAIR))

    # The connection lives on: a good message after them is answered.
    req_id = await fake.push_text("zhanggong", "@管家 队列", GROUP)
    await fake.wait_for(answers_to(req_id, "aibot_respond_msg"))
    await rig.channel.drain()
    assert await Ticket.all().count() == 0
    assert await SeenMessage.all().count() == 1
    assert len(fake.sent("aibot_respond_msg")) == 1
    assert fake.connections == 1


# Callback mode -----------------------------------------------------------------------------


@dataclass
class CallbackRig:
    desk: Desk
    channel: WeComAIBotChannel
    url: str
    http: aiohttp.ClientSession

    async def post(self, query: dict[str, str], body: str) -> tuple[int, str]:
        async with self.http.post(self.url, params=query, data=body) as response:
            return response.status, await response.text()

    def now(self) -> int:
        return int(self.desk.clock.now().timestamp())


@pytest.fixture
async def callback_rig(desk: Desk) -> AsyncIterator[CallbackRig]:
    sleeps = ManualSleep()
    channel = WeComAIBotChannel(
        AIBotConfig(bot_id=BOT_ID, mode="callback", token=TOKEN, aes_key=AES_KEY),
        desk.router,
        desk.services,
        sleep=sleeps.sleep,
    )
    desk.services.hub.add(channel)
    app = web.Application()
    app.add_routes(channel.callbacks.routes())
    server = await serve(app)
    http = aiohttp.ClientSession()
    try:
        yield CallbackRig(desk, channel, f"http://127.0.0.1:{server.port}/wecom/aibot", http)
    finally:
        await channel.stop()
        await http.close()
        await server.close()


async def test_callback_mode_answers_with_an_encrypted_reply(callback_rig: CallbackRig) -> None:
    rig = callback_rig
    query, body = callback_request(text_body(BOT_ID, "lihua", REPAIR), rig.now())

    status, answer = await rig.post(query, body)

    assert status == 200
    reply = open_answer(json.loads(answer))
    assert reply["msgtype"] == "stream" and "R-0001" in reply["stream"]["content"]
    await rig.channel.drain()
    assert (await Ticket.get()).source_chat_id == "lihua"


async def test_callback_mode_verifies_its_url(callback_rig: CallbackRig) -> None:
    rig = callback_rig
    query, envelope = callback_request({"echo": 1}, rig.now())
    echostr = json.loads(envelope)["encrypt"]
    async with rig.http.get(rig.url, params={**query, "echostr": echostr}) as response:
        assert response.status == 200
        assert json.loads(await response.text()) == {"echo": 1}


@pytest.mark.parametrize("case", ["forged signature", "wrong key", "not json", "stale", "replay"])
async def test_bad_callbacks_are_refused_and_change_nothing(
    callback_rig: CallbackRig, case: str
) -> None:
    rig = callback_rig
    query, body = callback_request(text_body(BOT_ID, "lihua", REPAIR), rig.now())
    expected = 403
    if case == "forged signature":
        query["msg_signature"] = "0" * 40
    elif case == "wrong key":
        query, body = callback_request(
            text_body(BOT_ID, "lihua", REPAIR),
            rig.now(),
            aes_key="ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut",
        )
        expected = 400
    elif case == "not json":
        body = "<xml><Encrypt>x</Encrypt></xml>"
        expected = 400
    elif case == "stale":
        query, body = callback_request(text_body(BOT_ID, "lihua", REPAIR), rig.now() - 600)
    elif case == "replay":
        assert (await rig.post(query, body))[0] == 200
        await rig.channel.drain()
        tickets = await Ticket.all().count()
        # The same nonce with other contents (the body re-spaced) is not WeCom's retry.
        status, _ = await rig.post(query, body.replace("}", " }"))
        assert status == 403
        assert await Ticket.all().count() == tickets
        return

    status, _ = await rig.post(query, body)
    await rig.channel.drain()
    assert status == expected
    assert await Ticket.all().count() == 0
    assert await SeenMessage.all().count() == 0


async def test_the_group_chat_ref_is_a_group(rig: Rig) -> None:
    assert rig.channel.private_chat("zhanggong") == ChatRef(
        Platform.WECOM_AIBOT, "zhanggong", is_group=False
    )


# The WeCom robots' path ---------------------------------------------------------------------


async def test_a_robot_message_names_the_mentioned_in_its_mentioned_list(desk: Desk) -> None:
    api = FakeWeChatApi(clock=desk.clock)
    server = await serve(api.app())

    async def no_wait(seconds: float) -> None:
        desk.clock.advance(seconds=seconds)

    channel = WeComChannel(
        WeComConfig(api_base_url=api_base(server), robots={"demo/staff-robot": "KEY"}),
        desk.router,
        desk.services,
        sleep=no_wait,
    )
    try:
        await channel.send(
            OutgoingMessage(
                chat=ChatRef(Platform.WECOM, "demo/staff-robot", is_group=True),
                text="紧急：R-0001 2号楼电梯困人 @张工 @陈主管",
                mentions=(Mention("@张工", "zhanggong"),),
            )
        )
    finally:
        await channel.stop()
        await server.close()
    [call] = api.to("webhook/send")
    assert call.body["text"]["mentioned_list"] == ["zhanggong"]
    assert call.body["text"]["content"].startswith("紧急：R-0001")


async def test_an_escalation_to_a_robot_staff_chat_names_the_on_duty_in_mentioned_list(
    desk: Desk,
) -> None:
    api = FakeWeChatApi(clock=desk.clock)
    server = await serve(api.app())

    async def no_wait(seconds: float) -> None:
        desk.clock.advance(seconds=seconds)

    channel = WeComChannel(
        WeComConfig(api_base_url=api_base(server), robots={"demo/staff-robot": "KEY"}),
        desk.router,
        desk.services,
        sleep=no_wait,
    )
    desk.services.hub.add(channel)
    await Chat.create(
        platform=Platform.WECOM,
        chat_id="demo/staff-robot",
        kind=ChatKind.STAFF,
        estate=desk.estate,
    )
    await ChatIdentity.create(
        platform=Platform.WECOM, user_id="zhanggong", staff_id=desk.staff["zhang"].id
    )
    try:
        await desk.say(REPAIR)
        start = desk.clock.now()
        api.calls.clear()
        assert await escalate_overdue(start + timedelta(minutes=16), desk.services, desk.notifier)
    finally:
        await channel.stop()
        await server.close()
    [call] = [c for c in api.to("webhook/send") if "已超时" in c.body["text"]["content"]]
    assert call.body["text"]["mentioned_list"] == ["zhanggong"]
    assert call.body["text"]["content"].endswith("请值班人员立即处理：@张工")


async def test_another_connection_taking_over_leaves_this_one_closed(rig: Rig) -> None:
    event = {
        "msgid": "disc-1",
        "aibotid": BOT_ID,
        "create_time": 1_800_000_000,
        "from": {"userid": "sys"},
        "msgtype": "event",
        "event": {"eventtype": "disconnected_event"},
    }
    await rig.fake.push("aibot_event_callback", event, kind="event")

    connection = rig.channel.connection
    assert connection is not None
    await asyncio.wait_for(connection.finished.wait(), WAIT)
    # Ended for good: no reconnect is waiting, and WeCom saw one connection only.
    assert connection.replaced and rig.sleeps.pending() == []
    await rig.fake.until(lambda: rig.fake.closes == 1)
    assert rig.fake.connections == 1


async def test_entering_the_1_1_chat_is_welcomed_once(rig: Rig) -> None:
    event = {
        "msgid": "enter-1",
        "aibotid": BOT_ID,
        "create_time": 1_800_000_100,
        "chattype": "single",
        "from": {"userid": "lihua"},
        "msgtype": "event",
        "event": {"eventtype": "enter_chat"},
    }
    req_id = await rig.fake.push("aibot_event_callback", event, kind="event")
    welcome = await rig.fake.wait_for(answers_to(req_id, "aibot_respond_welcome_msg"))
    await rig.channel.drain()
    again = await rig.fake.push("aibot_event_callback", event, kind="event")
    # Frames arrive in order: once a later message is answered, the repeat was taken.
    later = await rig.fake.push_text("lihua", "你好")
    await rig.fake.wait_for(answers_to(later, "aibot_respond_msg"))
    await rig.channel.drain()

    assert welcome["body"]["msgtype"] == "text"
    assert "物业管家" in welcome["body"]["text"]["content"]
    assert [f for f in rig.fake.received if f["headers"]["req_id"] == again] == []


async def test_callback_mode_answers_a_press_with_the_updated_card(
    callback_rig: CallbackRig,
) -> None:
    rig = callback_rig
    unsure = unsure_request(rig.desk.services.nlu)
    query, body = callback_request(text_body(BOT_ID, "lihua", unsure), rig.now())
    status, answer = await rig.post(query, body)
    assert status == 200
    question = open_answer(json.loads(answer))
    assert question["msgtype"] == "template_card"
    card = question["template_card"]
    await rig.channel.drain()

    key = card["button_list"][0]["key"]
    press = press_body(BOT_ID, "lihua", card["task_id"], key)
    query, body = callback_request(press, rig.now())
    status, answer = await rig.post(query, body)

    assert status == 200
    update = open_answer(json.loads(answer))
    assert update["response_type"] == "update_template_card"
    assert update["template_card"]["task_id"] == card["task_id"]
    assert "button_list" not in update["template_card"]  # the question is answered
    await rig.channel.drain()


async def test_register_at_the_bot_makes_a_group_the_staff_chat(rig: Rig) -> None:
    code = await issue_code(
        rig.desk.estate,
        CodePurpose.REGISTER_CHAT,
        created_by="cli",
        now=rig.desk.clock.now(),
        chat_kind=ChatKind.STAFF,
    )
    other = "wrAIStaffGroup02"
    first = await rig.fake.push_text("chenzhuguan", "@管家 队列", chatid=other)
    refused = await rig.fake.wait_for(answers_to(first, "aibot_respond_msg"))
    await rig.channel.drain()

    req_id = await rig.fake.push_text("chenzhuguan", f"@管家 /register {code.code}", other)

    reply = await rig.fake.wait_for(answers_to(req_id, "aibot_respond_msg"))
    await rig.channel.drain()
    assert "员工群" in reply["body"]["stream"]["content"]
    assert "登记" in refused["body"]["stream"]["content"]  # said once before it was registered
    chat = await Chat.get(platform=Platform.WECOM_AIBOT, chat_id=other)
    assert chat.kind is ChatKind.STAFF and chat.estate_id == rig.desk.estate.id


async def test_a_ticket_made_urgent_alerts_the_group_mentioning_staff_by_userid(rig: Rig) -> None:
    await rig.desk.say("3号楼电梯坏了，停在5楼不动了", "u-a")
    assert not (await Ticket.get()).urgent
    rig.desk.clock.advance(minutes=4)

    await rig.desk.say("3号楼电梯坏了，停在5楼不动，里面有人被困！", "u-b")

    assert (await Ticket.get()).urgent
    alert = await rig.fake.wait_for(
        lambda f: (
            f.get("cmd") == "aibot_send_msg"
            and f["body"]["msgtype"] == "markdown"
            and "已升级为紧急" in f["body"]["markdown"]["content"]
        )
    )
    content = alert["body"]["markdown"]["content"]
    assert alert["body"]["chatid"] == GROUP
    # The bound staff member is mentioned by userid (notified), in place of the text "@张工".
    assert "<@zhanggong>" in content and "@张工" not in content


async def test_a_connection_lost_before_the_subscription_is_answered_is_retried(
    desk: Desk,
) -> None:
    fake = FakeAIBot(drop_on_subscribe=True)
    server = await serve(fake.app())
    sleeps = ManualSleep()
    channel = WeComAIBotChannel(
        config(server.port), desk.router, desk.services, sleep=sleeps.sleep
    )
    await channel.start()
    try:
        await sleeps.until_pending(1.0)  # told at once, not after an answer's timeout
        assert fake.connections == 1 and fake.subscribes == 0
        fake.drop_on_subscribe = False
        await sleeps.wake(1.0)
        await fake.until(lambda: fake.subscribes == 1)
    finally:
        await channel.stop()
        await server.close()
