#!/usr/bin/env python3
"""Broadcast benchmark: private bill notices through a fake Telegram Bot API on loopback.

usage: python benchmarks/broadcast.py [--count 10000] [--channel telegram|plain] [--rate 29]
       [--p429 0.005] [--p500 0.005] [--pdrop 0.005] [--seed 1] [--database URL]

It fills a store (SQLite in memory by default) with COUNT owners, each bound to a Telegram
account and owing one bill this month, runs the real bills job (`scheduler.jobs.push_bills`)
through the real `Notifier` and the real Telegram adapter (python-telegram-bot pointed at the
fake server with its base URL; `--channel plain` uses a bare aiohttp client instead), and waits
until every delivery is settled.

The fake Bot API server enforces Telegram's limits (at most 30 sendMessage calls in any second;
one a second per private chat) with 429 + retry_after, and on top of that answers a share of
the calls with an injected 429 (`--p429`), a 500 (`--p500`), or drops the answer (`--pdrop`:
half of those after the message was delivered, half before).

It prints messages per second against the 30/s cap, lost recipients (must be 0), duplicates
(must be 0 apart from `unknown` sends: a send whose answer was lost may have gone out twice) and
the unknown sends. 10,000 notices at 29/s take about six minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import random
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bot.core.channel import ChannelHub, SendError  # noqa: E402
from bot.core.clock import SystemClock  # noqa: E402
from bot.core.i18n import Catalogues  # noqa: E402
from bot.core.notifier import DEFAULT_LIMITS, Notifier, PlatformLimits  # noqa: E402
from bot.core.types import ChatRef, OutgoingMessage, Platform, SentMessage  # noqa: E402
from models import (  # noqa: E402
    Bill,
    BillItem,
    Building,
    ChatIdentity,
    Delivery,
    DeliveryStatus,
    Estate,
    Owner,
    Unit,
)
from models.store import close_store, open_store  # noqa: E402
from scheduler.jobs import push_bills  # noqa: E402

TOKEN = "123456:BENCHMARK"
CAP = 30  # Telegram: about 30 messages a second overall
FIRST_USER = 10_000_000


# The fake Bot API server ------------------------------------------------------------------------


@dataclass
class FakeBotApi:
    """A Bot API that enforces Telegram's limits and misbehaves as told."""

    p429: float
    p500: float
    pdrop: float
    seed: int
    requests: int = 0
    limit_429: int = 0
    injected_429: int = 0
    errors_500: int = 0
    dropped_before: int = 0
    dropped_after: int = 0
    delivered: Counter[str] = field(default_factory=Counter)
    delivered_at: list[float] = field(default_factory=list)
    request_at: list[float] = field(default_factory=list)
    _window: deque[float] = field(default_factory=deque)
    _chat_last: dict[str, float] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    def app(self) -> web.Application:
        """The aiohttp application serving /bot<token>/<method>."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/getMe", self.get_me)
        app.router.add_route("*", "/bot{token}/sendMessage", self.send_message)
        return app

    async def get_me(self, request: web.Request) -> web.Response:
        """Who the bot is."""
        bot = {"id": 123456, "is_bot": True, "first_name": "Guanjia", "username": "guanjia_bot"}
        return web.json_response({"ok": True, "result": bot})

    @staticmethod
    def too_many(seconds: int, what: str) -> web.Response:
        """A 429 with retry_after, as Telegram words it."""
        body = {
            "ok": False,
            "error_code": 429,
            "description": f"Too Many Requests: retry after {seconds} ({what})",
            "parameters": {"retry_after": seconds},
        }
        return web.json_response(body, status=429)

    async def send_message(self, request: web.Request) -> web.StreamResponse:
        """Enforce the limits, inject failures, else deliver."""
        if request.content_type == "application/json":
            data: Any = await request.json()
        else:
            data = await request.post()
        chat_id, text = str(data["chat_id"]), str(data["text"])
        now = time.monotonic()
        self.requests += 1
        self.request_at.append(now)
        window = self._window
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= CAP:
            self.limit_429 += 1
            return self.too_many(1, "over 30 messages a second")
        window.append(now)
        if now - self._chat_last.get(chat_id, -10.0) < 1.0:
            self.limit_429 += 1
            return self.too_many(1, "over one message a second in a chat")
        roll = self.random.random()
        if roll < self.p429:
            self.injected_429 += 1
            return self.too_many(1, "injected")
        roll -= self.p429
        if roll < self.p500:
            self.errors_500 += 1
            body = {"ok": False, "error_code": 500, "description": "Internal Server Error"}
            return web.json_response(body, status=500)
        roll -= self.p500
        if roll < self.pdrop:
            if roll < self.pdrop / 2:
                self.dropped_before += 1
            else:
                self.dropped_after += 1
                self._deliver(chat_id, now)
            assert request.transport is not None
            request.transport.close()  # the answer is lost: a reset connection
            raise ConnectionResetError("answer dropped on purpose")
        message = self._deliver(chat_id, now)
        chat = {"id": int(chat_id), "type": "private", "first_name": "owner"}
        result = {"message_id": message, "date": int(time.time()), "chat": chat, "text": text}
        return web.json_response({"ok": True, "result": result})

    def _deliver(self, chat_id: str, now: float) -> int:
        self._chat_last[chat_id] = now
        self.delivered[chat_id] += 1
        self.delivered_at.append(now)
        return next(self._ids)


# A bare client channel (when the Telegram adapter is not wanted) --------------------------------


class PlainTelegram:
    """A Channel that posts sendMessage with aiohttp, for comparison with the real adapter."""

    platform = Platform.TELEGRAM

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """One sendMessage call; 429 carries retry_after, a lost answer is `answered=False`."""
        url = f"{self.base_url}/bot{TOKEN}/sendMessage"
        payload = {"chat_id": message.chat.chat_id, "text": message.text}
        try:
            async with self.session.post(url, json=payload) as response:
                body = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SendError(f"no answer: {exc!r}", answered=False) from exc
        if not body.get("ok"):
            retry_after = (body.get("parameters") or {}).get("retry_after")
            raise SendError(str(body.get("description")), retry_after=retry_after)
        return SentMessage(message.chat, str(body["result"]["message_id"]))

    async def edit(self, sent: SentMessage, message: OutgoingMessage) -> SentMessage:
        """Not used by notices."""
        raise SendError("edit is not supported here")

    def private_chat(self, user_id: str) -> ChatRef:
        """A user's private chat: its id is the user's id."""
        return ChatRef(Platform.TELEGRAM, user_id, is_group=False)

    async def close(self) -> None:
        """Close the client session."""
        await self.session.close()


async def telegram_adapter(base_url: str) -> Any:
    """The real Telegram adapter pointed at the fake server (initialised: getMe answered)."""
    from bot.adapters.telegram import TelegramChannel, TelegramConfig

    config = TelegramConfig(token=TOKEN, api_base_url=base_url)
    services = SimpleNamespace(reports_dir=ROOT / "data" / "reports")
    channel = TelegramChannel(config, router=None, services=services)  # type: ignore[arg-type]
    await channel.application.initialize()
    return channel


# The store --------------------------------------------------------------------------------------


async def fill(count: int, period: str) -> None:
    """An estate with `count` units, each with one owner bound to a Telegram account and a bill."""
    estate = await Estate.create(code="bench", name="阳光花园", payment_instructions="小程序缴费")
    building = await Building.create(estate=estate, name="1")
    await Unit.bulk_create(
        [
            Unit(estate=estate, building=building, room=str(n), label=f"1-{n}")
            for n in range(count)
        ],
        batch_size=1000,
    )
    units = await Unit.filter(estate=estate).order_by("id")
    await Owner.bulk_create(
        [Owner(estate=estate, name=f"业主{n}") for n in range(count)], batch_size=1000
    )
    owners = await Owner.filter(estate=estate).order_by("id")
    await ChatIdentity.bulk_create(
        [
            ChatIdentity(platform=Platform.TELEGRAM, user_id=str(FIRST_USER + n), owner=owner)
            for n, owner in enumerate(owners)
        ],
        batch_size=1000,
    )
    through = Owner._meta.fields_map["units"].through  # type: ignore[attr-defined]
    connection = Owner._meta.db
    await connection.execute_many(
        f"INSERT INTO {through} (owner_id, unit_id) VALUES ({_marks(connection)})",
        [[owner.id, unit.id] for owner, unit in zip(owners, units, strict=True)],
    )
    year, month = map(int, period.split("-"))
    await Bill.bulk_create(
        [
            Bill(
                unit=unit,
                period=period,
                item=BillItem.PROPERTY_FEE,
                amount_cents=35680,
                due_date=date(year, month, 15),
            )
            for unit in units
        ],
        batch_size=1000,
    )


def _marks(connection: Any) -> str:
    return "$1, $2" if "postgres" in type(connection).__module__ else "?, ?"


# The run ----------------------------------------------------------------------------------------


def busiest_second(stamps: list[float]) -> int:
    """The most calls in any one-second window."""
    stamps = sorted(stamps)
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamps[start] <= stamp - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Fill the store, broadcast through the fake server, and measure."""
    await open_store(args.database)
    api = FakeBotApi(args.p429, args.p500, args.pdrop, args.seed)
    runner = web.AppRunner(api.app(), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base_url = f"http://127.0.0.1:{port}"
    channel: Any = None
    try:
        now = datetime.now(UTC)
        period = now.strftime("%Y-%m")
        await fill(args.count, period)
        if args.channel == "telegram":
            channel = await telegram_adapter(base_url)
        else:
            channel = PlainTelegram(base_url)
        hub = ChannelHub()
        hub.add(channel)
        limits = dict(DEFAULT_LIMITS)
        limits[Platform.TELEGRAM] = PlatformLimits(
            per_second=args.rate, group_per_minute=20, private_per_second=1
        )
        notifier = Notifier(
            hub=hub, clock=SystemClock(), limits=limits, concurrency=args.concurrency
        )
        started = time.monotonic()
        sent = await push_bills(now, SimpleNamespace(catalogues=Catalogues()), notifier)
        # Retries beyond the job's own wait: run the deliveries job until all is settled.
        while (
            await Delivery.filter(
                status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING]
            ).exists()
            or await Delivery.filter(
                status=DeliveryStatus.UNKNOWN, next_attempt_at__isnull=False
            ).exists()
        ):
            sent += (await notifier.deliver()).sent
            await asyncio.sleep(0.5)
        wall = time.monotonic() - started
        statuses = Counter(
            str(DeliveryStatus(s)) for s in await Delivery.all().values_list("status", flat=True)
        )
        unknown_rows = await Delivery.filter(unknown_sends__gt=0).values_list("chat_id", flat=True)
    finally:
        if channel is not None:
            if args.channel == "telegram":
                await channel.application.shutdown()
            else:
                await channel.close()
        await runner.cleanup()
        await close_store()

    recipients = {str(FIRST_USER + n) for n in range(args.count)}
    lost = sorted(recipients - set(api.delivered))
    duplicated = {chat: n - 1 for chat, n in api.delivered.items() if n > 1}
    unexplained = sorted(set(duplicated) - set(unknown_rows))
    span = max(api.delivered_at) - min(api.delivered_at) if len(api.delivered_at) > 1 else 0.0
    # The steady pace: the first 95 % of the deliveries, before the tail of waiting retries.
    stamps = sorted(api.delivered_at)
    bulk = int(len(stamps) * 0.95)
    bulk_span = stamps[bulk - 1] - stamps[0] if bulk > 1 else 0.0
    calls = max(api.request_at) - min(api.request_at) if len(api.request_at) > 1 else 0.0
    return {
        "channel": "real Telegram adapter (PTB 22)" if args.channel == "telegram" else "aiohttp",
        "notices": args.count,
        "paced_at_per_second": args.rate,
        "wall_seconds": round(wall, 1),
        "steady_per_second": round((bulk - 1) / bulk_span, 2) if bulk_span else None,
        "steady_share_of_cap": round((bulk - 1) / bulk_span / CAP, 3) if bulk_span else None,
        "delivered_per_second": round(sum(api.delivered.values()) / span, 2) if span else None,
        "calls_per_second": round(api.requests / calls, 2) if calls else None,
        "busiest_second_calls": busiest_second(api.request_at),
        "calls": api.requests,
        "limit_429": api.limit_429,
        "injected_429": api.injected_429,
        "errors_500": api.errors_500,
        "answers_dropped": api.dropped_before + api.dropped_after,
        "delivered": sum(api.delivered.values()),
        "lost": len(lost),
        "duplicates": sum(duplicated.values()),
        "duplicates_not_unknown": len(unexplained),
        "unknown_sends": len(unknown_rows),
        "deliveries": dict(statuses),
        "job_sent": sent,
    }


