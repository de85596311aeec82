"""What the WeChat Official Account and WeCom adapters share.

- `StoreTokens`: the platform's access token, kept in the store (`ApiToken`) for every process and
  refreshed by one process at a time under a `Lease`, never fetched anew per call.
- `WxApi`: calls wechatpy's synchronous client off the event loop with that token, renews the token
  when the platform says it expired, and turns the platform's error codes into `SendError`s.
- `CallbackRunner`: hands a callback's message to the router while the HTTP answer waits at most
  `wait` seconds, capturing what the router says to the sender so that one quick answer can go
  back as WeChat's passive reply; anything else is sent afterwards through the API, in order.
- `CallbackGuard`: refuses a callback whose timestamp is more than `REPLAY_WINDOW` from now, or
  whose nonce was seen within it with other contents (a replay), through a record every process
  shares (`CallbackNonce`); WeChat's own retry of a callback repeats all of it and is let through.
- `welcome_once`, `mark_unreachable`, `mark_reachable`: what a follow, an unfollow or a menu
  click does to an account (until these become core services the adapters call).
- `read_body`: a callback body, refused when it is larger than any real callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import os
import re
import socket
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import requests
from aiohttp import web
from tortoise.exceptions import IntegrityError
from urllib3.exceptions import NewConnectionError
from wechatpy.client.base import BaseWeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage

from bot.core.channel import Channel, SendError
from bot.core.clock import Clock
from bot.core.context import Services
from bot.core.logsafe import remember_secret
from bot.core.router import Router
from bot.core.types import ChatRef, IncomingMessage, OutgoingMessage, SentMessage
from models import ApiToken, CallbackNonce, ChatIdentity, Platform, SeenMessage
from models.lease import release_lease, take_lease

log = logging.getLogger("guanjia.wechat")

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

# Real callbacks are a few hundred bytes; anything this large is not from WeChat.
MAX_CALLBACK_BYTES = 64 * 1024
# The platforms' error codes (WeChat's and WeCom's agree on these).
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
BUSY = -1
RATE_LIMITED = frozenset({45009, 45011, 45033})
# A token this close to its expiry is renewed rather than used.
TOKEN_MARGIN = timedelta(minutes=5)
# Refusals that are the platform working as meant, not faults: the owner unfollowed (43004), the
# 48-hour reply window has passed (45015) or its message count is used up (45047).
UNSUBSCRIBED = 43004
EXPECTED_REFUSALS = {
    UNSUBSCRIBED: "the user does not follow the account",
    45015: "the reply window has passed",
    45047: "the reply window's message count is used up",
}
LEASE_TTL = timedelta(seconds=30)
HTTP_TIMEOUT = 10.0
BUSY_PAUSE = 1.0
# A callback signed further than this from now is refused: an old one replayed, or a clock far
# off. Its nonce is remembered this long, so a replay inside the window is refused too.
REPLAY_WINDOW = timedelta(minutes=5)
# WeChat's nonces are digits, WeCom's letters and digits; the record keeps at most 64.
NONCE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# At most this many admitted nonces are kept in memory (far more than 5 minutes of callbacks).
ADMITTED_KEPT = 10_000


def process_holder(kind: str) -> str:
    """A lease holder's name: host, process and this object, unique among the bot's processes."""
    return f"{socket.gethostname()}:{os.getpid()}:{kind}:{next(_holders)}"


_holders = itertools.count(1)


def _short_hash(*parts: str) -> str:
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]


async def welcome_once(
    platform: Platform,
    user_id: str,
    created: int,
    event: str,
    services: Services,
    now: datetime,
    *,
    event_key: str = "",
) -> str | None:
    """The welcome for a subscription or a menu click, once per event (retries included)."""
    # WeChat says to tell events apart by sender and CreateTime, but a follow and a click (or two
    # clicks) can share a second: the event and its key are part of what names it. A retry
    # repeats all of them.
    message_id = f"event:{created}:{event.lower()[:24]}:{_short_hash(event_key)}"
    try:
        await SeenMessage.create(platform=platform, chat_id=user_id, message_id=message_id, at=now)
    except IntegrityError:
        log.info("a retry of %s's %s event: no second welcome", user_id, event)
        return None
    identity = await ChatIdentity.get_or_none(platform=platform, user_id=user_id)
    catalogues = services.catalogues
    return catalogues.text(
        catalogues.language(identity.language if identity else None), "wechat.welcome"
    )


async def mark_unreachable(platform: Platform, user_id: str, now: datetime, why: str) -> None:
    """Record that the platform will not let the bot write to this account: notices to it stop."""
    # The first moment is kept: a redelivered unfollow changes nothing.
    changed = await ChatIdentity.filter(
        platform=platform, user_id=user_id, unreachable_at__isnull=True
    ).update(unreachable_at=now)
    if changed:
        log.info("%s account %s is unreachable (%s): its notices stop", platform, user_id, why)


async def mark_reachable(platform: Platform, user_id: str) -> None:
    """Record that the account follows again: notices to it go out again."""
    changed = await ChatIdentity.filter(
        platform=platform, user_id=user_id, unreachable_at__isnull=False
    ).update(unreachable_at=None)
    if changed:
        log.info("%s account %s follows again: its notices resume", platform, user_id)


def callback_digest(*parts: str | bytes) -> str:
    """A digest of what a callback carried (its unsigned query values and its body)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        # Length-prefixed, so that moving bytes from one part to the next changes the digest.
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


