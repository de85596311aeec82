"""What the Telegram channel sends: HTML-escaped text, inline keyboards, quoted replies, and
how a failed call is read.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.error import NetworkError, TelegramError, TimedOut

from bot.core.types import Button


def html_text(text: str) -> str:
    """Text for parse_mode HTML: we write no markup, so every `<`, `>` and `&` is escaped."""
    return html.escape(text, quote=False)


def keyboard(rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    """An inline keyboard of the buttons (None when there are none)."""
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.payload) for b in row] for row in rows]
    )


def server_answered(exc: NetworkError) -> bool:
    """Whether PTB raised for an HTTP error status, not for a lost connection or a timeout.

    PTB chains transport failures (httpx errors, timeouts) as the exception's cause; an error
    status from the server is raised with no cause (or a JSON parsing error as its cause).
    """
    if isinstance(exc, TimedOut):
        return False
    return exc.__cause__ is None or isinstance(exc.__cause__, TelegramError)


def _reply_parameters(reply_to: str | None) -> ReplyParameters | None:
    """Quote a message by its id; a press (`cb:...`) or a deleted message quotes nothing."""
    if reply_to is None or not reply_to.isdigit():
        return None
    return ReplyParameters(message_id=int(reply_to), allow_sending_without_reply=True)


def reply_parameters(reply_to: str | None) -> ReplyParameters | None:
    """Quote a message by its id; a press (`cb:...`) or a deleted message quotes nothing."""
    if reply_to is None or not reply_to.isdigit():
        return None
    return ReplyParameters(message_id=int(reply_to), allow_sending_without_reply=True)
