"""What the WeChat Official Account and WeCom adapters share.

- `StoreTokens` (from `bot/core/callbacks.py`): the platform's access token, shared by every
  process through the store and refreshed by one process at a time.
- `WxApi`: calls wechatpy's synchronous client off the event loop with that token, renews the token
  when the platform says it expired, and turns the platform's error codes into `SendError`s.
- `CallbackRunner`: hands a callback's message to the router while the HTTP answer waits at most
  `wait` seconds, capturing what the router says to the sender so that one quick answer can go
  back as WeChat's passive reply; anything else is sent afterwards through the API, in order.
- `CallbackGuard` (from `bot/core/callbacks.py`): refuses stale and replayed callbacks through a
  record every process shares.
- `welcome_once`, `mark_unreachable`, `mark_reachable` (from `bot/core/accounts.py`): what a
  follow, an unfollow or a menu click does to an account.
- `read_body`: a callback body, refused when it is larger than any real callback.
- `WxCallbackPipeline`: the callback routes' checks, in one order for both platforms, with what
  differs between them (signatures, decryption, parsing, the sender, the dispatch) supplied by
  each adapter as `WxCallbacks`; a check that fails raises `Refusal`, logged and answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import re
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import requests
from aiohttp import web
from urllib3.exceptions import NewConnectionError
from wechatpy.client.base import BaseWeChatClient
from wechatpy.exceptions import InvalidSignatureException, WeChatClientException
from wechatpy.messages import BaseMessage
from wechatpy.session import SessionStorage

from bot.core.callbacks import CallbackGuard, StoreTokens
from bot.core.channel import Channel, SendError
from bot.core.router import Router
from bot.core.types import ChatRef, IncomingMessage, OutgoingMessage, SentMessage

log = logging.getLogger("guanjia.wechat")

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

# Real callbacks are a few hundred bytes; anything this large is not from WeChat.
MAX_CALLBACK_BYTES = 64 * 1024
# The platforms' error codes (WeChat's and WeCom's agree on these).
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
BUSY = -1
RATE_LIMITED = frozenset({45009, 45011, 45033})
# Refusals that are the platform working as meant, not faults: the owner unfollowed (43004), the
# 48-hour reply window has passed (45015) or its message count is used up (45047).
UNSUBSCRIBED = 43004
EXPECTED_REFUSALS = {
    UNSUBSCRIBED: "the user does not follow the account",
    45015: "the reply window has passed",
    45047: "the reply window's message count is used up",
}
HTTP_TIMEOUT = 10.0
BUSY_PAUSE = 1.0


def callback_digest(*parts: str | bytes) -> str:
    """A digest of what a callback carried (its unsigned query values and its body)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        # Length-prefixed, so that moving bytes from one part to the next changes the digest.
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


class _TimedSession(requests.Session):
    """A requests session that never waits forever (wechatpy's token fetch passes no timeout)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Send with the default timeout unless one is given."""
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().request(*args, **kwargs)


class CallToken(SessionStorage):
    """wechatpy's token storage: the token our `StoreTokens` handed to the call on this thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self, key: str, default: Any = None) -> Any:
        """The token of the call running on this thread."""
        return getattr(self._local, "token", None) or default

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        """Set the token for the call running on this thread."""
        self._local.token = value

    def delete(self, key: str) -> None:
        """Forget this thread's token."""
        self._local.token = None


def prepare_client(client: BaseWeChatClient, base_url: str) -> BaseWeChatClient:
    """Point a wechatpy client at `base_url`, with per-call tokens and an HTTP timeout."""
    client.API_BASE_URL = base_url
    client.session = CallToken()
    client.timeout = HTTP_TIMEOUT
    client.auto_retry = False  # a refused token is renewed through the store, not by wechatpy
    client._http = _TimedSession(HTTP_TIMEOUT)
    return client


class PlatformError(SendError):
    """A send the platform refused with an error code (kept in `code`)."""

    def __init__(self, message: str, code: int | None, *, retry_after: float | None = None):
        super().__init__(message, retry_after=retry_after)
        self.code = code


