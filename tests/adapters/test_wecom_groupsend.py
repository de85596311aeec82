"""客户群群发: announcements and greetings to an estate's WeCom customer groups become one task per
group owner, created through the real WeCom channel against a fake of WeCom's 客户联系 API on
loopback; the poll job learns when each owner confirmed it, and reminds once the ones who did
not; refusals are clear and leave nothing half-written."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from bot.adapters.wecom import WeComChannel, WeComConfig
from bot.config import Settings
from bot.core import groupsend
from bot.core.channel import NoticeMeta
from bot.core.groupsend import GroupInfo
from bot.core.notifier import Audience, Notice, NoticeRefused
from bot.core.types import OutgoingMessage
from models import (
    Announcement,
    Chat,
    ChatKind,
    CustomerGroup,
    Delivery,
    DeliveryStatus,
    GroupSendTask,
    Platform,
)
from scheduler import jobs
from tests.adapters.wecom_groupsend_fake import (
    APP_SECRET,
    CONTACT_SECRET,
    CORP_ID,
    FakeGroupSend,
)
from tests.adapters.wx_fake import AES_KEY, TOKEN, serve
from tests.desk import Desk

ADD = "externalcontact/add_msg_template"
TASK = "externalcontact/get_groupmsg_task"
REMIND = "externalcontact/remind_groupmsg_send"
# Two staff members own the estate's three customer groups; a fourth belongs to nobody here.
GROUPS = {
    "wrOgQhDgAAAAAAAAA1": ("3号楼业主群", "wangjing"),
    "wrOgQhDgAAAAAAAAA2": ("5号楼业主群", "wangjing"),
    "wrOgQhDgAAAAAAAAA3": ("7号楼业主群", "lina"),
}
STRANGER = "wrOgQhDgAAAAAAAAA9"


@dataclass
class Rig:
    """A desk whose estate has WeCom customer groups, the fake far end, and the channel."""

    desk: Desk
    wecom: FakeGroupSend
    channel: WeComChannel
    server: TestServer

    async def announce(self, text: str = "12月5日9:00-12:00 3号楼停水") -> Announcement:
        """An announcement to every owner group, due now; the job sends it."""
        announcement = await Announcement.create(
            estate_id=self.desk.estate.id,
            text=text,
            send_at=self.desk.clock.now() - timedelta(minutes=1),
            created_by="staff:1",
            created_at=self.desk.clock.now() - timedelta(hours=1),
        )
        await jobs.send_announcements(
            self.desk.clock.now(), self.desk.services, self.desk.notifier
        )
        return announcement

    async def run_announcements(self) -> int:
        """The announcements job, now."""
        return await jobs.send_announcements(
            self.desk.clock.now(), self.desk.services, self.desk.notifier
        )

    async def poll(self) -> int:
        """The scheduler's poll job, now."""
        return await jobs.poll_group_sends(
            self.desk.clock.now(), self.desk.services, self.desk.notifier
        )

    def later(self, **delta: float) -> None:
        self.desk.clock.advance(**delta)


async def build_rig(desk: Desk, *, contact_secret: str = "") -> tuple[Rig, TestServer]:
    wecom = FakeGroupSend(clock=desk.clock)
    for chat_id, (name, owner) in GROUPS.items():
        wecom.add_group(chat_id, name, owner)
    wecom.add_group(STRANGER, "别的小区群", "wangjing")
    server = await serve(wecom.app())
    config = WeComConfig(
        corp_id=CORP_ID,
        agent_id=1000002,
        secret=APP_SECRET,
        token=TOKEN,
        aes_key=AES_KEY,
        api_base_url=f"http://127.0.0.1:{server.port}/cgi-bin/",
        contact_secret=contact_secret,
    )

    async def sleep(seconds: float) -> None:
        desk.clock.advance(seconds=seconds)
        await asyncio.sleep(0)

    channel = WeComChannel(config, desk.router, desk.services, sleep=sleep)
    desk.services.hub.add(channel)
    return Rig(desk, wecom, channel, server), server


