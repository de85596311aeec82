"""The Telegram channel: the real PTB Application, real Update JSON, a fake Bot API at the far end.

Updates reach the bot as Telegram delivers them (long polling through PTB's Updater, or the
webhook route on the shared aiohttp server); every Bot API call PTB makes ends in `FakeBotApi`,
through PTB's lowest seam (`BaseRequest`) or, for a self-hosted Bot API server, over loopback
HTTP. The estate is the router tests' desk with a Telegram owner group and staff chat.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import telegram.ext._aioratelimiter as aioratelimiter
from telegram import Update, User
from telegram.error import TimedOut

from bot import cli
from bot.adapters.http import HttpServer
from bot.adapters.telegram import (
    SECRET_HEADER,
    SEND_RETRIES,
    ChatOrderedProcessor,
    TelegramChannel,
    TelegramConfig,
    TelegramStartError,
    bot_api_url,
    split_text,
    to_incoming,
    utf16_length,
)
from bot.app import App, start_parts
from bot.config import Settings, SettingsError, load_settings
from bot.core.channel import SendError
from bot.core.desk import escalate_overdue
from bot.core.notifier import Audience, Notice, Notifier
from bot.core.types import (
    Attachment,
    Button,
    ChatRef,
    IncomingMessage,
    Mention,
    OutgoingMessage,
    Platform,
    SentMessage,
)
from models import (
    Chat,
    ChatIdentity,
    ChatKind,
    CodePurpose,
    Delivery,
    DeliveryStatus,
    Department,
    Dialog,
    DutyShift,
    OneTimeCode,
    Owner,
    Staff,
    Ticket,
    TicketCard,
    TicketReporter,
    TicketStatus,
)
from models.store import close_store, open_store
from tests.adapters.fake_bot_api import (
    BOT_ID,
    BOT_USER,
    BOT_USERNAME,
    TOKEN,
    FakeBotApi,
    FakeRequest,
    bot_api_on_loopback,
)
from tests.conftest import StoreOpener
from tests.desk import Desk

GROUP_ID = -1001500000001
STAFF_ID = -1001500000002
GROUP = {"id": GROUP_ID, "type": "supergroup", "title": "阳光花园业主群"}
STAFF_GROUP = {"id": STAFF_ID, "type": "supergroup", "title": "阳光花园员工群"}
LI = {
    "id": 1001,
    "is_bot": False,
    "first_name": "华",
    "last_name": "李",
    "language_code": "zh-hans",
}
WANG = {"id": 1002, "is_bot": False, "first_name": "芳", "last_name": "王", "language_code": "zh"}
SMITH = {
    "id": 1003,
    "is_bot": False,
    "first_name": "John",
    "last_name": "Smith",
    "language_code": "en",
}
ZHANG = {"id": 2001, "is_bot": False, "first_name": "张工", "language_code": "zh-hans"}
STRANGER = {"id": 3001, "is_bot": False, "first_name": "路人", "language_code": "zh-hans"}
OTHER_BOT = {"id": 9001, "is_bot": True, "first_name": "Spam", "username": "SpamBot"}
REPAIR = "3栋2单元501 厨房水管漏水了"


def free_port() -> int:
    """A port nothing listens on (HTTP_PORT cannot be 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def private(user: dict[str, Any]) -> dict[str, Any]:
    """A user's private chat with the bot, as Telegram describes it."""
    return {"id": user["id"], "type": "private", "first_name": user["first_name"]}


def utf16(text: str) -> int:
    """A length as Telegram counts entity offsets: in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


class Updates:
    """Builds updates as Telegram sends them, numbering updates and messages."""

    def __init__(self, now: datetime) -> None:
        self.date = int(now.timestamp())
        self._update_ids = itertools.count(880001)
        self._message_ids = itertools.count(11)

    def message(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        text: str | None = None,
        *,
        kind: str = "message",
        message_id: int | None = None,
        reply_to: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """An update carrying one message (or an edited one, with kind="edited_message")."""
        message: dict[str, Any] = {
            "message_id": message_id or next(self._message_ids),
            "from": sender,
            "chat": chat,
            "date": self.date,
            **fields,
        }
        if text is not None:
            message["text"] = text
            entities = []
            if text.startswith("/"):
                entities.append(
                    {"type": "bot_command", "offset": 0, "length": utf16(text.split()[0])}
                )
            mention = f"@{BOT_USERNAME}"
            if mention in text:
                offset = utf16(text[: text.index(mention)])
                entities.append({"type": "mention", "offset": offset, "length": utf16(mention)})
            if entities:
                message["entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        if kind == "edited_message":
            message["edit_date"] = self.date + 60
        return {"update_id": next(self._update_ids), kind: message}

    def press(
        self, chat: dict[str, Any], sender: dict[str, Any], data: str, on: dict[str, Any]
    ) -> dict[str, Any]:
        """A button press on a message the bot sent (`on`, as the fake API holds it)."""
        update_id = next(self._update_ids)
        return {
            "update_id": update_id,
            "callback_query": {
                "id": f"cq{update_id}",
                "from": sender,
                "chat_instance": f"ci{chat['id']}",
                "data": data,
                "message": {**on, "chat": chat},
            },
        }

    def membership(self, chat: dict[str, Any], by: dict[str, Any], old: str, new: str) -> dict:
        """Guanjia's own membership of a chat changing (added, removed)."""
        return {
            "update_id": next(self._update_ids),
            "my_chat_member": {
                "chat": chat,
                "from": by,
                "date": self.date,
                "old_chat_member": {"status": old, "user": BOT_USER},
                "new_chat_member": {"status": new, "user": BOT_USER},
            },
        }


class InstantAsyncio:
    """`asyncio` for PTB's rate limiter: its waits are recorded, not slept (time is injected)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float, result: Any = None) -> Any:
        """Record the wait and let others run."""
        self.waits.append(round(delay, 3))
        await asyncio.sleep(0)
        return result


@dataclass
class TelegramDesk:
    """The desk, its Telegram channel, and the Bot API at the far end."""

    desk: Desk
    api: FakeBotApi
    channel: TelegramChannel
    updates: Updates
    clock: InstantAsyncio
    # The webhook's URL on the shared server, in webhook mode.
    url: str = ""

    async def receive(self, update: dict[str, Any]) -> None:
        """Deliver an update by long polling and wait until the bot has handled it."""
        await self.api.push_update(update)
        await self.api.fetched(update["update_id"])
        await self.channel.application.update_queue.join()

    async def idle(self) -> None:
        """Wait until every queued update is handled."""
        await self.channel.application.update_queue.join()


async def link(
    user: dict[str, Any], owner: Owner | None = None, staff: Staff | None = None
) -> None:
    """Bind a Telegram account to an owner or a staff member (the staff desk does it in use)."""
    identity, _ = await ChatIdentity.get_or_create(
        platform=Platform.TELEGRAM, user_id=str(user["id"])
    )
    identity.owner_id = owner.id if owner else None
    identity.staff_id = staff.id if staff else None
    await identity.save()


def telegram_channel(desk: Desk, api: FakeBotApi, **config: str) -> TelegramChannel:
    """The channel with PTB's requests ending in the fake."""
    request = FakeRequest(api)
    return TelegramChannel(
        TelegramConfig(TOKEN, **config),
        desk.router,
        desk.services,
        request=request,
        get_updates_request=request,
    )


def loopback_channel(desk: Desk, port: int) -> TelegramChannel:
    """The channel in webhook mode (nothing polls), its Bot API calls going over HTTP to a
    self-hosted Bot API server on loopback at `port`."""
    return TelegramChannel(
        TelegramConfig(
            TOKEN,
            webhook_url="https://guanjia.example.com/telegram/hook",
            webhook_secret="s3cret",
            api_base_url=f"http://127.0.0.1:{port}",
        ),
        desk.router,
        desk.services,
    )


@pytest.fixture
def instant(monkeypatch: pytest.MonkeyPatch) -> InstantAsyncio:
    """PTB's rate limiter with injected time."""
    clock = InstantAsyncio()
    monkeypatch.setattr(aioratelimiter, "asyncio", clock)
    return clock


@pytest.fixture
async def tg(desk: Desk, instant: InstantAsyncio, tmp_path: Path) -> AsyncIterator[TelegramDesk]:
    """The desk with a Telegram owner group and staff chat, the channel long polling."""
    await Chat.create(
        platform=Platform.TELEGRAM,
        chat_id=str(GROUP_ID),
        kind=ChatKind.OWNERS,
        estate=desk.estate,
        title=GROUP["title"],
    )
    await Chat.create(
        platform=Platform.TELEGRAM,
        chat_id=str(STAFF_ID),
        kind=ChatKind.STAFF,
        estate=desk.estate,
        title=STAFF_GROUP["title"],
    )
    desk.services.reports_dir = tmp_path / "reports"
    api = FakeBotApi(desk.clock.now())
    channel = telegram_channel(desk, api)
    desk.services.hub.add(channel)
    await channel.start()
    try:
        yield TelegramDesk(desk, api, channel, Updates(desk.clock.now()), instant)
    finally:
        await channel.stop()


async def only_ticket() -> Ticket:
    tickets = await Ticket.all()
    assert len(tickets) == 1
    return tickets[0]


def group_ref(chat_id: int) -> ChatRef:
    return ChatRef(Platform.TELEGRAM, str(chat_id), is_group=True)


# ---- owners in groups and in private --------------------------------------------------------


async def test_a_repair_in_the_owner_group_opens_a_ticket_replies_quoting_it_and_posts_a_card(
    tg: TelegramDesk,
) -> None:
    update = tg.updates.message(GROUP, LI, REPAIR)
    await tg.receive(update)

    ticket = await only_ticket()
    message_id = update["message"]["message_id"]
    assert ticket.source_platform is Platform.TELEGRAM
    assert ticket.source_chat_id == str(GROUP_ID)
    assert ticket.source_message_id == str(message_id)
    assert ticket.reporter_id == str(LI["id"]) and ticket.reporter_name == "华 李"
    assert ticket.unit_id == tg.desk.units["3-2-501"].id

    [reply] = tg.api.of("sendMessage", GROUP_ID)
    assert reply["reply_parameters"]["message_id"] == message_id
    assert reply["parse_mode"] == "HTML"
    [shown] = tg.api.texts(GROUP_ID)
    assert "R-0001" in shown and "工程部" in shown

    [card] = tg.api.sent_to(STAFF_ID)
    assert "R-0001" in card["text"] and REPAIR in card["text"]
    [row] = card["reply_markup"]["inline_keyboard"]
    # Nobody holds it yet: claim or transfer; closing comes once someone has it.
    assert [b["callback_data"] for b in row] == [f"claim:{ticket.id}", f"transfer:{ticket.id}"]
    stored = await TicketCard.get(ticket_id=ticket.id, platform=Platform.TELEGRAM)
    assert stored.chat_id == str(STAFF_ID) and stored.message_id == str(card["message_id"])


async def test_a_claim_press_by_staff_edits_the_card_and_one_by_anyone_else_is_refused(
    tg: TelegramDesk,
) -> None:
    await link(ZHANG, staff=tg.desk.staff["zhang"])
    await tg.receive(tg.updates.message(GROUP, LI, REPAIR))
    ticket = await only_ticket()
    [card] = tg.api.sent_to(STAFF_ID)

    # Someone in the staff chat who is not bound to staff: refused, nothing changes.
    await tg.receive(tg.updates.press(STAFF_GROUP, STRANGER, f"claim:{ticket.id}", card))
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.OPEN
    # The refusal is a toast for the presser alone, not a message in the staff chat.
    assert tg.api.sent_to(STAFF_ID) == [card]
    assert tg.api.of("editMessageText") == []

    await tg.receive(tg.updates.press(STAFF_GROUP, ZHANG, f"claim:{ticket.id}", card))
    claimed = await Ticket.get(id=ticket.id)
    assert claimed.status is TicketStatus.CLAIMED
    assert claimed.claimed_by_id == tg.desk.staff["zhang"].id
    [edit] = tg.api.of("editMessageText", STAFF_ID)
    assert edit["message_id"] == card["message_id"]
    edited = tg.api.messages[(STAFF_ID, card["message_id"])]
    assert "张工" in edited["text"]
    [row] = edited["reply_markup"]["inline_keyboard"]
    assert [b["callback_data"] for b in row] == [f"transfer:{ticket.id}", f"close:{ticket.id}"]

    # Every press is answered with what became of it, only the presser sees.
    refused, claimed_toast = (t["text"] for t in tg.api.of("answerCallbackQuery"))
    assert "只有本小区已绑定的工作人员" in refused
    assert claimed_toast == "您已接单 R-0001。"


async def test_a_photo_with_a_caption_is_kept_by_its_largest_file_id_and_shown_on_the_card(
    tg: TelegramDesk,
) -> None:
    sizes = [
        {"file_id": "AgACAgIAAx-small", "file_unique_id": "s1", "width": 90, "height": 67},
        {"file_id": "AgACAgIAAx-large", "file_unique_id": "s3", "width": 1280, "height": 960},
        {"file_id": "AgACAgIAAx-medium", "file_unique_id": "s2", "width": 320, "height": 240},
    ]
    await tg.receive(
        tg.updates.message(GROUP, WANG, caption="5栋1单元1202 卫生间天花板漏水了", photo=sizes)
    )

    ticket = await only_ticket()
    assert ticket.photos == ["AgACAgIAAx-large"]
    assert ticket.text == "5栋1单元1202 卫生间天花板漏水了"
    card, photo = tg.api.sent_to(STAFF_ID)
    assert "照片：1 张" in card["text"]
    assert photo["photo"][0]["file_id"] == "AgACAgIAAx-large"


async def test_a_private_answer_to_a_group_message_goes_to_the_users_own_chat(
    tg: TelegramDesk,
) -> None:
    # What is said where (money never in the group) is the router's: test_router.py's
    # test_payment_in_group_never_shows_money. Here: a user's private chat is their id, and
    # only an answer in the same chat quotes the message.
    await link(WANG, owner=tg.desk.owners["wang"])

    update = tg.updates.message(GROUP, WANG, "我家这个月物业费交多少钱？怎么交")
    await tg.receive(update)

    [group] = tg.api.of("sendMessage", GROUP_ID)
    assert group["reply_parameters"]["message_id"] == update["message"]["message_id"]
    [bills] = tg.api.of("sendMessage", WANG["id"])
    assert "¥356.80" in bills["text"] and "reply_parameters" not in bills


async def test_mentions_and_replies_address_the_bot_and_commands_lose_its_name(
    tg: TelegramDesk,
) -> None:
    await tg.receive(tg.updates.message(GROUP, LI, "你好"))
    assert tg.api.texts(GROUP_ID) == []  # chatter in a group, not addressed: quiet

    await tg.receive(tg.updates.message(GROUP, LI, f"@{BOT_USERNAME} 你好"))
    bot_message = tg.api.sent_to(GROUP_ID)[-1]
    await tg.receive(tg.updates.message(GROUP, SMITH, "hello", reply_to=bot_message))
    await tg.receive(tg.updates.message(private(SMITH), SMITH, f"/help@{BOT_USERNAME}"))
    # A command for another bot in the group is not Guanjia's.
    await tg.receive(tg.updates.message(GROUP, LI, "/help@OtherBot"))

    group = tg.api.texts(GROUP_ID)
    assert len(group) == 2
    assert "管家" in group[0] and "front desk" in group[1]
    [help_text] = tg.api.texts(SMITH["id"])
    assert "front desk" in help_text


async def test_the_unit_chooser_is_an_inline_keyboard_and_a_press_opens_the_ticket(
    tg: TelegramDesk,
) -> None:
    await link(WANG, owner=tg.desk.owners["wang"])
    chat = private(WANG)

    await tg.receive(tg.updates.message(chat, WANG, "卫生间地漏堵了，水下不去"))
    [question] = tg.api.sent_to(WANG["id"])
    rows = question["reply_markup"]["inline_keyboard"]
    assert [[b["text"] for b in row] for row in rows] == [["5-1-1202"], ["7-1-302"]]

    await tg.receive(tg.updates.press(chat, WANG, rows[1][0]["callback_data"], question))
    ticket = await only_ticket()
    assert ticket.unit_id == tg.desk.units["7-1-302"].id
    assert "R-0001" in tg.api.texts(WANG["id"])[-1]
    # The press is answered (the spinner stops); the answer itself is the message above.
    [answered] = tg.api.of("answerCallbackQuery")
    assert "text" not in answered


# ---- Telegram messages as the router sees them ---------------------------------------------


def seen(update: dict[str, Any]) -> IncomingMessage | None:
    """What the router is handed for an update (the bot is Guanjia as getMe describes it)."""
    message = Update.de_json(update, None).effective_message
    assert message is not None
    return to_incoming(message, User.de_json(BOT_USER, None))


def test_a_telegram_message_becomes_the_routers_incoming_message(now: datetime) -> None:
    updates = Updates(now)
    update = updates.message(GROUP, LI, REPAIR)

    message = seen(update)

    assert message is not None
    assert message == IncomingMessage(
        chat=ChatRef(Platform.TELEGRAM, str(GROUP_ID), is_group=True),
        sender_id=str(LI["id"]),
        sender_name="华 李",
        text=REPAIR,
        message_id=str(update["message"]["message_id"]),
        received_at=now,
        language_hint="zh",
        raw=message.raw,
    )
    smith = seen(updates.message(private(SMITH), SMITH, "hello"))
    assert smith is not None and smith.chat == ChatRef(Platform.TELEGRAM, "1003", is_group=False)
    assert smith.language_hint == "en" and not smith.addressed


def test_commands_mentions_and_replies_to_the_bot_address_it(now: datetime) -> None:
    updates = Updates(now)
    bot_said = {"message_id": 77, "from": BOT_USER, "chat": GROUP, "date": updates.date}
    neighbour_said = {"message_id": 78, "from": WANG, "chat": GROUP, "date": updates.date}

    bare = seen(updates.message(GROUP, LI, "/help"))
    named = seen(updates.message(GROUP, ZHANG, f"/register@{BOT_USERNAME} WXYZ2345"))
    mention = seen(updates.message(GROUP, LI, f"@{BOT_USERNAME} 你好"))
    reply = seen(updates.message(GROUP, ZHANG, "已更换水管接头", reply_to=bot_said))
    other_reply = seen(updates.message(GROUP, LI, "我家也是", reply_to=neighbour_said))

    assert bare is not None and bare.addressed and bare.text == "/help"
    # `/register@GuanjiaBot CODE` reads as `/register CODE`.
    assert named is not None and named.addressed and named.text == "/register WXYZ2345"
    assert mention is not None and mention.addressed and mention.text == "你好"
    assert reply is not None and reply.addressed and reply.replied_to == "77"
    assert other_reply is not None and not other_reply.addressed
    assert other_reply.replied_to == "78"
    # A command for another bot, and anything a bot says, is not for Guanjia.
    assert seen(updates.message(GROUP, LI, "/help@OtherBot")) is None
    assert seen(updates.message(GROUP, OTHER_BOT, REPAIR)) is None


def test_a_photo_without_a_caption_is_its_largest_size(now: datetime) -> None:
    sizes = [
        {"file_id": "AgACAgIAAx-small", "file_unique_id": "s1", "width": 90, "height": 67},
        {"file_id": "AgACAgIAAx-large", "file_unique_id": "s3", "width": 1280, "height": 960},
    ]
    message = seen(Updates(now).message(GROUP, LI, photo=sizes))
    assert message is not None and message.text == ""
    assert message.attachments == (Attachment("photo", "AgACAgIAAx-large"),)


def card_of(tg: TelegramDesk, number: str) -> dict[str, Any]:
    """A ticket's card in the staff chat, as Telegram holds it now (edits applied)."""
    [card] = [m for m in tg.api.sent_to(STAFF_ID) if f"【{number}】" in m.get("text", "")]
    return card


async def test_a_staff_members_private_chat_via_telegram_is_their_desk(tg: TelegramDesk) -> None:
    await link(ZHANG, staff=tg.desk.staff["zhang"])
    await tg.receive(tg.updates.message(GROUP, LI, REPAIR))
    ticket = await only_ticket()
    mine = private(ZHANG)

    await tg.receive(tg.updates.message(mine, ZHANG, "已更换热水器，测试正常"))
    [hint] = tg.api.sent_to(ZHANG["id"])
    assert hint["text"].startswith("这里是您的员工工作台")
    await tg.receive(tg.updates.message(mine, ZHANG, "/queue"))
    assert tg.api.sent_to(ZHANG["id"])[-1]["text"].startswith("待处理工单 1 张：\nR-0001")
    card = card_of(tg, ticket.number)
    await tg.receive(tg.updates.press(STAFF_GROUP, ZHANG, f"claim:{ticket.id}", card))
    await tg.receive(tg.updates.message(mine, ZHANG, "结单 R-0001 已更换水管接头"))

    done = await only_ticket()
    assert done.status is TicketStatus.RESOLVED and done.result == "已更换水管接头"
    assert tg.api.sent_to(ZHANG["id"])[-1]["text"] == "工单 R-0001 已办结，已请业主评价。"
    assert "已更换水管接头" in tg.api.messages[(STAFF_ID, card["message_id"])]["text"]


# ---- robustness ----------------------------------------------------------------------------


async def test_the_same_message_delivered_twice_is_handled_once(tg: TelegramDesk) -> None:
    first = tg.updates.message(GROUP, LI, REPAIR)
    again = tg.updates.message(GROUP, LI, REPAIR, message_id=first["message"]["message_id"])
    assert again["update_id"] != first["update_id"]

    await tg.receive(first)
    await tg.receive(again)

    await only_ticket()
    assert len(tg.api.texts(GROUP_ID)) == 1


async def test_an_edited_message_opens_no_second_ticket(
    tg: TelegramDesk, caplog: pytest.LogCaptureFixture
) -> None:
    original = tg.updates.message(GROUP, LI, REPAIR)
    await tg.receive(original)
    message_id = original["message"]["message_id"]
    edited = tg.updates.message(
        GROUP, LI, "3栋2单元501 厨房水管漏水了，很急", kind="edited_message", message_id=message_id
    )
    with caplog.at_level(logging.INFO, logger="guanjia.telegram"):
        await tg.receive(edited)

    ticket = await only_ticket()
    assert ticket.text == REPAIR
    assert len(tg.api.texts(GROUP_ID)) == 1 and len(tg.api.sent_to(STAFF_ID)) == 1
    assert f"ignored an edit of message {message_id}" in caplog.text


async def test_messages_from_other_bots_are_ignored(tg: TelegramDesk) -> None:
    await tg.receive(tg.updates.message(GROUP, OTHER_BOT, REPAIR))
    await tg.receive(tg.updates.message(private(OTHER_BOT), OTHER_BOT, "/start"))

    assert await Ticket.all().count() == 0
    assert tg.api.of("sendMessage") == []
    assert not await ChatIdentity.exists(platform=Platform.TELEGRAM, user_id=str(OTHER_BOT["id"]))


async def test_a_429_is_retried_after_its_retry_after_and_the_reply_arrives(
    tg: TelegramDesk,
) -> None:
    tg.api.fail(
        "sendMessage",
        429,
        "Too Many Requests: retry after 3",
        parameters={"retry_after": 3},
    )
    await tg.receive(tg.updates.message(GROUP, LI, REPAIR))

    assert tg.clock.waits == [3.1]  # retry_after, and PTB's 0.1 s margin
    assert len(tg.api.of("sendMessage")) == 3  # one refused, then the card and the reply
    assert len(tg.api.texts(GROUP_ID)) == 1 and len(tg.api.texts(STAFF_ID)) == 1


async def test_a_429_that_persists_is_a_send_error_with_retry_after(
    tg: TelegramDesk, caplog: pytest.LogCaptureFixture
) -> None:
    tg.api.fail("sendMessage", 429, parameters={"retry_after": 7}, times=SEND_RETRIES + 1)

    with pytest.raises(SendError) as failed:
        await tg.channel.send(OutgoingMessage(chat=group_ref(GROUP_ID), text="停水通知"))

    assert failed.value.retry_after == 7 and failed.value.answered
    assert tg.clock.waits == [7.1] * SEND_RETRIES
    assert str(GROUP_ID) in caplog.text
    # The limiter is free again: the next send goes out.
    await tg.channel.send(OutgoingMessage(chat=group_ref(GROUP_ID), text="停水通知"))
    assert tg.api.texts(GROUP_ID) == ["停水通知"]


async def test_a_notices_429_goes_straight_back_to_the_notifier_which_retries_it_later(
    tg: TelegramDesk,
) -> None:
    """A notice is paced by the notifier: PTB's limiter neither retries it nor holds others."""
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    notifier = Notifier(tg.desk.services.hub, tg.desk.clock, sleep=sleep)
    notice = li_bill()
    tg.api.fail("sendMessage", 429, parameters={"retry_after": 7})

    assert await notifier.notify([notice]) == 0

    # One call, refused, and no wait inside the limiter: the row waits for its retry_after.
    assert len(tg.api.of("sendMessage")) == 1 and tg.clock.waits == []
    row = await Delivery.get(dedup_key=notice.key)
    assert row.status is DeliveryStatus.PENDING and row.attempts == 1
    assert row.next_attempt_at == tg.desk.clock.now() + timedelta(seconds=7)
    # Nothing else is held: a reply to the group goes out at once.
    await tg.channel.send(OutgoingMessage(chat=group_ref(GROUP_ID), text="收到"))
    assert tg.api.texts(GROUP_ID) == ["收到"] and tg.clock.waits == []

    tg.desk.clock.advance(seconds=7)
    run = await notifier.deliver()
    assert run.sent == 1
    assert tg.api.texts(LI["id"]) == ["11月物业费账单"]
    row = await Delivery.get(dedup_key=notice.key)
    assert row.status is DeliveryStatus.SENT and row.attempts == 2


async def test_a_group_announcements_429_is_sent_once_after_the_wait_while_others_go_on(
    tg: TelegramDesk,
) -> None:
    """A group notice goes the notice way too: its 429 holds that group only, in the notifier,
    and PTB's limiter neither retries it nor holds the private notice sent beside it."""
    notifier = Notifier(tg.desk.services.hub, tg.desk.clock, sleep=_stands_still)
    announcement = Notice(
        key="announcement:1:group",
        kind="announcement",
        audience=Audience.OWNERS,
        platform=Platform.TELEGRAM,
        to=str(GROUP_ID),
        text="明天9点至12点停水",
    )
    bill = li_bill()
    tg.api.fail("sendMessage", 429, parameters={"retry_after": 7}, chat_id=GROUP_ID)

    assert await notifier.notify([announcement, bill]) == 1

    assert tg.api.texts(LI["id"]) == ["11月物业费账单"] and tg.api.texts(GROUP_ID) == []
    assert tg.clock.waits == []  # nothing waited inside PTB's limiter
    row = await Delivery.get(dedup_key=announcement.key)
    assert row.status is DeliveryStatus.PENDING and row.attempts == 1
    assert row.next_attempt_at == tg.desk.clock.now() + timedelta(seconds=7)

    assert (await notifier.deliver()).sent == 0  # not before its retry_after
    tg.desk.clock.advance(seconds=7)
    assert (await notifier.deliver()).sent == 1
    assert tg.api.texts(GROUP_ID) == ["明天9点至12点停水"]
    assert len([c for c in tg.api.of("sendMessage") if str(c["chat_id"]) == str(GROUP_ID)]) == 2


def li_bill() -> Notice:
    """李华's November bill, as the bills job records it."""
    return Notice(
        key="bill:li:2026-11",
        kind="bill",
        audience=Audience.PRIVATE,
        platform=Platform.TELEGRAM,
        to=str(LI["id"]),
        text="11月物业费账单",
    )


async def _stands_still(seconds: float) -> None:
    """A sleep that moves no clock: the test moves it."""


async def test_a_5xx_answer_is_a_send_error_that_was_answered(tg: TelegramDesk) -> None:
    tg.api.fail("sendMessage", 500, description="Internal Server Error")
    with pytest.raises(SendError) as failed:
        await tg.channel.send(OutgoingMessage(chat=group_ref(GROUP_ID), text="x"))
    # Telegram answered: nothing went out, so the notifier may retry it like any failure.
    assert failed.value.answered and failed.value.retry_after is None
    assert tg.api.texts(GROUP_ID) == []


async def test_a_timeout_is_a_send_error_whose_answer_was_lost_and_the_bot_goes_on(
    tg: TelegramDesk,
) -> None:
    tg.api.raise_on("sendMessage", TimedOut("Timed out"))
    with pytest.raises(SendError) as failed:
        await tg.channel.send(OutgoingMessage(chat=group_ref(GROUP_ID), text="x"))
    assert not failed.value.answered and failed.value.retry_after is None

    # The same in the middle of handling an update: logged, and the next update is handled.
    tg.api.raise_on("sendMessage", TimedOut("Timed out"), times=2)
    await tg.receive(tg.updates.message(GROUP, LI, REPAIR))
    await tg.receive(tg.updates.message(GROUP, WANG, "5栋电梯坏了，一直停在8楼不动"))
    assert await Ticket.all().count() == 2
    assert len(tg.api.texts(GROUP_ID)) == 1  # the second report's reply


async def test_an_owners_markup_is_escaped_and_shown_as_written(tg: TelegramDesk) -> None:
    text = "3栋2单元501 厨房<b>水管</b>漏水 & 地板_湿了 <script>"
    await tg.receive(tg.updates.message(GROUP, LI, text))

    [card] = tg.api.texts(STAFF_ID)
    assert text in card
    sent = await tg.channel.send(
        OutgoingMessage(chat=group_ref(GROUP_ID), text="a < b && c > d *_not markdown_*")
    )
    assert tg.api.messages[(GROUP_ID, int(sent.message_id))]["text"] == (
        "a < b && c > d *_not markdown_*"
    )


# ---- mentions -------------------------------------------------------------------------------

EMERGENCY = "救命！电梯困人了，5栋的电梯卡在8楼，里面有老人"


def mentioned(message: dict[str, Any]) -> list[tuple[str, int]]:
    """Who a message's text mentions, as Telegram shows them: (the mention's text, user id)."""
    text = message["text"].encode("utf-16-le")
    return [
        (
            text[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le"),
            e["user"]["id"],
        )
        for e in message.get("entities", [])
        if e["type"] == "text_mention"
    ]


async def test_an_urgent_card_mentions_the_person_on_duty_by_their_telegram_user_id(
    tg: TelegramDesk,
) -> None:
    zhang = tg.desk.staff["zhang"]
    await link(ZHANG, staff=zhang)
    await DutyShift.create(
        estate=tg.desk.estate,
        department=Department.ENGINEERING,
        staff=zhang,
        starts_at=tg.desk.clock.now() - timedelta(hours=1),
        ends_at=tg.desk.clock.now() + timedelta(hours=8),
    )

    await tg.receive(tg.updates.message(GROUP, LI, EMERGENCY))

    [card] = tg.api.sent_to(STAFF_ID)
    assert card["text"].startswith("【紧急】请值班人员立即处理：@张工\n")
    assert mentioned(card) == [("@张工", ZHANG["id"])]
    [call] = tg.api.of("sendMessage", STAFF_ID)
    assert call["parse_mode"] == "HTML"
    assert f'<a href="tg://user?id={ZHANG["id"]}">@张工</a>' in call["text"]

    # Past its 5 minutes nobody has claimed it: the first escalation, a delivery, mentions him.
    notifier = Notifier(tg.desk.services.hub, tg.desk.clock, sleep=tg.clock.sleep)
    at = tg.desk.clock.now() + timedelta(minutes=6)
    assert await escalate_overdue(at, tg.desk.services, notifier) == 1
    alert = tg.api.sent_to(STAFF_ID)[-1]
    assert alert["text"].endswith("请值班人员立即处理：@张工")
    assert mentioned(alert) == [("@张工", ZHANG["id"])]
    # And privately, without a mention of himself.
    [private] = tg.api.sent_to(ZHANG["id"])
    assert "已超时" in private["text"] and mentioned(private) == []


async def test_mentions_are_links_only_for_numeric_user_ids_and_the_rest_is_escaped(
    tg: TelegramDesk,
) -> None:
    text = "<b>@张工 & @张工程师</b> @王芳"
    mentions = (Mention("@张工", "2001"), Mention("@张工程师", "2002"), Mention("@王芳", "wx-9"))
    await tg.channel.send(OutgoingMessage(chat=group_ref(STAFF_ID), text=text, mentions=mentions))

    [message] = tg.api.sent_to(STAFF_ID)
    assert message["text"] == text  # shown as written: the owner's markup is not markup
    assert mentioned(message) == [("@张工", 2001), ("@张工程师", 2002)]


# ---- chats -----------------------------------------------------------------------------------


async def test_a_group_that_becomes_a_supergroup_keeps_its_registration(
    tg: TelegramDesk,
) -> None:
    desk = tg.desk
    old = {"id": -4100000001, "type": "group", "title": "阳光花园3栋"}
    new_id = -1004100000001
    await Chat.create(
        platform=Platform.TELEGRAM,
        chat_id=str(old["id"]),
        kind=ChatKind.OWNERS,
        estate=desk.estate,
    )
    await tg.receive(tg.updates.message(old, LI, REPAIR))
    ticket = await only_ticket()
    assert ticket.source_chat_id == str(old["id"])

    # Telegram tells the old group first: that is enough to move everything.
    await tg.receive(tg.updates.message(old, LI, migrate_to_chat_id=new_id))
    assert await Chat.exists(platform=Platform.TELEGRAM, chat_id=str(new_id))
    # Then the new supergroup: nothing is left to move, nothing fails.
    new = {"id": new_id, "type": "supergroup", "title": "阳光花园3栋"}
    await tg.receive(tg.updates.message(new, LI, migrate_from_chat_id=old["id"]))

    chat = await Chat.get(platform=Platform.TELEGRAM, chat_id=str(new_id))
    assert chat.kind is ChatKind.OWNERS and chat.estate_id == desk.estate.id
    assert not await Chat.exists(platform=Platform.TELEGRAM, chat_id=str(old["id"]))
    assert (await Ticket.get(id=ticket.id)).source_chat_id == str(new_id)
    reporter = await TicketReporter.get(ticket_id=ticket.id)
    assert reporter.chat_id == str(new_id)

    await tg.receive(tg.updates.message(new, WANG, "我家这个月物业费交多少钱？怎么交"))
    assert "私信" in tg.api.texts(new_id)[-1]


async def test_a_send_to_a_group_that_moved_follows_it(tg: TelegramDesk) -> None:
    old_id, new_id = -4100000002, -1004100000002
    await Chat.create(
        platform=Platform.TELEGRAM,
        chat_id=str(old_id),
        kind=ChatKind.OWNERS,
        estate=tg.desk.estate,
    )
    await Dialog.create(
        platform=Platform.TELEGRAM,
        chat_id=str(old_id),
        user_id="1001",
        kind="clarify",
        expires_at=tg.desk.clock.now(),
    )
    tg.api.fail(
        "sendMessage",
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        parameters={"migrate_to_chat_id": new_id},
    )

    sent = await tg.channel.send(OutgoingMessage(chat=group_ref(old_id), text="明天停水"))

    assert sent.chat.chat_id == str(new_id)
    assert tg.api.texts(new_id) == ["明天停水"]
    assert await Chat.exists(platform=Platform.TELEGRAM, chat_id=str(new_id))
    assert await Dialog.exists(platform=Platform.TELEGRAM, chat_id=str(new_id))


async def test_being_added_to_a_group_is_logged_with_how_to_register_it(
    tg: TelegramDesk, caplog: pytest.LogCaptureFixture
) -> None:
    group = {"id": -1001500000099, "type": "supergroup", "title": "新业主群"}
    with caplog.at_level(logging.INFO, logger="guanjia.telegram"):
        await tg.receive(tg.updates.membership(group, ZHANG, "left", "member"))
        await tg.receive(tg.updates.membership(STAFF_GROUP, ZHANG, "member", "left"))

    assert "added to Telegram supergroup '新业主群'" in caplog.text
    assert "/register CODE" in caplog.text
    assert f"removed from Telegram supergroup '阳光花园员工群' ({STAFF_ID})" in caplog.text
    assert tg.api.of("sendMessage") == []


# ---- sending -------------------------------------------------------------------------------


async def test_photos_and_files_go_by_file_id_or_from_allowed_local_paths(
    tg: TelegramDesk, tmp_path: Path
) -> None:
    folder = tg.desk.services.reports_dir / "demo" / "2026-11"
    folder.mkdir(parents=True)
    chart, workbook = folder / "chart.png", folder / "report.xlsx"
    chart.write_bytes(b"\x89PNG\r\n\x1a\n chart")
    workbook.write_bytes(b"PK workbook")
    elsewhere = tmp_path / "not-ours.png"  # a real file, outside the allowed folders
    elsewhere.write_bytes(b"\x89PNG\r\n\x1a\n secret")

    sent = await tg.channel.send(
        OutgoingMessage(
            chat=group_ref(STAFF_ID),
            text="11 月报表",
            buttons=((Button("OK", "ok:1"),),),
            photos=(
                Attachment("photo", "AgACAgIAAx-kept"),
                Attachment("photo", str(chart)),
                Attachment("photo", str(elsewhere)),
            ),
            attachments=(Attachment("file", str(workbook)),),
        )
    )

    text, by_id, uploaded, document = tg.api.sent_to(STAFF_ID)
    assert sent.message_id == str(text["message_id"])  # the text, with the buttons, is the one
    assert text["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "ok:1"
    assert by_id["photo"][0]["file_id"] == "AgACAgIAAx-kept"
    assert uploaded["photo"][0]["file_id"] == "uploaded:chart.png"
    assert document["document"]["file_id"] == "uploaded:report.xlsx"
    # The path outside the allowed folders was never read nor sent.
    assert len(tg.api.of("sendPhoto")) == 2


async def test_edit_replaces_text_and_buttons_and_sends_anew_when_it_cannot(
    tg: TelegramDesk,
) -> None:
    chat = group_ref(STAFF_ID)
    card = OutgoingMessage(
        chat=chat, text="R-0001 待接单", buttons=((Button("接单", "claim:1"),),)
    )
    sent = await tg.channel.send(card)

    done = OutgoingMessage(chat=chat, text="R-0001 已完成")
    assert await tg.channel.edit(sent, done) == sent
    shown = tg.api.messages[(STAFF_ID, int(sent.message_id))]
    assert shown["text"] == "R-0001 已完成" and "reply_markup" not in shown

    # Unchanged: Telegram says "not modified", which is no failure.
    assert await tg.channel.edit(sent, done) == sent
    assert len(tg.api.sent_to(STAFF_ID)) == 1

    # Deleted meanwhile: sent anew.
    gone = SentMessage(chat=chat, message_id="999999")
    again = await tg.channel.edit(gone, done)
    assert again.message_id != "999999" and tg.api.texts(STAFF_ID)[-1] == "R-0001 已完成"


async def test_one_chats_updates_run_in_order_while_other_chats_go_on() -> None:
    processor = ChatOrderedProcessor(8)
    done: list[str] = []
    gate = asyncio.Event()

    def update(update_id: int, chat: dict[str, Any]) -> Update:
        message = {"message_id": update_id, "date": 0, "chat": chat, "from": LI, "text": "x"}
        return Update.de_json({"update_id": update_id, "message": message}, None)

    async def work(name: str, hold: bool = False) -> None:
        done.append(f"{name} starts")
        if hold:
            await gate.wait()
        done.append(f"{name} ends")

    first = asyncio.create_task(processor.process_update(update(1, GROUP), work("g1", True)))
    second = asyncio.create_task(processor.process_update(update(2, GROUP), work("g2")))
    other = asyncio.create_task(processor.process_update(update(3, private(LI)), work("p1")))
    await other
    assert done == ["g1 starts", "p1 starts", "p1 ends"]  # g2 waits for g1, p1 does not
    gate.set()
    await asyncio.gather(first, second)
    assert done[3:] == ["g1 ends", "g2 starts", "g2 ends"]


def test_long_texts_are_split_at_line_breaks() -> None:
    text = "\n".join(f"第 {n} 行 " + "字" * 50 for n in range(200))
    chunks = split_text(text)
    assert len(chunks) > 1 and all(utf16_length(chunk) <= 4096 for chunk in chunks)
    assert "\n".join(chunks) == text
    # An emoji counts twice; a text with no line break is cut where it must be.
    emoji = "🔧" * 3000
    chunks = split_text(emoji)
    assert [utf16_length(chunk) for chunk in chunks] == [4096, 6000 - 4096]
    assert "".join(chunks) == emoji
    assert split_text("   ") == []


# ---- webhook ---------------------------------------------------------------------------------


@pytest.fixture
async def hooked(desk: Desk, instant: InstantAsyncio) -> AsyncIterator[TelegramDesk]:
    """The desk's Telegram channel in webhook mode, on the shared server on loopback."""
    await Chat.create(
        platform=Platform.TELEGRAM, chat_id=str(GROUP_ID), kind=ChatKind.OWNERS, estate=desk.estate
    )
    api = FakeBotApi(desk.clock.now())
    channel = telegram_channel(
        desk,
        api,
        webhook_url="https://guanjia.example.com/telegram/hook",
        webhook_secret="s3cret-Token_1",
    )
    desk.services.hub.add(channel)
    server = HttpServer(host="127.0.0.1", port=0)
    server.add_routes(channel.webhook_routes())
    await server.start()
    await channel.start()
    url = f"{server.url}/telegram/hook"
    hooked = TelegramDesk(desk, api, channel, Updates(desk.clock.now()), instant, url)
    try:
        yield hooked
    finally:
        await channel.stop()
        await server.stop()


async def post(url: str, body: Any, secret: str | None) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with aiohttp.ClientSession() as session:
        if isinstance(body, (bytes, str)):
            response = await session.post(url, data=body, headers=headers)
        else:
            response = await session.post(url, json=body, headers=headers)
        async with response:
            return response.status


async def test_the_webhook_takes_updates_only_with_the_secret(hooked: TelegramDesk) -> None:
    [hook] = hooked.api.of("setWebhook")
    assert hook["url"] == "https://guanjia.example.com/telegram/hook"
    assert hook["secret_token"] == "s3cret-Token_1"
    assert "callback_query" in hook["allowed_updates"]
    assert hooked.api.of("getUpdates") == [] and hooked.channel.application.updater is None
    url = hooked.url
    update = hooked.updates.message(GROUP, LI, REPAIR)

    assert await post(url, update, None) == 403
    assert await post(url, update, "wrong-secret") == 403
    await hooked.idle()
    assert await Ticket.all().count() == 0 and hooked.api.of("sendMessage") == []

    assert await post(url, update, "s3cret-Token_1") == 200
    await hooked.idle()
    await only_ticket()
    assert len(hooked.api.texts(GROUP_ID)) == 1

    # Telegram delivers it again (it did not hear our 200): handled once.
    assert await post(url, update, "s3cret-Token_1") == 200
    await hooked.idle()
    await only_ticket()
    assert len(hooked.api.texts(GROUP_ID)) == 1

    # A press redelivered: its update_id is known, so even the toast is not answered twice.
    [reply] = hooked.api.sent_to(GROUP_ID)
    press = hooked.updates.press(GROUP, LI, "rate:1:5", reply)
    for _ in range(2):
        assert await post(url, press, "s3cret-Token_1") == 200
        await hooked.idle()
    assert len(hooked.api.of("answerCallbackQuery")) == 1

    assert await post(url, b"{not json", "s3cret-Token_1") == 400
    assert await post(url, [1, 2], "s3cret-Token_1") == 400


# ---- configuration -----------------------------------------------------------------------


async def test_a_self_hosted_bot_api_server_is_reached_over_http(
    desk: Desk, instant: InstantAsyncio
) -> None:
    api = FakeBotApi(desk.clock.now())
    runner, port = await bot_api_on_loopback(api)
    channel = loopback_channel(desk, port)
    try:
        await channel.start()
        assert channel.bot.username == BOT_USERNAME and channel.bot.id == BOT_ID
        await channel.send(OutgoingMessage(chat=group_ref(GROUP_ID), text="<测试> & 通知"))
    finally:
        await channel.stop()
        await runner.cleanup()

    assert [call.method for call in api.calls] == ["getMe", "setWebhook", "sendMessage"]
    assert all(call.url.startswith(f"http://127.0.0.1:{port}/bot{TOKEN}/") for call in api.calls)
    assert api.texts(GROUP_ID) == ["<测试> & 通知"]


def test_bot_api_urls_take_the_server_or_the_full_prefix() -> None:
    assert bot_api_url("http://127.0.0.1:8081", "/bot") == "http://127.0.0.1:8081/bot"
    assert bot_api_url("http://127.0.0.1:8081/bot/", "/bot") == "http://127.0.0.1:8081/bot"
    assert bot_api_url("http://h:8081/file/bot", "/file/bot") == "http://h:8081/file/bot"
    assert bot_api_url("http://h/x/{token}/", "/bot") == "http://h/x/{token}"


def test_a_webhook_needs_a_good_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", "https://guanjia.example.com/telegram/hook")
    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET", raising=False)
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_SECRET: must be set"):
        load_settings()
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "not allowed!")
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_SECRET"):
        load_settings()
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "fine_secret-1")
    config = TelegramConfig.from_settings(load_settings())
    assert config.webhook and config.webhook_path == "/telegram/hook"
    assert TOKEN not in repr(load_settings())


def test_chats_code_prints_a_code_that_registers_a_group(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    store_opener: StoreOpener,
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite://{tmp_path}/guanjia.sqlite3"
    monkeypatch.setenv("DATABASE_URL", url)

    async def make_estate() -> None:
        from models import Estate

        await store_opener.copy_sqlite_store(tmp_path / "guanjia.sqlite3")
        await open_store(url)
        try:
            await Estate.create(code="sun", name="阳光花园")
        finally:
            await close_store()

    asyncio.run(make_estate())
    assert cli.main(["chats", "code", "--estate", "sun", "--kind", "staff"]) == 0
    out, err = capsys.readouterr()
    typed = out.strip()
    assert f"/register {typed}" in err and "staff chat of sun" in err

    async def stored() -> OneTimeCode:
        await open_store(url)
        try:
            return await OneTimeCode.get(code=typed)
        finally:
            await close_store()

    code = asyncio.run(stored())
    assert code.purpose is CodePurpose.REGISTER_CHAT and code.chat_kind is ChatKind.STAFF
    assert code.used_at is None

    assert cli.main(["chats", "code", "--estate", "nowhere", "--kind", "owners"]) == 1
    assert "no estate 'nowhere'" in capsys.readouterr().err


async def test_a_refused_token_stops_start_up_with_a_message_that_does_not_show_it(
    desk: Desk,
) -> None:
    api = FakeBotApi(desk.clock.now())
    api.fail("getMe", 401, "Unauthorized")
    channel = telegram_channel(desk, api)

    with pytest.raises(TelegramStartError) as failed:
        await channel.start()

    assert "TELEGRAM_BOT_TOKEN" in str(failed.value) and TOKEN not in str(failed.value)
    assert failed.value.__cause__ is None and failed.value.__suppress_context__


async def test_the_app_starts_the_channel_when_a_token_is_set(
    desk: Desk, instant: InstantAsyncio, tmp_path: Path
) -> None:
    await Chat.create(
        platform=Platform.TELEGRAM, chat_id=str(GROUP_ID), kind=ChatKind.OWNERS, estate=desk.estate
    )
    api = FakeBotApi(desk.clock.now())
    runner, port = await bot_api_on_loopback(api)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        http_port=free_port(),
        scheduler_enabled=False,
        telegram_bot_token=TOKEN,
        telegram_webhook_url="https://guanjia.example.com/telegram/webhook",
        telegram_webhook_secret="s3cret",
        telegram_api_base_url=f"http://127.0.0.1:{port}/bot",
    )
    app = App(settings=settings, services=desk.services, router=desk.router)
    try:
        await start_parts(app)
        channel = desk.services.hub.get(Platform.TELEGRAM)
        assert isinstance(channel, TelegramChannel) and channel in app.started
        update = Updates(desk.clock.now()).message(GROUP, LI, REPAIR)
        url = f"http://127.0.0.1:{settings.http_port}/telegram/webhook"
        assert await post(url, update, "s3cret") == 200
        await channel.application.update_queue.join()
    finally:
        for part in reversed(app.started):
            await part.stop()
        await runner.cleanup()

    await only_ticket()
    assert [c.method for c in api.calls][:2] == ["getMe", "setWebhook"]
    assert len(api.texts(GROUP_ID)) == 1