def send_error(what: str, code: int | None, errmsg: object) -> PlatformError:
    """The SendError for a platform error code, logged with what was being done."""
    if code in RATE_LIMITED:
        log.warning("%s: rate limited (%s %s), retry in a minute", what, code, errmsg)
        return PlatformError(f"{what}: rate limited ({code})", code, retry_after=60)
    if code in EXPECTED_REFUSALS:
        log.info("%s refused: %s (%s)", what, EXPECTED_REFUSALS[code], code)
        return PlatformError(f"{what}: {EXPECTED_REFUSALS[code]} ({code})", code)
    if code == BUSY or code is None:
        # WeChat busy, or an HTTP error status: the message was refused, try again shortly.
        log.warning("%s: platform busy or HTTP error (%s %s)", what, code, errmsg)
        return PlatformError(f"{what}: platform busy ({code})", code, retry_after=5)
    log.error("%s failed: error %s %s", what, code, errmsg)
    return PlatformError(f"{what}: error {code} {errmsg}", code)


def network_error(what: str, exc: requests.RequestException) -> SendError:
    """The SendError for a network failure: unanswered unless the request never left."""
    reason = exc.args[0] if exc.args else None
    # A refused connection or an unknown host (urllib3's NewConnectionError) never sent anything.
    never_sent = isinstance(exc, requests.ConnectTimeout) or isinstance(
        getattr(reason, "reason", None), NewConnectionError
    )
    log.warning("%s: network error %r (request %s)", what, exc, "not sent" if never_sent else "?")
    return SendError(f"{what}: {exc.__class__.__name__}", retry_after=5, answered=never_sent)


class WxApi:
    """A wechatpy client called off the event loop with the token shared through the store."""

    def __init__(
        self, client: BaseWeChatClient, tokens: StoreTokens, *, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.client = client
        self.tokens = tokens
        self._sleep = sleep

    def _run(self, token: str, call: Callable[[BaseWeChatClient], T]) -> T:
        self.client.session.set("token", token)
        try:
            return call(self.client)
        finally:
            self.client.session.delete("token")

    async def call(self, what: str, call: Callable[[BaseWeChatClient], T]) -> T:
        """Run `call(client)` in a thread; raise SendError when the platform refuses it."""
        try:
            token = await self.tokens.get()
        except WeChatClientException as exc:
            raise send_error(f"{what} (access token)", exc.errcode, exc.errmsg) from exc
        except requests.RequestException as exc:
            raise network_error(f"{what} (access token)", exc) from exc
        retried = False
        while True:
            try:
                return await asyncio.to_thread(self._run, token, call)
            except WeChatClientException as exc:
                if not retried and exc.errcode in TOKEN_ERRORS:
                    log.info("%s: token refused (%s), renewing it", what, exc.errcode)
                    retried = True
                    try:
                        token = await self.tokens.get(stale=token)
                    except WeChatClientException as fetch_exc:
                        raise send_error(
                            f"{what} (access token)", fetch_exc.errcode, fetch_exc.errmsg
                        ) from fetch_exc
                    continue
                if not retried and exc.errcode == BUSY:
                    log.info("%s: platform busy, trying once more", what)
                    retried = True
                    await self._sleep(BUSY_PAUSE)
                    continue
                raise send_error(what, exc.errcode, exc.errmsg) from exc
            except requests.RequestException as exc:
                raise network_error(what, exc) from exc


def split_text(text: str, limit: int = 2000) -> list[str]:
    """Split text into pieces of at most `limit` UTF-8 bytes, at line breaks where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line.encode()) > limit:
            cut = limit
            while len(line[:cut].encode()) > limit:
                cut -= 1
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:cut])
            line = line[cut:]
        if len((current + line).encode()) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current or not pieces:
        pieces.append(current)
    return [piece.rstrip("\n") or piece for piece in pieces]


def text_field(value: object, name: str) -> str:
    """A callback field that must be text (absent is empty); a repeated or nested one is not."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} is not text")
    return value