@pytest.fixture
async def rig(desk: Desk) -> AsyncIterator[Rig]:
    rig, server = await build_rig(desk)
    assert rig.channel.group_sends is not None
    # Registered as `guanjia wecom groups --estate demo --register …` does.
    for group in await rig.channel.group_sends.list_groups():
        if group.chat_id in GROUPS:
            await groupsend.register_group("demo", group, desk.clock.now())
    try:
        yield rig
    finally:
        await rig.channel.stop()
        await server.close()


def senders(calls: list) -> dict[str, list[str]]:
    return {call.body["sender"]: sorted(call.body["chat_id_list"]) for call in calls}


async def test_groups_are_listed_from_wecom_and_registered_to_the_estate(desk: Desk) -> None:
    rig, server = await build_rig(desk)
    rig.wecom.page_size = 2  # the listing follows next_cursor across pages
    try:
        assert rig.channel.group_sends is not None
        groups = await rig.channel.group_sends.list_groups()
        assert {g.chat_id: (g.name, g.owner) for g in groups} == {
            **GROUPS,
            STRANGER: ("别的小区群", "wangjing"),
        }
        assert len(rig.wecom.to("externalcontact/groupchat/list")) == 2
        first = groups[0]
        chat, created = await groupsend.register_group("demo", first, desk.clock.now())
        assert created and chat.kind is ChatKind.OWNERS and chat.title == first.name
        again, created = await groupsend.register_group(
            "demo", GroupInfo(first.chat_id, first.name, "lina"), desk.clock.now()
        )
        assert not created and again.id == chat.id
        assert (await CustomerGroup.get(chat_id=chat.id)).owner_userid == "lina"
        with pytest.raises(groupsend.GroupRefused):
            await groupsend.register_group("nosuch", first, desk.clock.now())
        await Chat.create(
            platform=Platform.WECOM, chat_id=STRANGER, kind=ChatKind.STAFF, estate=desk.estate
        )
        with pytest.raises(groupsend.GroupRefused):
            await groupsend.register_group(
                "demo", GroupInfo(STRANGER, "x", "wangjing"), desk.clock.now()
            )
        assert await CustomerGroup.filter(chat__chat_id=STRANGER).count() == 0
    finally:
        await server.close()


async def test_an_announcement_is_one_task_per_group_owner(rig: Rig) -> None:
    await rig.announce()

    calls = rig.wecom.to(ADD)
    assert senders(calls) == {
        "wangjing": ["wrOgQhDgAAAAAAAAA1", "wrOgQhDgAAAAAAAAA2"],
        "lina": ["wrOgQhDgAAAAAAAAA3"],
    }
    for call in calls:
        assert call.body["chat_type"] == "group"
        assert "3号楼停水" in call.body["text"]["content"]
    tasks = {task.sender: task for task in await GroupSendTask.all()}
    assert set(tasks) == {"wangjing", "lina"}
    assert tasks["lina"].msgid == rig.wecom.task_of("lina").msgid
    deliveries = await Delivery.filter(kind="announcement").order_by("chat_id")
    by_recipient = {(d.platform, d.chat_id): d for d in deliveries}
    # The two owners' tasks, and the estate's web-chat owner group as before.
    assert set(by_recipient) == {
        (Platform.WECOM, "lina"),
        (Platform.WECOM, "wangjing"),
        (Platform.WEBCHAT, "owners"),
    }
    assert all(d.status is DeliveryStatus.SENT for d in deliveries)
    assert any("3号楼停水" in m.text for m in rig.desk.channel.sent)
    # No customer group got a message of its own: WeCom gives none to an app.
    assert not await Delivery.filter(chat_id__in=list(GROUPS)).exists()


async def test_a_festival_greeting_is_a_task_per_group_owner_too(rig: Rig) -> None:
    national_day = datetime(2026, 10, 1, 1, 0, tzinfo=rig.desk.clock.now().tzinfo)
    await jobs.send_greetings(national_day, rig.desk.services, rig.desk.notifier)

    assert set(senders(rig.wecom.to(ADD))) == {"wangjing", "lina"}
    keys = sorted(await GroupSendTask.all().values_list("dedup_key", flat=True))
    assert keys == [
        "greeting:national_day:2026-10-01:groupsend:lina",
        "greeting:national_day:2026-10-01:groupsend:wangjing",
    ]


