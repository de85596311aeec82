"""The month report in the staff chat: staff get text, chart and workbook; nobody else gets any."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.image import imread
from openpyxl import load_workbook

from bot.core.context import Context
from bot.core.types import Attachment, ChatRef, IncomingMessage, OutgoingMessage
from handlers.reports import report_command
from models import Chat, ChatIdentity, Platform, Staff, StaffRole
from tests.desk import OWNERS, STAFF, Desk, bind
from tests.factories import make_estate, make_staff
from tests.month import PHONES, build_month

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def month_desk(desk: Desk, tmp_path: Path) -> Desk:
    """The desk with November 2026 worked in it and its reports written under tmp_path."""
    desk.services.reports_dir = tmp_path / "reports"
    await build_month(desk.estate)
    return desk


async def bind_staff(user: str, staff: Staff, language: str | None = None) -> ChatIdentity:
    """Bind a chat account to a staff member (the staff desk's staff code does this)."""
    identity, _ = await ChatIdentity.get_or_create(platform=Platform.WEBCHAT, user_id=user)
    identity.staff_id = staff.id
    identity.language = language
    await identity.save()
    return identity


def written(desk: Desk) -> list[Path]:
    """Every file under the reports folder."""
    root = desk.services.reports_dir
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def the_report(desk: Desk) -> OutgoingMessage:
    [message] = desk.channel.to("staff")
    return message


async def test_a_supervisor_gets_the_report_in_the_staff_chat(month_desk: Desk) -> None:
    desk = month_desk
    await bind_staff("u-chen", desk.staff["chen"])

    asked = await desk.say("报表 2026-11", "u-chen", STAFF)

    reply = the_report(desk)
    assert reply.chat == STAFF and reply.reply_to == asked.message_id
    lines = reply.text.splitlines()
    assert lines[0].startswith("【Estate demo】2026-11 报修与投诉月报")
    assert "报修：受理 7 单，派工 6 单，完成 4 单，未完成 3 单" in lines
    assert "投诉：受理 3 单，派工 2 单，完成 2 单，未完成 1 单" in lines
    # The desk's owners have their own phone numbers: none of them, nor the month's, shows.
    assert "1380000" not in reply.text and not any(p in reply.text for p in PHONES)
    folder = desk.services.reports_dir / "demo" / "2026-11"
    chart, workbook = folder / "demo-2026-11.png", folder / "demo-2026-11.xlsx"
    assert reply.photos == (Attachment("photo", str(chart)),)
    assert reply.attachments == (Attachment("file", str(workbook)),)
    assert written(desk) == [chart, workbook]
    assert chart.read_bytes().startswith(PNG_SIGNATURE)
    assert imread(str(chart)).shape[:2] == (700, 900)
    book = load_workbook(workbook)
    assert book.sheetnames == ["汇总", "投诉月度汇总表", "工单明细"]
    # Prepared by the supervisor who asked; 3 complaints and 11 tickets under the header rows.
    assert book["汇总"]["F2"].value == "陈主管"
    assert [book[name].max_row for name in ("投诉月度汇总表", "工单明细")] == [4 + 3, 4 + 11]
    assert len(book["汇总"]._images) == 1


async def test_english_command_and_reply(month_desk: Desk) -> None:
    desk = month_desk
    await bind_staff("u-chen", desk.staff["chen"], language="en")

    await desk.say("report month 2026-11", "u-chen", STAFF)

    reply = the_report(desk)
    assert reply.text.startswith("Estate demo: repairs and complaints, 2026-11")
    assert "Complaints: 3 received, 2 dispatched, 2 done, 1 still open" in reply.text
    assert load_workbook(reply.attachments[0].ref).sheetnames == [
        "Summary",
        "Complaint summary",
        "Tickets",
    ]


@pytest.mark.parametrize("who", ["unbound", "owner", "other estate's staff"])
async def test_anyone_else_in_the_staff_chat_is_refused(month_desk: Desk, who: str) -> None:
    desk = month_desk
    if who == "owner":
        await bind("u-li", desk.owners["li"])
        sender = "u-li"
    elif who == "other estate's staff":
        other = await make_estate("other-estate")
        await bind_staff("u-stranger", await make_staff(other, "外人", StaffRole.SUPERVISOR))
        sender = "u-stranger"
    else:
        sender = "u-member"

    await desk.say("报表 2026-11", sender, STAFF)

    [reply] = desk.channel.sent
    assert reply.chat == STAFF and not reply.photos and not reply.attachments
    assert "报修" not in reply.text and "李华" not in reply.text
    assert written(desk) == []


@pytest.mark.parametrize("month", ["2026-13", "十一月", "2026-11-01"])
async def test_a_bad_month_is_refused(month_desk: Desk, month: str) -> None:
    desk = month_desk
    await bind_staff("u-chen", desk.staff["chen"])

    await desk.say(f"报表 {month}", "u-chen", STAFF)

    reply = the_report(desk)
    assert not reply.photos and not reply.attachments and "受理" not in reply.text
    assert written(desk) == []


@pytest.mark.parametrize("member", ["张工", "刘师傅", "孙客服"])
async def test_other_staff_are_told_to_ask_a_supervisor(month_desk: Desk, member: str) -> None:
    desk = month_desk
    await bind_staff("u-member", await Staff.get(estate_id=desk.estate.id, name=member))

    await desk.say("报表 2026-11", "u-member", STAFF)

    reply = the_report(desk)
    assert reply.text == desk.services.catalogues.text("zh", "report.supervisors_only")
    assert not reply.photos and not reply.attachments
    assert written(desk) == []


async def test_the_manager_gets_it_too(month_desk: Desk) -> None:
    desk = month_desk
    manager = await make_staff(desk.estate, "周经理", StaffRole.MANAGER)
    await bind_staff("u-zhou", manager)

    await desk.say("报表 2026-11", "u-zhou", STAFF)

    reply = the_report(desk)
    assert [a.kind for a in reply.photos + reply.attachments] == ["photo", "file"]


@pytest.mark.parametrize(
    ("kinds", "photos", "files", "what"),
    [
        ((), 0, 0, "图表和 Excel 表"),
        (("photo",), 1, 0, "Excel 表"),
        (("file",), 0, 1, "图表"),
    ],
)
async def test_a_channel_that_cannot_send_files_says_where_to_get_them(
    month_desk: Desk, kinds: tuple[str, ...], photos: int, files: int, what: str
) -> None:
    desk = month_desk
    desk.channel.local_kinds = kinds
    await bind_staff("u-chen", desk.staff["chen"])

    await desk.say("报表 2026-11", "u-chen", STAFF)

    reply = the_report(desk)
    assert (len(reply.photos), len(reply.attachments)) == (photos, files)
    last = reply.text.splitlines()[-1]
    assert last == (
        f"此渠道无法发送{what}。请私聊我发送“登录”打开员工后台，在“月度报表”处下载，"
        "或在服务器上运行 guanjia report --estate demo --month 2026-11。"
    )
    # The files are written all the same, for the console and the server.
    assert len(written(desk)) == 2


# report_command's own checks, on a context as the router builds it: the staff desk checks some
# of these first, but the command must hold by itself.


async def context(
    desk: Desk, sender: str, chat: ChatRef, staff: Staff | None = None, lang: str = "zh"
) -> Context:
    identity, _ = await ChatIdentity.get_or_create(platform=chat.platform, user_id=sender)
    message = IncomingMessage(
        chat=chat,
        sender_id=sender,
        sender_name=sender,
        text="报表",
        message_id="in-report",
        received_at=desk.clock.now(),
    )
    return Context(
        message=message,
        channel=desk.channel,
        services=desk.services,
        identity=identity,
        estate=desk.estate,
        chat=await Chat.get_or_none(platform=chat.platform, chat_id=chat.chat_id),
        owner=None,
        staff=staff,
        lang=lang,
    )


def only_text(ctx: Context) -> str:
    [message] = ctx.outbox
    assert isinstance(message, OutgoingMessage)
    assert not message.photos and not message.attachments
    return message.text


@pytest.mark.parametrize(
    ("month", "key", "fields"),
    [
        ("2026-13", "report.bad_month", {"month": "2026-13"}),
        ("  2026 - 11 - 01  ", "report.bad_month", {"month": "2026 - 11 - 01"}),
        ("x" * 100, "report.bad_month", {"month": "x" * 20}),
        ("2026-12", "report.future_month", {"month": "2026-12"}),
    ],
)
async def test_months_the_command_refuses(
    month_desk: Desk, month: str, key: str, fields: dict[str, str]
) -> None:
    desk = month_desk
    ctx = await context(desk, "u-chen", STAFF, desk.staff["chen"])
    await report_command(ctx, month)
    assert only_text(ctx) == desk.services.catalogues.text("zh", key, **fields)
    assert written(desk) == []


async def test_the_command_refuses_non_staff(month_desk: Desk) -> None:
    desk = month_desk
    other = await make_staff(await make_estate("other-estate"), "外人")
    staff_only = desk.services.catalogues.text("en", "report.staff_only")
    for staff in (None, other):
        ctx = await context(desk, "u-x", STAFF, staff, lang="en")
        await report_command(ctx, "2026-11")
        assert only_text(ctx) == staff_only
    assert written(desk) == []


async def test_never_in_an_owners_group(month_desk: Desk) -> None:
    desk = month_desk
    ctx = await context(desk, "u-chen", OWNERS, desk.staff["chen"])
    await report_command(ctx, "2026-11")
    assert only_text(ctx) == desk.services.catalogues.text("zh", "report.staff_chat_only")
    assert written(desk) == []


async def test_staff_in_private_get_it_there(month_desk: Desk) -> None:
    desk = month_desk
    private = desk.private("u-chen")
    ctx = await context(desk, "u-chen", private, desk.staff["chen"])
    await report_command(ctx, "2026/11")
    [message] = ctx.outbox
    assert isinstance(message, OutgoingMessage)
    assert message.chat == private and message.reply_to is None
    assert message.text.startswith("【Estate demo】2026-11")
    assert [a.kind for a in message.photos + message.attachments] == ["photo", "file"]
    assert len(written(desk)) == 2
