"""WeCom's AI bot service, faked at the WebSocket and HTTP level on loopback.

Written from WeCom's own documentation (智能机器人长连接; 接收消息; 接收事件; 被动回复消息):
the client opens a WebSocket and subscribes (`aibot_subscribe` with its bot id and secret), pings
(`ping`), and every frame it sends is answered with a frame bearing the same `headers.req_id` and
an `errcode`. Messages and events reach it as `aibot_msg_callback` / `aibot_event_callback`
frames; a message is replied to with `aibot_respond_msg` (its req_id), a card press only with
`aibot_respond_update_msg` (its req_id, the card's task_id), and anything else is pushed with
`aibot_send_msg`. Callback mode's bodies are the same JSON, encrypted as every WeCom callback is
(`callback_request`), with an empty receiveid.

`received` keeps every frame the client sent, in order; `wait_for` waits (on a condition, never
on the clock) until one matches.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from wechatpy.enterprise.crypto import PrpCrypto

BOT_ID = "aibGuanjia01"
BOT_SECRET = "aibot-secret-for-tests-0123"
TOKEN = "aibottoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
# Errors as WeCom names them in its answers (the numbers are the fake's).
BAD_SECRET = 40014
NOT_SUBSCRIBED = 40058
WRONG_REQ_ID = 846605
WAIT = 10.0  # a guard against a hung test, never reached when the code works

Frame = dict[str, Any]


@dataclass
class FakeAIBot:
    """The AI bot service's long-connection end."""

    bot_id: str = BOT_ID
    secret: str = BOT_SECRET
    answer_pings: bool = True
    # Close the socket on a subscription instead of answering it (a connection lost then).
    drop_on_subscribe: bool = False
    received: list[Frame] = field(default_factory=list)
    connections: int = 0
    subscribes: int = 0
    closes: int = 0
    _ws: web.WebSocketResponse | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    # The req_id of each callback pushed: ("msg", "") or ("press", task_id).
    _callbacks: dict[str, tuple[str, str]] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        """The WebSocket endpoint at `/`."""
        app = web.Application()
        app.router.add_get("/", self._socket)
        return app

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        self._ws = ws
        subscribed = False
        await self._notify()
        async for raw in ws:
            if raw.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(raw.data)
            self.received.append(frame)
            req_id = frame["headers"]["req_id"]
            cmd = frame.get("cmd")
            if cmd == "aibot_subscribe" and self.drop_on_subscribe:
                await ws.close()
            elif cmd == "aibot_subscribe":
                body = frame.get("body", {})
                if body.get("bot_id") == self.bot_id and body.get("secret") == self.secret:
                    subscribed = True
                    self.subscribes += 1
                    await self._ack(ws, req_id)
                else:
                    await self._ack(ws, req_id, BAD_SECRET, "invalid secret")
            elif not subscribed:
                await self._ack(ws, req_id, NOT_SUBSCRIBED, "not subscribed")
            elif cmd == "ping":
                if self.answer_pings:
                    await self._ack(ws, req_id)
            else:
                await self._ack(ws, req_id, *self._check(cmd, req_id, frame.get("body", {})))
            await self._notify()
        self.closes += 1
        if self._ws is ws:
            self._ws = None
        await self._notify()
        return ws

    def _check(self, cmd: str, req_id: str, body: Frame) -> tuple[int, str]:
        card = body.get("template_card")
        if card is not None:
            refused = _check_card(card)
            if refused:
                return 42045, refused
        pushed = self._callbacks.get(req_id)
        if cmd == "aibot_respond_msg":
            if pushed is None or pushed[0] != "msg":
                return WRONG_REQ_ID, "req_id is not a message callback's"
            if body.get("msgtype") not in ("stream", "template_card", "stream_with_template_card"):
                return 40008, "invalid msgtype"
        elif cmd == "aibot_respond_update_msg":
            if pushed is None or pushed[0] != "press":
                return WRONG_REQ_ID, "req_id is not a template_card_event's"
            card = body.get("template_card", {})
            if body.get("response_type") != "update_template_card":
                return 40008, "invalid response_type"
            if card.get("task_id") != pushed[1]:
                return 40008, "task_id differs from the event's"
        elif cmd == "aibot_respond_welcome_msg":
            if pushed is None or pushed[0] != "event":
                return WRONG_REQ_ID, "req_id is not an enter_chat event's"
            if body.get("msgtype") not in ("text", "template_card"):
                return 40008, "invalid msgtype"
        elif cmd == "aibot_send_msg":
            if not body.get("chatid") or body.get("msgtype") not in ("markdown", "template_card"):
                return 40008, "invalid message"
        else:
            return 40008, f"unknown cmd {cmd}"
        return 0, "ok"

    async def _ack(self, ws: web.WebSocketResponse, req_id: str, code: int = 0, msg: str = "ok"):
        await ws.send_str(
            json.dumps({"headers": {"req_id": req_id}, "errcode": code, "errmsg": msg})
        )

    # What a test does ------------------------------------------------------------------

    async def wait_for(self, match: Callable[[Frame], bool]) -> Frame:
        """The first frame received that matches, once it has arrived."""

        def found() -> Frame | None:
            return next((frame for frame in self.received if match(frame)), None)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: found() is not None), WAIT)
        frame = found()
        assert frame is not None
        return frame

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until `condition` holds (it is checked on every change)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(condition), WAIT)

    def sent(self, cmd: str) -> list[Frame]:
        """The frames of one command the client sent."""
        return [frame for frame in self.received if frame.get("cmd") == cmd]

    async def push(self, cmd: str, body: Frame, *, kind: str = "msg", task_id: str = "") -> str:
        """Push a callback frame; its req_id."""
        assert self._ws is not None, "no client is connected"
        req_id = f"{cmd}_{next(self._ids)}_{secrets.token_hex(4)}"
        self._callbacks[req_id] = (kind, task_id)
        await self._ws.send_str(
            json.dumps({"cmd": cmd, "headers": {"req_id": req_id}, "body": body})
        )
        return req_id

    async def push_raw(self, data: str) -> None:
        """Send something that is not a callback WeCom would send."""
        assert self._ws is not None
        await self._ws.send_str(data)

    async def push_text(self, userid: str, text: str, chatid: str = "") -> str:
        """A text message to the bot (in a group, `text` starts with the bot's @-mention)."""
        return await self.push("aibot_msg_callback", text_body(self.bot_id, userid, text, chatid))

    async def push_press(self, userid: str, task_id: str, key: str, chatid: str = "") -> str:
        """A press on a template card's button."""
        body = press_body(self.bot_id, userid, task_id, key, chatid)
        return await self.push("aibot_event_callback", body, kind="press", task_id=task_id)

    async def drop(self) -> None:
        """Close the client's socket from WeCom's end."""
        assert self._ws is not None
        await self._ws.close()


