"""What the Telegram channel sends, and how: HTML-escaped text with real mentions, inline
keyboards, quoted replies, photos and files (`TelegramSender`), and how a failed call is read.

A message's mentions (`OutgoingMessage.mentions`: a staff member's `@name` and their Telegram
user id) become text mentions, `<a href="tg://user?id=…">@name</a>`, which notify the person even
without a public username; everything else of the text is escaped.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.adapters.telegram.limits import NOTICE, NoticeSend, fit, retry_seconds, split_text
from bot.core import chats
from bot.core.channel import SendError
from bot.core.types import (
    Attachment,
    Button,
    ChatRef,
    Mention,
    OutgoingMessage,
    Platform,
    SentMessage,
)

log = logging.getLogger("guanjia.telegram")

T = TypeVar("T")


def html_text(text: str) -> str:
    """Text for parse_mode HTML: we write no markup, so every `<`, `>` and `&` is escaped."""
    return html.escape(text, quote=False)


def mention_html(text: str, mentions: Sequence[Mention] = ()) -> str:
    """Text for parse_mode HTML with each mention's `@name` a text mention of its Telegram user
    (a numeric id); the rest is escaped as `html_text` does. Longer names are matched first, so
    `@张工程师` is never taken for `@张工`."""
    users = {m.name: m.user_id for m in mentions if m.name and m.user_id.isdigit()}
    if not users:
        return html_text(text)
    pattern = re.compile(
        "|".join(re.escape(name) for name in sorted(users, key=len, reverse=True))
    )
    out: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        out.append(html_text(text[last : match.start()]))
        name = match.group(0)
        out.append(f'<a href="tg://user?id={users[name]}">{html_text(name)}</a>')
        last = match.end()
    out.append(html_text(text[last:]))
    return "".join(out)


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


def reply_parameters(reply_to: str | None) -> ReplyParameters | None:
    """Quote a message by its id; a press (`cb:...`) or a deleted message quotes nothing."""
    if reply_to is None or not reply_to.isdigit():
        return None
    return ReplyParameters(message_id=int(reply_to), allow_sending_without_reply=True)


class TelegramSender:
    """Sends and edits through the Bot API: text split to Telegram's limit, photos and files by
    file_id or from allowed local folders, a migrated group followed, and every failure read as
    a `SendError` that says whether Telegram answered."""

    def __init__(self, bot: Callable[[], Any], file_roots: Iterable[Path | str]) -> None:
        # PTB's bot (an `ExtBot`), asked for at each call: the application builds it.
        self.bot = bot
        self.file_roots = tuple(Path(root).resolve() for root in file_roots)

    async def send(self, message: OutgoingMessage, *, notice: bool = False) -> SentMessage:
        """Send text (with its buttons and the message it quotes), then photos and files.

        Photos and files are Telegram file_ids or local paths (a report's chart and workbook).
        A notice's calls are not retried by the rate limiter (see `NoticeAwareRateLimiter`).
        """
        limit = NOTICE if notice else None
        markup = keyboard(message.buttons)
        reply = reply_parameters(message.reply_to)
        chunks = split_text(message.text)
        sent: Message | None = None
        for index, chunk in enumerate(chunks):
            sent = await self._call(
                message.chat,
                "send_message",
                partial(
                    self._send_text,
                    text=mention_html(chunk, message.mentions),
                    markup=markup if index == len(chunks) - 1 else None,
                    reply=reply if index == 0 else None,
                    limit=limit,
                ),
            )
        for attachment in (*message.photos, *message.attachments):
            alone = sent is None
            try:
                media = await self._call(
                    message.chat,
                    f"send {attachment.kind}",
                    partial(
                        self._send_media,
                        attachment=attachment,
                        markup=markup if alone else None,
                        reply=reply if alone else None,
                        limit=limit,
                    ),
                )
            except SendError:
                if sent is None:
                    raise
                # The text went out: a photo that cannot follow it must not make it go again.
                continue
            sent = sent or media
        if sent is None:
            raise SendError(f"nothing to send to Telegram chat {message.chat.chat_id}")
        return SentMessage(
            chat=ChatRef(Platform.TELEGRAM, str(sent.chat_id), message.chat.is_group),
            message_id=str(sent.message_id),
        )

    async def edit(self, sent: SentMessage, message: OutgoingMessage) -> SentMessage:
        """Replace a message's text and buttons; one that cannot be edited is sent anew."""
        text = mention_html(fit(message.text), message.mentions)
        markup = keyboard(message.buttons)

        async def call(chat_id: int) -> bool:
            try:
                await self.bot().edit_message_text(
                    text,
                    chat_id=chat_id,
                    message_id=int(sent.message_id),
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                )
            except BadRequest as exc:
                reason = exc.message.lower()
                if "not modified" in reason:
                    return True
                if "not found" in reason or "can't be edited" in reason:
                    return False
                raise
            return True

        if not sent.message_id.isdigit():
            return await self.send(message)
        if await self._call(sent.chat, "edit_message_text", call):
            return sent
        log.info("message %s in %s can no longer be edited: sent anew", sent.message_id, sent.chat)
        return await self.send(message)

    async def _send_text(
        self,
        chat_id: int,
        *,
        text: str,
        markup: InlineKeyboardMarkup | None,
        reply: ReplyParameters | None,
        limit: NoticeSend | None = None,
    ) -> Message:
        # `text` is HTML already (`mention_html`).
        return await self.bot().send_message(
            chat_id,
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            reply_parameters=reply,
            rate_limit_args=limit,
        )

    async def _send_media(
        self,
        chat_id: int,
        *,
        attachment: Attachment,
        markup: InlineKeyboardMarkup | None,
        reply: ReplyParameters | None,
        limit: NoticeSend | None = None,
    ) -> Message:
        media: Any = self._local_file(attachment.ref) or attachment.ref
        if attachment.kind == "photo":
            return await self.bot().send_photo(
                chat_id, media, reply_markup=markup, reply_parameters=reply, rate_limit_args=limit
            )
        return await self.bot().send_document(
            chat_id, media, reply_markup=markup, reply_parameters=reply, rate_limit_args=limit
        )

    def _local_file(self, ref: str) -> Path | None:
        """The local file a ref names (None for a file_id); only inside the allowed folders."""
        # A Telegram file_id is URL-safe base64: it never holds a slash, a path always does.
        if "/" not in ref and "\\" not in ref:
            return None
        path = Path(ref).resolve()
        roots = self.file_roots
        if path.is_file() and any(path.is_relative_to(root) for root in roots):
            return path
        log.warning("refused to send %s: not a file in %s", ref, ", ".join(map(str, roots)))
        raise SendError(f"{ref} is not a file Guanjia may send")

    async def _call(self, chat: ChatRef, what: str, call: Callable[[int], Awaitable[T]]) -> T:
        """Make one Bot API call for a chat, following a migrated group, mapping failures."""
        try:
            chat_id = int(chat.chat_id)
        except ValueError:
            raise SendError(f"{chat.chat_id!r} is not a Telegram chat id") from None
        try:
            try:
                return await call(chat_id)
            except ChatMigrated as moved:
                await move_chat(str(chat_id), str(moved.new_chat_id))
                return await call(moved.new_chat_id)
        except RetryAfter as exc:
            wait = retry_seconds(exc)
            log.warning(
                "Telegram %s to chat %s: flood limit, retry after %ss", what, chat_id, wait
            )
            raise SendError(f"Telegram flood limit: {exc}", retry_after=wait) from exc
        except BadRequest as exc:
            # BadRequest is a NetworkError in PTB, but Telegram did answer: nothing went out.
            log.warning("Telegram %s to chat %s refused: %s", what, chat_id, exc)
            raise SendError(f"Telegram refused: {exc}") from exc
        except (TimedOut, NetworkError) as exc:
            if server_answered(exc):
                # An HTTP error status (5xx): Telegram answered, so nothing went out; retry it.
                log.warning("Telegram %s to chat %s failed: %s", what, chat_id, exc)
                raise SendError(f"Telegram answered with an error: {exc}") from exc
            log.warning("Telegram %s to chat %s: no answer: %s", what, chat_id, exc)
            raise SendError(f"Telegram did not answer: {exc}", answered=False) from exc
        except TelegramError as exc:
            log.warning("Telegram %s to chat %s refused: %s", what, chat_id, exc)
            raise SendError(f"Telegram refused: {exc}") from exc
        except OSError as exc:
            log.warning("Telegram %s to chat %s: cannot read the file: %s", what, chat_id, exc)
            raise SendError(f"cannot read the file to send: {exc}") from exc


async def move_chat(old: str, new: str) -> bool:
    """Carry a Telegram group's registration, tickets, cards and dialogs over to its new id
    (`bot/core/chats.py`); returns whether a registered chat moved."""
    return (await chats.move_chat(Platform.TELEGRAM, old, new)).registered
