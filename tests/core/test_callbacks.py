"""What the WeChat family keeps in the store for every process (`bot/core/callbacks.py`): the
shared access token and the callback nonce record, on the real store."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.core.callbacks import REPLAY_WINDOW, CallbackGuard, StoreTokens
from bot.core.clock import FixedClock
from models import ApiToken, CallbackNonce


async def test_processes_share_one_token_fetched_once(store: str, now: datetime) -> None:
    clock = FixedClock(now)
    fetched: list[str] = []

    async def fetch() -> tuple[str, int]:
        fetched.append(f"T{len(fetched) + 1}")
        await asyncio.sleep(0)
        return fetched[-1], 7200

    first, second = StoreTokens("wechat:a", fetch, clock), StoreTokens("wechat:a", fetch, clock)
    assert await asyncio.gather(first.get(), second.get()) == ["T1", "T1"]
    assert fetched == ["T1"] and (await ApiToken.get(name="wechat:a")).token == "T1"
    # A token the platform refused is renewed, and the other process picks the new one up.
    assert await first.get(stale="T1") == "T2"
    assert await StoreTokens("wechat:a", fetch, clock).get() == "T2"
    # Near its expiry a token is renewed before it is used.
    clock.advance(seconds=7200)
    assert await second.get() == "T3"


async def test_a_replayed_nonce_is_refused_by_every_process(store: str, now: datetime) -> None:
    clock = FixedClock(now)
    stamp = int(now.timestamp())
    one, other = CallbackGuard("wechat:a", clock), CallbackGuard("wechat:a", clock)

    assert await one.admit("n1", stamp, "d1") is None
    assert await other.admit("n1", stamp, "d1") is None  # WeChat's retry: the same contents
    assert await other.admit("n1", stamp, "d2") == "nonce seen with other contents (a replay)"
    # Another account's nonces are its own.
    assert await CallbackGuard("wecom:b", clock).admit("n1", stamp, "d2") is None
    # Past the window the record is forgotten.
    clock.advance(seconds=REPLAY_WINDOW.total_seconds() * 3)
    later = int(clock.now().timestamp())
    assert await CallbackGuard("wechat:a", clock).admit("n2", later, "d3") is None
    assert {n.nonce for n in await CallbackNonce.filter(app="wechat:a")} == {"n2"}
