"""Staff commands in private, on every platform: a bound staff member's private chat with the bot
is their staff desk (the real router, staff desk and store; each platform's far end a
FakeChannel), and the close prompt goes where its answer can come back."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bot.core.channel import Hearing
from bot.core.types import Attachment, ChatRef, IncomingMessage, Platform
from models import (
    Announcement,
    BindingRequest,
    ChatIdentity,
    Department,
    Dialog,
    EventKind,
    OneTimeCode,
    RequestStatus,
    Staff,
    StaffRole,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from tests.desk import OWNERS, STAFF, Desk, bind
from tests.factories import make_estate, make_owner, make_staff, make_unit
from tests.fakes import FakeChannel
from tests.staffdesk import bind_staff, edits, is_card, payloads, report, staff_texts

PLATFORMS = [Platform.TELEGRAM, Platform.WECHAT, Platform.WECOM, Platform.WEBCHAT]
HINT = "这里是您的员工工作台"
_ids = itertools.count(1)


class Private:
    """One person's private chat with the bot on one platform's channel (the desk's own web
    chat channel, or another platform's FakeChannel in the same hub)."""

    def __init__(self, desk: Desk, channel: FakeChannel, user: str) -> None:
        self.desk = desk
        self.channel = channel
        self.user = user
        self.chat: ChatRef = channel.private_chat(user)
        self.toasts: list[str | None] = []

    async def say(
        self, text: str, *, replied_to: str | None = None, photos: tuple[str, ...] = ()
    ) -> None:
        """The person writes to the bot privately."""
        await self.desk.router.handle(self._message(text, replied_to, photos), self.channel)

    async def press(self, payload: str, on: str | None = None) -> str | None:
        """The person presses a button in their private chat; the private answer (toast)."""
        message = self._message("", on, (), payload=payload)
        toast = await self.desk.router.handle(message, self.channel)
        self.toasts.append(toast)
        return toast

    def _message(
        self,
        text: str,
        replied_to: str | None,
        photos: tuple[str, ...],
        payload: str | None = None,
    ) -> IncomingMessage:
        return IncomingMessage(
            chat=self.chat,
            sender_id=self.user,
            sender_name=self.user,
            text=text,
            message_id=f"p-{next(_ids)}",
            received_at=self.desk.clock.now(),
            payload=payload,
            replied_to=replied_to,
            attachments=tuple(Attachment("photo", ref) for ref in photos),
        )

    def texts(self) -> list[str]:
        """What the bot wrote in this private chat."""
        return self.channel.texts(self.chat.chat_id)

    def last(self) -> str:
        """The last thing the bot wrote here."""
        return self.texts()[-1]


async def private_of(
    desk: Desk, platform: Platform, user: str, *, staff: Staff | None = None
) -> Private:
    """`user`'s private chat on `platform` (its channel added to the desk's hub), their account
    bound to `staff` when given."""
    channel = desk.channel
    if platform is not desk.channel.platform:
        found = desk.services.hub.get(platform)
        if found is None:
            found = FakeChannel(platform=platform)
            desk.services.hub.add(found)
        assert isinstance(found, FakeChannel)
        channel = found
    if staff is not None:
        identity, _ = await ChatIdentity.get_or_create(platform=platform, user_id=user)
        identity.staff_id = staff.id
        await identity.save()
    return Private(desk, channel, user)


async def events_of(ticket: Ticket) -> list[EventKind]:
    return [e.kind for e in await TicketEvent.filter(ticket_id=ticket.id).order_by("id")]


def rating_requests(desk: Desk, number: str) -> list[str]:
    """What the owner group was told of a ticket's result, with the rating buttons."""
    return [
        m.text
        for m in desk.channel.to(OWNERS.chat_id)
        if m.text.startswith(f"您的工单 {number} 已处理完毕") and payloads(m)
    ]


# --- Commands in private, on each platform ---------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_the_ticket_desk_works_in_private_on_every_platform(
    desk: Desk, platform: Platform
) -> None:
    await bind("u-li", desk.owners["li"])
    ticket = await report(desk)
    zhang = await private_of(desk, platform, "zhang-1", staff=desk.staff["zhang"])
    desk.channel.clear()

    await zhang.say("队列")
    assert zhang.last().startswith("待处理工单 1 张：\nR-0001 工程部 3-2-501 待接单")

    await zhang.say("转派 R-0001 保洁")
    assert zhang.last() == "工单 R-0001 已转派至保洁部，重新进入待接单队列。"
    assert (await Ticket.get(id=ticket.id)).department is Department.CLEANING
    # The card in the staff chat shows it, edited in place, as when it is done there.
    [(_, card)] = edits(desk)
    assert is_card(card, "R-0001") and "保洁部" in card.text

    assert await zhang.press(f"claim:{ticket.id}") == "您已接单 R-0001。"
    await zhang.say("我的")
    assert zhang.last().startswith("您手上的工单 1 张：\nR-0001 保洁部")

    await zhang.say("回复 R-0001 师傅10分钟到")
    assert zhang.last() == "已将回复转给工单 R-0001 的业主。"
    assert "【R-0001】物业回复：师傅10分钟到" in desk.channel.texts(OWNERS.chat_id)

    await zhang.say("备注 R-0001 需要换整根水管")
    assert zhang.last() == "已为工单 R-0001 添加内部备注。"

    await zhang.say("结单 R-0001 已更换水管，测试正常")
    assert zhang.last() == "工单 R-0001 已办结，已请业主评价。"
    resolved = await Ticket.get(id=ticket.id)
    assert resolved.status is TicketStatus.RESOLVED
    assert resolved.result == "已更换水管，测试正常"
    assert rating_requests(desk, "R-0001") != []

    # Not one of these was an owner's report, and nothing was said into the staff chat.
    assert await Ticket.all().count() == 1
    assert staff_texts(desk) == []
    assert await events_of(resolved) == [
        EventKind.OPENED,
        EventKind.TRANSFERRED,
        EventKind.CLAIMED,
        EventKind.ANSWERED,
        EventKind.NOTED,
        EventKind.RESOLVED,
    ]


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_help_report_and_announce_work_in_private(
    desk: Desk, platform: Platform, tmp_path: Path
) -> None:
    desk.services.reports_dir = tmp_path / "reports"
    chen = await private_of(desk, platform, "chen-1", staff=desk.staff["chen"])

    await chen.say("帮助")
    assert chen.last().startswith("员工指令（中文、英文均可）：")
    assert "队列" in chen.last() and "结单" in chen.last()

    await chen.say("报表 2026-11")
    [report_message] = [m for m in chen.channel.to(chen.chat.chat_id) if m.attachments]
    assert report_message.photos and report_message.attachments

    await chen.say("公告 2026-12-03 09:00 3号楼明天9点至12点停水")
    announcement = await Announcement.get()
    assert announcement.estate_id == desk.estate.id and announcement.chat_id is None
    assert chen.last().startswith(f"公告 #{announcement.id} 已安排")
    assert await Ticket.all().count() == 0


