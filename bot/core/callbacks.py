"""What a platform's callbacks and API calls keep in the store, shared by every process.

- `StoreTokens`: the platform's access token, kept in the store (`ApiToken`) for every process and
  refreshed by one process at a time under a `Lease`, never fetched anew per call.
- `CallbackGuard`: refuses a callback whose timestamp is more than `REPLAY_WINDOW` from now, or
  whose nonce was seen within it with other contents (a replay), through a record every process
  shares (`CallbackNonce`); WeChat's own retry of a callback repeats all of it and is let through.

The WeChat Official Account and WeCom adapters use them (`bot/adapters/wxcommon.py`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError

from bot.core.channel import SendError
from bot.core.clock import Clock
from bot.core.logsafe import remember_secret
from models import ApiToken, CallbackNonce
from models.lease import release_lease, take_lease

__all__ = [
    "ADMITTED_KEPT",
    "LEASE_TTL",
    "NONCE",
    "REPLAY_WINDOW",
    "TOKEN_MARGIN",
    "CallbackGuard",
    "StoreTokens",
    "process_holder",
]

log = logging.getLogger("guanjia.wechat")

Sleep = Callable[[float], Awaitable[None]]

# A token this close to its expiry is renewed rather than used.
TOKEN_MARGIN = timedelta(minutes=5)
LEASE_TTL = timedelta(seconds=30)
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
