"""The staff desk through the router: cards, claiming, replying, closing, rating, commands."""

from __future__ import annotations

import asyncio

import pytest

from handlers.staff import parse_command, ticket_number
from models import (
    Department,
    EventKind,
    StaffRole,
    Ticket,
    TicketCard,
    TicketEvent,
    TicketStatus,
)
from tests.desk import OWNERS, STAFF, Desk, bind
from tests.factories import make_staff
from tests.staffdesk import bind_staff, cards, edits, is_card, payloads, report, staff_texts

LEAK = "13800000001"


async def events_of(ticket: Ticket) -> list[EventKind]:
    return [e.kind for e in await TicketEvent.filter(ticket_id=ticket.id).order_by("id")]


async def test_a_new_ticket_posts_a_card_without_the_phone(desk: Desk) -> None:
    await bind("u-li", desk.owners["li"])
    ticket = await report(desk)

    [card] = cards(desk, "R-0001")
    assert card.chat == STAFF
    lines = card.text.splitlines()
    assert lines[0] == "【R-0001】报修 · 工程部"
    # Where the fault is and who reported it (and where they live) are two lines.
    assert "位置：3-2-501" in lines and "报事人：李华（3-2-501）" in lines
    assert "内容：3栋2单元501 厨房水管漏水了" in lines
    # Promised: a response by 10:15 Shanghai time, done within 24 hours.
    assert "承诺：11-23 10:15 前响应，11-24 10:00 前处理完成" in lines
    assert "状态：待接单" in lines
    assert LEAK not in card.text
    # Nobody holds it yet: it can be claimed or transferred, not closed by a button.
    assert payloads(card) == [f"claim:{ticket.id}", f"transfer:{ticket.id}"]
    saved = await TicketCard.get(ticket_id=ticket.id)
    assert (saved.platform, saved.chat_id) == ("webchat", "staff")
    assert saved.message_id == desk.channel.id_of(card)
    # The owner still gets the ticket's number, in the group.
    assert any("R-0001" in text for text in desk.channel.texts(OWNERS.chat_id))


async def test_an_urgent_card_pages_its_departments_staff_when_nobody_is_rostered(
    desk: Desk,
) -> None:
    off = await make_staff(desk.estate, "刘师傅", StaffRole.ENGINEER, Department.ENGINEERING)
    off.on_duty = False
    await off.save()
    await make_staff(desk.estate, "赵阿姨", StaffRole.CLEANER, Department.CLEANING)

    await report(desk, "救命！电梯困人了，5栋的电梯卡在8楼，里面有老人")

    [card] = [m for m in desk.channel.to(STAFF.chat_id) if "R-0001" in m.text]
    first, second = card.text.splitlines()[:2]
    # Nobody is on the roster: the engineering staff marked on duty, not the whole estate.
    assert first == "【紧急】请值班人员立即处理：@张工"
    assert "刘师傅" not in card.text and "赵阿姨" not in card.text and "陈主管" not in card.text
    assert second.startswith("【R-0001】")


async def test_two_staff_claiming_at_once_one_wins(desk: Desk) -> None:
    wang = await make_staff(desk.estate, "王工", StaffRole.ENGINEER, Department.ENGINEERING)
    await bind_staff("u-zhang", desk.staff["zhang"])
    await bind_staff("u-wang-gong", wang)
    ticket = await report(desk)
    [posted] = cards(desk, "R-0001")
    on = desk.channel.id_of(posted)
    desk.channel.clear()

    toasts = await asyncio.gather(
        desk.press(f"claim:{ticket.id}", "u-zhang", STAFF, on=on),
        desk.press(f"claim:{ticket.id}", "u-wang-gong", STAFF, on=on),
    )

    ticket = await Ticket.get(id=ticket.id)
    assert ticket.status is TicketStatus.CLAIMED
    winner = "张工" if ticket.claimed_by_id == desk.staff["zhang"].id else "王工"
    [(sent, card)] = edits(desk)
    assert sent.message_id == on and is_card(card, "R-0001")
    assert f"状态：处理中（{winner}）" in card.text
    assert payloads(card) == [f"transfer:{ticket.id}", f"close:{ticket.id}"]
    # Each presser is told privately how it went; nothing is posted into the staff chat.
    assert sorted(toasts, key=lambda t: "已由" in (t or "")) == [
        "您已接单 R-0001。",
        f"工单 R-0001 已由 {winner} 接单。",
    ]
    assert desk.channel.texts(STAFF.chat_id) == []
    # The owner hears once that someone has it, quoting their report.
    [heard] = desk.channel.to(OWNERS.chat_id)
    assert heard.text == f"您的工单 R-0001 已由工程部{winner}接单，正在处理。"
    assert heard.reply_to == ticket.source_message_id
    assert (await events_of(ticket)).count(EventKind.CLAIMED) == 1


