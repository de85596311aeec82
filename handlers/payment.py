"""Payments (缴费): money is never shown in a group; in private, the owner's own bills only."""

from __future__ import annotations

from datetime import timedelta

from babel.numbers import format_currency

from bot.core.context import Context
from models import Bill
from models.estate import Owner
from models.lookup import owner_units
from models.statements import fetch

ARREARS_AFTER = timedelta(days=30)
LOCALES = {"zh": "zh_CN", "en": "en_US"}


def money(cents: int, lang: str) -> str:
    """An amount in yuan, formatted for the language."""
    return format_currency(cents / 100, "CNY", locale=LOCALES.get(lang, "zh_CN"))


async def bill_summary(ctx: Context, owner: Owner) -> str:
    """The owner's bound units' unpaid bills, arrears and how to pay, in their language."""
    assert ctx.estate is not None
    today = ctx.now.astimezone(ctx.estate_tz).date()
    units = sorted(await owner_units(owner.id), key=lambda unit: unit.label)
    lines: list[str] = []
    total = 0
    for unit in units:
        unpaid = {"unit_id": unit.id, "paid_at": None}
        bills = await fetch(Bill, unpaid, order_by=["period", "item"])
        for bill in bills:
            total += bill.amount_cents
            overdue = today - bill.due_date > ARREARS_AFTER
            lines.append(
                ctx.text(
                    "payment.line_overdue" if overdue else "payment.line",
                    unit=unit.label,
                    period=bill.period,
                    item=ctx.text(f"bill.{bill.item}"),
                    amount=money(bill.amount_cents, ctx.lang),
                    due=bill.due_date.isoformat(),
                )
            )
    if not lines:
        return ctx.text("payment.all_paid", units=", ".join(unit.label for unit in units))
    instructions = (
        ctx.estate.payment_instructions_en if ctx.lang == "en" else ctx.estate.payment_instructions
    ) or ctx.estate.payment_instructions
    return ctx.text(
        "payment.summary",
        lines="\n".join(lines),
        total=money(total, ctx.lang),
        instructions=instructions,
    )


async def handle(ctx: Context) -> None:
    """In a group, say it was answered privately, then answer privately; in private, answer."""
    if ctx.owner is None:
        text = ctx.text("payment.unbound")
    elif not ctx.owner.active:
        # Moved out (an updated register no longer lists them): the bills of the units they had
        # are the next owner's.
        text = ctx.text("payment.not_on_register")
    else:
        text = await bill_summary(ctx, ctx.owner)
    if ctx.in_group:
        ctx.reply("payment.sent_privately")
        ctx.tell_private(text)
    else:
        ctx.send(ctx.message.chat, text)