async def test_a_resend_of_the_delivery_creates_no_second_task(rig: Rig) -> None:
    await rig.announce()
    assert await rig.run_announcements() == 0  # the job again: nothing new
    assert len(rig.wecom.to(ADD)) == 2

    # The answer to one task's send was lost: the notifier sends that delivery again.
    row = await Delivery.get(chat_id="wangjing")
    await Delivery.filter(id=row.id).update(
        status=DeliveryStatus.UNKNOWN, next_attempt_at=rig.desk.clock.now()
    )
    run = await rig.desk.notifier.deliver()

    assert run.sent == 1
    assert len(rig.wecom.to(ADD)) == 2  # the recorded task answered it
    assert await GroupSendTask.filter(sender="wangjing").count() == 1
    assert len(rig.wecom.tasks) == 2


async def test_status_shows_unconfirmed_then_confirmed_and_sent(rig: Rig) -> None:
    await rig.announce()
    assert await rig.poll() == 2
    lines = {line.task.sender: line for line in await groupsend.task_lines()}
    assert lines["wangjing"].state == "not confirmed yet"
    assert [status for _, _, status in lines["wangjing"].groups] == ["not sent", "not sent"]
    assert rig.wecom.to("externalcontact/get_groupmsg_send_result") == []

    rig.later(minutes=20)
    rig.wecom.confirm("wangjing", undelivered={"wrOgQhDgAAAAAAAAA2": 3})
    rig.later(minutes=5)
    await rig.poll()

    lines = {line.task.sender: line for line in await groupsend.task_lines()}
    assert lines["wangjing"].state == "confirmed"
    assert lines["wangjing"].groups == [
        ("wrOgQhDgAAAAAAAAA1", "3号楼业主群", "sent"),
        ("wrOgQhDgAAAAAAAAA2", "5号楼业主群", "not delivered (limit reached)"),
    ]
    task = await GroupSendTask.get(sender="wangjing")
    assert task.closed and task.confirmed_at == rig.desk.clock.now() - timedelta(minutes=5)
    assert lines["lina"].state == "not confirmed yet"
    report = format_status(await groupsend.task_lines())
    assert "sender=wangjing" in report and "confirmed at 2026-11-23 10:20" in report
    assert "3号楼业主群 (wrOgQhDgAAAAAAAAA1): sent" in report
    assert "7号楼业主群 (wrOgQhDgAAAAAAAAA3): not sent" in report

    polls = len(rig.wecom.to(TASK))
    await rig.poll()  # a closed task is not asked about again
    assert len(rig.wecom.to(TASK)) == polls + 1


def format_status(lines: list[groupsend.TaskLine]) -> str:
    from bot.cli import format_group_sends

    return format_group_sends(lines, Settings(timezone="Asia/Shanghai"))


async def test_an_owner_who_does_not_confirm_is_reminded_once(rig: Rig) -> None:
    await rig.announce()
    rig.later(minutes=119)
    await rig.poll()
    assert rig.wecom.to(REMIND) == []

    rig.later(minutes=2)
    await rig.poll()
    reminded = [call.body["msgid"] for call in rig.wecom.to(REMIND)]
    assert sorted(reminded) == sorted(task.msgid for task in rig.wecom.tasks.values())

    rig.later(hours=3)
    await rig.poll()
    assert len(rig.wecom.to(REMIND)) == 2  # once each
    states = {line.task.sender: line.state for line in await groupsend.task_lines()}
    assert states == {
        "wangjing": "not confirmed yet (reminded)",
        "lina": "not confirmed yet (reminded)",
    }

    # Never confirmed: after a week it is closed, and shown as such.
    rig.later(days=7)
    await rig.poll()
    states = {line.task.sender: line.state for line in await groupsend.task_lines()}
    assert states == {"wangjing": "never confirmed", "lina": "never confirmed"}
    assert await GroupSendTask.filter(closed=False).count() == 0