@pytest.mark.parametrize("where", ["staff", "private"])
async def test_a_non_staff_press_is_refused_and_nothing_changes(desk: Desk, where: str) -> None:
    await bind("u-li", desk.owners["li"])  # an owner, not staff
    ticket = await report(desk)
    desk.channel.clear()
    chat = STAFF if where == "staff" else desk.private("u-li")

    toasts = [
        await desk.press(payload, "u-li", chat)
        for payload in (
            f"claim:{ticket.id}",
            f"close:{ticket.id}",
            f"transfer_to:{ticket.id}:engineering:cleaning",
        )
    ]

    after = await Ticket.get(id=ticket.id)
    assert after.status is TicketStatus.OPEN and after.claimed_by_id is None
    assert after.department is Department.ENGINEERING
    assert await events_of(after) == [EventKind.OPENED]
    assert desk.channel.edits == [] and desk.channel.sent == []
    assert all("只有本小区已绑定的工作人员" in (t or "") for t in toasts)


async def test_an_unbound_member_of_the_staff_chat_is_refused(desk: Desk) -> None:
    ticket = await report(desk)
    desk.channel.clear()

    # Chatter is left alone; a command or a button is refused.
    await desk.say("大家辛苦了", "u-newcomer", STAFF)
    assert desk.channel.sent == []
    await desk.say("队列", "u-newcomer", STAFF)
    await desk.say("结单 R-0001 修好了", "u-newcomer", STAFF)
    toast = await desk.press(f"claim:{ticket.id}", "u-newcomer", STAFF)

    texts = staff_texts(desk)
    assert len(texts) == 2 and all("只有本小区已绑定的工作人员" in t for t in texts)
    assert "只有本小区已绑定的工作人员" in (toast or "")
    after = await Ticket.get(id=ticket.id)
    assert after.status is TicketStatus.OPEN and await events_of(after) == [EventKind.OPENED]


async def test_staff_of_another_estate_are_refused(desk: Desk) -> None:
    from tests.factories import make_estate

    other = await make_estate("other")
    stranger = await make_staff(other, "外人", StaffRole.SUPERVISOR, Department.ENGINEERING)
    await bind_staff("u-other", stranger)
    ticket = await report(desk)
    desk.channel.clear()

    toasts = [
        await desk.press(f"claim:{ticket.id}", "u-other", STAFF),
        await desk.press(f"claim:{ticket.id}", "u-other", desk.private("u-other")),
    ]

    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.OPEN
    assert desk.channel.sent == []
    assert all("只有本小区已绑定的工作人员" in (t or "") for t in toasts)


