"""`announce` in the staff chat: schedules, lists and cancels announcements; refuses bad input
and changes nothing; the announcements job then sends it at its time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import cast

import pytest

from bot.core.channel import ChannelHub
from bot.core.clock import FixedClock
from bot.core.context import Context, Services
from bot.core.i18n import Catalogues
from bot.core.notifier import Notifier
from bot.core.reference import EstateCache
from bot.core.types import ChatRef, IncomingMessage, Platform
from handlers.announce import announce_command
from models import (
    Announcement,
    Chat,
    ChatIdentity,
    ChatKind,
    CustomerGroup,
    Estate,
    Incident,
    Staff,
)
from scheduler.jobs import send_announcements
from tests.factories import make_estate, make_staff
from tests.fakes import FakeChannel
from tests.notice_fakes import FakeTime

STAFF_CHAT = ChatRef(Platform.WEBCHAT, "staff", is_group=True)


class Desk:
    """A staff chat, two owner groups, a staff member and the context of their messages."""

    def __init__(self, estate: Estate, staff: Staff, now: datetime) -> None:
        self.estate, self.staff = estate, staff
        self.channel = FakeChannel()
        self.clock = FixedClock(now)
        self.hub = ChannelHub()
        self.hub.add(self.channel)
        nlu = cast("object", None)  # announcements need no NLU
        self.services = Services(
            nlu=nlu,  # type: ignore[arg-type]
            catalogues=Catalogues(),
            clock=self.clock,
            hub=self.hub,
            cache=EstateCache(self.clock),
        )

    async def say(self, args: str, *, as_staff: bool = True, chat: ChatRef = STAFF_CHAT) -> str:
        """Run the command; returns what the bot answered."""
        identity, _ = await ChatIdentity.get_or_create(platform=Platform.WEBCHAT, user_id="s1")
        ctx = Context(
            message=IncomingMessage(
                chat=chat,
                sender_id="s1",
                sender_name="陈主管",
                text=f"announce {args}",
                message_id="m1",
                received_at=self.clock.now(),
            ),
            channel=self.channel,
            services=self.services,
            identity=identity,
            estate=self.estate,
            chat=await Chat.get_or_none(platform=chat.platform, chat_id=chat.chat_id),
            owner=None,
            staff=self.staff if as_staff else None,
            lang="zh",
        )
        await announce_command(ctx, args)
        assert len(ctx.outbox) == 1
        reply = ctx.outbox[0]
        assert reply.chat == chat  # type: ignore[union-attr]
        return reply.text  # type: ignore[union-attr]


@pytest.fixture
async def desk(store: str, now: datetime) -> Desk:
    estate = await make_estate()
    estate.name = "阳光花园"
    await estate.save()
    for chat_id, kind, title in (
        ("owners", ChatKind.OWNERS, "阳光花园业主群"),
        ("owners-2", ChatKind.OWNERS, "2号楼业主群"),
        ("staff", ChatKind.STAFF, "工作群"),
    ):
        await Chat.create(
            platform=Platform.WEBCHAT, chat_id=chat_id, kind=kind, estate=estate, title=title
        )
    return Desk(estate, await make_staff(estate, "陈主管"), now)


async def test_an_announcement_to_every_owner_group(desk: Desk) -> None:
    reply = await desk.say("2026-12-03 09:00 3号楼明天9点至12点停水")
    announcement = await Announcement.get()
    scheduled, understood, outage = reply.splitlines()
    assert scheduled == f"公告 #{announcement.id} 已安排：2026-12-03 09:00 发到全部 2 个业主群。"
    # What the text announces is read as an outage, told back to staff with its times.
    assert understood.startswith("已识别为计划停运")
    assert outage == "· 3号楼停水：2026-12-04 09:00 至 2026-12-04 12:00"
    [incident] = await Incident.all()
    assert (incident.kind, incident.building, incident.announcement_id) == (
        "water",
        "3",
        announcement.id,
    )
    assert incident.starts_at == datetime(2026, 12, 4, 1, 0, tzinfo=UTC)
    assert announcement.send_at == datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    assert announcement.text == "3号楼明天9点至12点停水" and announcement.chat_id is None
    assert announcement.created_by == f"staff:{desk.staff.id}"


async def test_an_announcement_to_one_group(desk: Desk) -> None:
    reply = await desk.say("2026/12/3 18:30 @2号楼业主群 明早电梯保养")
    announcement = await Announcement.get()
    group = await Chat.get(chat_id="owners-2")
    assert announcement.chat_id == group.id and announcement.text == "明早电梯保养"
    assert reply.endswith("2026-12-03 18:30 发到业主群“2号楼业主群”。")


@pytest.mark.parametrize(
    ("args", "answer"),
    [
        ("", "用法：announce 2026-12-03 09:00 公告内容"),
        ("停水通知", "用法"),
        ("2026-12-03 09:00", "用法"),
        ("2026-13-03 09:00 停水", "看不懂时间“2026-13-03 09:00”"),
        ("2026-12-03 9点 停水", "看不懂时间"),
        ("2026-11-23 09:59 停水", "时间 2026-11-23 09:59 已经过去了"),
        ("2028-01-01 09:00 停水", "只能安排一年以内的公告"),
        (
            "2026-12-03 09:00 @3号楼群 停水",
            "没有找到业主群“3号楼群”。本小区的业主群：阳光花园业主群、2号楼业主群",
        ),
        ("2026-12-03 09:00 " + "停" * 1001, "公告太长了（超过 1000 字）"),
        ("cancel x", "用法"),
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(
    desk: Desk, args: str, answer: str
) -> None:
    assert answer in await desk.say(args)
    assert await Announcement.all().count() == 0


async def test_only_staff_in_the_staff_chat(desk: Desk) -> None:
    assert "只有物业工作人员" in await desk.say("2026-12-03 09:00 停水", as_staff=False)
    owners = ChatRef(Platform.WEBCHAT, "owners", is_group=True)
    assert "只有物业工作人员" in await desk.say("2026-12-03 09:00 停水", chat=owners)
    assert await Announcement.all().count() == 0


async def test_list_and_cancel(desk: Desk) -> None:
    assert await desk.say("list") == "没有待发的公告。"
    await desk.say("2026-12-03 09:00 3号楼明天停水")
    await desk.say("2026-12-01 08:00 @2号楼业主群 电梯保养")
    listing = await desk.say("list")
    first, second = await Announcement.all().order_by("id")
    assert listing.splitlines()[1:] == [
        f"#{second.id} 2026-12-01 08:00 → 业主群“2号楼业主群”：电梯保养",
        f"#{first.id} 2026-12-03 09:00 → 全部 2 个业主群：3号楼明天停水",
    ]
    assert await desk.say(f"cancel {first.id}") == f"公告 #{first.id} 已取消。"
    assert await desk.say(f"取消 #{first.id}") == f"没有待发的公告 #{first.id}。"
    assert (await Announcement.get(id=first.id)).cancelled_at == desk.clock.now()


async def test_a_scheduled_announcement_goes_out_at_its_time(desk: Desk) -> None:
    await desk.say("2026-12-03 09:00 3号楼明天9点至12点停水")
    nine = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    time = FakeTime(nine)
    notifier = Notifier(hub=desk.hub, clock=time, sleep=time.sleep)
    services = SimpleNamespace(catalogues=Catalogues())
    assert await send_announcements(nine - timedelta(minutes=1), services, notifier) == 0
    assert await send_announcements(nine, services, notifier) == 2
    assert await send_announcements(nine + timedelta(minutes=1), services, notifier) == 0
    assert sorted(m.chat.chat_id for m in desk.channel.sent) == ["owners", "owners-2"]
    assert desk.channel.sent[0].text == "【阳光花园公告】\n3号楼明天9点至12点停水"


async def test_staff_hear_that_wecom_customer_groups_wait_for_their_owners(desk: Desk) -> None:
    for chat_id, title, owner in (
        ("wrGroupA", "3号楼客户群", "wangjing"),
        ("wrGroupB", "5号楼客户群", "wangjing"),
        ("wrGroupC", "7号楼客户群", "lina"),
    ):
        chat = await Chat.create(
            platform=Platform.WECOM,
            chat_id=chat_id,
            kind=ChatKind.OWNERS,
            estate=desk.estate,
            title=title,
        )
        await CustomerGroup.create(chat=chat, owner_userid=owner, registered_at=desk.clock.now())

    every = await desk.say("2026-12-03 09:00 明天电梯保养")
    assert "发到全部 5 个业主群" in every
    assert every.splitlines()[1].startswith(
        "其中 3 个企业微信客户群不能由管家直接发送：到时会给 2 位群主各生成一条客户群群发任务"
    )
    one = await desk.say("2026-12-03 09:00 @7号楼客户群 明天电梯保养")
    assert "其中 1 个企业微信客户群" in one and "1 位群主" in one
    plain = await desk.say("2026-12-03 09:00 @2号楼业主群 明天电梯保养")
    assert "客户群" not in plain
