"""微信客服's messages as Guanjia sees them: a `sync_msg` item read into an `IncomingMessage` or
an event, and an outgoing message with buttons as a menu message (`msgmenu`).

A private chat here is one WeChat user (external_userid) with one 客服 account (open_kfid): its
id is `open_kfid:external_userid`, which is also the person's user id, so a reply and a notice
know which account to send from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.types import Attachment, Button, ChatRef, IncomingMessage, Platform

# WeCom's ids: letters, digits, _ and - (open_kfid "wk…", external_userid "wm…"/"wo…").
KF_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MSGID = re.compile(r"[A-Za-z0-9_=+/.-]{1,128}")
# Who sent a `sync_msg` item: the WeChat user, WeCom itself (events), or a servicer in WeCom.
ORIGIN_CUSTOMER = 3
ORIGIN_EVENT = 4
ORIGIN_SERVICER = 5
# A menu message's limits: its head at most 1024 bytes, each item's text and id at most 128.
MENU_HEAD_BYTES = 1000
MENU_ITEM_BYTES = 128


def chat_id(open_kfid: str, external_userid: str) -> str:
    """The private chat of a WeChat user with a 客服 account."""
    return f"{open_kfid}:{external_userid}"


def split_chat(value: str) -> tuple[str, str]:
    """The open_kfid and external_userid a chat id names; ValueError when it names none."""
    open_kfid, _, user = value.partition(":")
    if not KF_ID.fullmatch(open_kfid) or not KF_ID.fullmatch(user):
        raise ValueError(f"{value!r} is not a 微信客服 chat (open_kfid:external_userid)")
    return open_kfid, user


def private(open_kfid: str, external_userid: str) -> ChatRef:
    """The ChatRef of a WeChat user's chat with a 客服 account."""
    return ChatRef(Platform.WECOM_KF, chat_id(open_kfid, external_userid), is_group=False)


@dataclass(frozen=True)
class SessionEntered:
    """A WeChat user opened the chat with a 客服 account (`enter_session`)."""

    msgid: str
    open_kfid: str
    external_userid: str
    scene: str
    welcome_code: str


def _text(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("a text field that is not text")
    return value


def read_item(item: Mapping[str, Any], now: datetime) -> IncomingMessage | SessionEntered | None:
    """A `sync_msg` item as a message from a WeChat user, a session entered, or None for what
    Guanjia does not act on (a servicer's message, other events, other message types); raises
    ValueError for an item that is not what WeCom sends."""
    msgid = _text(item.get("msgid"))
    if not MSGID.fullmatch(msgid):
        raise ValueError("no valid msgid")
    origin = item.get("origin")
    msgtype = _text(item.get("msgtype"))
    if origin == ORIGIN_EVENT or msgtype == "event":
        event = item.get("event")
        if not isinstance(event, Mapping) or event.get("event_type") != "enter_session":
            return None
        open_kfid = _text(event.get("open_kfid"))
        user = _text(event.get("external_userid"))
        if not KF_ID.fullmatch(open_kfid) or not KF_ID.fullmatch(user):
            raise ValueError("an enter_session event without valid ids")
        return SessionEntered(
            msgid=msgid,
            open_kfid=open_kfid,
            external_userid=user,
            scene=_text(event.get("scene")),
            welcome_code=_text(event.get("welcome_code")),
        )
    if origin != ORIGIN_CUSTOMER:
        return None
    open_kfid = _text(item.get("open_kfid"))
    user = _text(item.get("external_userid"))
    if not KF_ID.fullmatch(open_kfid) or not KF_ID.fullmatch(user):
        raise ValueError("a message without valid open_kfid and external_userid")
    text = ""
    payload: str | None = None
    attachments: tuple[Attachment, ...] = ()
    body = item.get(msgtype)
    if not isinstance(body, Mapping):
        return None
    if msgtype == "text":
        text = _text(body.get("content"))
        menu_id = _text(body.get("menu_id"))
        if menu_id:
            # A press on a menu message's item comes back as the item's text with its id.
            payload, text = menu_id, ""
    elif msgtype in ("image", "voice"):
        kind = "photo" if msgtype == "image" else "voice"
        attachments = (Attachment(kind, _text(body.get("media_id"))),)
    else:
        return None
    chat = private(open_kfid, user)
    return IncomingMessage(
        chat=chat,
        sender_id=chat.chat_id,
        sender_name=user,
        text=text,
        message_id=msgid,
        received_at=now,
        payload=payload,
        attachments=attachments,
        raw=dict(item),
    )


def _fits(text: str, limit: int) -> bool:
    return len(text.encode()) <= limit


def menu(head: str, buttons: tuple[tuple[Button, ...], ...], tail: str = "") -> dict[str, Any]:
    """A `msgmenu` body: the text as its head, a click item per button (its payload as the id)."""
    items = []
    for button in (button for row in buttons for button in row):
        if not _fits(button.payload, MENU_ITEM_BYTES) or not _fits(button.label, MENU_ITEM_BYTES):
            raise ValueError(f"a menu item longer than {MENU_ITEM_BYTES} bytes: {button}")
        items.append({"type": "click", "click": {"id": button.payload, "content": button.label}})
    body: dict[str, Any] = {"head_content": head, "list": items}
    if tail:
        body["tail_content"] = tail
    return body