class CallbackGuard:
    """Refuses one account's stale and replayed callbacks; every process shares the record.

    A callback's signature covers its timestamp and nonce (and, in safe mode, the encrypted
    body), never the plain-mode body or the `openid` in the query: a captured plain callback can
    be sent again with other contents. So a callback is refused when its timestamp is more than
    `window` from now, and when its nonce was seen within the window with other contents. WeChat
    retries an unanswered callback with the same nonce, timestamp, signature and body: the same
    digest, let through (the seen-message record makes its handling idempotent).
    """

    def __init__(self, app: str, clock: Clock, *, window: timedelta = REPLAY_WINDOW) -> None:
        self.app = app
        self._clock = clock
        self._window = window
        self._next_prune: datetime | None = None
        # The nonces this process admitted within the window. A retry of a callback still being
        # handled is told apart here, without the store, which on SQLite waits for the first
        # callback's transaction to end.
        self._admitted: OrderedDict[str, tuple[int, str]] = OrderedDict()

    def _live(self, timestamp: int, now: datetime) -> bool:
        return abs(now.timestamp() - timestamp) <= self._window.total_seconds()

    def check_time(self, timestamp: str, nonce: str) -> tuple[int | None, str]:
        """The timestamp as a number when the callback is fresh, else None and why it is not."""
        if not NONCE.fullmatch(nonce):
            return None, "no valid nonce"
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            return None, "no valid timestamp"
        value = int(timestamp)
        now = self._clock.now()
        if not self._live(value, now):
            skew = int(now.timestamp()) - value
            when = f"{skew} s old" if skew > 0 else f"{-skew} s ahead"
            minutes = int(self._window.total_seconds()) // 60
            return None, f"timestamp outside the {minutes}-minute window ({when})"
        return value, ""

    async def admit(self, nonce: str, timestamp: int, digest: str) -> str | None:
        """Record an accepted callback's nonce; why it is refused when that nonce was seen within
        the window with other contents, or None (first seen, or WeChat's retry of it)."""
        now = self._clock.now()
        known = self._admitted.get(nonce)
        if known is not None and self._live(known[0], now):
            return self._compare(known, (timestamp, digest))
        await self._prune(now)
        refused = await self._record(nonce, timestamp, digest, now)
        if refused is None:
            self._admitted[nonce] = (timestamp, digest)
            self._admitted.move_to_end(nonce)
            while len(self._admitted) > ADMITTED_KEPT:
                self._admitted.popitem(last=False)
        return refused

    def _compare(self, seen: tuple[int, str], arrived: tuple[int, str]) -> str | None:
        if seen == arrived:
            log.info("a retry of a %s callback (same nonce, same contents)", self.app)
            return None
        return "nonce seen with other contents (a replay)"

    async def _record(self, nonce: str, timestamp: int, digest: str, now: datetime) -> str | None:
        """Insert the nonce (atomic: the unique key decides between processes), or compare."""
        for _ in range(3):
            try:
                await CallbackNonce.create(
                    app=self.app, nonce=nonce, timestamp=timestamp, digest=digest, seen_at=now
                )
                return None
            except IntegrityError:
                pass  # seen before, by this process or another: compare what it carried
            seen = await CallbackNonce.get_or_none(app=self.app, nonce=nonce)
            if seen is None:
                continue  # pruned in between: record it afresh
            if self._live(seen.timestamp, now):
                return self._compare((seen.timestamp, seen.digest), (timestamp, digest))
            # A stale record that WeChat's random nonce happens to repeat: take it over, unless
            # another process just did.
            taken = await CallbackNonce.filter(
                id=seen.id, timestamp=seen.timestamp, digest=seen.digest
            ).update(timestamp=timestamp, digest=digest, seen_at=now)
            if taken:
                return None
        return "nonce contended"

    async def _prune(self, now: datetime) -> None:
        """Now and then (once a window per process), forget nonces no fresh callback can carry."""
        if self._next_prune is not None and now < self._next_prune:
            return
        self._next_prune = now + self._window
        for nonce, (timestamp, _) in list(self._admitted.items()):
            if not self._live(timestamp, now):
                del self._admitted[nonce]
        # A nonce is bound to its timestamp by the signature: once that is out of the window,
        # any callback carrying the pair is refused as stale, so its record can go.
        cutoff = int((now - self._window).timestamp())
        await CallbackNonce.filter(app=self.app, timestamp__lt=cutoff).delete()


