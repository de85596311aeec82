"""Telegram updates as the router sees them: a message becomes an `IncomingMessage`, when it is
for Guanjia.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from telegram import Message, MessageEntity
from telegram.constants import ChatType

from bot.core.types import Attachment, ChatRef, IncomingMessage, Platform

log = logging.getLogger("guanjia.telegram")

COMMAND = re.compile(r"^/([A-Za-z0-9_]+)(?:@([A-Za-z0-9_]+))?")


def language_hint(code: str | None) -> str | None:
    """`zh-hans` → `zh`, `en-US` → `en`: the language part of a Telegram language code."""
    if not code:
        return None
    return code.split("-", 1)[0].lower() or None


def largest_photo(message: Message) -> Attachment | None:
    """The largest size of a message's photo, as an attachment kept by its file_id."""
    if not message.photo:
        return None
    best = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
    return Attachment("photo", best.file_id)


def is_group(chat_type: str) -> bool:
    """Whether a chat of this type is a group (a supergroup is one too)."""
    return chat_type in (ChatType.GROUP, ChatType.SUPERGROUP)


def to_incoming(message: Message, bot: Any) -> IncomingMessage | None:
    """The router's view of a Telegram message (`bot` is the channel's, who it is addressed to);
    None when it is not for Guanjia."""
    sender = message.from_user
    if sender is None or sender.is_bot:
        log.info(
            "ignored message %s in %s from a bot or a channel",
            message.message_id,
            message.chat.id,
        )
        return None
    text = message.text or message.caption or ""
    username = (bot.username or "").lower()
    addressed = False
    command = COMMAND.match(text)
    if command:
        to = command.group(2)
        if to and to.lower() != username:
            log.info("ignored a command for @%s in %s", to, message.chat.id)
            return None
        # `/bind@GuanjiaBot CODE` reads as `/bind CODE`.
        text = f"/{command.group(1)}{text[command.end() :]}"
        addressed = True
    mentions = message.parse_entities([MessageEntity.MENTION]) or message.parse_caption_entities(
        [MessageEntity.MENTION]
    )
    if username and any(value.lower() == f"@{username}" for value in mentions.values()):
        addressed = True
        text = re.sub(rf"@{re.escape(username)}\b", "", text, flags=re.IGNORECASE)
    for entity in (*message.entities, *message.caption_entities):
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot.id:
            addressed = True
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None:
        addressed = addressed or replied.from_user.id == bot.id
    photo = largest_photo(message)
    return IncomingMessage(
        chat=ChatRef(Platform.TELEGRAM, str(message.chat.id), is_group(message.chat.type)),
        sender_id=str(sender.id),
        sender_name=sender.full_name,
        text=text.strip(),
        message_id=str(message.message_id),
        received_at=message.date,
        attachments=(photo,) if photo else (),
        addressed=addressed,
        language_hint=language_hint(sender.language_code),
        replied_to=str(replied.message_id) if replied is not None else None,
        raw=message,
    )