async def test_supervisor_commands_keep_their_permissions_in_private(desk: Desk) -> None:
    zhang = await private_of(desk, Platform.TELEGRAM, "zhang-1", staff=desk.staff["zhang"])
    chen = await private_of(desk, Platform.TELEGRAM, "chen-1", staff=desk.staff["chen"])

    await zhang.say("员工码 张工")
    assert zhang.last() == "只有主管或项目经理可以这样操作，没有任何改动。"
    assert await OneTimeCode.all().count() == 0

    await chen.say("员工码 张工")
    code = await OneTimeCode.get()
    # The code is told once, in the private chat it was asked in.
    [told] = chen.texts()
    assert told.startswith(f"张工 的员工绑定码：{code.code}")


async def test_binding_requests_are_decided_in_private(desk: Desk) -> None:
    newcomer = await private_of(desk, Platform.WEBCHAT, "u-new")
    await newcomer.say("申请绑定 3-1-501 王小明")
    request = await BindingRequest.get()
    zhang = await private_of(desk, Platform.WECHAT, "zhang-1", staff=desk.staff["zhang"])

    await zhang.say(f"同意 {request.id}")

    decided = await BindingRequest.get(id=request.id)
    assert decided.status is RequestStatus.APPROVED
    assert zhang.last().startswith(f"已同意绑定申请 #{request.id}")
    identity = await ChatIdentity.get(platform=Platform.WEBCHAT, user_id="u-new")
    assert identity.owner_id is not None
    await zhang.say("绑定列表 3-1-501")
    assert "u-new" in zhang.last()


