"""Intake staff can trust, through the router: where a fault is, what joins what, who may speak
where, nothing acted on by accident, nothing dropped in silence, promises that are the rule."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.codes import issue_code
from bot.core.nlu import NLU
from bot.core.types import ChatRef, OutgoingMessage, Platform
from models import (
    Chat,
    ChatIdentity,
    ChatKind,
    CodePurpose,
    EventKind,
    Incident,
    IncidentReport,
    OneTimeCode,
    Ticket,
    TicketEvent,
    TicketReporter,
    TicketStatus,
)
from tests.desk import OWNERS, STAFF, Desk, bind, unsure_request
from tests.factories import make_owner, make_unit
from tests.staffdesk import bind_staff, cards, edits, is_card

STRANGERS = ChatRef(Platform.WEBCHAT, "some-other-group", is_group=True)


def to_owners(desk: Desk) -> list[OutgoingMessage]:
    """Everything sent anywhere but the staff chat."""
    return [m for m in desk.channel.sent if m.chat != STAFF]


def card_lines(desk: Desk, number: str) -> list[str]:
    """The lines of a ticket's latest card (edited or posted)."""
    latest = [m for _, m in edits(desk) if is_card(m, number)] or cards(desk, number)
    assert latest, f"no card of {number}"
    return latest[-1].text.splitlines()


@pytest.fixture
async def estate(desk: Desk) -> Desk:
    """The desk's estate with more buildings: 2, 6, 8 and 9 as well."""
    for label in ("2-1-101", "6-1-1201", "7-2-301", "8-2-1103", "9-1-302"):
        building, entrance, room = label.split("-")
        desk.units[label] = await make_unit(desk.estate, building, entrance, room)
    desk.owners["zhao"] = await make_owner(desk.estate, "赵敏", desk.units["6-1-1201"])
    desk.owners["sun"] = await make_owner(desk.estate, "孙丽", desk.units["7-2-301"])
    return desk


# --- Different faults are never merged -----------------------------------------------------


async def test_entrapments_in_two_buildings_are_two_urgent_tickets(estate: Desk) -> None:
    desk = estate
    await bind_staff("u-zhang", desk.staff["zhang"])
    await desk.say("2号楼电梯困人了！！", "u-a")
    desk.clock.advance(minutes=3)
    await desk.say("9号楼电梯困人了，里面有老人！", "u-b")

    first, second = await Ticket.all().order_by("id")
    assert first.urgent and second.urgent
    assert (first.location_place, first.location_building) == ("lift", "2")
    assert (second.location_place, second.location_building) == ("lift", "9")
    # Each has its own urgent card, and each owner got their own ticket's number.
    assert card_lines(desk, first.number)[0].startswith("【紧急】")
    assert card_lines(desk, second.number)[0].startswith("【紧急】")
    to_a, to_b = to_owners(desk)
    assert first.number in to_a.text and second.number in to_b.text
    assert "已有邻居报过" not in to_b.text

    # Closing building 2's lift tells building 2's reporter only.
    desk.channel.clear()
    await desk.say(f"结单 {first.number} 已救出，电梯恢复", "u-zhang", STAFF)
    told = desk.channel.to(OWNERS.chat_id)
    assert len(told) == 1 and first.number in told[0].text
    assert (await Ticket.get(id=second.id)).status is TicketStatus.OPEN


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("5栋电梯又坏了", "8栋电梯坏了"),
        ("7栋2单元301门口楼道灯不亮了", "6栋1单元1201 马桶堵了"),
        ("2号楼电梯困人了！！", "8栋电梯又坏了"),
    ],
)
async def test_faults_at_different_places_are_different_tickets(
    estate: Desk, first: str, second: str
) -> None:
    await estate.say(first, "u-a")
    estate.clock.advance(minutes=5)
    await estate.say(second, "u-b")
    assert await Ticket.all().count() == 2
    assert await TicketReporter.all().count() == 2