class StoreTokens:
    """One platform account's access token, shared by every process through the store."""

    def __init__(
        self,
        name: str,
        fetch: Callable[[], Awaitable[tuple[str, int]]],
        clock: Clock,
        *,
        sleep: Sleep = asyncio.sleep,
        poll_every: float = 0.25,
        patience: float = 15.0,
    ) -> None:
        self.name = name
        self._fetch = fetch
        self._clock = clock
        self._sleep = sleep
        self._poll_every = poll_every
        self._patience = patience
        self._holder = process_holder(name)
        self._lock = asyncio.Lock()
        self._cached: tuple[str, datetime] | None = None
        self.fetches = 0

    def _usable(self, token: str, expires_at: datetime, stale: str | None) -> bool:
        return token != stale and expires_at - TOKEN_MARGIN > self._clock.now()

    async def get(self, stale: str | None = None) -> str:
        """A valid token; `stale` is one the platform just refused, which is never returned."""
        if self._cached and self._usable(*self._cached, stale):
            return self._cached[0]
        # One refresh per process at a time; other coroutines wait for it here.
        async with self._lock:
            waited = 0.0
            while True:
                row = await ApiToken.get_or_none(name=self.name)
                if row is not None and self._usable(row.token, row.expires_at, stale):
                    remember_secret(row.token)
                    self._cached = (row.token, row.expires_at)
                    return row.token
                lease = f"token:{self.name}"
                if await take_lease(lease, self._holder, self._clock.now(), LEASE_TTL):
                    try:
                        return await self._refresh(stale)
                    finally:
                        await release_lease(lease, self._holder, self._clock.now())
                # Another process is refreshing: its token will be in the store shortly.
                if waited >= self._patience:
                    raise SendError(
                        f"no {self.name} access token: another process holds the lease"
                    )
                await self._sleep(self._poll_every)
                waited += self._poll_every

    async def _refresh(self, stale: str | None) -> str:
        row = await ApiToken.get_or_none(name=self.name)
        if row is not None and self._usable(row.token, row.expires_at, stale):
            remember_secret(row.token)
            self._cached = (row.token, row.expires_at)
            return row.token
        token, expires_in = await self._fetch()
        # Before it is stored: the store's debug log shows the values it writes.
        remember_secret(token)
        self.fetches += 1
        expires_at = self._clock.now() + timedelta(seconds=expires_in)
        await ApiToken.update_or_create(
            name=self.name, defaults={"token": token, "expires_at": expires_at}
        )
        self._cached = (token, expires_at)
        log.info("fetched a new %s access token, valid %s s", self.name, expires_in)
        return token


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
