"""The far end for the WeChat and WeCom tests: their HTTP APIs on loopback, and their callbacks.

`FakeWeChatApi` answers the API paths Guanjia uses the way WeChat and WeCom do (JSON with
`errcode`, tokens that expire or are revoked) and records every call; `script` makes the next
calls of a path answer an error. The callback builders sign and encrypt with wechatpy's own
crypto, as WeChat's server does: a fresh nonce each time, and the timestamp of the moment the
callback's XML was created (the tests' clock), unless told otherwise.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import xmltodict
from aiohttp import web
from aiohttp.test_utils import TestServer
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.utils import WeChatSigner

from bot.core.clock import FixedClock

APP_ID = "wx1234567890abcdef"
APP_SECRET = "app-secret"
TOKEN = "guanjiatoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = "gh_0123456789ab"
CORP_ID = "ww0123456789abcdef"
AGENT_ID = 1000002
CORP_SECRET = "corp-secret"


@dataclass
class ApiCall:
    """One API call as the platform received it."""

    path: str
    query: dict[str, str]
    body: dict[str, Any]
    at: datetime | None


@dataclass
class FakeWeChatApi:
    """WeChat's (`/cgi-bin/token`, …) and WeCom's (`/cgi-bin/gettoken`, …) APIs in memory."""

    clock: FixedClock | None = None
    calls: list[ApiCall] = field(default_factory=list)
    token_fetches: int = 0
    members: dict[str, list[str]] = field(default_factory=dict)
    _scripted: dict[str, deque[dict[str, Any]]] = field(default_factory=lambda: defaultdict(deque))
    _valid: set[str] = field(default_factory=set)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def script(self, path: str, *answers: dict[str, Any]) -> None:
        """Answer the next calls of `path` (e.g. `message/custom/send`) with these."""
        self._scripted[path].extend(answers)

    def revoke_tokens(self) -> None:
        """Make every token issued so far invalid (as when another party fetched a new one)."""
        self._valid.clear()

    def to(self, path: str) -> list[ApiCall]:
        """The calls of one path."""
        return [call for call in self.calls if call.path == path]

    def app(self) -> web.Application:
        """The aiohttp application that answers."""
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_get("/cgi-bin/gettoken", self._token)
        app.router.add_route("*", "/cgi-bin/{path:.+}", self._api)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        secret = request.query.get("secret") or request.query.get("corpsecret")
        if secret not in (APP_SECRET, CORP_SECRET):
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        self.token_fetches += 1
        token = f"ACCESS-{self.token_fetches}"
        self._valid.add(token)
        return web.json_response({"access_token": token, "expires_in": 7200})

    async def _api(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        body: dict[str, Any] = {}
        if request.content_type.startswith("multipart/"):
            media = (await request.post())["media"]
            body = {"filename": media.filename, "size": len(media.file.read())}  # type: ignore[union-attr]
        elif request.can_read_body:
            body = await request.json()
        query = dict(request.query)
        self.calls.append(
            ApiCall(path, query, body, self.clock.now() if self.clock is not None else None)
        )
        if path != "webhook/send" and query.get("access_token") not in self._valid:
            return web.json_response({"errcode": 42001, "errmsg": "access_token expired"})
        if self._scripted[path]:
            return web.json_response(self._scripted[path].popleft())
        answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
        if path == "message/template/send":
            answer["msgid"] = next(self._ids)
        if path == "message/send":
            answer.update(msgid=f"msg{next(self._ids)}", response_code=f"RC{next(self._ids)}")
        if path == "media/upload":
            answer.update(type=query.get("type"), media_id=f"MEDIA-{next(self._ids)}")
        if path == "appchat/get":
            chat_id = query.get("chatid", "")
            answer["chat_info"] = {"chatid": chat_id, "userlist": self.members.get(chat_id, [])}
        return web.json_response(answer)


async def serve(app: web.Application) -> TestServer:
    """Serve an aiohttp application on a free loopback port."""
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


def api_base(server: TestServer) -> str:
    """The API base URL of a fake served on loopback."""
    return f"http://127.0.0.1:{server.port}/cgi-bin/"


# Callbacks, as WeChat's server builds them ------------------------------------------------


def signature(*parts: str) -> str:
    """WeChat's SHA-1 signature of the sorted parts."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def text_xml(
    sender: str, content: str, msg_id: int, created: int, *, to: str = ACCOUNT, extra: str = ""
) -> str:
    """A text message callback's XML."""
    return (
        f"<xml><ToUserName><![CDATA[{to}]]></ToUserName>"
        f"<FromUserName><![CDATA[{sender}]]></FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId>{extra}</xml>"
    )


