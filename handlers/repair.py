"""Repairs (报修): open a ticket for the department that fixes it, and promise a time."""

from __future__ import annotations

from bot.core.context import Context
from handlers.tickets import open_owner_ticket
from models import TicketKind


async def handle(ctx: Context) -> None:
    """Open a repair ticket and reply with its number, department and promised time."""
    await open_owner_ticket(ctx, TicketKind.REPAIR)