def has_dtd(xml: str) -> bool:
    """Whether XML declares a DTD or entities, which WeChat never sends (expansion attacks)."""
    head = xml.upper()
    return "<!DOCTYPE" in head or "<!ENTITY" in head


async def read_body(request: web.Request) -> bytes | None:
    """The request body, or None when it is larger than `MAX_CALLBACK_BYTES`."""
    if request.content_length is not None and request.content_length > MAX_CALLBACK_BYTES:
        return None
    body = bytearray()
    async for chunk in request.content.iter_chunked(16 * 1024):
        body += chunk
        if len(body) > MAX_CALLBACK_BYTES:
            return None
    return bytes(body)


@dataclass
class Capture:
    """What the router says to one chat while a callback is waiting to answer."""

    chat: ChatRef
    messages: list[OutgoingMessage] = field(default_factory=list)
    collecting: bool = True
    # Sends the captured messages through the API; later sends to the chat wait for it.
    forwarding: asyncio.Task[None] | None = None


_capture: ContextVar[Capture | None] = ContextVar("wx_capture", default=None)
Deliver = Callable[[OutgoingMessage], Awaitable[SentMessage]]
Passive = Callable[[OutgoingMessage], bool]


class CallbackRunner:
    """Runs the router for callbacks, answering each within `wait` seconds."""

    def __init__(
        self,
        router: Router,
        channel: Channel,
        deliver: Deliver,
        *,
        wait: float,
        passive: Passive,
    ) -> None:
        self.router = router
        self.channel = channel
        self._deliver = deliver
        self.wait = wait
        self._passive = passive
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._ids = itertools.count(1)

    def spawn(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run work after the callback has been answered, keeping a reference until it ends."""
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def run(self, key: str, message: IncomingMessage) -> OutgoingMessage | None:
        """Route `message`; the one reply to give passively, or None to answer `success`."""
        if key in self._inflight:
            log.info("a retry of %s arrived while it is being handled: answered success", key)
            return None
        # Kept before the platform hears "received": from then on it is handled, even across a
        # stop. A store that cannot keep it fails the callback, and the platform retries.
        if not await self.router.accept(message):
            log.info("a redelivery of %s, handled already: answered success", key)
            return None
        # Only a private chat's answers can be a passive reply; a group's go out as they come.
        capture = None if message.chat.is_group else Capture(message.chat)
        task = self.spawn(self._handle(message, capture))
        self._inflight[key] = task
        task.add_done_callback(lambda _: self._inflight.pop(key, None))
        if capture is None:
            return None
        try:
            await asyncio.wait({task}, timeout=self.wait)
        except asyncio.CancelledError:
            self._close(capture, finished=False)
            raise
        return self._close(capture, finished=task.done())

    def _close(self, capture: Capture, *, finished: bool) -> OutgoingMessage | None:
        capture.collecting = False
        if finished and len(capture.messages) == 1 and self._passive(capture.messages[0]):
            return capture.messages[0]
        if capture.messages:
            capture.forwarding = self.spawn(self._forward(list(capture.messages)))
        return None

    async def _handle(self, message: IncomingMessage, capture: Capture | None) -> None:
        _capture.set(capture)
        try:
            toast = await self.router.handle(message, self.channel, accepted=True)
            if toast:
                # WeChat shows no toast: what became of a press goes to the presser privately.
                private = self.channel.private_chat(message.sender_id)
                await self.channel.send(OutgoingMessage(chat=private, text=toast))
        except SendError as exc:
            log.warning("could not tell %s what became of a press: %s", message.sender_id, exc)
        except Exception:  # the router logs and apologises itself; this is a last resort
            log.exception("handling %s failed", message.message_id)

    async def _forward(self, messages: list[OutgoingMessage]) -> None:
        for message in messages:
            try:
                await self._deliver(message)
            except SendError as exc:
                log.warning("could not send the late answer to %s: %s", message.chat, exc)

    async def intercept(self, message: OutgoingMessage) -> SentMessage | None:
        """Capture a send the router makes during a callback; None means send it now."""
        capture = _capture.get()
        if capture is None or capture.chat != message.chat:
            return None
        if capture.collecting:
            capture.messages.append(message)
            return SentMessage(chat=message.chat, message_id=f"passive-{next(self._ids)}")
        if capture.forwarding is not None:
            # What was captured goes first, so the owner reads the answers in order.
            await asyncio.shield(capture.forwarding)
        return None

    async def drain(self) -> None:
        """Wait until every handling and late send has finished."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def stop(self, patience: float = 10.0) -> None:
        """Let running work finish for up to `patience` seconds, then cancel what is left."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), patience)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*list(self._background), return_exceptions=True)


class Refusal(Exception):
    """A callback refused: the HTTP status, and why (logged, and the answer's body)."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


class WxCallbacks(Protocol):
    """What differs between the platforms' callbacks; `WxCallbackPipeline` does the rest."""

    empty_answer: str  # the answer when there is no passive reply ("success", or nothing)

    def echo(self, query: Mapping[str, str]) -> str:
        """The URL check's answer once its signature is right; raises `Refusal` otherwise."""

    def echo_digest(self, query: Mapping[str, str]) -> str:
        """The digest of what a URL check carried, for the replay guard."""

    def check_signature(self, query: Mapping[str, str]) -> None:
        """Refuse (raise `Refusal`) a callback whose query is not signed before its body is read;
        a platform that signs only the encrypted body checks nothing here."""

    def open(self, query: Mapping[str, str], body: bytes) -> str:
        """The callback's XML: the body decoded and, in safe mode, decrypted (`Refusal` if not)."""

    def parse(self, xml: str) -> BaseMessage:
        """The platform's message or event for the XML."""

    def check_sender(
        self, query: Mapping[str, str], message: BaseMessage, sender: str
    ) -> web.Response | None:
        """A last check of the parsed callback: an answer that ends it there, or None to go on
        (raises `Refusal` for a forgery)."""

    def digest(self, query: Mapping[str, str], body: bytes) -> str:
        """The digest of what a callback carried, for the replay guard."""

    async def dispatch(self, message: BaseMessage, sender: str) -> str | None:
        """Handle a message or event; the passive reply's text, if any."""

    def reply(self, query: Mapping[str, str], source: str, sender: str, text: str) -> str:
        """The passive reply's XML (encrypted in safe mode), from `source` to `sender`."""


class WeComEnvelope:
    """What every WeCom callback (the app's, 微信客服's) does alike in `WxCallbacks`: the body is
    AES-encrypted and signed with the encrypted body (msg_signature), and the URL check's
    `echostr` is decrypted. The subclass sets `crypto` (wechatpy's WeCom `WeChatCrypto`)."""

    crypto: Any

    def echo(self, query: Mapping[str, str]) -> str:
        """`echostr` decrypted, when its msg_signature is right."""
        try:
            return self.crypto.check_signature(
                query.get("msg_signature", ""),
                query.get("timestamp", ""),
                query.get("nonce", ""),
                query.get("echostr", ""),
            )
        except InvalidSignatureException as exc:
            raise Refusal(403, "bad msg_signature") from exc
        except Exception as exc:  # a bad echostr trips wechatpy somewhere
            raise Refusal(400, f"undecryptable echostr ({type(exc).__name__})") from exc

    def echo_digest(self, query: Mapping[str, str]) -> str:
        """The digest of the URL check's signature and `echostr`."""
        return callback_digest("GET", query.get("msg_signature", ""), query.get("echostr", ""))

    def check_signature(self, query: Mapping[str, str]) -> None:
        """Nothing to check before the body: the signature covers the encrypted body."""

    def open(self, query: Mapping[str, str], body: bytes) -> str:
        """The body decrypted, when its msg_signature is right."""
        try:
            envelope = body.decode("utf-8")
            if has_dtd(envelope):
                raise Refusal(400, "XML with a DTD")
            return self.crypto.decrypt_message(
                envelope,
                query.get("msg_signature", ""),
                query.get("timestamp", ""),
                query.get("nonce", ""),
            )
        except Refusal:
            raise
        except InvalidSignatureException as exc:
            raise Refusal(403, "bad msg_signature") from exc
        except Exception as exc:  # not UTF-8, not XML, no Encrypt, a bad AES payload
            raise Refusal(400, f"undecryptable callback ({type(exc).__name__})") from exc


class WxCallbackPipeline:
    """The callback routes of a WeChat-family platform: the URL check (GET) and the messages
    and events (POST), each checked in the same order whatever the platform.

    A POST is signed (when the query carries the signature), fresh, of a sane size, decoded and
    decrypted, free of DTDs, parsed, from a well-formed sender and not a replay before it is
    dispatched; each refusal is logged with its reason and answered with it. The nonce is
    recorded only once the callback is known good, so a forgery spends no genuine nonce.
    """

    def __init__(
        self,
        name: str,
        callbacks: WxCallbacks,
        guard: CallbackGuard,
        *,
        sender: re.Pattern[str],
        logger: logging.Logger,
    ) -> None:
        self.name = name
        self.callbacks = callbacks
        self.guard = guard
        self.sender = sender
        self.log = logger

    def _refuse(self, status: int, why: str, request: web.Request) -> web.Response:
        self.log.warning("refused a %s callback from %s: %s", self.name, request.remote, why)
        return web.Response(status=status, text=why)

    async def verify(self, request: web.Request) -> web.Response:
        """The platform's URL check: answer the echo when the signature is right."""
        query = request.query
        try:
            echo = self.callbacks.echo(query)
        except Refusal as refusal:
            return self._refuse(refusal.status, refusal.why, request)
        nonce = query.get("nonce", "")
        timestamp, why = self.guard.check_time(query.get("timestamp", ""), nonce)
        if timestamp is None:
            return self._refuse(403, why, request)
        refused = await self.guard.admit(nonce, timestamp, self.callbacks.echo_digest(query))
        if refused:
            return self._refuse(403, refused, request)
        return web.Response(text=echo)

    async def receive(self, request: web.Request) -> web.Response:
        """A message or event; answered within the reply wait."""
        try:
            return await self._receive(request)
        except Refusal as refusal:
            return self._refuse(refusal.status, refusal.why, request)

    async def _receive(self, request: web.Request) -> web.Response:
        callbacks = self.callbacks
        query = request.query
        callbacks.check_signature(query)
        nonce = query.get("nonce", "")
        # Before the body is read: a stale callback costs nothing more.
        timestamp, why = self.guard.check_time(query.get("timestamp", ""), nonce)
        if timestamp is None:
            raise Refusal(403, why)
        body = await read_body(request)
        if body is None:
            raise Refusal(413, "callback too large")
        xml = callbacks.open(query, body)
        if has_dtd(xml):
            raise Refusal(400, "XML with a DTD")
        try:
            message = callbacks.parse(xml)
            sender = message.source
            target = message.target
        except Exception as exc:  # xmltodict and wechatpy: malformed XML, missing fields
            raise Refusal(400, f"malformed XML ({type(exc).__name__})") from exc
        if not isinstance(sender, str) or not self.sender.fullmatch(sender):
            raise Refusal(400, "no valid FromUserName")
        answer = callbacks.check_sender(query, message, sender)
        if answer is not None:
            return answer
        # Recorded once the callback is known good, so a forgery spends no genuine nonce.
        refused = await self.guard.admit(nonce, timestamp, callbacks.digest(query, body))
        if refused:
            raise Refusal(403, refused)
        try:
            reply = await callbacks.dispatch(message, sender)
        except (ValueError, TypeError) as exc:  # a field that is not what the platform sends
            raise Refusal(400, f"bad field ({exc})") from exc
        if reply is None:
            return web.Response(text=callbacks.empty_answer)
        # wechatpy writes the reply into a CDATA section, which `]]>` would end early.
        content = reply.replace("]]>", "]]]]><![CDATA[>")
        answer_xml = callbacks.reply(query, str(target), sender, content)
        return web.Response(text=answer_xml, content_type="application/xml")