def _check_card(card: Frame) -> str:
    """Why WeCom would refuse a template card (模板卡片类型), or empty when it takes it."""
    kind = card.get("card_type")
    if not card.get("main_title", {}).get("title"):
        return "main_title.title missing"
    if kind == "button_interaction":
        buttons = card.get("button_list") or []
        if not 1 <= len(buttons) <= 6 or not card.get("task_id"):
            return "button_interaction needs 1-6 buttons and a task_id"
        if any(not b.get("text") or not b.get("key") for b in buttons):
            return "a button needs text and key"
    elif kind == "text_notice":
        action = card.get("card_action") or {}
        if action.get("type") not in (1, 2) or (action.get("type") == 1 and not action.get("url")):
            return "Template_Card card_action Missing or Invalid"
    else:
        return f"card_type {kind!r} not supported here"
    return ""


def _common(bot_id: str, userid: str, chatid: str) -> Frame:
    body: Frame = {
        "msgid": f"msg{secrets.token_hex(8)}",
        "aibotid": bot_id,
        "chattype": "group" if chatid else "single",
        "from": {"userid": userid},
    }
    if chatid:
        body["chatid"] = chatid
    return body


def text_body(bot_id: str, userid: str, text: str, chatid: str = "") -> Frame:
    """A text message's body (接收消息: 文本消息)."""
    return {**_common(bot_id, userid, chatid), "msgtype": "text", "text": {"content": text}}


def press_body(bot_id: str, userid: str, task_id: str, key: str, chatid: str = "") -> Frame:
    """A button press's body (接收事件: 模板卡片事件, the fields under template_card_event)."""
    return {
        **_common(bot_id, userid, chatid),
        "create_time": 1_800_000_000,
        "msgtype": "event",
        "event": {
            "eventtype": "template_card_event",
            "template_card_event": {
                "card_type": "button_interaction",
                "event_key": key,
                "task_id": task_id,
            },
        },
    }


def sign(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """msg_signature as WeCom computes it: SHA-1 of the four values sorted and joined."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode()).hexdigest()


def _key(aes_key: str) -> bytes:
    return base64.b64decode(aes_key + "=")


def callback_request(
    body: Frame, timestamp: int, *, token: str = TOKEN, aes_key: str = AES_KEY
) -> tuple[dict[str, str], str]:
    """A callback as WeCom POSTs it: the query (signature, timestamp, nonce) and the JSON
    envelope `{"encrypt": …}`, the receiveid inside empty."""
    encrypt = PrpCrypto(_key(aes_key)).encrypt(json.dumps(body, ensure_ascii=False), "")
    encrypt = encrypt.decode() if isinstance(encrypt, bytes) else encrypt
    nonce = secrets.token_hex(6)
    query = {
        "msg_signature": sign(token, str(timestamp), nonce, encrypt),
        "timestamp": str(timestamp),
        "nonce": nonce,
    }
    return query, json.dumps({"encrypt": encrypt})


def open_answer(answer: Frame, *, token: str = TOKEN, aes_key: str = AES_KEY) -> Frame:
    """An encrypted passive answer, checked and decrypted as WeCom does."""
    expected = sign(token, str(answer["timestamp"]), answer["nonce"], answer["encrypt"])
    assert answer["msgsignature"] == expected, "the answer's signature is wrong"
    return json.loads(PrpCrypto(_key(aes_key)).decrypt(answer["encrypt"], ""))
