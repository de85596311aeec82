"""Complaints (投诉): open a ticket, apologise, and promise an answer."""

from __future__ import annotations

from bot.core.context import Context
from handlers.tickets import open_owner_ticket
from models import TicketKind


async def handle(ctx: Context) -> None:
    """Open a complaint ticket and reply with an apology and the promised follow-up."""
    await open_owner_ticket(ctx, TicketKind.COMPLAINT)
