"""The staff chat: messages there are staff work, never owner reports.

The router hands every staff-chat message here; the desk commands and buttons build on this.
"""

from __future__ import annotations

import logging

from bot.core.context import Context

log = logging.getLogger(__name__)


async def handle(ctx: Context) -> None:
    """A message in a staff chat: it opens no ticket."""
    log.debug("staff chat message %s from %s", ctx.message.message_id, ctx.message.sender_id)
