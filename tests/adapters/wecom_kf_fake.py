"""WeCom's 微信客服 far end for the tests, at the HTTP level, written from WeCom's documentation:

- `gettoken` with the corp id and the secret allowed to call 微信客服 (errcode 40001 otherwise);
  every other path wants a token it issued (42001 otherwise).
- `kf/sync_msg` ("读取消息"): the messages and events of one 客服 account from `cursor` (from the
  first when absent), at most `limit` (1000 by default, and at most `page_size` here, to make
  pages), with `next_cursor` and `has_more`; the `token` from a callback is valid 10 minutes
  (95007, "不合法的msgtoken", otherwise); a call without one is allowed (WeCom limits its rate).
  Items: `msgid`, `open_kfid`, `external_userid`, `send_time`, `origin` (3 a WeChat user, 4 an
  event, 5 a servicer), `msgtype` and its body (`text.content`, `text.menu_id` for a menu click,
  `event.event_type` `enter_session` with `scene` and `welcome_code`).
- `kf/send_msg` ("发送消息"): text (content at most 2048 bytes) or `msgmenu` (`head_content`,
  `list` of `click` items, `tail_content`), only within 48 hours of the user's last message and
  at most 5 messages in that window: 95002 ("发送客服消息时间限制") and 95001
  ("发送客服消息次数限制") otherwise, as WeCom's global error codes say.
- `kf/send_msg_on_event` ("发送欢迎语等事件响应消息"): with an `enter_session` event's
  `welcome_code`, once, within 20 seconds; refused otherwise (the documentation names no code
  for this: 40035 "不合法的参数" here).
- `kf/add_contact_way` ("获取客服账号链接"): a link for an account and a `scene` of at most 32
  letters, digits, `_` and `-`.

The callback (`kf_msg_or_event`: `ToUserName` the corp id, `Token`, `OpenKfId`) is built and
encrypted with wechatpy's own crypto, as WeCom's server does (`kf_request`).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import xmltodict
from aiohttp import web
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto

from bot.core.clock import FixedClock
from tests.adapters.wx_fake import CORP_ID, fresh_nonce

KF_SECRET = "kf-secret"
KF_TOKEN = "kfcallbacktoken"
KF_AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210abcdefg"
OPEN_KFID = "wkDEMO0000000001"
SCENE = re.compile(r"[0-9A-Za-z_-]{0,32}")
TOKEN_LIFE = timedelta(minutes=10)
WELCOME_LIFE = timedelta(seconds=20)
WINDOW = timedelta(hours=48)
WINDOW_MESSAGES = 5


@dataclass
class KfCall:
    """One API call as WeCom received it."""

    path: str
    query: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeKf:
    """微信客服's API in memory, on the tests' clock."""

    clock: FixedClock
    page_size: int = 1000
    calls: list[KfCall] = field(default_factory=list)
    token_fetches: int = 0
    # Pages served until sync_msg answers "system busy" (None: never).
    busy_after_pages: int | None = None
    pages_served: int = 0
    _items: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    _access: set[str] = field(default_factory=set)
    _msg_tokens: dict[str, datetime] = field(default_factory=dict)
    _welcome_codes: dict[str, datetime] = field(default_factory=dict)
    # (open_kfid, external_userid) → the user's last message and the sends since.
    _windows: dict[tuple[str, str], tuple[datetime, int]] = field(default_factory=dict)
    _scripted: dict[str, deque[dict[str, Any]]] = field(default_factory=lambda: defaultdict(deque))
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    # The WeChat users' side ------------------------------------------------------------

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    def says(
        self,
        user: str,
        text: str,
        *,
        open_kfid: str = OPEN_KFID,
        menu_id: str | None = None,
        msgid: str | None = None,
    ) -> str:
        """A WeChat user writes (or clicks a menu item, `menu_id`); the item's msgid."""
        body: dict[str, Any] = {"content": text}
        if menu_id is not None:
            body["menu_id"] = menu_id
        msgid = msgid or f"MSG{next(self._ids):06d}"
        self._items[open_kfid].append(
            {
                "msgid": msgid,
                "open_kfid": open_kfid,
                "external_userid": user,
                "send_time": self._now(),
                "origin": 3,
                "msgtype": "text",
                "text": body,
            }
        )
        self._windows[(open_kfid, user)] = (self.clock.now(), 0)
        return msgid

    def enters(self, user: str, scene: str = "", *, open_kfid: str = OPEN_KFID) -> str:
        """A WeChat user opens the chat from a contact link; the event's welcome code."""
        code = f"WELCOME{next(self._ids):06d}"
        self._welcome_codes[code] = self.clock.now()
        self._items[open_kfid].append(
            {
                "msgid": f"EVT{next(self._ids):06d}",
                "send_time": self._now(),
                "origin": 4,
                "msgtype": "event",
                "event": {
                    "event_type": "enter_session",
                    "open_kfid": open_kfid,
                    "external_userid": user,
                    "scene": scene,
                    "scene_param": "",
                    "welcome_code": code,
                },
            }
        )
        return code

    def servicer_says(self, user: str, text: str, *, open_kfid: str = OPEN_KFID) -> None:
        """A servicer answers from the WeCom client (origin 5): it counts in the window."""
        self._items[open_kfid].append(
            {
                "msgid": f"SRV{next(self._ids):06d}",
                "open_kfid": open_kfid,
                "external_userid": user,
                "send_time": self._now(),
                "origin": 5,
                "servicer_userid": "zhanggong",
                "msgtype": "text",
                "text": {"content": text},
            }
        )
        last, sent = self._windows[(open_kfid, user)]
        self._windows[(open_kfid, user)] = (last, sent + 1)

    def repeat(self, msgid: str, *, open_kfid: str = OPEN_KFID) -> None:
        """Hand out an item again (WeCom's stream may repeat one)."""
        [item] = [item for item in self._items[open_kfid] if item["msgid"] == msgid]
        self._items[open_kfid].append(dict(item))

    def callback_xml(self, open_kfid: str = OPEN_KFID) -> str:
        """The `kf_msg_or_event` callback's XML, with a fresh token for sync_msg."""
        token = f"ENC{hashlib.sha1(str(next(self._ids)).encode()).hexdigest()[:24]}"
        self._msg_tokens[token] = self.clock.now()
        return (
            f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
            f"<CreateTime>{self._now()}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[{token}]]></Token>"
            f"<OpenKfId><![CDATA[{open_kfid}]]></OpenKfId></xml>"
        )

    # What Guanjia sent -----------------------------------------------------------------

    def to(self, path: str) -> list[KfCall]:
        """The calls of one path."""
        return [call for call in self.calls if call.path == path]

    def sent_to(self, user: str) -> list[dict[str, Any]]:
        """The messages `kf/send_msg` accepted for a user, in order."""
        return [
            call.body
            for call in self.to("kf/send_msg")
            if call.body.get("touser") == user and call.body.get("_accepted")
        ]

    def texts_to(self, user: str) -> list[str]:
        """What a user read: texts, and a menu's head, items and tail."""
        texts = []
        for body in self.sent_to(user):
            if body["msgtype"] == "text":
                texts.append(body["text"]["content"])
            else:
                menu = body["msgmenu"]
                items = " / ".join(item["click"]["content"] for item in menu["list"])
                texts.append(f"{menu['head_content']}\n[{items}]\n{menu.get('tail_content', '')}")
        return texts

    def script(self, path: str, *answers: dict[str, Any]) -> None:
        """Answer the next calls of `path` with these."""
        self._scripted[path].extend(answers)

    # HTTP ------------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application that answers as WeCom does."""
        app = web.Application()
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_post("/cgi-bin/kf/sync_msg", self._sync_msg)
        app.router.add_post("/cgi-bin/kf/send_msg", self._send_msg)
        app.router.add_post("/cgi-bin/kf/send_msg_on_event", self._send_msg_on_event)
        app.router.add_post("/cgi-bin/kf/add_contact_way", self._add_contact_way)
        return app

    async def _gettoken(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("corpid") != CORP_ID or query.get("corpsecret") != KF_SECRET:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        self.token_fetches += 1
        token = f"KFACCESS-{self.token_fetches}"
        self._access.add(token)
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}
        )

    async def _open(self, request: web.Request, path: str) -> tuple[KfCall, web.Response | None]:
        body = await request.json()
        call = KfCall(path, dict(request.query), body)
        self.calls.append(call)
        if request.query.get("access_token") not in self._access:
            return call, web.json_response({"errcode": 42001, "errmsg": "access_token expired"})
        if self._scripted[path]:
            return call, web.json_response(self._scripted[path].popleft())
        return call, None

    async def _sync_msg(self, request: web.Request) -> web.Response:
        call, refused = await self._open(request, "kf/sync_msg")
        if refused is not None:
            return refused
        body = call.body
        token = body.get("token")
        if token is not None:
            issued = self._msg_tokens.get(token)
            if issued is None or self.clock.now() - issued > TOKEN_LIFE:
                return web.json_response({"errcode": 95007, "errmsg": "invalid msg token"})
        if self.busy_after_pages is not None and self.pages_served >= self.busy_after_pages:
            return web.json_response({"errcode": -1, "errmsg": "system busy"})
        items = self._items[str(body.get("open_kfid", ""))]
        cursor = str(body.get("cursor") or "")
        if cursor and not re.fullmatch(r"CUR\d{8}", cursor):
            return web.json_response({"errcode": 40035, "errmsg": "invalid cursor"})
        start = int(cursor[3:]) if cursor else 0
        limit = min(int(body.get("limit") or 1000), 1000, self.page_size)
        page = items[start : start + limit]
        end = start + len(page)
        self.pages_served += 1
        return web.json_response(
            {
                "errcode": 0,
                "errmsg": "ok",
                "next_cursor": f"CUR{end:08d}",
                "has_more": 1 if end < len(items) else 0,
                "msg_list": page,
            }
        )

    async def _send_msg(self, request: web.Request) -> web.Response:
        call, refused = await self._open(request, "kf/send_msg")
        if refused is not None:
            return refused
        body = call.body
        key = (str(body.get("open_kfid")), str(body.get("touser")))
        msgtype = body.get("msgtype")
        if msgtype == "text":
            if len(body["text"]["content"].encode()) > 2048:
                return web.json_response({"errcode": 40035, "errmsg": "content too long"})
        elif msgtype == "msgmenu":
            menu = body["msgmenu"]
            if not menu.get("list") or any(item["type"] != "click" for item in menu["list"]):
                return web.json_response({"errcode": 40035, "errmsg": "invalid msgmenu"})
        else:
            return web.json_response({"errcode": 40008, "errmsg": "invalid msgtype"})
        window = self._windows.get(key)
        if window is None or self.clock.now() - window[0] > WINDOW:
            return web.json_response({"errcode": 95002, "errmsg": "send msg time limit"})
        if window[1] >= WINDOW_MESSAGES:
            return web.json_response({"errcode": 95001, "errmsg": "send msg count limit"})
        self._windows[key] = (window[0], window[1] + 1)
        body["_accepted"] = True
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": f"OUT{next(self._ids)}"})

    async def _send_msg_on_event(self, request: web.Request) -> web.Response:
        call, refused = await self._open(request, "kf/send_msg_on_event")
        if refused is not None:
            return refused
        issued = self._welcome_codes.pop(str(call.body.get("code")), None)
        if issued is None or self.clock.now() - issued > WELCOME_LIFE:
            return web.json_response({"errcode": 40035, "errmsg": "invalid code"})
        call.body["_accepted"] = True
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": f"EVO{next(self._ids)}"})

    async def _add_contact_way(self, request: web.Request) -> web.Response:
        call, refused = await self._open(request, "kf/add_contact_way")
        if refused is not None:
            return refused
        scene = str(call.body.get("scene", ""))
        if call.body.get("open_kfid") != OPEN_KFID or not SCENE.fullmatch(scene):
            return web.json_response({"errcode": 95000, "errmsg": "invalid open_kfid or scene"})
        digest = hashlib.sha1(f"{OPEN_KFID}:{scene}".encode()).hexdigest()[:16]
        return web.json_response(
            {
                "errcode": 0,
                "errmsg": "ok",
                "url": f"https://work.weixin.qq.com/kf/kfc{digest}?enc_scene=ENC{scene}",
            }
        )


def kf_request(
    xml: str, nonce: str | None = None, timestamp: str | int | None = None
) -> tuple[dict[str, str], str]:
    """The query and body of a 微信客服 callback carrying `xml`, encrypted as WeCom does."""
    nonce = nonce or fresh_nonce()
    found = re.search(r"<CreateTime>(\d+)</CreateTime>", xml)
    stamp = str(timestamp) if timestamp is not None else (found.group(1) if found else "0")
    crypto = WeComCrypto(KF_TOKEN, KF_AES_KEY, CORP_ID)
    envelope = xmltodict.parse(crypto.encrypt_message(xml, nonce, stamp))["xml"]
    query = {"msg_signature": envelope["MsgSignature"], "timestamp": stamp, "nonce": nonce}
    body = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
    )
    return query, body