async def test_a_refused_task_is_clear_and_leaves_nothing_half_written(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.wecom.script(ADD, {"errcode": 48002, "errmsg": "api forbidden"})
    with caplog.at_level(logging.INFO):
        await rig.announce()

    assert await GroupSendTask.all().count() == 1  # one went, the other was refused
    first = rig.wecom.to(ADD)[0].body["sender"]
    assert not await GroupSendTask.filter(sender=first).exists()
    refused = await Delivery.get(chat_id=first)
    assert refused.status is DeliveryStatus.PENDING
    assert "48002" in refused.last_error and "可调用应用" in refused.last_error
    assert "48002" in caplog.text and "WECOM_CONTACT_SECRET" in caplog.text
    assert len(rig.wecom.tasks) == 1

    rig.later(minutes=5)  # the retry, once WeCom accepts it
    await rig.desk.notifier.deliver()
    assert await GroupSendTask.all().count() == 2
    assert (await Delivery.get(chat_id=first)).status is DeliveryStatus.SENT


async def test_a_refused_poll_or_reminder_changes_nothing_but_says_so(rig: Rig) -> None:
    await rig.announce()
    rig.wecom.script(TASK, {"errcode": 60011, "errmsg": "no privilege to access/modify contact"})
    await rig.poll()
    tasks = {t.sender: t for t in await GroupSendTask.all()}
    failed = [t for t in tasks.values() if t.last_error]
    assert len(failed) == 1 and "60011" in failed[0].last_error
    assert "可见范围" in failed[0].last_error
    assert not failed[0].closed and failed[0].confirmed_at is None

    rig.later(hours=2, minutes=1)
    rig.wecom.script(REMIND, {"errcode": 45009, "errmsg": "api freq out of limit"})
    await rig.poll()
    unreminded = await GroupSendTask.filter(reminded_at__isnull=True)
    assert len(unreminded) == 1 and "45009" in unreminded[0].last_error
    rig.later(minutes=5)
    await rig.poll()  # tried again: now it goes, still once per task
    assert await GroupSendTask.filter(reminded_at__isnull=True).count() == 0
    assert len(rig.wecom.to(REMIND)) == 3  # the refused one, then one each


async def test_a_task_for_a_group_not_registered_to_its_owner_is_refused(rig: Rig) -> None:
    notice = Notice(
        key="announcement:99:groupsend:wangjing",
        kind="announcement",
        audience=Audience.GROUP_SEND,
        platform=Platform.WECOM,
        to="wangjing",
        text="hello",
        fields={"chats": f"wrOgQhDgAAAAAAAAA1,{STRANGER}", "task": "x"},
    )
    with pytest.raises(NoticeRefused, match=STRANGER):
        await rig.desk.notifier.enqueue([notice])
    assert not await Delivery.exists()
    assert rig.wecom.to(ADD) == []


async def test_the_contact_secret_has_its_own_token(desk: Desk) -> None:
    rig, server = await build_rig(desk, contact_secret=CONTACT_SECRET)
    try:
        assert rig.channel.group_sends is not None
        for group in await rig.channel.group_sends.list_groups():
            if group.chat_id in GROUPS:
                await groupsend.register_group("demo", group, desk.clock.now())
        await rig.announce()
        assert len(rig.wecom.to(ADD)) == 2
        # The 客户联系 calls used the contact secret's token, never the app's.
        assert {rig.wecom.token_secrets[call.token] for call in rig.wecom.calls} == {
            CONTACT_SECRET
        }
        assert await Chat.filter(platform=Platform.WECOM, kind=ChatKind.OWNERS).count() == 3
    finally:
        await rig.channel.stop()
        await server.close()


async def test_an_announcement_to_one_customer_group_is_a_task_for_its_owner_alone(
    rig: Rig,
) -> None:
    chat = await Chat.get(platform=Platform.WECOM, chat_id="wrOgQhDgAAAAAAAAA2")
    await Announcement.create(
        estate_id=rig.desk.estate.id,
        text="5号楼电梯今天检修",
        send_at=rig.desk.clock.now() - timedelta(minutes=1),
        chat_id=chat.id,
        created_by="staff:1",
        created_at=rig.desk.clock.now() - timedelta(hours=1),
    )
    await rig.run_announcements()

    assert senders(rig.wecom.to(ADD)) == {"wangjing": ["wrOgQhDgAAAAAAAAA2"]}
    assert rig.desk.channel.sent == []


async def test_a_task_carries_an_image_and_a_link_when_the_notice_has_them(rig: Rig) -> None:
    key = "announcement:7:groupsend:lina"
    message = OutgoingMessage(chat=rig.channel.private_chat("lina"), text="停水通知")
    notice = NoticeMeta(
        "announcement",
        {
            "chats": "wrOgQhDgAAAAAAAAA3",
            "task": key,
            "image_url": "https://example.com/notice.png",
            "link_url": "https://example.com/notice",
            "link_title": "停水安排",
        },
        str(Audience.GROUP_SEND),
    )
    sent = await rig.channel.send_notice(message, notice)

    [call] = rig.wecom.to(ADD)
    assert call.body["attachments"] == [
        {"msgtype": "image", "image": {"pic_url": "https://example.com/notice.png"}},
        {"msgtype": "link", "link": {"title": "停水安排", "url": "https://example.com/notice"}},
    ]
    assert sent.message_id == (await GroupSendTask.get(dedup_key=key)).msgid


async def test_a_creation_whose_answer_was_lost_is_found_not_made_twice(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.wecom.lose_answer(ADD)  # WeCom creates the first task, but its answer never arrives
    with caplog.at_level(logging.WARNING):
        await rig.announce()

    first = rig.wecom.to(ADD)[0].body["sender"]
    lost = await Delivery.get(chat_id=first)
    assert lost.status is DeliveryStatus.UNKNOWN and lost.next_attempt_at is not None
    pending = await GroupSendTask.get(sender=first)
    assert pending.msgid == "" and pending.last_error.startswith("create: ")
    lines = {line.task.sender: line.state for line in await groupsend.task_lines()}
    assert lines[first].startswith("creation unknown")
    assert await rig.poll() == 1  # a task without its msgid is not asked about

    rig.later(seconds=10)
    await rig.desk.notifier.deliver()

    assert len(rig.wecom.to(ADD)) == 2  # found among WeCom's records, not created again
    assert len(rig.wecom.tasks) == 2
    task = await GroupSendTask.get(sender=first)
    assert task.msgid == rig.wecom.task_of(first).msgid and task.last_error == ""
    assert (await Delivery.get(chat_id=first)).status is DeliveryStatus.SENT
    assert "its lost creation was found" in caplog.text


async def test_a_lost_creation_that_wecom_never_made_is_made_on_the_retry(rig: Rig) -> None:
    await rig.announce()
    # As if the first attempt's answer was lost before WeCom made anything.
    task = await GroupSendTask.get(sender="lina")
    del rig.wecom.tasks[task.msgid]
    await GroupSendTask.filter(id=task.id).update(msgid="", last_error="create: lost")
    row = await Delivery.get(chat_id="lina")
    await Delivery.filter(id=row.id).update(
        status=DeliveryStatus.UNKNOWN, next_attempt_at=rig.desk.clock.now()
    )

    await rig.desk.notifier.deliver()

    assert len(rig.wecom.to("externalcontact/get_groupmsg_list_v2")) == 1
    assert len(rig.wecom.to(ADD)) == 3
    assert (await GroupSendTask.get(sender="lina")).msgid == rig.wecom.task_of("lina").msgid
    assert await GroupSendTask.all().count() == 2


async def test_the_poll_job_does_nothing_without_the_wecom_app(desk: Desk) -> None:
    assert desk.services.hub.get(Platform.WECOM) is None
    assert await jobs.poll_group_sends(desk.clock.now(), desk.services, desk.notifier) == 0


def test_the_reminder_time_comes_from_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the machine's
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    config = WeComConfig.from_settings(
        Settings(wecom_groupsend_remind_minutes=45, wecom_contact_secret="s")
    )
    assert config.groupsend_remind_after == timedelta(minutes=45)
    assert config.contact_secret == "s"
    assert WeComConfig.from_settings(Settings()).groupsend_remind_after == timedelta(hours=2)
