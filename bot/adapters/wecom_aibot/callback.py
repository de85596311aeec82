"""The AI bot's callback mode: WeCom POSTs each message and event to a URL of ours.

The body is JSON, `{"encrypt": "…"}`, encrypted and signed as every WeCom callback is
(msg_signature over token, timestamp, nonce and the ciphertext; AES with the EncodingAESKey),
except that the receiveid inside is empty. wechatpy's WeCom crypto checks and decrypts it; the
store-backed `CallbackGuard` refuses stale and replayed callbacks as for the app's callbacks. The
answer is the reply itself, encrypted the same way, given within `card_wait` seconds; a message
answered later gets it through the callback's `response_url` (once).

WeChat's XML pipeline (`WxCallbackPipeline`) does not fit a JSON body, so only its parts are
reused here: the guard, the body size limit, the refusal and the digest.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import WeChatSigner

from bot.adapters.wecom_aibot import frames
from bot.adapters.wecom_aibot.frames import BadFrame
from bot.adapters.wxcommon import HTTP_TIMEOUT, Refusal, callback_digest, read_body
from bot.core.callbacks import CallbackGuard
from bot.core.channel import SendError

if TYPE_CHECKING:
    from bot.adapters.wecom_aibot.channel import AIBotConfig, WeComAIBotChannel

log = logging.getLogger("guanjia.wecom_aibot")


def sign(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """WeCom's msg_signature: SHA-1 of the four values, sorted."""
    signer = WeChatSigner()
    signer.add_data(token, timestamp, nonce, encrypt)
    return signer.signature