async def test_a_leak_in_one_home_never_joins_another_homes_leak(estate: Desk) -> None:
    desk = estate
    await bind("u-wang", desk.owners["wang"])
    await bind("u-li", desk.owners["li"])
    await desk.say("5栋1单元1202 空调滴水，漏到地板上了", "u-wang")
    desk.clock.advance(minutes=5)
    await desk.say("卫生间天花板在漏水", "u-li", desk.private("u-li"))

    first, second = await Ticket.all().order_by("id")
    assert first.unit_id == desk.units["5-1-1202"].id
    # Named nowhere, so it is in the reporter's own home.
    assert second.unit_id == desk.units["3-2-501"].id
    assert await TicketReporter.filter(ticket_id=first.id).count() == 1


async def test_the_same_fault_at_the_same_place_joins_and_the_card_shows_every_report(
    estate: Desk,
) -> None:
    desk = estate
    await desk.say("3号楼电梯又坏了", "u-a", name="王先生")
    desk.clock.advance(minutes=10)
    await desk.say("3号楼的电梯又坏了！！！", "u-b", name="刘女士")

    [ticket] = await Ticket.all()
    _, second = to_owners(desk)
    assert "已有邻居报过" in second.text and ticket.number in second.text
    assert "3号楼电梯" in second.text  # where the joined ticket is, in the owner's words
    lines = card_lines(desk, ticket.number)
    assert "同一问题共 2 位业主报告：" in lines
    assert "· 刘女士：3号楼的电梯又坏了！！！" in lines
    # A lift with no building said is not building 3's lift.
    await desk.say("电梯又坏了", "u-c")
    assert await Ticket.all().count() == 2


async def test_an_urgent_report_makes_the_joined_ticket_urgent_and_alerts_again(
    estate: Desk,
) -> None:
    desk = estate
    await desk.say("3号楼电梯坏了，停在5楼不动了", "u-a")
    [ticket] = await Ticket.all()
    assert not ticket.urgent
    desk.channel.clear()
    desk.clock.advance(minutes=4)

    await desk.say("3号楼电梯坏了，停在5楼不动，里面有人被困！", "u-b")

    [after] = await Ticket.all()
    assert after.urgent and after.due_response_at == desk.clock.now() + timedelta(minutes=5)
    kinds = [e.kind for e in await TicketEvent.filter(ticket_id=after.id).order_by("id")]
    assert EventKind.MADE_URGENT in kinds
    alerts = [t for t in desk.channel.texts(STAFF.chat_id) if "已升级为紧急" in t]
    assert len(alerts) == 1 and after.number in alerts[0] and "@张工" in alerts[0]
    assert card_lines(desk, after.number)[0].startswith("【紧急】")


# --- Where, separate from who --------------------------------------------------------------


async def test_a_bound_owner_reporting_a_common_place_is_not_located_at_home(
    estate: Desk,
) -> None:
    desk = estate
    await bind("u-li", desk.owners["li"])
    await desk.say("5号楼电梯困人了，快来", "u-li")

    [ticket] = await Ticket.all()
    assert ticket.unit_id is None and ticket.reporter_unit_id == desk.units["3-2-501"].id
    lines = card_lines(desk, ticket.number)
    assert "位置：5号楼电梯" in lines and "报事人：李华（3-2-501）" in lines
    # The group reply says where the fault is, never where the reporter lives.
    [reply] = to_owners(desk)
    assert "5号楼电梯" in reply.text and "3-2-501" not in reply.text