def main() -> int:
    """Parse the flags, run, print the figures; exit 1 when a notice was lost or duplicated
    without an unknown send to explain it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="owners to notify")
    parser.add_argument("--channel", choices=("telegram", "plain"), default="telegram")
    parser.add_argument("--rate", type=float, default=29.0, help="notifier pace, messages/s")
    parser.add_argument("--concurrency", type=int, default=8, help="sends in flight at once")
    parser.add_argument("--p429", type=float, default=0.005, help="share of injected 429s")
    parser.add_argument("--p500", type=float, default=0.005, help="share of 500 answers")
    parser.add_argument("--pdrop", type=float, default=0.005, help="share of dropped answers")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", default="sqlite://:memory:")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)
    figures = asyncio.run(run(args))
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=1))
    else:
        print(f"{figures['notices']} private bill notices via {figures['channel']}")
        print(
            f"  {figures['steady_per_second']} messages/s against the {CAP}/s cap "
            f"({figures['steady_share_of_cap']:.1%}) for the first 95 %; "
            f"{figures['delivered_per_second']}/s first to last with the retries' tail; "
            f"calls {figures['calls_per_second']}/s, busiest second "
            f"{figures['busiest_second_calls']} calls; {figures['wall_seconds']} s in all"
        )
        print(
            f"  429 from the limits {figures['limit_429']}, injected 429 "
            f"{figures['injected_429']}, 500 {figures['errors_500']}, answers dropped "
            f"{figures['answers_dropped']}"
        )
        print(
            f"  lost {figures['lost']}, duplicates {figures['duplicates']} "
            f"(not explained by an unknown send: {figures['duplicates_not_unknown']}), "
            f"unknown sends {figures['unknown_sends']}; deliveries {figures['deliveries']}"
        )
    return 0 if figures["lost"] == 0 and figures["duplicates_not_unknown"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