async def test_reply_is_relayed_to_the_owner_where_they_reported(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    await bind("u-smith", desk.owners["smith"])
    report_message = await desk.say("3栋2单元501 厨房水管漏水了", "u-li")
    await desk.say(
        "The light in my bathroom stopped working, can someone fix it?",
        "u-smith",
        desk.private("u-smith"),
    )
    desk.channel.clear()

    await desk.say("回复 R-0001 师傅10分钟到", "u-zhang", STAFF)
    await desk.say("reply r2 An electrician is on the way", "u-zhang", STAFF)

    [to_group] = desk.channel.to(OWNERS.chat_id)
    assert to_group.text == "【R-0001】物业回复：师傅10分钟到"
    assert to_group.reply_to == report_message.message_id
    [to_smith] = desk.channel.to(desk.private("u-smith").chat_id)
    assert to_smith.text == "[R-0002] The property office replies: An electrician is on the way"
    assert to_smith.reply_to is None
    assert staff_texts(desk) == [
        "已将回复转给工单 R-0001 的业主。",
        "已将回复转给工单 R-0002 的业主。",
    ]
    first = await Ticket.get(number="R-0001")
    answered = await TicketEvent.get(ticket_id=first.id, kind=EventKind.ANSWERED)
    assert answered.data == {"text": "师傅10分钟到"}
    assert answered.actor == f"staff:{desk.staff['zhang'].id}"


async def test_every_reporter_of_a_joined_ticket_hears_the_result(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    await desk.say("3号楼电梯又坏了", "u-a")
    desk.clock.advance(minutes=5)
    await desk.say("3号楼的电梯又坏了！！！", "u-b")
    ticket = await Ticket.get(number="R-0001")
    desk.channel.clear()

    await desk.say("结单 R-0001 电梯已修复", "u-zhang", STAFF)

    told = desk.channel.to(OWNERS.chat_id)
    assert len(told) == 2
    assert all(m.text.startswith("您的工单 R-0001 已处理完毕：电梯已修复") for m in told)
    assert all(len(payloads(m)) == 5 for m in told)
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.RESOLVED


async def test_close_by_button_then_a_poor_rating_reopens_and_alerts_the_supervisor(
    desk: Desk,
) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    await bind_staff("u-chen", desk.staff["chen"])
    ticket = await report(desk)
    await desk.say("", "u-zhang", STAFF, payload=f"claim:{ticket.id}")
    desk.channel.clear()

    toast = await desk.press(f"close:{ticket.id}", "u-zhang", STAFF, on="out-1")
    assert "回复提示消息" in (toast or "")
    [prompt] = desk.channel.to(STAFF.chat_id)
    assert prompt.text.startswith("u-zhang，请回复本条消息填写工单 R-0001 的处理结果")
    prompt_id = desk.channel.id_of(prompt)
    # Someone else's message, and the presser's own chatter, are not taken as the result.
    await desk.say("我去看看", "u-chen", STAFF)
    await desk.say("好的我现在过去看看", "u-zhang", STAFF)
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.CLAIMED
    await desk.say("已更换水管接头，不再漏水", "u-zhang", STAFF, replied_to=prompt_id)

    resolved = await Ticket.get(id=ticket.id)
    assert resolved.status is TicketStatus.RESOLVED
    assert resolved.result == "已更换水管接头，不再漏水"
    [request] = desk.channel.to(OWNERS.chat_id)
    assert request.text.startswith("您的工单 R-0001 已处理完毕：已更换水管接头，不再漏水")
    assert [b.label for row in request.buttons for b in row] == [
        "非常满意",
        "满意",
        "一般",
        "不满意",
        "极不满意",
    ]
    assert payloads(request) == [f"rate:{ticket.id}:{n}" for n in (5, 4, 3, 2, 1)]
    _, card = edits(desk)[-1]
    assert "状态：已办结，待业主评价（张工）" in card.text and card.buttons == ()
    request_id = desk.channel.id_of(request)
    desk.channel.clear()

    toast = await desk.press(f"rate:{ticket.id}:2", "u-li", OWNERS, on=request_id)

    reopened = await Ticket.get(id=ticket.id)
    assert reopened.status is TicketStatus.OPEN and reopened.reopen_count == 1
    assert reopened.claimed_by_id is None and reopened.rating == 2
    assert "已重新派单" in (toast or "")
    # The rating message loses its buttons; nothing is posted into the owner group.
    assert desk.channel.to(OWNERS.chat_id) == []
    [(rated_on, rated)] = [(sent, m) for sent, m in desk.channel.edits if m.chat == OWNERS]
    assert rated_on.message_id == request_id and rated.buttons == ()
    assert "不满意" in rated.text
    [alert] = staff_texts(desk)
    assert "R-0001" in alert and "不满意" in alert and "@陈主管" in alert
    [private] = desk.channel.to(desk.private("u-chen").chat_id)
    assert "R-0001" in private.text and "不满意" in private.text
    _, card = edits(desk)[-1]
    assert "状态：待接单" in card.text and payloads(card)[0] == f"claim:{ticket.id}"
    assert (await events_of(reopened))[-2:] == [EventKind.RATED, EventKind.REOPENED]


async def test_a_good_rating_closes_the_ticket(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    ticket = await report(desk)
    await desk.say("close R-0001 fixed the tap", "u-zhang", STAFF)
    [request] = desk.channel.to(OWNERS.chat_id)[-1:]
    request_id = desk.channel.id_of(request)
    desk.channel.clear()

    toast = await desk.press(f"rate:{ticket.id}:5", "u-li", OWNERS, on=request_id)

    closed = await Ticket.get(id=ticket.id)
    assert closed.status is TicketStatus.CLOSED and closed.rating == 5
    assert toast == "感谢您对工单 R-0001 的评价！"
    assert desk.channel.texts(OWNERS.chat_id) == []
    [(sent, rated)] = [(sent, m) for sent, m in desk.channel.edits if m.chat == OWNERS]
    assert sent.message_id == request_id and rated.buttons == () and "非常满意" in rated.text
    _, card = edits(desk)[-1]
    assert "业主评价：非常满意" in card.text and "状态：已关闭" in card.text
    # A stale rating button changes nothing and writes nothing into the group.
    desk.channel.clear()
    toast = await desk.press(f"rate:{ticket.id}:1", "u-li", OWNERS, on=request_id)
    assert (await Ticket.get(id=ticket.id)).rating == 5
    assert "已评价" in (toast or "") and desk.channel.to(OWNERS.chat_id) == []


async def test_a_non_reporter_rating_is_refused(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    ticket = await report(desk)
    await desk.say("结单 R-0001 已修好", "u-zhang", STAFF)
    desk.channel.clear()

    first = await desk.press(f"rate:{ticket.id}:1", "u-wang", OWNERS)
    second = await desk.press(f"rate:{ticket.id}:9", "u-wang", OWNERS)
    third = await desk.press("rate:oops", "u-wang", OWNERS)

    after = await Ticket.get(id=ticket.id)
    assert after.status is TicketStatus.RESOLVED and after.rating is None
    # Answered privately: nothing is written into the owner group.
    assert desk.channel.texts(OWNERS.chat_id) == [] and desk.channel.edits == []
    assert "只有报事的业主本人" in (first or "")
    assert "无效" in (second or "") and "无效" in (third or "")


async def test_transfer_by_buttons_and_by_command(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    ticket = await report(desk)
    desk.channel.clear()

    await desk.press(f"transfer:{ticket.id}", "u-zhang", STAFF, on="out-1")
    [choice] = desk.channel.to(STAFF.chat_id)
    picker = "out-2"
    to_cleaning = f"transfer_to:{ticket.id}:engineering:cleaning"
    assert to_cleaning in payloads(choice)
    assert not any(p.endswith(":engineering") for p in payloads(choice))
    await desk.press(to_cleaning, "u-zhang", STAFF, on=picker)
    assert (await Ticket.get(id=ticket.id)).department is Department.CLEANING
    card, used = [m for _, m in edits(desk)][-2:]
    assert card.text.splitlines()[0] == "【R-0001】报修 · 保洁部"
    # The picker that was used loses its buttons and says what was done.
    assert used.buttons == () and "保洁部" in used.text and edits(desk)[-1][0].message_id == picker

    # The same stale picker pressed again moves nothing.
    toast = await desk.press(
        f"transfer_to:{ticket.id}:engineering:security", "u-zhang", STAFF, on=picker
    )
    assert (await Ticket.get(id=ticket.id)).department is Department.CLEANING
    assert "不能转到这个部门" in (toast or "")
    transfers = await TicketEvent.filter(ticket_id=ticket.id, kind=EventKind.TRANSFERRED)
    assert len(transfers) == 1

    await desk.say("转派 R-0001 安保", "u-zhang", STAFF)
    assert (await Ticket.get(id=ticket.id)).department is Department.SECURITY
    await desk.say("转派 R-0001 火星", "u-zhang", STAFF)
    assert "用法" in staff_texts(desk)[-1]
    toast = await desk.press(f"transfer_to:{ticket.id}:security:mars", "u-zhang", STAFF)
    assert "无效" in (toast or "")
    assert (await Ticket.get(id=ticket.id)).department is Department.SECURITY


async def test_note_reopen_queue_and_mine(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    first = await report(desk)
    await report(desk, "救命！电梯困人了，5栋的电梯卡在8楼，里面有老人", "u-wang")
    desk.channel.clear()

    await desk.say("队列", "u-zhang", STAFF)
    queue = staff_texts(desk)[-1]
    assert queue.startswith("待处理工单 2 张")
    lines = queue.splitlines()[1:]
    assert lines[0].startswith("【紧急】R-0002") and lines[1].startswith("R-0001 工程部 3-2-501")
    assert LEAK not in queue

    await desk.say("我的", "u-zhang", STAFF)
    assert staff_texts(desk)[-1] == "您手上没有工单。"
    await desk.say("", "u-zhang", STAFF, payload=f"claim:{first.id}")
    await desk.say("/mine", "u-zhang", STAFF)
    assert staff_texts(desk)[-1].startswith("您手上的工单 1 张：\nR-0001")

    await desk.say("备注 R-0001 需要买配件", "u-zhang", STAFF)
    note = await TicketEvent.get(ticket_id=first.id, kind=EventKind.NOTED)
    assert note.data == {"text": "需要买配件"}
    assert all("需要买配件" not in t for t in desk.channel.texts(OWNERS.chat_id))

    await desk.say("重开 R-0001 还没修", "u-zhang", STAFF)
    assert "不能这样操作" in staff_texts(desk)[-1]  # it is not resolved: nothing to reopen
    await desk.say("结单 R-0001 已修好", "u-zhang", STAFF)
    await desk.say("重开 R-0001 业主说还在漏", "u-zhang", STAFF)
    reopened = await Ticket.get(id=first.id)
    assert reopened.status is TicketStatus.OPEN and reopened.reopen_count == 1
    assert staff_texts(desk)[-1] == "工单 R-0001 已重新打开（二次派单），重新进入待接单队列。"

    await desk.say("结单 R-0099 好了", "u-zhang", STAFF)
    assert staff_texts(desk)[-1] == "本小区没有工单 R-0099。"


async def test_a_command_without_its_text_shows_its_usage_and_changes_nothing(
    desk: Desk,
) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    ticket = await report(desk)
    desk.channel.clear()

    for command, usage in (
        ("回复 R-0001", "用法：回复 R-0012 回复内容"),
        ("备注 R-0001  ", "用法：备注 R-0012 备注内容（业主看不到）"),
        ("结单 R-0001", "用法：结单 R-0012 处理结果"),
    ):
        await desk.say(command, "u-zhang", STAFF)
        assert staff_texts(desk)[-1] == usage
    # An unknown ticket is named as such before any missing text.
    await desk.say("结单 R-0099", "u-zhang", STAFF)
    assert staff_texts(desk)[-1] == "本小区没有工单 R-0099。"

    assert await events_of(await Ticket.get(id=ticket.id)) == [EventKind.OPENED]
    assert desk.channel.texts(OWNERS.chat_id) == []


async def test_malformed_staff_buttons_change_nothing(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    ticket = await report(desk)
    desk.channel.clear()

    toasts = [
        await desk.press(payload, "u-zhang", STAFF)
        for payload in ("claim:abc", "claim:99999", f"claim:{ticket.id}:x", "explode:1")
    ]

    assert len(toasts) == 4 and all("无效" in (t or "") for t in toasts)
    assert staff_texts(desk) == []
    assert await events_of(await Ticket.get(id=ticket.id)) == [EventKind.OPENED]


async def test_report_and_announce_commands_are_passed_on(desk: Desk) -> None:
    await bind_staff("u-zhang", desk.staff["zhang"])
    await bind_staff("u-chen", desk.staff["chen"])

    # The report is a supervisor's (another member is refused: tests/handlers/test_reports.py).
    await desk.say("report month", "u-chen", STAFF)
    await desk.say("报表 2026-13", "u-chen", STAFF)
    await desk.say("公告 list", "u-zhang", STAFF)
    # Someone who is not staff is refused before the report or announcement is reached.
    await desk.say("报表 2026-10", "u-newcomer", STAFF)

    usage, bad_month, announcements, refused = staff_texts(desk)
    assert usage.startswith("用法：报表")
    assert bad_month == "“2026-13”不是有效的月份，请这样写：报表 2026-11"
    assert announcements == "没有待发的公告。"
    assert "只有本小区已绑定的工作人员" in refused


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("队列", ("queue", "")),
        ("/queue@guanjia_bot", ("queue", "")),
        ("Mine", ("mine", "")),
        ("回复R-0012 师傅10分钟到", ("reply", "R-0012 师傅10分钟到")),
        ("reply R-0012 on our way", ("reply", "R-0012 on our way")),
        ("绑定码3-2-501", ("code", "3-2-501")),
        ("report month 2026-11", ("report", "month 2026-11")),
        ("报表 2026-11", ("report", "2026-11")),
        ("公告 2026-12-03 09:00 停水", ("announce", "2026-12-03 09:00 停水")),
        ("我的天哪", None),
        ("我的 车挡住消防通道了", None),
        ("回复一下业主吧", None),
        ("大家辛苦了", None),
        ("", None),
    ],
)
def test_parse_command(text: str, expected: tuple[str, str] | None) -> None:
    assert parse_command(text) == expected


def test_ticket_numbers_as_staff_write_them() -> None:
    assert ticket_number("R-0012") == "R-0012"
    assert ticket_number("r12") == "R-0012"
    assert ticket_number("c-3") == "C-0003"
    assert ticket_number("X-12") is None and ticket_number("R-") is None
