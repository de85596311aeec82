"""The boundary types every channel speaks: a Telegram int and a WeChat openid look alike here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from models import Platform

__all__ = [
    "Attachment",
    "Button",
    "ChatRef",
    "IncomingMessage",
    "Mention",
    "OutgoingMessage",
    "Platform",
    "safe_text",
]

# What no store or platform takes: lone UTF-16 surrogates (a JSON "\\ud800" decodes to one), NUL
# and the other control characters but tab and line breaks.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def safe_text(text: str) -> str:
    """Text any store, log and platform can take: a lone surrogate becomes U+FFFD (a character
    that was there but could not be read), control characters but tab and line breaks go; text
    made only of them becomes one U+FFFD."""
    if not _UNSAFE.search(text):
        return text
    cleaned = _UNSAFE.sub(lambda m: "\ufffd" if m.group() >= "\ud800" else "", text)
    # Something was sent even if none of it could be kept: say so rather than send nothing.
    return cleaned or "\ufffd"


@dataclass(frozen=True)
class ChatRef:
    """A chat on one platform; `is_group` is False for a private chat with the bot."""

    platform: Platform
    chat_id: str
    is_group: bool


@dataclass(frozen=True)
class Attachment:
    """A photo or file as the platform refers to it (a Telegram file_id, a WeChat media id)."""

    kind: str
    ref: str


@dataclass(frozen=True)
class IncomingMessage:
    """One message or button press from a person, as every adapter hands it to the router."""

    chat: ChatRef
    sender_id: str
    sender_name: str
    text: str
    message_id: str
    received_at: datetime
    payload: str | None = None
    attachments: tuple[Attachment, ...] = ()
    # True when the bot was @mentioned or replied to, so a group message is addressed to it.
    addressed: bool = False
    # The language the platform says the sender's app is in, when it says.
    language_hint: str | None = None
    # The platform's id of the message this one replies to; for a button press, of the message
    # that carries the button.
    replied_to: str | None = None
    raw: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # The boundary of every channel: what an owner can type, the store can keep.
        for name in ("text", "sender_name", "sender_id", "message_id"):
            object.__setattr__(self, name, safe_text(getattr(self, name)))
        if self.payload is not None:
            object.__setattr__(self, "payload", safe_text(self.payload))


@dataclass(frozen=True)
class Button:
    """A button; pressing it comes back as an IncomingMessage with this payload."""

    label: str
    payload: str


@dataclass(frozen=True)
class Mention:
    """A person the message @-mentions: `name` as the text writes it (`@王静`), `user_id` as the
    chat's platform knows them, so a platform that can notify by user id (a WeCom robot's
    `mentioned_list`, the WeCom AI bot's `<@userid>`) really notifies them."""

    name: str
    user_id: str


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to send: text, buttons in rows, and what it replies to."""

    chat: ChatRef
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    reply_to: str | None = None
    photos: tuple[Attachment, ...] = ()
    # Files sent with the message (a report's workbook): Attachment("file", <local path>).
    attachments: tuple[Attachment, ...] = ()
    # Who the text's `@name`s are on this chat's platform (empty where nobody is known there).
    mentions: tuple[Mention, ...] = ()


@dataclass(frozen=True)
class SentMessage:
    """What a channel returns after sending: the platform's id of the message, to edit it later."""

    chat: ChatRef
    message_id: str