async def test_a_flat_named_by_someone_living_elsewhere_is_located_there(estate: Desk) -> None:
    desk = estate
    await bind("u-li", desk.owners["li"])
    await desk.say("3栋1单元501 厨房水管漏水了", "u-li")

    [ticket] = await Ticket.all()
    assert ticket.unit_id == desk.units["3-1-501"].id
    lines = card_lines(desk, ticket.number)
    assert "位置：3-1-501" in lines and "报事人：李华（3-2-501）" in lines


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("8栋3单元1201 厨房水管漏水了", "8-3-1201"),
        ("Block 3 #05-01 kitchen pipe leaking", "3-05-01"),
    ],
)
async def test_a_unit_the_estate_does_not_have_is_called_unknown(
    estate: Desk, text: str, written: str
) -> None:
    desk = estate
    await desk.say(text, "u-a")

    [ticket] = await Ticket.all()
    assert ticket.unit_id is None and ticket.location_unknown == written
    [reply] = to_owners(desk)
    location = next(line for line in card_lines(desk, ticket.number) if line.startswith("位置："))
    # The owner is told what the card shows: the flat as written, and that it is not known.
    assert written in reply.text and written in location
    assert ("没有这个房号" in location) and (
        "no such flat" in reply.text or "没有这个房号" in reply.text
    )


async def test_traditional_chinese_is_understood(estate: Desk) -> None:
    await estate.say("廚房水龍頭漏水 8棟2單元1103", "u-a")
    [ticket] = await Ticket.all()
    assert ticket.unit_id == estate.units["8-2-1103"].id
    assert str(ticket.department) == "engineering"


# --- Who may speak where -------------------------------------------------------------------


async def test_an_unregistered_group_is_not_served(estate: Desk) -> None:
    desk = estate
    await desk.say("3栋2单元501 厨房水管漏水了", "u-x", STRANGERS)
    assert await Ticket.all().count() == 0 and desk.channel.sent == []

    await desk.say("@管家 3栋2单元501 厨房水管漏水了", "u-x", STRANGERS, addressed=True)
    await desk.say("@管家 在吗", "u-x", STRANGERS, addressed=True)
    [told] = desk.channel.to(STRANGERS.chat_id)
    assert "没有登记" in told.text
    assert await Ticket.all().count() == 0
    chat = await Chat.get(chat_id=STRANGERS.chat_id)
    assert chat.kind is ChatKind.UNREGISTERED and chat.estate_id is None


@pytest.mark.parametrize(
    "text", ["/help", "/start", "/whatever", "你能做什么？", "队列", "结单 R-0001 好了"]
)
async def test_commands_typed_by_owners_never_open_tickets(estate: Desk, text: str) -> None:
    await estate.say(text, "u-li", addressed=text.startswith("/"))
    await estate.say(text, "u-li", estate.private("u-li"))
    assert await Ticket.all().count() == 0


async def test_a_binding_word_in_a_group_gets_how_to_bind(estate: Desk) -> None:
    await estate.say("绑定码 5-1-202", "u-li")
    [reply] = to_owners(estate)
    assert "申请绑定" in reply.text
    assert await Ticket.all().count() == 0


@pytest.mark.parametrize("posted", ["我的绑定码是 {code} 怎么用", "/bind {code}", "绑定 {code}"])
async def test_a_code_posted_in_a_group_is_spent_at_once(estate: Desk, posted: str) -> None:
    desk = estate
    code = await issue_code(
        desk.estate,
        CodePurpose.BIND_UNIT,
        created_by="test",
        now=desk.clock.now(),
        unit=desk.units["3-2-501"],
        owner=desk.owners["li"],
    )
    text = posted.format(code=code.code)
    await desk.say(text, "u-li", addressed=text.startswith("/"))

    [reply] = to_owners(desk)
    assert "作废" in reply.text
    spent = await OneTimeCode.get(id=code.id)
    assert spent.used_at is not None and spent.used_by.startswith(
        f"exposed:webchat:{OWNERS.chat_id}"
    )
    # Another member who read it cannot redeem it privately.
    await desk.say(code.code, "u-thief", desk.private("u-thief"))
    assert (await ChatIdentity.get(user_id="u-thief")).owner_id is None
    assert await Ticket.all().count() == 0


# --- Nothing acts by accident ----------------------------------------------------------------


