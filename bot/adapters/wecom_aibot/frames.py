"""The WeCom AI bot's (智能机器人) JSON, both ways: what its callbacks carry (the same body in a
long-connection frame and in a decrypted HTTP callback), and the bodies Guanjia answers with.

WeCom documents the shapes (developer.work.weixin.qq.com, 智能机器人: 接收消息, 接收事件,
被动回复消息, 模板卡片类型, 智能机器人长连接). Parsing is strict: a field that is not what WeCom
sends makes the whole callback a `BadFrame`, which is logged and changes nothing.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.types import Button, Mention, OutgoingMessage

# Long-connection commands (智能机器人长连接).
SUBSCRIBE = "aibot_subscribe"
PING = "ping"
MSG_CALLBACK = "aibot_msg_callback"
EVENT_CALLBACK = "aibot_event_callback"
RESPOND = "aibot_respond_msg"
RESPOND_WELCOME = "aibot_respond_welcome_msg"
RESPOND_UPDATE = "aibot_respond_update_msg"
SEND = "aibot_send_msg"

USERID = re.compile(r"[A-Za-z0-9_@.-]{1,64}")
CHATID = re.compile(r"[A-Za-z0-9_@.-]{1,128}")
MAX_ID = 256
MAX_TEXT = 8000
MAX_BUTTONS = 6  # a button_interaction card's limit
MAX_MARKDOWN_BYTES = 20_480
# Leading @-mentions of a group message ("@管家 队列"): the bot is addressed, the words follow.
_LEADING_MENTIONS = re.compile(r"^(?:\s*@\S+)+\s*")


class BadFrame(ValueError):
    """A frame or callback body that is not what WeCom sends."""


def new_req_id(prefix: str) -> str:
    """A request id as WeCom's SDKs make them: the command, then a random part."""
    return f"{prefix}_{secrets.token_hex(12)}"


