"""Staff announcements: `announce 2026-12-03 09:00 3号楼明天9点至12点停水` in a staff chat.

The command is declared in `ROUTES`: the staff desk calls `announce_command(ctx, args)` with
what follows the command word. It schedules a notice to all the estate's owner groups, or to one
(`announce 2026-12-03 09:00 @3号楼业主群 …`), lists the pending ones (`announce list`) and
cancels one (`announce cancel 7`). The time is the estate's; the scheduler's announcements job
sends it when it comes, once per group.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from bot.core import vocabulary
from bot.core.context import Context
from bot.core.incidents import parse_outages
from handlers.routes import Routes, StaffCommand
from models import Announcement, Chat, ChatKind, CustomerGroup, Incident

MAX_TEXT = 1000
MAX_AHEAD = timedelta(days=366)
WHEN = re.compile(
    r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})\s+(?P<H>\d{1,2})[:：](?P<M>\d{2})"
    r"(?:\s+(?P<text>.*))?$",
    re.DOTALL,
)


def _local(ctx: Context, moment: datetime) -> str:
    return moment.astimezone(ctx.estate_tz).strftime("%Y-%m-%d %H:%M")


def _chat_name(chat: Chat) -> str:
    return chat.title or chat.chat_id


async def announce_command(ctx: Context, args: str) -> None:
    """Schedule, list or cancel an announcement to the estate's owner groups (staff only)."""
    if ctx.staff is None or ctx.estate is None or not ctx.at_staff_desk:
        ctx.reply("announce.not_staff")
        return
    args = args.strip()
    word, _, rest = args.partition(" ")
    if not args:
        ctx.reply("announce.usage")
    elif word.lower() in vocabulary.ANNOUNCE_LIST_WORDS:
        await _list(ctx)
    elif word.lower() in vocabulary.CANCEL_WORDS:
        await _cancel(ctx, rest.strip().lstrip("#"))
    else:
        await _schedule(ctx, args)


async def _schedule(ctx: Context, args: str) -> None:
    assert ctx.estate is not None and ctx.staff is not None
    match = WHEN.match(args)
    if match is None:
        if re.match(r"^\d", args):
            ctx.reply("announce.bad_time", text=" ".join(args.split()[:2]))
        else:
            ctx.reply("announce.usage")
        return
    try:
        local = datetime(
            *(int(match[part]) for part in ("y", "m", "d", "H", "M")), tzinfo=ctx.estate_tz
        )
    except ValueError:
        ctx.reply("announce.bad_time", text=" ".join(args.split()[:2]))
        return
    text = (match["text"] or "").strip()
    groups = await Chat.filter(estate_id=ctx.estate.id, kind=ChatKind.OWNERS).order_by("id")
    if not groups:
        ctx.reply("announce.no_groups")
        return
    target: Chat | None = None
    if text.startswith("@"):
        named = sorted(
            (g for g in groups if text[1:].startswith(_chat_name(g))),
            key=lambda g: -len(_chat_name(g)),
        )
        if not named:
            ctx.reply(
                "announce.unknown_group",
                group=text[1:].split()[0] if text[1:].split() else "",
                groups="、".join(_chat_name(g) for g in groups),
            )
            return
        target = named[0]
        text = text[1 + len(_chat_name(target)) :].strip()
    if not text:
        ctx.reply("announce.usage")
        return
    if len(text) > MAX_TEXT:
        ctx.reply("announce.too_long", limit=MAX_TEXT)
        return
    if local <= ctx.now:
        ctx.reply("announce.past", at=_local(ctx, local))
        return
    if local - ctx.now > MAX_AHEAD:
        ctx.reply("announce.too_far")
        return
    announcement = await Announcement.create(
        estate_id=ctx.estate.id,
        text=text,
        send_at=local,
        chat_id=target.id if target else None,
        created_by=f"staff:{ctx.staff.id}",
        created_at=ctx.now,
    )
    outages = parse_outages(text, local, ctx.estate.timezone)
    for outage in outages:
        await Incident.create(
            estate_id=ctx.estate.id,
            announcement_id=announcement.id,
            kind=outage.kind,
            building=outage.building,
            starts_at=outage.starts_at,
            ends_at=outage.ends_at,
            text=text,
            created_at=ctx.now,
        )
    if outages:
        ctx.reference_changed(ctx.estate.id)
    answer = ctx.text(
        "announce.scheduled",
        id=announcement.id,
        at=_local(ctx, local),
        target=_target(ctx, target, len(groups)),
    )
    customer = await CustomerGroup.filter(
        chat_id__in=[target.id] if target else [g.id for g in groups]
    ).values_list("owner_userid", flat=True)
    if customer:
        # WeCom customer groups get the announcement only when their owner confirms it.
        answer += "\n" + ctx.text(
            "groupsend.announce_note", groups=len(customer), owners=len(set(customer))
        )
    if outages:
        # Staff see what was understood: reports of it will be answered with these times.
        lines = [
            ctx.text(
                "announce.outage_line",
                what=ctx.text(f"incident.kind_{outage.kind}"),
                where=ctx.text("location.building", building=outage.building)
                if outage.building
                else ctx.text("announce.estate_wide"),
                start=_local(ctx, outage.starts_at),
                end=_local(ctx, outage.ends_at),
            )
            for outage in outages
        ]
        answer += "\n" + ctx.text("announce.outages", lines="\n".join(lines))
    ctx.send(ctx.message.chat, answer, reply_to=ctx.message.message_id if ctx.in_group else None)


def _target(ctx: Context, chat: Chat | None, groups: int) -> str:
    if chat is None:
        return ctx.text("announce.all_groups", count=groups)
    return ctx.text("announce.one_group", group=_chat_name(chat))


async def _list(ctx: Context) -> None:
    assert ctx.estate is not None
    pending = await Announcement.filter(
        estate_id=ctx.estate.id, send_at__gt=ctx.now, cancelled_at__isnull=True
    ).order_by("send_at", "id")
    if not pending:
        ctx.reply("announce.none")
        return
    groups = await Chat.filter(estate_id=ctx.estate.id, kind=ChatKind.OWNERS).count()
    lines = []
    for announcement in pending[:20]:
        chat = await Chat.get_or_none(id=announcement.chat_id) if announcement.chat_id else None
        preview = (
            announcement.text if len(announcement.text) <= 40 else announcement.text[:39] + "…"
        )
        lines.append(
            ctx.text(
                "announce.list_line",
                id=announcement.id,
                at=_local(ctx, announcement.send_at),
                target=_target(ctx, chat, groups),
                text=preview,
            )
        )
    ctx.reply("announce.list", lines="\n".join(lines))


async def _cancel(ctx: Context, number: str) -> None:
    assert ctx.estate is not None
    if not number.isdigit():
        ctx.reply("announce.usage")
        return
    cancelled = await Announcement.filter(
        id=int(number),
        estate_id=ctx.estate.id,
        send_at__gt=ctx.now,
        cancelled_at__isnull=True,
    ).update(cancelled_at=ctx.now)
    if cancelled:
        await Incident.filter(announcement_id=int(number), cancelled_at__isnull=True).update(
            cancelled_at=ctx.now
        )
        ctx.reference_changed(ctx.estate.id)
    ctx.reply("announce.cancelled" if cancelled else "announce.not_found", id=number)


ROUTES = Routes(
    commands=(StaffCommand(vocabulary.ANNOUNCE, announce_command, help="announce.help"),)
)
