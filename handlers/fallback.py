"""Everything else: a greeting in private (or when addressed), `/start` / `/help`, and what the
bot answers when asked what it can do; commands that apply nowhere get a short answer."""

from __future__ import annotations

import re

from bot.core.context import Context

START_COMMANDS = frozenset({"/start", "/help", "help", "帮助", "菜单", "menu"})
# Questions about the bot itself: answered with what it does, never taken for an enquiry.
ABOUT_BOT = frozenset(
    {
        "你能做什么",
        "你会做什么",
        "你可以做什么",
        "你能干什么",
        "你会干什么",
        "你会什么",
        "你是谁",
        "你是干什么的",
        "怎么用",
        "怎么用你",
        "管家能做什么",
        "whatcanyoudo",
        "whoareyou",
        "howdoiuseyou",
        "howdoesthiswork",
    }
)
_NOISE = re.compile(r"[\s\W_]+|@\S+")


def _words(text: str) -> str:
    return _NOISE.sub("", re.sub(r"@\S+", "", text)).lower()


async def handle(ctx: Context) -> None:
    """A short greeting and what Guanjia can do; the router keeps quiet in groups."""
    name = ctx.estate.name if ctx.estate else ""
    ctx.reply("other.greeting", estate=name)


def _is_start(text: str) -> bool:
    head = text.strip().split(" ", 1)[0].lower()
    return head.split("@", 1)[0] in START_COMMANDS or _words(text) in ABOUT_BOT


async def start_command(ctx: Context) -> bool:
    """`/start`, `/help` or "你能做什么" in private: the greeting; returns whether it was one."""
    if not _is_start(ctx.message.text):
        return False
    await handle(ctx)
    return True


async def group_help(ctx: Context) -> bool:
    """`/start`, `/help` or "你能做什么" in an owner group: the greeting when the bot is
    addressed (a command is), else nothing; never a ticket, never a change of language."""
    if not _is_start(ctx.message.text):
        return False
    if ctx.message.addressed or ctx.message.text.startswith("/"):
        await handle(ctx)
    return True


async def unknown_command(ctx: Context) -> bool:
    """Any other `/command`: not a report. Answered briefly where it is addressed to the bot."""
    if not ctx.message.text.startswith("/"):
        return False
    if not ctx.in_group or ctx.message.addressed:
        ctx.reply("chat.unknown_command")
    return True