async def test_a_close_prompt_takes_only_an_answer_and_expires(estate: Desk) -> None:
    desk = estate
    await bind_staff("u-zhang", desk.staff["zhang"])
    await desk.say("3栋2单元501 厨房水管漏水了", "u-li")
    [ticket] = await Ticket.all()

    # Nobody holds it: closing by button is refused, and no prompt is left waiting.
    toast = await desk.press(f"close:{ticket.id}", "u-zhang", STAFF)
    assert "请先接单" in (toast or "")
    await desk.say("队列", "u-zhang", STAFF)
    await desk.say("好的我现在过去看看", "u-zhang", STAFF)
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.OPEN

    await desk.press(f"claim:{ticket.id}", "u-zhang", STAFF)
    await desk.press(f"close:{ticket.id}", "u-zhang", STAFF)
    await desk.say("队列", "u-zhang", STAFF)
    await desk.say("好的我现在过去看看", "u-zhang", STAFF)
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.CLAIMED
    # Too late: the prompt has lapsed.
    desk.clock.advance(minutes=6)
    await desk.say(f"{ticket.number} 已更换水管", "u-zhang", STAFF)
    assert (await Ticket.get(id=ticket.id)).status is TicketStatus.CLAIMED

    # The ticket's number with the result answers a fresh prompt.
    await desk.press(f"close:{ticket.id}", "u-zhang", STAFF)
    await desk.say(f"{ticket.number} 已更换水管", "u-zhang", STAFF)
    done = await Ticket.get(id=ticket.id)
    assert done.status is TicketStatus.RESOLVED and done.result == "已更换水管"


# --- Nothing dropped in silence ----------------------------------------------------------------


async def test_a_photo_right_after_a_report_joins_its_ticket(estate: Desk) -> None:
    desk = estate
    await desk.say("卫生间地漏堵了，照片如下", "u-li")
    desk.clock.advance(minutes=2)
    desk.channel.clear()
    await desk.say("", "u-li", photos=("webchat:photo-1.jpg",))

    [ticket] = await Ticket.all()
    assert ticket.photos == ["webchat:photo-1.jpg"]
    assert any("照片：1 张" in m.text for _, m in edits(desk))
    [reply] = to_owners(desk)
    assert "补充到工单" in reply.text


async def test_a_photo_before_its_report_is_kept_for_it(estate: Desk) -> None:
    desk = estate
    await desk.say("", "u-li", photos=("webchat:photo-2.jpg",))
    assert desk.channel.sent == []  # in a group, unaddressed: kept quietly
    desk.clock.advance(minutes=1)
    await desk.say("卫生间地漏堵了，照片如上", "u-li")

    [ticket] = await Ticket.all()
    assert ticket.photos == ["webchat:photo-2.jpg"]


async def test_a_photo_alone_in_private_is_asked_about(estate: Desk) -> None:
    desk = estate
    private = desk.private("u-li")
    await desk.say("", "u-li", private, photos=("webchat:photo-3.jpg",))
    [question] = desk.channel.to(private.chat_id)
    assert "照片里是什么问题" in question.text
    await desk.say("阳台的下水管裂了，一直在滴水", "u-li", private)
    [ticket] = await Ticket.all()
    assert ticket.photos == ["webchat:photo-3.jpg"]


async def test_a_request_below_the_floor_goes_to_staff_for_a_look(estate: Desk, nlu: NLU) -> None:
    desk = estate
    unsure = unsure_request(nlu)
    await desk.say(unsure, "u-li", name="李华")

    assert await Ticket.all().count() == 0
    assert to_owners(desk) == []
    [look] = desk.channel.texts(STAFF.chat_id)
    assert look.startswith("【请看一下】") and "李华" in look and unsure in look


# --- Promises are the rule ---------------------------------------------------------------------


