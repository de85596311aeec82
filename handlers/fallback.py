"""Everything else: a greeting in private (or when addressed), and `/start` / `/help`."""

from __future__ import annotations

from bot.core.context import Context

START_COMMANDS = frozenset({"/start", "/help", "help", "帮助", "菜单"})


async def handle(ctx: Context) -> None:
    """A short greeting and what Guanjia can do; the router keeps quiet in groups."""
    name = ctx.estate.name if ctx.estate else ""
    ctx.reply("other.greeting", estate=name)


async def start_command(ctx: Context) -> bool:
    """`/start` and `/help` in private: the greeting; returns whether it was one."""
    if ctx.message.text.strip().split(" ", 1)[0].lower() not in START_COMMANDS:
        return False
    await handle(ctx)
    return True