@dataclass
class HttpTurn:
    """A callback waiting for its HTTP answer; after it, a message's `response_url` (once)."""

    http: aiohttp.ClientSession
    response_url: str = ""
    deadline: bool = True
    answer: asyncio.Future[dict[str, Any] | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    _url_used: bool = False

    async def respond(self, body: dict[str, Any]) -> None:
        """The first reply is the HTTP answer; a later one goes through `response_url`."""
        if not self.answer.done():
            self.answer.set_result(body)
            return
        if not self.response_url or self._url_used:
            raise SendError("the callback was answered and its response_url is spent")
        self._url_used = True
        if body.get("msgtype") == "stream":
            body = {"msgtype": "markdown", "markdown": {"content": body["stream"]["content"]}}
        try:
            async with self.http.post(self.response_url, json=body) as response:
                result = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SendError(f"response_url: {exc!r}", answered=False) from exc
        if not isinstance(result, dict) or result.get("errcode", 0) != 0:
            raise SendError(f"response_url refused: {result!r}")

    async def update_card(self, body: dict[str, Any]) -> None:
        """The updated card is the HTTP answer, if it is still due."""
        if self.answer.done():
            raise SendError("the press was answered already")
        self.answer.set_result(body)

    async def welcome(self, body: dict[str, Any]) -> None:
        """The welcome is the HTTP answer, if it is still due."""
        if self.answer.done():
            raise SendError("the enter_chat event was answered already")
        self.answer.set_result(body)

    def settle(self) -> None:
        """Answer now with what there is (nothing, if nothing was said)."""
        if not self.answer.done():
            self.answer.set_result(None)


class AIBotCallbacks:
    """The callback routes: the URL check (GET) and the callbacks (POST)."""

    def __init__(self, channel: WeComAIBotChannel, config: AIBotConfig) -> None:
        self.channel = channel
        self.config = config
        # The AI bot's receiveid is empty: wechatpy then checks that it is.
        self.crypto = WeChatCrypto(config.token, config.aes_key, "")
        self.guard = CallbackGuard(f"wecom_aibot:{config.bot_id}", channel.clock)
        self._http: aiohttp.ClientSession | None = None

    def routes(self) -> list[web.RouteDef]:
        """The GET and POST routes at the callback path."""
        path = self.config.callback_path
        return [web.get(path, self.verify), web.post(path, self.receive)]

    def _refuse(self, request: web.Request, refusal: Refusal) -> web.Response:
        log.warning("refused a WeCom AI bot callback from %s: %s", request.remote, refusal.why)
        return web.Response(status=refusal.status, text=refusal.why)

    def _decrypt(self, query: Mapping[str, str], encrypt: str) -> str:
        try:
            return self.crypto.check_signature(
                query.get("msg_signature", ""),
                query.get("timestamp", ""),
                query.get("nonce", ""),
                encrypt,
            )
        except InvalidSignatureException as exc:
            raise Refusal(403, "bad msg_signature") from exc
        except Exception as exc:  # a bad AES payload trips wechatpy somewhere
            raise Refusal(400, f"undecryptable ({type(exc).__name__})") from exc

    async def _admit(self, query: Mapping[str, str], digest: str) -> None:
        nonce = query.get("nonce", "")
        timestamp, why = self.guard.check_time(query.get("timestamp", ""), nonce)
        if timestamp is None:
            raise Refusal(403, why)
        refused = await self.guard.admit(nonce, timestamp, digest)
        if refused:
            raise Refusal(403, refused)

    async def verify(self, request: web.Request) -> web.Response:
        """WeCom's URL check: answer `echostr` decrypted when its signature is right."""
        query = request.query
        try:
            echo = self._decrypt(query, query.get("echostr", ""))
            digest = callback_digest("GET", query.get("msg_signature", ""), echo)
            await self._admit(query, digest)
        except Refusal as refusal:
            return self._refuse(request, refusal)
        return web.Response(text=echo)

    async def receive(self, request: web.Request) -> web.Response:
        """A message or event: decrypted, checked, handled, answered within `card_wait`."""
        query = request.query
        try:
            nonce = query.get("nonce", "")
            if self.guard.check_time(query.get("timestamp", ""), nonce)[0] is None:
                raise Refusal(403, "stale or missing timestamp")
            body = await read_body(request)
            if body is None:
                raise Refusal(413, "callback too large")
            try:
                envelope = json.loads(body)
                encrypt = envelope["encrypt"]
                if not isinstance(encrypt, str):
                    raise TypeError("encrypt is not a string")
            except (ValueError, KeyError, TypeError) as exc:
                raise Refusal(400, f"not a WeCom AI bot envelope ({type(exc).__name__})") from exc
            plain = self._decrypt(query, encrypt)
            try:
                inbound = frames.parse_body(json.loads(plain), self.config.bot_id)
            except (ValueError, BadFrame) as exc:
                raise Refusal(400, f"bad callback ({exc})") from exc
            # Recorded once the callback is known good, so a forgery spends no genuine nonce.
            await self._admit(query, callback_digest("POST", query.get("msg_signature", ""), body))
        except Refusal as refusal:
            return self._refuse(request, refusal)
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT))
        turn = HttpTurn(self._http, inbound.response_url)
        self.channel.take(inbound, turn)
        answer = await turn.answer
        if answer is None:
            return web.Response(text="")
        return web.json_response(self.seal(answer))

    def seal(self, answer: dict[str, Any]) -> dict[str, Any]:
        """An answer encrypted and signed as WeCom expects it."""
        plain = json.dumps(answer, ensure_ascii=False)
        encrypt = PrpCrypto(self.crypto.key).encrypt(plain, "")
        if isinstance(encrypt, bytes):
            encrypt = encrypt.decode()
        timestamp = str(int(time.time()))
        nonce = secrets.token_hex(8)
        return {
            "encrypt": encrypt,
            "msgsignature": sign(self.config.token, timestamp, nonce, encrypt),
            "timestamp": int(timestamp),
            "nonce": nonce,
        }

    async def close(self) -> None:
        """Close the HTTP session for response_url calls."""
        if self._http is not None:
            await self._http.close()
            self._http = None
