"""The duty roster from the staff chat: `值班 今天` shows a day's roster, and
`换班 张师傅 李师傅 12-08` swaps two people's shifts that day (`bot/core/roster.py`).

Any staff member may look at the roster. A swap may be made by a supervisor or the estate manager,
or by either of the two people whose shifts change (they arrange it between them; the chat sees
the answer); anybody else is refused and nothing changes. A swap takes effect at once: paging and
escalation ask the roster at the moment they run.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from bot.core import roster, vocabulary
from bot.core.context import Context
from handlers.routes import Routes, StaffCommand
from models import Estate, Staff


def _day_text(day: date) -> str:
    return day.strftime("%m-%d")


def _today(ctx: Context, estate: Estate) -> date:
    return ctx.now.astimezone(ZoneInfo(estate.timezone)).date()


async def _estate(ctx: Context) -> Estate:
    assert ctx.staff is not None
    return await Estate.get(id=ctx.staff.estate_id)


async def duty_command(ctx: Context, rest: str) -> None:
    """`值班 [今天|明天|12-08]`: the day's shifts, by department and time."""
    estate = await _estate(ctx)
    day = roster.parse_day(rest or "today", _today(ctx, estate))
    if day is None:
        ctx.reply("roster.duty_usage")
        return
    shifts = await roster.shifts_on(estate, day)
    if not shifts:
        ctx.reply("roster.empty", day=_day_text(day))
        return
    zone = ZoneInfo(estate.timezone)
    lines = [
        ctx.text(
            "roster.line",
            department=ctx.text(f"department.{shift.department}"),
            start=shift.starts_at.astimezone(zone).strftime("%H:%M"),
            end=shift.ends_at.astimezone(zone).strftime("%H:%M"),
            name=shift.staff.name,
        )
        for shift in shifts
    ]
    ctx.reply("roster.day", day=_day_text(day), lines="\n".join(lines))


async def swap_command(ctx: Context, rest: str) -> None:
    """`换班 张师傅 李师傅 [12-08]`: the second takes the first's shifts that day (today when no
    day is given), and the first the second's, if any."""
    assert ctx.staff is not None
    parts = rest.split()
    if len(parts) not in (2, 3):
        ctx.reply("roster.swap_usage")
        return
    estate = await _estate(ctx)
    day = roster.parse_day(parts[2] if len(parts) == 3 else "today", _today(ctx, estate))
    if day is None:
        ctx.reply("roster.swap_usage")
        return
    people: list[Staff] = []
    for name in parts[:2]:
        member = await Staff.get_or_none(estate_id=estate.id, name=name, active=True)
        if member is None:
            ctx.reply("roster.unknown_staff", name=name)
            return
        people.append(member)
    first, second = people
    if first.id == second.id:
        ctx.reply("roster.swap_same")
        return
    if not roster.may_swap(ctx.staff, first, second):
        ctx.reply("roster.swap_refused")
        return
    swapped = await roster.swap(estate, first, second, day)
    if not swapped.given:
        ctx.reply("roster.swap_none", name=first.name, day=_day_text(day))
        return
    fields = {"day": _day_text(day), "first": first.name, "second": second.name}
    if swapped.taken:
        ctx.reply("roster.swapped_both", given=swapped.given, taken=swapped.taken, **fields)
    else:
        ctx.reply("roster.swapped", given=swapped.given, **fields)


ROUTES = Routes(
    commands=(
        StaffCommand(vocabulary.DUTY, duty_command, help="roster.help_duty"),
        StaffCommand(vocabulary.SWAP, swap_command, help="roster.help_swap"),
    )
)
