"""微信客服: WeCom's encrypted `kf_msg_or_event` callbacks posted to the running aiohttp route on
loopback, then `kf/sync_msg`, `kf/send_msg`, `kf/send_msg_on_event` and `kf/add_contact_way`
through the real client code against a fake of WeCom's API (tests/adapters/wecom_kf_fake.py)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import xmltodict
from aiohttp import web
from aiohttp.test_utils import TestServer
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto

from bot import cli
from bot.adapters.wecom_kf import KfChannel, KfConfig
from bot.config import Settings
from bot.core.channel import NoticeMeta
from bot.core.codes import issue_code
from bot.core.notifier import Audience, Notice
from bot.core.types import Button, ChatRef, OutgoingMessage, Platform
from models import (
    CallbackNonce,
    Chat,
    ChatIdentity,
    CodePurpose,
    Delivery,
    DeliveryStatus,
    HeldMessage,
    InboundMessage,
    SeenMessage,
    SyncCursor,
    Ticket,
    TicketStatus,
)
from tests.adapters.wecom_kf_fake import (
    KF_AES_KEY,
    KF_SECRET,
    KF_TOKEN,
    OPEN_KFID,
    FakeKf,
    kf_request,
)
from tests.adapters.wx_fake import CORP_ID, api_base, serve, signature
from tests.desk import ROOT, STAFF, Desk
from tests.fakes import FakeChannel
from tests.staffdesk import bind_staff

LI = "wmLiHua0001"
WANG = "wmWangFang02"
SMITH = "wmSmith00003"
REPAIR = "3栋2单元501 厨房水管漏水了"


def chat_of(user: str) -> ChatRef:
    return ChatRef(Platform.WECOM_KF, f"{OPEN_KFID}:{user}", is_group=False)


@dataclass
class Rig:
    """A desk, the fake WeCom and a 微信客服 channel served on loopback."""

    desk: Desk
    kf: FakeKf
    channel: KfChannel
    config: KfConfig
    url: str
    http: aiohttp.ClientSession
    servers: list[TestServer] = field(default_factory=list)
    channels: list[KfChannel] = field(default_factory=list)

    async def post(self, query: dict[str, str], body: str) -> tuple[int, str]:
        async with self.http.post(self.url, params=query, data=body) as response:
            return response.status, await response.text()

    async def callback(self) -> None:
        """WeCom says the account has new messages; Guanjia reads and handles them."""
        status, answer = await self.post(*kf_request(self.kf.callback_xml()))
        assert (status, answer) == (200, "success")
        await self.channel.drain()

    async def restart(self) -> None:
        """Stop this channel and start another on the same store (a new process)."""
        await self.channel.stop()
        channel = KfChannel(self.config, self.desk.router, self.desk.services, sleep=no_sleep)
        self.desk.services.hub.add(channel)
        self.channels.append(channel)
        app = web.Application()
        channel.mount(app)
        server = await serve(app)
        self.servers.append(server)
        self.url = f"http://127.0.0.1:{server.port}{self.config.callback_path}"
        self.channel = channel
        await channel.start()
        await channel.drain()


async def no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def rig(desk: Desk) -> AsyncIterator[Rig]:
    kf = FakeKf(clock=desk.clock)
    api_server = await serve(kf.app())
    config = KfConfig(
        corp_id=CORP_ID,
        secret=KF_SECRET,
        token=KF_TOKEN,
        aes_key=KF_AES_KEY,
        accounts={"demo": OPEN_KFID},
        api_base_url=api_base(api_server),
    )
    channel = KfChannel(config, desk.router, desk.services, sleep=no_sleep)
    desk.services.hub.add(channel)
    await channel.start()
    app = web.Application()
    channel.mount(app)
    server = await serve(app)
    http = aiohttp.ClientSession()
    url = f"http://127.0.0.1:{server.port}{config.callback_path}"
    rig = Rig(desk, kf, channel, config, url, http, [api_server, server], [channel])
    try:
        yield rig
    finally:
        for each in rig.channels:
            await each.stop()
        await http.close()
        for each_server in rig.servers:
            await each_server.close()


# An owner's way through ------------------------------------------------------------------


async def test_an_owner_is_welcomed_reports_a_repair_binds_and_gets_the_bill(rig: Rig) -> None:
    kf, desk = rig.kf, rig.desk
    kf.enters(WANG, scene="demo")
    await rig.callback()
    [welcome] = kf.to("kf/send_msg_on_event")
    assert welcome.body["msgtype"] == "text" and welcome.body.get("_accepted")
    assert "绑定 ABCD2345" in welcome.body["text"]["content"]
    # The contact link's scene named the estate: the chat is the estate's.
    chat = await Chat.get(platform=Platform.WECOM_KF, chat_id=f"{OPEN_KFID}:{WANG}")
    assert chat.estate_id == desk.estate.id

    kf.says(WANG, "5栋1单元1202 卫生间的灯坏了，麻烦来修一下")
    await rig.callback()
    [ticket] = await Ticket.all()
    assert ticket.number == "R-0001" and ticket.source_platform is Platform.WECOM_KF
    [reply] = kf.texts_to(WANG)
    assert "R-0001" in reply

    code = await issue_code(
        desk.estate,
        CodePurpose.BIND_UNIT,
        created_by="test",
        now=desk.clock.now(),
        unit=desk.units["5-1-1202"],
    )
    kf.says(WANG, f"绑定 {code.code}")
    await rig.callback()
    identity = await ChatIdentity.get(platform=Platform.WECOM_KF, user_id=f"{OPEN_KFID}:{WANG}")
    assert identity.owner_id == desk.owners["wang"].id
    assert "绑定成功" in kf.texts_to(WANG)[-1]

    kf.says(WANG, "我家这个月物业费交多少钱？怎么交")
    await rig.callback()
    bill = kf.texts_to(WANG)[-1]
    assert "¥356.80" in bill and "合计 ¥713.60" in bill
    # Every call carried the callback's token and the cursor kept after the page before.
    cursors = [call.body["cursor"] for call in kf.to("kf/sync_msg")]
    assert cursors == ["", "CUR00000001", "CUR00000002", "CUR00000003"]
    assert all(call.body.get("token", "").startswith("ENC") for call in kf.to("kf/sync_msg"))
    assert kf.token_fetches == 1


async def test_a_rating_press_on_a_menu_message_rates_the_ticket(rig: Rig) -> None:
    kf, desk = rig.kf, rig.desk
    kf.says(LI, REPAIR)
    await rig.callback()
    [ticket] = await Ticket.all()
    await bind_staff("u-zhang", desk.staff["zhang"])
    await desk.say(f"close {ticket.number} 已更换水管接头", "u-zhang", STAFF)

    [menu] = [body for body in kf.sent_to(LI) if body["msgtype"] == "msgmenu"]
    assert menu["msgmenu"]["head_content"].startswith("您的工单 R-0001 已处理完毕")
    items = [item["click"] for item in menu["msgmenu"]["list"]]
    assert [item["content"] for item in items][:2] == ["非常满意", "满意"]
    assert items[0]["id"] == f"rate:{ticket.id}:5"

    before = len(kf.texts_to(LI))
    kf.says(LI, "非常满意", menu_id=items[0]["id"])
    await rig.callback()
    rated = await Ticket.get(id=ticket.id)
    assert rated.status is TicketStatus.CLOSED and rated.rating == 5
    # The thanks alone: the menu's settled form (no buttons) is not sent again.
    assert kf.texts_to(LI)[before:] == ["感谢您对工单 R-0001 的评价！"]

    # A click on an item no button made is answered, and changes nothing.
    kf.says(LI, "?", menu_id="nosuch:1")
    await rig.callback()
    assert (await Ticket.get(id=ticket.id)).rating == 5
    assert kf.texts_to(LI)[-1] == "这个按钮无效，已忽略。"


# Reading: pages, restarts, duplicates ----------------------------------------------------


async def test_a_restart_between_two_pages_loses_and_repeats_nothing(rig: Rig) -> None:
    kf = rig.kf
    kf.page_size = 2
    kf.says(LI, REPAIR)
    kf.says(WANG, "5栋1单元1202 卫生间的灯坏了")
    kf.says(SMITH, "What are the property office opening hours?")
    kf.busy_after_pages = 1  # the first page is read, then WeCom (or the process) is gone
    await rig.callback()
    assert len(kf.texts_to(LI)) == 1 and len(kf.texts_to(WANG)) == 1
    assert kf.texts_to(SMITH) == []
    assert (await SyncCursor.get()).cursor == "CUR00000002"

    kf.busy_after_pages = None
    await rig.restart()  # the new process catches up from the kept cursor

    assert kf.to("kf/sync_msg")[-1].body["cursor"] == "CUR00000002"
    assert "token" not in kf.to("kf/sync_msg")[-1].body  # no callback yet: read without one
    assert len(kf.texts_to(LI)) == 1 and len(kf.texts_to(WANG)) == 1
    [hours] = kf.texts_to(SMITH)
    assert "8:30-17:30" in hours
    assert await Ticket.all().count() == 1 + 1  # the two repairs, once each

    await rig.callback()  # the next callback reads from the end: nothing new, nothing again
    assert kf.to("kf/sync_msg")[-1].body["cursor"] == "CUR00000003"
    assert [len(kf.texts_to(user)) for user in (LI, WANG, SMITH)] == [1, 1, 1]


async def test_a_restart_before_the_cursor_moved_repeats_nothing(rig: Rig) -> None:
    kf = rig.kf
    kf.says(LI, REPAIR)
    await rig.callback()
    # The process stopped after the journal kept the page but before the cursor moved on.
    await SyncCursor.all().delete()
    await rig.restart()
    await rig.callback()
    assert kf.to("kf/sync_msg")[-1].body["cursor"] == ""
    assert await Ticket.all().count() == 1
    assert len(kf.texts_to(LI)) == 1


async def test_the_first_read_passes_over_what_came_before_guanjia(rig: Rig) -> None:
    kf = rig.kf
    kf.says(LI, "三天前发给人工客服的消息")
    rig.desk.clock.advance(days=2)
    kf.says(WANG, "5栋1单元1202 卫生间的灯坏了")
    await rig.callback()
    assert kf.texts_to(LI) == [] and len(kf.texts_to(WANG)) == 1
    assert await InboundMessage.all().count() == 1


async def test_an_item_that_is_not_wecoms_is_skipped_and_the_rest_handled(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    kf = rig.kf
    kf.says(LI, REPAIR)
    kf.says(WANG, "5栋1单元1202 卫生间的灯坏了")
    del kf._items[OPEN_KFID][0]["msgid"]
    kf._items[OPEN_KFID].insert(1, {"msgid": "X1", "origin": 3, "msgtype": "text"})
    await rig.callback()
    assert kf.texts_to(LI) == [] and len(kf.texts_to(WANG)) == 1
    skipped = [r.getMessage() for r in caplog.records if "skipped an item" in r.getMessage()]
    assert len(skipped) == 2
    assert (await SyncCursor.get()).cursor == "CUR00000003"


async def test_the_same_msgid_twice_is_handled_once(rig: Rig) -> None:
    kf = rig.kf
    msgid = kf.says(LI, REPAIR)
    kf.repeat(msgid)
    await rig.callback()
    assert await Ticket.all().count() == 1
    assert len(kf.texts_to(LI)) == 1
    assert await SeenMessage.filter(message_id=msgid).count() == 1


async def test_a_servicers_message_and_other_events_are_not_handled(rig: Rig) -> None:
    kf = rig.kf
    kf.says(LI, REPAIR)
    kf.servicer_says(LI, "您好，我们马上安排")
    await rig.callback()
    assert await Ticket.all().count() == 1
    assert await InboundMessage.all().count() == 1


# Callbacks that are not WeCom's --------------------------------------------------------


async def stored() -> dict[str, int]:
    models = (Ticket, SeenMessage, InboundMessage, SyncCursor, CallbackNonce, ChatIdentity)
    return {model.__name__: await model.all().count() for model in models}


@pytest.mark.parametrize(
    "case", ["forged signature", "stale timestamp", "replayed nonce", "not encrypted", "DTD"]
)
async def test_forged_and_replayed_callbacks_are_refused_and_write_nothing(
    rig: Rig, case: str
) -> None:
    kf = rig.kf
    kf.says(LI, REPAIR)
    xml = kf.callback_xml()
    query, body = kf_request(xml)
    expected = 403
    if case == "forged signature":
        query["msg_signature"] = signature("guessed", query["timestamp"], query["nonce"], "x")
    elif case == "stale timestamp":
        query, body = kf_request(xml, timestamp=int(rig.desk.clock.now().timestamp()) - 360)
    elif case == "replayed nonce":
        assert await rig.post(*kf_request(kf.callback_xml(), nonce="424242")) == (200, "success")
        await rig.channel.drain()
        before = (await stored(), len(kf.calls))
        query, body = kf_request(kf.callback_xml(), nonce="424242")  # other contents
        status, _ = await rig.post(query, body)
        await rig.channel.drain()
        assert status == 403
        assert (await stored(), len(kf.calls)) == before
        return
    elif case == "not encrypted":
        body, expected = xml, 400
    elif case == "DTD":
        query, body = kf_request('<!DOCTYPE xml [<!ENTITY a "b">]>' + xml)
        expected = 400
    before = await stored()
    status, _ = await rig.post(query, body)
    await rig.channel.drain()
    assert status == expected
    assert await stored() == before
    assert kf.to("kf/sync_msg") == []

    await rig.callback()  # WeCom's own callback still works
    assert len(kf.texts_to(LI)) == 1


async def test_the_url_check_answers_the_decrypted_echostr_only_when_signed(rig: Rig) -> None:
    crypto = WeComCrypto(KF_TOKEN, KF_AES_KEY, CORP_ID)
    stamp = str(int(rig.desk.clock.now().timestamp()))
    envelope = xmltodict.parse(crypto.encrypt_message("echo-4242", "n1", stamp))["xml"]
    query = {
        "msg_signature": envelope["MsgSignature"],
        "timestamp": stamp,
        "nonce": "n1",
        "echostr": envelope["Encrypt"],
    }
    async with rig.http.get(rig.url, params=query) as response:
        assert (response.status, await response.text()) == (200, "echo-4242")
    query.update(nonce="n2", msg_signature="0" * 40)
    async with rig.http.get(rig.url, params=query) as response:
        assert response.status == 403


async def test_a_callback_for_an_account_no_estate_uses_reads_nothing(rig: Rig) -> None:
    status, answer = await rig.post(*kf_request(rig.kf.callback_xml("wkOTHER000000001")))
    await rig.channel.drain()
    assert (status, answer) == (200, "success")
    assert rig.kf.to("kf/sync_msg") == []


# The reply window --------------------------------------------------------------------------


def text(user: str, words: str, buttons: tuple[tuple[Button, ...], ...] = ()) -> OutgoingMessage:
    return OutgoingMessage(chat=chat_of(user), text=words, buttons=buttons)


async def test_five_messages_in_the_window_then_kept_until_the_owner_writes(rig: Rig) -> None:
    kf, channel = rig.kf, rig.channel
    kf.says(LI, "你好")
    await rig.callback()
    assert len(kf.texts_to(LI)) == 1  # the answer to 你好 is the window's first message
    for n in range(2, 5):
        await channel.send(text(LI, f"进展 {n}"))
    fifth = await channel.send(text(LI, "进展 5"))
    assert not fifth.message_id.startswith("held-")
    last = kf.texts_to(LI)[-1]
    assert last.startswith("进展 5") and "最后一条消息" in last

    sixth = await channel.send(text(LI, "进展 6：师傅明天上午到"))
    notice = await channel.send_notice(
        text(LI, "您的 2026-11 物业费账单已出"), NoticeMeta("bill", {"unit": "3-2-501"})
    )
    assert sixth.message_id.startswith("held-") and notice.message_id.startswith("held-")
    assert len(kf.sent_to(LI)) == 5  # WeCom was never asked for a sixth
    assert await HeldMessage.all().count() == 2

    rig.desk.clock.advance(hours=30)
    kf.says(LI, "好的，谢谢")
    await rig.callback()
    kept = kf.texts_to(LI)[5]
    assert kept.startswith("您上次留言后，有以下消息未能及时发给您")
    assert "进展 6：师傅明天上午到" in kept and "物业费账单已出" in kept
    assert len(kf.texts_to(LI)) == 7  # what was kept, then the answer to 好的
    assert await HeldMessage.all().count() == 0


async def test_a_message_near_the_windows_end_says_more_waits_for_the_owner(rig: Rig) -> None:
    kf, channel = rig.kf, rig.channel
    kf.says(LI, "你好")
    await rig.callback()
    rig.desk.clock.advance(hours=30)
    await channel.send(text(LI, "工单 R-0001 已派单"))
    assert "最后一条消息" not in kf.texts_to(LI)[-1]
    rig.desk.clock.advance(hours=7)  # 37 hours after the owner wrote: 11 left
    await channel.send(text(LI, "师傅明天上午到"))
    assert (
        kf.texts_to(LI)[-1].startswith("师傅明天上午到") and "最后一条消息" in kf.texts_to(LI)[-1]
    )


async def test_notifier_deliveries_obey_the_window(rig: Rig) -> None:
    kf = rig.kf
    kf.says(LI, "你好")
    await rig.callback()  # the answer takes the window's first message
    user = f"{OPEN_KFID}:{LI}"
    notices = [
        Notice(
            f"notice:{n}", "announcement", Audience.PRIVATE, Platform.WECOM_KF, user, f"通知 {n}"
        )
        for n in range(1, 6)
    ]
    assert await rig.desk.notifier.notify(notices) == 5

    assert len(kf.sent_to(LI)) == 5
    assert "最后一条消息" in kf.texts_to(LI)[-1]
    [kept] = await HeldMessage.all()
    assert kept.kind == "announcement" and kept.text.startswith("通知")
    assert {row.status for row in await Delivery.all()} == {DeliveryStatus.SENT}


async def test_after_48_hours_a_notice_is_kept_or_goes_to_the_official_account(
    rig: Rig,
) -> None:
    kf, desk, channel = rig.kf, rig.desk, rig.channel
    kf.says(LI, "你好")
    await rig.callback()
    identity = await ChatIdentity.get(platform=Platform.WECOM_KF, user_id=f"{OPEN_KFID}:{LI}")
    identity.owner_id = desk.owners["li"].id
    await identity.save()
    desk.clock.advance(hours=49)
    bill = text(LI, "您的 2026-11 物业费账单已出")

    held = await channel.send_notice(bill, NoticeMeta("bill"))
    assert held.message_id.startswith("held-") and len(kf.sent_to(LI)) == 1

    # The same owner follows the Official Account: the notice goes there instead.
    official = FakeChannel(platform=Platform.WECHAT)
    desk.services.hub.add(official)
    await ChatIdentity.create(
        platform=Platform.WECHAT, user_id="oLiHua", owner_id=desk.owners["li"].id
    )
    await channel.send_notice(bill, NoticeMeta("bill", {"unit": "3-2-501"}))
    [(chat_id, meta)] = official.notices
    assert chat_id == "private:oLiHua" and meta.kind == "bill"
    assert len(kf.sent_to(LI)) == 1


async def test_wecoms_own_count_stands_when_a_servicer_wrote(rig: Rig) -> None:
    kf, channel = rig.kf, rig.channel
    kf.says(LI, "你好")
    await rig.callback()
    for n in range(4):
        kf.servicer_says(LI, f"客服回复 {n}")
    refused = await channel.send(text(LI, "工单进展"))
    assert refused.message_id.startswith("held-")
    assert kf.to("kf/send_msg")[-1].body.get("_accepted") is None
    # The window is used up now: the next send does not ask WeCom.
    calls = len(kf.to("kf/send_msg"))
    await channel.send(text(LI, "又一条"))
    assert len(kf.to("kf/send_msg")) == calls


# Sessions and links ------------------------------------------------------------------------


async def test_enter_session_is_welcomed_once_and_a_return_without_code_is_not(
    rig: Rig,
) -> None:
    kf = rig.kf
    kf.enters(SMITH, scene="demo")
    await rig.callback()
    assert len(kf.to("kf/send_msg_on_event")) == 1
    # The same event read again (a stop before the cursor moved) is not welcomed twice.
    await SyncCursor.all().delete()
    await rig.callback()
    assert len(kf.to("kf/send_msg_on_event")) == 1
    # No welcome_code (the user came back within a session): nothing to answer with.
    kf.enters(SMITH, scene="demo")
    kf._items[OPEN_KFID][-1]["event"]["welcome_code"] = ""
    await rig.callback()
    assert len(kf.to("kf/send_msg_on_event")) == 1


async def test_the_english_welcome_for_an_account_known_to_read_english(rig: Rig) -> None:
    await ChatIdentity.create(
        platform=Platform.WECOM_KF, user_id=f"{OPEN_KFID}:{SMITH}", language="en"
    )
    rig.kf.enters(SMITH, scene="demo")
    await rig.callback()
    [welcome] = rig.kf.to("kf/send_msg_on_event")
    assert "bind ABCD2345" in welcome.body["text"]["content"]


@pytest.fixture
def kf_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite://{tmp_path}/store.sqlite3")
    monkeypatch.setenv("NLU_MODEL_PATH", str(ROOT / "data" / "nlu" / "model.pkl"))
    monkeypatch.setenv("WECOM_KF_CORP_ID", CORP_ID)
    monkeypatch.setenv("WECOM_KF_SECRET", KF_SECRET)
    monkeypatch.setenv("WECOM_KF_TOKEN", KF_TOKEN)
    monkeypatch.setenv("WECOM_KF_ENCODING_AES_KEY", KF_AES_KEY)
    monkeypatch.setenv("WECOM_KF_ACCOUNTS", f"demo={OPEN_KFID}")
    return tmp_path


async def test_kf_link_prints_the_link_and_saves_its_qr_code(
    rig: Rig,
    kf_settings: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WECOM_API_BASE_URL", rig.config.api_base_url)
    png = kf_settings / "pin" / "demo.png"

    code = await asyncio.to_thread(
        cli.main, ["wecom", "kf-link", "--estate", "demo", "--out", str(png)]
    )

    assert code == 0
    out, err = capsys.readouterr()
    url = out.strip()
    assert re.fullmatch(r"https://work\.weixin\.qq\.com/kf/kfc\w+\?enc_scene=ENCdemo", url)
    assert str(png) in err
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    [call] = rig.kf.to("kf/add_contact_way")
    assert call.body == {"open_kfid": OPEN_KFID, "scene": "demo"}

    assert await asyncio.to_thread(cli.main, ["wecom", "kf-link", "--estate", "nosuch"]) == 1
    assert "no 客服 account" in capsys.readouterr().err


# Settings ----------------------------------------------------------------------------------


def test_settings_name_each_estates_account_and_refuse_half_a_setup(kf_settings: Path) -> None:
    settings = Settings()
    assert settings.wecom_kf_enabled and settings.wecom_kf_corp == CORP_ID
    assert settings.wecom_kf_account_ids == {"demo": OPEN_KFID}
    assert settings.secret_values()["WECOM_KF_SECRET"] == KF_SECRET
    config = KfConfig.from_settings(settings)
    assert config.estates_of(OPEN_KFID) == ["demo"]
    assert config.callback_path == "/wecom/kf/callback"

    with pytest.raises(ValueError, match="set WECOM_KF_TOKEN"):
        Settings(wecom_kf_token="")
    with pytest.raises(ValueError, match="ESTATE_CODE=OPEN_KFID"):
        Settings(wecom_kf_accounts="demo=wk bad id")
    with pytest.raises(ValueError, match="WECOM_KF_CORP_ID"):
        Settings(wecom_kf_corp_id="")


async def test_the_app_builds_the_channel_from_the_settings(rig: Rig, kf_settings: Path) -> None:
    from bot.adapters.wecom_kf import build_wecom_kf
    from bot.app import CHANNELS, PlatformBuilder

    last = CHANNELS[-1]
    assert isinstance(last, PlatformBuilder) and last.load() is build_wecom_kf
    built = build_wecom_kf(Settings(), rig.desk.services, rig.desk.router)
    assert isinstance(built, KfChannel) and built.config.accounts == {"demo": OPEN_KFID}
    assert (
        build_wecom_kf(
            Settings(
                wecom_kf_secret="",
                wecom_kf_token="",
                wecom_kf_encoding_aes_key="",
                wecom_kf_accounts="",
            ),
            rig.desk.services,
            rig.desk.router,
        )
        is None
    )
