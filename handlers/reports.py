"""The staff desk's month report (`report month 2026-11` / `报表 2026-11`): text, chart, workbook.

The command is declared in `ROUTES`; the staff desk runs it for the estate's staff. This module
reads the month, checks who asks and where (again: `report_command` stands on its own; only a
supervisor or the estate manager gets the report), builds the report, writes its chart and
workbook under `Services.reports_dir`, and answers with one message carrying the text, the chart
as a photo and the workbook as a file, where the chat's channel can send them; where it cannot
(`sends_local`), the text says where to get them instead.
"""

from __future__ import annotations

import asyncio
import logging

from bot.core import vocabulary
from bot.core.channel import sends_local
from bot.core.context import Context
from bot.core.reports import (
    BadMonth,
    month_report,
    month_started,
    parse_month,
    render_text,
    report_directory,
    write_report_files,
)
from bot.core.types import Attachment, OutgoingMessage
from handlers.routes import Routes, StaffCommand

log = logging.getLogger(__name__)

# A bad month is echoed back to the sender; no more of it than this.
ECHO_CHARS = 20


async def report_typed(ctx: Context, rest: str) -> None:
    """`report month 2026-11` / `报表 2026-11` in the staff chat: the month's report."""
    words = rest.split()
    if words and words[0].lower() in vocabulary.REPORT_MONTH_WORDS:
        words = words[1:]
    if not words:
        ctx.reply("report.usage")
        return
    await report_command(ctx, " ".join(words))


async def report_command(ctx: Context, month: str) -> None:
    """Answer a supervisor's or the estate manager's request for a month's report; other staff
    and anyone else are refused."""
    staff, estate = ctx.staff, ctx.estate
    if staff is None or estate is None or staff.estate_id != estate.id:
        log.info("report refused: %s is not staff of this estate", ctx.message.sender_id)
        ctx.reply("report.staff_only")
        return
    if not staff.role.supervises:
        log.info("report refused: staff %s is a %s, not a supervisor", staff.id, staff.role)
        ctx.reply("report.supervisors_only")
        return
    if ctx.in_group and not ctx.in_staff_chat:
        # The complaint table names owners: it never goes to an owners' group.
        log.info("report refused in a group that is not a staff chat: %s", ctx.message.chat)
        ctx.reply("report.staff_chat_only")
        return
    try:
        month = parse_month(month)
    except BadMonth:
        ctx.reply("report.bad_month", month=" ".join(month.split())[:ECHO_CHARS])
        return
    if not month_started(month, ctx.estate_tz, ctx.now):
        ctx.reply("report.future_month", month=month)
        return
    report = await month_report(estate, month, ctx.now)
    catalogues = ctx.services.catalogues
    directory = report_directory(ctx.services.reports_dir, report)
    # Drawing the chart and writing the workbook take a moment: keep the event loop free.
    files = await asyncio.to_thread(
        write_report_files, report, catalogues, ctx.lang, directory, prepared_by=staff.name
    )
    log.info("report %s %s for staff %s: %s", estate.code, month, staff.id, directory)
    chat = ctx.message.chat
    photo, workbook = (
        sends_local(ctx.channel, chat, "photo"),
        sends_local(ctx.channel, chat, "file"),
    )
    text = render_text(report, catalogues, ctx.lang)
    missing = {(False, False): "both", (True, False): "workbook", (False, True): "chart"}
    if (photo, workbook) in missing:
        what = missing[(photo, workbook)]
        log.info("report %s %s: %s cannot send the %s", estate.code, month, chat.platform, what)
        text += "\n\n" + catalogues.text(
            ctx.lang,
            "report.files_elsewhere",
            what=catalogues.text(ctx.lang, f"report.files_elsewhere.{what}"),
            section=catalogues.text(ctx.lang, "console.report_title"),
            estate=estate.code,
            month=month,
        )
    ctx.outbox.append(
        OutgoingMessage(
            chat=chat,
            text=text,
            reply_to=ctx.message.message_id if ctx.in_group else None,
            photos=(Attachment("photo", str(files.chart)),) if photo else (),
            attachments=(Attachment("file", str(files.workbook)),) if workbook else (),
        )
    )


ROUTES = Routes(commands=(StaffCommand(vocabulary.REPORT, report_typed, help="report.help"),))
