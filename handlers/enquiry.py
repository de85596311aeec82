"""Enquiries (咨询): answer from the estate's FAQ, or open a ticket that staff answer."""

from __future__ import annotations

from bot.core.context import Context
from handlers.tickets import open_from_message
from models import Department, FaqEntry, TicketKind
from models.statements import fetch


async def best_answer(ctx: Context) -> str | None:
    """The FAQ answer closest to the question, in the owner's language when there is one."""
    assert ctx.estate is not None
    entries = await fetch(
        FaqEntry, {"estate_id": ctx.estate.id, "language": ctx.lang}, order_by=["id"]
    )
    if not entries:
        entries = await fetch(FaqEntry, {"estate_id": ctx.estate.id}, order_by=["id"])
    if not entries:
        return None
    key = (ctx.estate.id, ctx.lang)
    signature = tuple((entry.id, entry.question) for entry in entries)
    cached = ctx.services.faq_indexes.get(key)
    if cached is None or cached[0] != signature:
        index = ctx.services.nlu.faq_index([(str(e.id), e.question) for e in entries])
        ctx.services.faq_indexes[key] = (signature, index)
    else:
        index = cached[1]
    best = index.best(ctx.message.text)
    if best is None:
        return None
    return next(entry.answer for entry in entries if str(entry.id) == best[0])


async def handle(ctx: Context) -> None:
    """Answer from the FAQ, or open an enquiry ticket and say staff will answer."""
    assert ctx.estate is not None
    answer = await best_answer(ctx)
    if answer is not None:
        ctx.reply("enquiry.answer", answer=answer)
        return
    await open_from_message(ctx, TicketKind.ENQUIRY, Department.CUSTOMER_SERVICE)