def _text(value: object, name: str, *, limit: int = MAX_ID, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise BadFrame(f"{name} is not a string WeCom sends")
    return value


def _object(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise BadFrame(f"{name} is not an object")
    return value


@dataclass(frozen=True)
class Inbound:
    """What a callback says, in the adapter's terms: a message, a card press or an event."""

    kind: str  # "message", "press", "enter_chat", "disconnected", "other"
    msgid: str
    userid: str
    chatid: str  # the group's chatid; empty in a 1:1 chat
    text: str = ""
    task_id: str = ""
    event_key: str = ""
    create_time: int = 0
    response_url: str = ""

    @property
    def in_group(self) -> bool:
        """Whether it came from a group chat."""
        return bool(self.chatid)


def parse_body(body: object, bot_id: str) -> Inbound:
    """A callback's body (`aibot_msg_callback`/`aibot_event_callback`), checked field by field;
    one addressed to another bot is refused."""
    data = _object(body, "body")
    aibotid = _text(data.get("aibotid"), "aibotid", required=False)
    if aibotid and bot_id and aibotid != bot_id:
        raise BadFrame(f"a callback for bot {aibotid!r}, not ours")
    msgid = _text(data.get("msgid"), "msgid")
    sender = _object(data.get("from"), "from")
    userid = _text(sender.get("userid"), "from.userid")
    if not USERID.fullmatch(userid):
        raise BadFrame("from.userid is not a WeCom userid")
    chattype = data.get("chattype", "single")
    if chattype not in ("single", "group"):
        raise BadFrame("chattype is neither single nor group")
    chatid = ""
    if chattype == "group":
        chatid = _text(data.get("chatid"), "chatid")
        if not CHATID.fullmatch(chatid):
            raise BadFrame("chatid is not a WeCom chat id")
    response_url = _text(data.get("response_url"), "response_url", limit=2048, required=False)
    msgtype = _text(data.get("msgtype"), "msgtype", limit=32)
    common: dict[str, Any] = {
        "msgid": msgid,
        "userid": userid,
        "chatid": chatid,
        "response_url": response_url,
    }
    if msgtype == "event":
        return _event(data, common)
    text = _message_text(data, msgtype)
    if text is None:
        return Inbound("other", **common)
    if chatid:
        # Only messages that @-mention the bot reach it in a group: the mention is not words.
        text = _LEADING_MENTIONS.sub("", text)
    return Inbound("message", text=text, **common)


def _message_text(data: Mapping[str, Any], msgtype: str) -> str | None:
    """The words of a text, voice (as WeCom transcribed it) or mixed message; None for others."""
    if msgtype in ("text", "voice"):
        part = _object(data.get(msgtype), msgtype)
        return _text(part.get("content"), f"{msgtype}.content", limit=MAX_TEXT)
    if msgtype == "mixed":
        items = _object(data.get("mixed"), "mixed").get("msg_item")
        if not isinstance(items, list):
            raise BadFrame("mixed.msg_item is not a list")
        words = []
        for item in items:
            item = _object(item, "mixed.msg_item[]")
            if item.get("msgtype") == "text":
                part = _object(item.get("text"), "text")
                words.append(_text(part.get("content"), "text.content", limit=MAX_TEXT))
        return "\n".join(words)
    return None


def _event(data: Mapping[str, Any], common: dict[str, Any]) -> Inbound:
    event = _object(data.get("event"), "event")
    eventtype = _text(event.get("eventtype"), "event.eventtype", limit=64)
    created = data.get("create_time", 0)
    if not isinstance(created, int) or isinstance(created, bool):
        raise BadFrame("create_time is not a number")
    common = {**common, "create_time": created}
    if eventtype == "template_card_event":
        # 接收事件: the card's fields are under event.template_card_event.
        card = _object(event.get("template_card_event"), "event.template_card_event")
        return Inbound(
            "press",
            task_id=_text(card.get("task_id"), "task_id", limit=128),
            event_key=_text(card.get("event_key"), "event_key", limit=1024),
            **common,
        )
    if eventtype == "enter_chat":
        return Inbound("enter_chat", **common)
    if eventtype == "disconnected_event":
        return Inbound("disconnected", **common)
    return Inbound("other", **common)


# Out -------------------------------------------------------------------------------------


def markdown(message: OutgoingMessage) -> str:
    """The message's text as WeCom markdown, each mention by userid (`<@userid>`), which
    notifies that person; a mention whose `@name` the text lacks is added at the end."""
    text = message.text
    missing = []
    # Longest names first, so "@张工" does not take the start of "@张工程师".
    for mention in sorted(message.mentions, key=lambda m: -len(m.name)):
        tag = f"<@{mention.user_id}>"
        if mention.name and mention.name in text:
            text = text.replace(mention.name, tag)
        else:
            missing.append(tag)
    if missing:
        text = f"{text}\n{' '.join(missing)}"
    data = text.encode()
    if len(data) > MAX_MARKDOWN_BYTES:
        text = data[: MAX_MARKDOWN_BYTES - 3].decode(errors="ignore") + "…"
    return text


def mention_line(mentions: tuple[Mention, ...], first_line: str) -> str:
    """A markdown line that notifies each mentioned person (a card's text notifies nobody)."""
    head = first_line
    for mention in mentions:
        head = head.replace(mention.name, "")
    tags = " ".join(f"<@{mention.user_id}>" for mention in mentions)
    return f"{tags} {head.strip()}".strip()


def stream(text: str) -> dict[str, Any]:
    """A reply as one finished stream message (its content is markdown)."""
    return {
        "msgtype": "stream",
        "stream": {"id": new_req_id("stream"), "finish": True, "content": text},
    }


def card(message: OutgoingMessage, task_id: str, link: str = "") -> dict[str, Any]:
    """A template card holding the message: a button_interaction card with its buttons, or a
    text_notice card once it has none (a used card), which opens `link` (the staff console)
    when tapped: WeCom requires a text_notice card to open a URL or a mini program."""
    lines = [line for line in message.text.strip().splitlines() if line.strip()] or ["-"]
    buttons: list[Button] = [button for row in message.buttons for button in row]
    found: dict[str, Any] = {
        "card_type": "button_interaction" if buttons else "text_notice",
        "main_title": {"title": lines[0][:36]},
        "task_id": task_id,
    }
    if len(lines[0]) > 36:
        found["main_title"]["desc"] = lines[0][36:80]
    if len(lines) > 1:
        found["sub_title_text"] = "\n".join(lines[1:])[:1000]
    if buttons:
        found["button_list"] = [
            {"text": button.label[:10], "style": 1, "key": button.payload}
            for button in buttons[:MAX_BUTTONS]
        ]
    else:
        found["card_action"] = {"type": 1, "url": link}
    return found


def with_note(found: Mapping[str, Any], note: str) -> dict[str, Any]:
    """A copy of a card with `note` above its text (what one presser is told)."""
    copy = dict(found)
    rest = str(found.get("sub_title_text", ""))
    copy["sub_title_text"] = f"{note}\n{rest}".strip()[:1000]
    return copy


def update(found: Mapping[str, Any], userids: list[str] | None = None) -> dict[str, Any]:
    """The body of an update_template_card answer (for everybody, or only `userids`)."""
    body: dict[str, Any] = {"response_type": "update_template_card", "template_card": found}
    if userids:
        body["userids"] = userids
    return body
