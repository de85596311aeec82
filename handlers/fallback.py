"""Everything else: a greeting in private (or when addressed), `/start` / `/help`, and what the
bot answers when asked what it can do; commands that apply nowhere get a short answer."""

from __future__ import annotations

import re

from bot.core import vocabulary
from bot.core.context import Context

_NOISE = re.compile(r"[\s\W_]+|@\S+")


def _words(text: str) -> str:
    return _NOISE.sub("", re.sub(r"@\S+", "", text)).lower()


async def handle(ctx: Context) -> None:
    """A short greeting and what Guanjia can do; the router keeps quiet in groups."""
    name = ctx.estate.name if ctx.estate else ""
    ctx.reply("other.greeting", estate=name)


def _is_start(text: str) -> bool:
    head = text.strip().split(" ", 1)[0].lower()
    return head.split("@", 1)[0] in vocabulary.START_WORDS or _words(text) in vocabulary.ABOUT_BOT


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