def event_xml(sender: str, event: str, created: int, *, to: str = ACCOUNT, extra: str = "") -> str:
    """An event callback's XML."""
    return (
        f"<xml><ToUserName><![CDATA[{to}]]></ToUserName>"
        f"<FromUserName><![CDATA[{sender}]]></FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event>{extra}</xml>"
    )


_nonces = itertools.count(1)
_CREATED = re.compile(r"<CreateTime>(\d+)</CreateTime>")
_SENDER = re.compile(r"<FromUserName><!\[CDATA\[([^\]]*)\]\]></FromUserName>")


def fresh_nonce() -> str:
    """A nonce as WeChat draws them: digits, a new one for every callback."""
    return str(1_000_000_000 + next(_nonces))


def _timestamp(xml: str, timestamp: str | int | None) -> str:
    """The query's timestamp: as given, else the moment the XML says it was created (WeChat
    posts at once), else now."""
    if timestamp is not None:
        return str(timestamp)
    found = _CREATED.search(xml)
    return found.group(1) if found else str(int(time.time()))


def _sender(xml: str) -> str:
    found = _SENDER.search(xml)
    return found.group(1) if found else ""


def plain_query(
    nonce: str | None = None, timestamp: str | int | None = None, openid: str = ""
) -> dict[str, str]:
    """The query WeChat puts on a GET (URL check) or a plain-mode POST from `openid`."""
    nonce = nonce or fresh_nonce()
    timestamp = str(timestamp) if timestamp is not None else str(int(time.time()))
    query = {
        "signature": signature(TOKEN, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    if openid:
        query["openid"] = openid
    return query


def plain_request(
    xml: str, nonce: str | None = None, timestamp: str | int | None = None
) -> dict[str, str]:
    """The query of a plain-mode POST carrying `xml` (the body is `xml` itself): signed, and
    naming the XML's sender as `openid`, as WeChat does."""
    return plain_query(nonce, _timestamp(xml, timestamp), _sender(xml))


def safe_request(
    xml: str, nonce: str | None = None, timestamp: str | int | None = None
) -> tuple[dict[str, str], str]:
    """The query and body of a safe-mode (AES) POST carrying `xml`."""
    nonce = nonce or fresh_nonce()
    timestamp = _timestamp(xml, timestamp)
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    envelope = xmltodict.parse(crypto.encrypt_message(xml, nonce, timestamp))["xml"]
    query = plain_query(nonce, timestamp, _sender(xml))
    query.update(encrypt_type="aes", msg_signature=envelope["MsgSignature"])
    body = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
    )
    return query, body


def wecom_request(
    xml: str, nonce: str | None = None, timestamp: str | int | None = None
) -> tuple[dict[str, str], str]:
    """The query and body of a WeCom app callback carrying `xml` (always encrypted)."""
    nonce = nonce or fresh_nonce()
    timestamp = _timestamp(xml, timestamp)
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
    envelope = xmltodict.parse(crypto.encrypt_message(xml, nonce, timestamp))["xml"]
    query = {"msg_signature": envelope["MsgSignature"], "timestamp": timestamp, "nonce": nonce}
    body = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<AgentID><![CDATA[{AGENT_ID}]]></AgentID>"
        f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
    )
    return query, body
