"""Per-chat dialog state: one open question per person per chat, kept in the store."""

from __future__ import annotations

from datetime import timedelta

from bot.core.context import Context
from models import Dialog

DIALOG_MINUTES = 30


async def open_dialog(ctx: Context) -> Dialog | None:
    """The sender's open dialog in this chat, or None (an expired one is dropped)."""
    message = ctx.message
    dialog = await Dialog.get_or_none(
        platform=message.chat.platform, chat_id=message.chat.chat_id, user_id=message.sender_id
    )
    if dialog is not None and dialog.expires_at <= ctx.now:
        await dialog.delete()
        return None
    return dialog


async def start_dialog(ctx: Context, kind: str, data: dict[str, object]) -> Dialog:
    """Open (or replace) the sender's dialog in this chat."""
    message = ctx.message
    dialog, _ = await Dialog.update_or_create(
        platform=message.chat.platform,
        chat_id=message.chat.chat_id,
        user_id=message.sender_id,
        defaults={
            "kind": kind,
            "data": data,
            "expires_at": ctx.now + timedelta(minutes=DIALOG_MINUTES),
        },
    )
    return dialog
