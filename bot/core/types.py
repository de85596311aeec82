"""The boundary types every channel speaks: a Telegram int and a WeChat openid look alike here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from models import Platform

__all__ = ["Attachment", "Button", "ChatRef", "IncomingMessage", "OutgoingMessage", "Platform"]


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


@dataclass(frozen=True)
class Button:
    """A button; pressing it comes back as an IncomingMessage with this payload."""

    label: str
    payload: str


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


@dataclass(frozen=True)
class SentMessage:
    """What a channel returns after sending: the platform's id of the message, to edit it later."""

    chat: ChatRef
    message_id: str
