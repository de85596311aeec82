"""Per-chat dialog state: one open question per person per chat, kept in the store.

A dialog may also hold photos a person sent without saying what they show (`data["photos"]`):
the next report they make in that chat within a few minutes takes them.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from bot.core.context import Context
from bot.core.types import ChatRef
from models import Dialog

DIALOG_MINUTES = 30
# Photos sent alone wait this long for the report they belong to.
PHOTO_MINUTES = 10


class DialogKind(StrEnum):
    """What an open dialog waits for (kept as `Dialog.kind`)."""

    # The router asked which intent a message is (its buttons are `intent:<intent>`).
    CLARIFY = "clarify"
    # An owner of several units was asked which one a report is about (handlers.tickets).
    CHOOSE_UNIT = "choose_unit"
    # A staff member pressed 结单 and is asked for the result (handlers.staff).
    CLOSE_RESULT = "close_result"
    # Photos sent alone, kept for the sender's next report.
    PHOTOS = "photos"


async def open_dialog(ctx: Context) -> Dialog | None:
    """The sender's open dialog in this chat, or None (an expired one is dropped)."""
    message = ctx.message
    key = (str(message.chat.platform), message.chat.chat_id, message.sender_id)
    if key in ctx.no_dialog:
        return None  # looked for while handling this message: none, and none started since
    dialog = ctx.prefetched_dialogs.pop(key, None)
    if dialog is None:
        dialog = await Dialog.get_or_none(
            platform=message.chat.platform,
            chat_id=message.chat.chat_id,
            user_id=message.sender_id,
        )
    if dialog is not None and dialog.expires_at <= ctx.now:
        await dialog.delete()
        dialog = None
    if dialog is None:
        ctx.no_dialog.add(key)
    return dialog


async def start_dialog(
    ctx: Context,
    kind: DialogKind,
    data: dict[str, object],
    minutes: int = DIALOG_MINUTES,
    *,
    chat: ChatRef | None = None,
) -> Dialog:
    """Open (or replace) the sender's dialog in this chat (or in `chat`: their private chat,
    when the question goes there); it lapses after `minutes`."""
    message = ctx.message
    where = chat or message.chat
    key = (str(where.platform), where.chat_id, message.sender_id)
    ctx.no_dialog.discard(key)
    ctx.prefetched_dialogs.pop(key, None)
    dialog, _ = await Dialog.update_or_create(
        platform=where.platform,
        chat_id=where.chat_id,
        user_id=message.sender_id,
        defaults={
            "kind": kind,
            "data": data,
            "expires_at": ctx.now + timedelta(minutes=minutes),
        },
    )
    return dialog


async def keep_photos(ctx: Context, refs: list[str]) -> None:
    """Keep photos sent alone for the sender's next report here (in the open dialog if any)."""
    dialog = await open_dialog(ctx)
    if dialog is None:
        await start_dialog(ctx, DialogKind.PHOTOS, {"photos": refs}, minutes=PHOTO_MINUTES)
        return
    kept = [str(ref) for ref in dialog.data.get("photos", [])]
    dialog.data = {**dialog.data, "photos": [*kept, *(r for r in refs if r not in kept)]}
    await dialog.save(update_fields=["data"])


async def take_photos(ctx: Context) -> list[str]:
    """The photos kept for the sender's report, removed from the dialog (a photos-only dialog
    is closed)."""
    dialog = await open_dialog(ctx)
    if dialog is None or not dialog.data.get("photos"):
        return []
    photos = [str(ref) for ref in dialog.data["photos"]]
    if dialog.kind == DialogKind.PHOTOS:
        await dialog.delete()
    else:
        dialog.data = {key: value for key, value in dialog.data.items() if key != "photos"}
        await dialog.save(update_fields=["data"])
    return photos