async def test_a_staff_member_acts_only_on_their_own_estate_in_private(desk: Desk) -> None:
    await bind("u-li", desk.owners["li"])
    ticket = await report(desk)
    other_estate = await make_estate("river")
    stranger = await make_staff(other_estate, "赵工", StaffRole.ENGINEER, Department.ENGINEERING)
    zhao = await private_of(desk, Platform.WECOM, "zhao-1", staff=stranger)
    desk.channel.clear()

    await zhao.say("队列")
    assert zhao.last() == "目前没有待处理的工单。"
    await zhao.say("结单 R-0001 已修好")
    assert zhao.last() == "本小区没有工单 R-0001。"
    toast = await zhao.press(f"claim:{ticket.id}")
    assert toast is not None and "只有本小区已绑定的工作人员" in toast

    after = await Ticket.get(id=ticket.id)
    assert after.status is TicketStatus.OPEN and after.claimed_by_id is None
    assert await events_of(after) == [EventKind.OPENED]
    assert desk.channel.edits == [] and desk.channel.sent == []


# --- What is not a command ----------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_staff_members_private_chatter_opens_nothing(
    desk: Desk, platform: Platform
) -> None:
    zhang = await private_of(desk, platform, "zhang-1", staff=desk.staff["zhang"])

    for text in ("已更换热水器，测试正常", "卫生间天花板在漏水", "/start", "救命！电梯困人了"):
        await zhang.say(text)
        assert zhang.last().startswith(HINT), text
    await zhang.say("", photos=("photo-1",))
    assert zhang.last().startswith(HINT)

    assert await Ticket.all().count() == 0
    assert await Dialog.all().count() == 0
    assert desk.channel.to(STAFF.chat_id) == []
    # Staff-only: the hint says nothing of reporting as an owner.
    assert "业主 厨房水管漏水" not in zhang.last()


async def test_an_owners_private_messages_are_still_reports_and_commands_are_refused(
    desk: Desk,
) -> None:
    await bind("u-li", desk.owners["li"])
    li = await private_of(desk, Platform.WEBCHAT, "u-li")

    await li.say("队列")
    assert li.last() == "这是物业员工的指令。如需报修或投诉，直接描述问题即可。"
    await li.say("3栋2单元501 卫生间天花板在漏水")
    ticket = await Ticket.get()
    assert ticket.owner_id == desk.owners["li"].id and "R-0001" in li.last()


async def test_a_person_bound_as_staff_and_owner_is_staff_first(desk: Desk) -> None:
    # 张工 lives in 3-2-501: one WeCom account, bound as staff and as the owner 李华.
    zhang = await private_of(desk, Platform.WECOM, "zhang-1", staff=desk.staff["zhang"])
    identity = await ChatIdentity.get(platform=Platform.WECOM, user_id="zhang-1")
    identity.owner_id = desk.owners["li"].id
    await identity.save()

    await zhang.say("厨房水管漏水了")
    assert zhang.last().startswith(HINT)
    assert "以业主身份报事，请以“业主”开头" in zhang.last()
    assert await Ticket.all().count() == 0

    await zhang.say("业主 厨房水管漏水了")
    ticket = await Ticket.get()
    assert ticket.owner_id == desk.owners["li"].id
    assert ticket.text == "厨房水管漏水了" and ticket.status is TicketStatus.OPEN
    assert "R-0001" in zhang.last()
    [card] = [m for m in desk.channel.to(STAFF.chat_id) if is_card(m, "R-0001")]
    assert "报事人：李华（3-2-501）" in card.text

    # Still staff: the desk answers, on the estate they are staff of.
    await zhang.say("队列")
    assert zhang.last().startswith("待处理工单 1 张：\nR-0001")
    # `业主` alone, or with nothing after it, reports nothing.
    await zhang.say("业主")
    assert zhang.last().startswith(HINT) and await Ticket.all().count() == 1