async def test_the_owner_is_promised_what_the_card_shows(estate: Desk) -> None:
    desk = estate
    await desk.say("3栋2单元501 厨房水管漏水了", "u-li")
    await desk.say("楼上天天半夜12点还在装修电钻响，物业管不管", "u-wang")
    repair, complaint = await Ticket.all().order_by("id")
    to_li, to_wang = to_owners(desk)

    assert "工程部将在 15分钟 内响应，24小时 内处理完成" in to_li.text
    assert "上门" not in to_li.text
    assert "承诺：11-23 10:15 前响应，11-24 10:00 前处理完成" in card_lines(desk, repair.number)
    # A complaint makes one promise, an answer, and its card says just that.
    assert "将在 24小时 内答复您" in to_wang.text
    # The router suggested its severity (一般), which the card shows.
    assert "承诺：11-24 10:00 前答复（一般）" in card_lines(desk, complaint.number)


async def test_an_urgent_repair_promises_a_response_not_a_visit(estate: Desk) -> None:
    await estate.say("救命！电梯困人了，5栋的电梯卡在8楼，里面有老人")
    [reply] = to_owners(estate)
    assert reply.text.startswith("【紧急】") and "已通知值班人员" in reply.text
    assert "5分钟 内响应" in reply.text and "赶到现场" not in reply.text


# --- Announced outages -------------------------------------------------------------------------


async def test_a_report_of_an_announced_outage_is_answered_and_counted(estate: Desk) -> None:
    desk = estate
    await bind_staff("u-zhang", desk.staff["zhang"])
    await bind("u-li", desk.owners["li"])  # 3-2-501
    await bind("u-smith", desk.owners["smith"])  # 3-1-501
    await bind("u-wang", desk.owners["wang"])  # 5-1-1202 and 7-1-302
    # Monday 10:00 in Shanghai: a water cut in building 3 from 11:00 to 14:00.
    await desk.say(
        "公告 2026-11-23 10:30 3号楼今天11:00至14:00停水，更换主管道阀门", "u-zhang", STAFF
    )
    [incident] = await Incident.all()
    assert (incident.kind, incident.building) == ("water", "3")
    assert (
        "3号楼停水：2026-11-23 11:00 至 2026-11-23 14:00" in desk.channel.texts(STAFF.chat_id)[-1]
    )
    desk.clock.advance(hours=2)  # 12:00
    desk.channel.clear()

    await desk.say("家里没水了，怎么回事", "u-li")
    await desk.say("3号楼停水了吗？我家也没水", "u-smith")
    await desk.say("6栋1单元1201 家里没水了", "u-zhao")

    # Building 3's owners are answered with the announced times; building 6's is a ticket.
    first, second, third = to_owners(desk)
    assert "计划停运" in first.text and "14:00" in first.text
    assert "计划停运" in second.text
    [ticket] = await Ticket.all()
    assert ticket.unit_id == desk.units["6-1-1201"].id and ticket.number in third.text
    assert await IncidentReport.filter(incident_id=incident.id).count() == 2
    counts = [m.text for m in desk.channel.to(STAFF.chat_id) if "已公告事件" in m.text]
    counts += [m.text for _, m in edits(desk) if "已公告事件" in m.text]
    assert any("已有 2 位业主询问" in text for text in counts)

    # After the announced end, no water is a fault again.
    desk.clock.advance(hours=3)
    await desk.say("家里还是没水，停水不是说两点结束吗", "u-li")
    assert await Ticket.all().count() == 2


async def test_a_cancelled_announcement_answers_nothing(estate: Desk) -> None:
    desk = estate
    await bind_staff("u-zhang", desk.staff["zhang"])
    await bind("u-li", desk.owners["li"])
    await desk.say("公告 2026-11-23 10:30 3号楼今天11:00至14:00停水", "u-zhang", STAFF)
    [incident] = await Incident.all()
    await desk.say(f"公告 取消 {incident.announcement_id}", "u-zhang", STAFF)
    desk.clock.advance(hours=2)
    await desk.say("家里没水了", "u-li")
    assert await Ticket.all().count() == 1