async def test_staff_of_one_estate_and_owner_in_another_keep_the_two_apart(desk: Desk) -> None:
    await bind("u-li", desk.owners["li"])
    await report(desk)  # R-0001 of the desk's estate
    river = await make_estate("river")
    home = await make_owner(river, "张伟", await make_unit(river, "1", "1", "101"))
    zhang = await private_of(desk, Platform.TELEGRAM, "zhang-1", staff=desk.staff["zhang"])
    identity = await ChatIdentity.get(platform=Platform.TELEGRAM, user_id="zhang-1")
    identity.owner_id = home.id
    await identity.save()

    await zhang.say("队列")
    assert zhang.last().startswith("待处理工单 1 张：\nR-0001 工程部 3-2-501")
    await zhang.say("业主 厨房水管漏水了")

    mine = await Ticket.get(owner_id=home.id)
    assert mine.estate_id == river.id and mine.number == "R-0001"
    assert await Ticket.filter(estate_id=desk.estate.id).count() == 1


async def test_staff_words_and_reports_in_the_owner_group_are_as_before(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    identity = await ChatIdentity.get(platform=Platform.WEBCHAT, user_id="u-zhang")
    identity.owner_id = desk.owners["li"].id
    await identity.save()

    await desk.say("队列", "u-zhang", addressed=True)
    assert desk.channel.texts(OWNERS.chat_id)[-1] == "员工指令请在员工群里使用，或私聊我发送。"
    assert await Ticket.all().count() == 0
    # In the owner group a person bound as staff and owner reports as anyone does.
    ticket = await report(desk, sender="u-zhang")
    assert ticket.owner_id == desk.owners["li"].id


async def test_owner_word_from_staff_who_is_no_owner_reports_nothing(desk: Desk) -> None:
    zhang = await private_of(desk, Platform.TELEGRAM, "zhang-1", staff=desk.staff["zhang"])

    await zhang.say("业主 3栋2单元501 厨房水管漏水了")

    assert zhang.last().startswith(HINT)
    assert await Ticket.all().count() == 0


# --- The close prompt -----------------------------------------------------------------------


async def claimed_by_zhang(desk: Desk) -> Ticket:
    """A ticket reported by 李华 and claimed by 张工 from the staff chat's card."""
    await bind("u-li", desk.owners["li"])
    await bind_staff("u-zhang", desk.staff["zhang"])
    ticket = await report(desk)
    await desk.press(f"claim:{ticket.id}", "u-zhang", STAFF, on="out-1")
    desk.channel.clear()
    return await Ticket.get(id=ticket.id)


async def test_close_in_a_staff_chat_that_hears_nothing_asks_privately(desk: Desk) -> None:
    desk.channel.group_hearing = Hearing.NOTHING  # a WeCom app group chat
    ticket = await claimed_by_zhang(desk)
    zhang = await private_of(desk, Platform.WEBCHAT, "u-zhang")
    chen = await private_of(desk, Platform.WEBCHAT, "u-chen", staff=desk.staff["chen"])

    toast = await desk.press(f"close:{ticket.id}", "u-zhang", STAFF, on="out-1")

    # The prompt went to the presser privately (their answer could never come from the group).
    assert toast is None
    assert staff_texts(desk) == []
    assert zhang.texts() == [
        "请直接回复工单 R-0001 的处理结果（如“已更换水管，测试正常”），5 分钟内有效；"
        "回复“取消”放弃结单。"
    ]
    # Someone else's private words close nothing; a command meanwhile is a command.
    await chen.say("已修好")
    assert chen.last().startswith(HINT)
    await zhang.say("队列")
    assert zhang.last().startswith("待处理工单 1 张：")
    # A binding word is a binding attempt (a wrong code here), never the result.
    await zhang.say("绑定 WXYZ2345")
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.CLAIMED
    assert "WXYZ2345" not in (await Ticket.get(id=ticket.id)).result

    await zhang.say("已更换热水器，测试正常")

    resolved = await Ticket.get(id=ticket.id)
    assert resolved.status is TicketStatus.RESOLVED
    assert resolved.result == "已更换热水器，测试正常"
    assert zhang.last() == "工单 R-0001 已办结，已请业主评价。"
    assert rating_requests(desk, "R-0001") != []
    [(_, card)] = edits(desk)
    assert "已更换热水器，测试正常" in card.text
    # The prompt is answered: the next private words are no result of anything.
    await zhang.say("好的")
    assert zhang.last().startswith(HINT)
    assert await Ticket.all().count() == 1
    assert await Dialog.all().count() == 0


async def test_a_private_close_prompt_takes_a_reply_or_cancel_and_lapses(desk: Desk) -> None:
    desk.channel.group_hearing = Hearing.NOTHING
    ticket = await claimed_by_zhang(desk)
    zhang = await private_of(desk, Platform.WEBCHAT, "u-zhang")

    await desk.press(f"close:{ticket.id}", "u-zhang", STAFF, on="out-1")
    await zhang.say("取消")
    assert zhang.last() == "已取消工单 R-0001 的结单。"

    await desk.press(f"close:{ticket.id}", "u-zhang", STAFF, on="out-1")
    desk.clock.advance(minutes=6)
    await zhang.say("已更换热水器")
    assert zhang.last().startswith(HINT)
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.CLAIMED

    await desk.press(f"close:{ticket.id}", "u-zhang", STAFF, on="out-1")
    prompt = desk.channel.id_of(desk.channel.to(zhang.chat.chat_id)[-1])
    await zhang.say("R-0001 已更换热水器", replied_to=prompt)
    resolved = await Ticket.get(id=ticket.id)
    assert resolved.status is TicketStatus.RESOLVED and resolved.result == "已更换热水器"


async def test_a_report_as_owner_is_no_close_result(desk: Desk) -> None:
    desk.channel.group_hearing = Hearing.NOTHING
    ticket = await claimed_by_zhang(desk)
    identity = await ChatIdentity.get(platform=Platform.WEBCHAT, user_id="u-zhang")
    identity.owner_id = desk.owners["wang"].id
    await identity.save()
    zhang = await private_of(desk, Platform.WEBCHAT, "u-zhang")
    await desk.press(f"close:{ticket.id}", "u-zhang", STAFF, on="out-1")

    await zhang.say("业主 5栋1单元1202 厨房水管漏水了")

    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.CLAIMED
    reported = await Ticket.get(owner_id=desk.owners["wang"].id)
    assert reported.number == "R-0002" and reported.text == "5栋1单元1202 厨房水管漏水了"


async def test_close_typed_in_private_closes_and_ends_the_prompt(desk: Desk) -> None:
    desk.channel.group_hearing = Hearing.NOTHING
    ticket = await claimed_by_zhang(desk)
    zhang = await private_of(desk, Platform.WEBCHAT, "u-zhang")
    await desk.press(f"close:{ticket.id}", "u-zhang", STAFF, on="out-1")

    await zhang.say("结单 R-0001 已更换热水器，测试正常")

    resolved = await Ticket.get(id=ticket.id)
    assert resolved.status is TicketStatus.RESOLVED
    assert resolved.result == "已更换热水器，测试正常"
    assert await Dialog.all().count() == 0
    await zhang.say("谢谢")
    assert zhang.last().startswith(HINT)


async def test_the_transfer_picker_of_a_staff_chat_that_hears_nothing_comes_privately(
    desk: Desk,
) -> None:
    desk.channel.group_hearing = Hearing.NOTHING
    ticket = await claimed_by_zhang(desk)
    zhang = await private_of(desk, Platform.WEBCHAT, "u-zhang")

    assert await desk.press(f"transfer:{ticket.id}", "u-zhang", STAFF, on="out-1") is None

    assert staff_texts(desk) == []
    [picker] = desk.channel.to(zhang.chat.chat_id)
    assert f"transfer_to:{ticket.id}:engineering:cleaning" in payloads(picker)
    toast = await zhang.press(
        f"transfer_to:{ticket.id}:engineering:cleaning", on=desk.channel.id_of(picker)
    )
    assert toast == "工单 R-0001 已转派至保洁部，重新进入待接单队列。"
    assert (await Ticket.get(id=ticket.id)).department is Department.CLEANING
    # The picker says what became of it; the staff chat's card shows the move.
    [(sent, used)] = [(s, m) for s, m in desk.channel.edits if m.chat == zhang.chat]
    assert sent.message_id == desk.channel.id_of(picker) and used.buttons == ()
    [(_, card)] = edits(desk)
    assert "保洁部" in card.text


async def test_close_in_a_staff_chat_that_hears_everything_asks_there(desk: Desk) -> None:
    ticket = await claimed_by_zhang(desk)  # the web chat's staff chat: every message reaches
    zhang = await private_of(desk, Platform.WEBCHAT, "u-zhang")

    toast = await desk.press(f"close:{ticket.id}", "u-zhang", STAFF, on="out-1")

    assert toast == "请回复提示消息填写工单 R-0001 的处理结果。"
    [prompt] = desk.channel.to(STAFF.chat_id)
    assert prompt.text.startswith("u-zhang，请回复本条消息填写工单 R-0001 的处理结果")
    assert zhang.texts() == []
    # Chatter in the group, and private words, are no result.
    await desk.say("好的我现在过去看看", "u-zhang", STAFF)
    await zhang.say("已更换热水器")
    assert zhang.last().startswith(HINT)
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.CLAIMED

    await desk.say("已更换热水器", "u-zhang", STAFF, replied_to=desk.channel.id_of(prompt))
    assert (await Ticket.get(id=ticket.id)).result == "已更换热水器"


async def test_close_in_a_staff_chat_that_hears_only_mentions(desk: Desk) -> None:
    desk.channel.group_hearing = Hearing.ADDRESSED  # the WeCom AI bot's group
    ticket = await claimed_by_zhang(desk)
    await bind_staff("u-chen", desk.staff["chen"])

    await desk.press(f"close:{ticket.id}", "u-zhang", STAFF, on="out-1")

    [prompt] = desk.channel.to(STAFF.chat_id)
    assert prompt.text.startswith("u-zhang，请 @我 并写上工单 R-0001 的处理结果")
    # Another staff member's @-mention is not the presser's result.
    await desk.say("@管家 已更换热水器", "u-chen", STAFF, addressed=True)
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.CLAIMED
    # A command still is a command, the mention in front of it no part of it.
    await desk.say("@管家 队列", "u-zhang", STAFF, addressed=True)
    assert staff_texts(desk)[-1].startswith("待处理工单 1 张：")
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.CLAIMED

    await desk.say("@管家 已更换热水器，测试正常", "u-zhang", STAFF, addressed=True)

    resolved = await Ticket.get(id=ticket.id)
    assert resolved.status is TicketStatus.RESOLVED
    assert resolved.result == "已更换热水器，测试正常"


# --- Buttons pressed in private ---------------------------------------------------------------


async def test_stale_foreign_and_unknown_buttons_in_private_change_nothing(desk: Desk) -> None:
    ticket = await claimed_by_zhang(desk)
    wang_staff = await make_staff(desk.estate, "王工", StaffRole.ENGINEER, Department.ENGINEERING)
    wang = await private_of(desk, Platform.TELEGRAM, "wang-1", staff=wang_staff)
    owner = await private_of(desk, Platform.WEBCHAT, "u-li")
    events = await events_of(ticket)

    assert await wang.press(f"claim:{ticket.id}") == "工单 R-0001 已由 张工 接单。"
    stale = await wang.press(f"transfer_to:{ticket.id}:cleaning:security")
    assert stale is not None and "没有任何改动" in stale
    assert await wang.press("claim:999999") == "这个按钮无效，已忽略。"
    assert await wang.press("launch:1") == "这个按钮无效，已忽略。"
    toast = await owner.press(f"close:{ticket.id}")
    assert toast is not None and "只有本小区已绑定的工作人员" in toast

    after = await Ticket.get(id=ticket.id)
    assert after.status is TicketStatus.CLAIMED
    assert after.claimed_by_id == desk.staff["zhang"].id
    assert after.department is Department.ENGINEERING
    assert await events_of(after) == events
    assert await Dialog.all().count() == 0
    assert desk.channel.edits == [] and staff_texts(desk) == []


async def test_close_pressed_on_a_card_in_private_asks_there(desk: Desk) -> None:
    ticket = await claimed_by_zhang(desk)
    zhang = await private_of(desk, Platform.WECOM, "zhang-w", staff=desk.staff["zhang"])

    toast = await zhang.press(f"close:{ticket.id}")

    assert toast == "请回复提示消息填写工单 R-0001 的处理结果。"
    assert zhang.texts()[0].startswith("请直接回复工单 R-0001 的处理结果")
    await zhang.say("已更换热水器")
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.RESOLVED
