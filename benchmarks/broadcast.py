#!/usr/bin/env python3
"""Broadcast benchmark: notices through a fake Telegram Bot API on loopback (issue 14's figures).

usage: python benchmarks/broadcast.py [--scenario private|groups] [--count 10000]
       [--groups 50 --per-group 25] [--channel telegram|plain] [--rate 29] [--concurrency 8]
       [--faults issue14] [--p429 0.005] [--p500 0.005] [--pdrop 0.005] [--pdelay 0]
       [--delay-min 1.0] [--delay-max 6.0] [--seed 1] [--database URL] [--json]

The store is SQLite in memory by default. `--database postgres://user@host:5432/db` uses
PostgreSQL instead: that database is EMPTIED at the start (`DROP SCHEMA public CASCADE; CREATE
SCHEMA public`), then migrated by `open_store`, so give one that is yours to empty. A SQLite file
must not exist yet.

Scenarios:

* `private` (the default): COUNT owners, each bound to a Telegram account and owing one bill
  this month; the real bills job (`scheduler.jobs.push_bills`) records and sends the notices.
* `groups`: GROUPS owner groups of one estate (`Chat` rows of kind OWNERS with negative ids like
  Telegram's supergroups: -1001000000000 - n) and PER_GROUP greetings for each, recorded as group
  notices (`Audience.OWNERS`, kind "greeting", one unique key each) and listed chat by chat as
  `scheduler.jobs.send_greetings` lists them, then sent with `Notifier.notify`.

Either way the real `Notifier` sends through the real Telegram adapter (python-telegram-bot
pointed at the fake server with its base URL; `--channel plain` uses a bare aiohttp client with
the same 5 s read timeout as PTB's default instead), and `Notifier.deliver` runs again until no
delivery is pending, being sent, or owed its retry.

The fake server enforces Telegram's limits with a 429 and retry_after: at most 30 sendMessage
calls in any second; one message a second to a private chat; at most 20 messages to one group in
any 60-second sliding window (retry_after: the seconds until the oldest of those 20 leaves the
window, rounded up). It answers with the chat's type: "private" for a positive id, "supergroup"
for a negative one. On top of that it answers a share of the calls with an injected 429
(`--p429`), a 500 (`--p500`), drops the answer (`--pdrop`: half of those after the message was
delivered, half before), or delivers the message and answers after a delay drawn uniformly from
`--delay-min` to `--delay-max` seconds (`--pdelay`; a delay over the client's 5 s read timeout
is a lost answer for the client, so the message may then go out twice). `--faults issue14`
sets 5 % 429, 2 % 500, 2 % dropped and 2 % delayed; flags given as well override it.

Figures, all from the fake server's clock but the time in all (a message counts as delivered
when the server takes it, a call when it arrives):

* both: calls, the busiest second's calls (must be <= 30), the 429s by cause, the injected
  faults, lost messages (must be 0), duplicates (must be 0 apart from `unknown` sends: a send
  whose answer was lost may have gone out twice), the unknown sends, and the deliveries' states.
  A private notice is told apart by its chat, a greeting by its chat and text.
* private: delivered messages and calls per second over the first 95 % of the deliveries (from
  the first delivery to the one at 95 %, before the tail of waiting retries) and each as a share
  of the 30/s cap; the same rates from first to last; the time in all.
* groups: the time from the first delivery to the last, against the time the 20-a-minute limit
  requires for PER_GROUP (= N) messages to one group, in two readings:
  - evenly spaced, one every 60/20 = 3 s (the even-spacing reading of "20 a minute"):
    (N - 1) * 3 s, so 72 s for N = 25. This is the `required` figure and the ratio's divisor.
  - the least any sender could take under "<= 20 in any 60 s window", bursts allowed: message k
    and message k + 20 must be at least 60 s apart (else one window holds 21), so the last is at
    least floor((N - 1) / 20) * 60 s = (ceil(N / 20) - 1) * 60 s after the first (0 s for
    N <= 20, 60 s for N = 21..40), and bursts of 20 every 60 s reach it.
  Both readings assume the 30/s overall cap is not the tighter bound, i.e. that
  GROUPS * PER_GROUP / 30 s is below them (1,250 / 30 = 42 s for 50 groups of 25). Also: the
  most messages any group got in any 60-second window (must be <= 20), and the slowest and
  fastest group's own first-to-last time.

It exits 1 when a message was lost, a message went out twice without an unknown send to explain
it, a group got more than 20 messages in a minute, or a second held more than 30 calls.
10,000 private notices at 29/s take about six minutes; 50 groups of 25 at least 72 s.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import logging
import math
import random
import sys
import time
from collections import Counter, defaultdict, deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from tortoise.connection import get_connection  # noqa: E402

from bot.core.channel import ChannelHub, Hearing, NoticeMeta, SendError  # noqa: E402
from bot.core.clock import SystemClock  # noqa: E402
from bot.core.i18n import Catalogues  # noqa: E402
from bot.core.notifier import (  # noqa: E402
    DEFAULT_LIMITS,
    Audience,
    Notice,
    Notifier,
    PlatformLimits,
)
from bot.core.types import ChatRef, OutgoingMessage, Platform, SentMessage  # noqa: E402
from models import (  # noqa: E402
    Bill,
    BillItem,
    Building,
    Chat,
    ChatIdentity,
    ChatKind,
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
GROUP_CAP = 20  # Telegram: at most 20 messages to one group ...
GROUP_WINDOW = 60.0  # ... in any 60 seconds
FIRST_USER = 10_000_000
FIRST_GROUP = -1_001_000_000_000  # group n is FIRST_GROUP - n, like a supergroup's id
READ_TIMEOUT = 5.0  # PTB's default read timeout; the plain client uses the same
STEADY = 0.95  # the steady pace is measured over this share of the deliveries
FAULT_PRESETS: dict[str, dict[str, float]] = {
    "issue14": {"p429": 0.05, "p500": 0.02, "pdrop": 0.02, "pdelay": 0.02},
}
POSTGRES_SCHEMES = {"postgres", "postgresql", "asyncpg", "psycopg"}

# A delivered message: its chat and its text as the server got them.
Message = tuple[str, str]


# The fake Bot API server ------------------------------------------------------------------------


@dataclass
class FakeBotApi:
    """A Bot API that enforces Telegram's limits and misbehaves as told."""

    p429: float
    p500: float
    pdrop: float
    pdelay: float
    delay_min: float
    delay_max: float
    seed: int
    requests: int = 0
    limit_429_overall: int = 0
    limit_429_private: int = 0
    limit_429_group: int = 0
    injected_429: int = 0
    errors_500: int = 0
    dropped_before: int = 0
    dropped_after: int = 0
    delayed: int = 0
    delayed_past_read_timeout: int = 0
    delivered: Counter[Message] = field(default_factory=Counter)
    delivered_at: list[float] = field(default_factory=list)
    chat_delivered_at: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    request_at: list[float] = field(default_factory=list)
    _window: deque[float] = field(default_factory=deque)
    _chat_last: dict[str, float] = field(default_factory=dict)
    _group_window: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    @property
    def limit_429(self) -> int:
        """429s from Telegram's limits (not the injected ones)."""
        return self.limit_429_overall + self.limit_429_private + self.limit_429_group

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

    def _chat_limit(self, chat_id: str, now: float) -> web.Response | None:
        """A 429 when the chat's own limit is reached: 1/s in private, 20 in 60 s in a group."""
        if int(chat_id) > 0:
            if now - self._chat_last.get(chat_id, -10.0) < 1.0:
                self.limit_429_private += 1
                return self.too_many(1, "over one message a second in a chat")
            return None
        window = self._group_window[chat_id]
        while window and window[0] <= now - GROUP_WINDOW:
            window.popleft()
        if len(window) >= GROUP_CAP:
            # A slot frees when the oldest of the window's messages is 60 s old.
            self.limit_429_group += 1
            wait = max(1, math.ceil(window[0] + GROUP_WINDOW - now))
            return self.too_many(wait, "over 20 messages a minute in a group")
        return None

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
            self.limit_429_overall += 1
            return self.too_many(1, "over 30 messages a second")
        window.append(now)
        refused = self._chat_limit(chat_id, now)
        if refused is not None:
            return refused
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
                self._deliver(chat_id, text, now)
            assert request.transport is not None
            request.transport.close()  # the answer is lost: a reset connection
            raise ConnectionResetError("answer dropped on purpose")
        roll -= self.pdrop
        message = self._deliver(chat_id, text, now)
        if roll < self.pdelay:
            delay = self.random.uniform(self.delay_min, self.delay_max)
            self.delayed += 1
            self.delayed_past_read_timeout += delay > READ_TIMEOUT
            await asyncio.sleep(delay)  # delivered; the answer comes late (or to nobody)
        if int(chat_id) > 0:
            chat: dict[str, Any] = {"id": int(chat_id), "type": "private", "first_name": "owner"}
        else:
            chat = {"id": int(chat_id), "type": "supergroup", "title": "业主群"}
        result = {"message_id": message, "date": int(time.time()), "chat": chat, "text": text}
        return web.json_response({"ok": True, "result": result})

    def _deliver(self, chat_id: str, text: str, now: float) -> int:
        self._chat_last[chat_id] = now
        if int(chat_id) < 0:
            self._group_window[chat_id].append(now)
        self.delivered[(chat_id, text)] += 1
        self.delivered_at.append(now)
        self.chat_delivered_at[chat_id].append(now)
        return next(self._ids)


# A bare client channel (when the Telegram adapter is not wanted) --------------------------------


class PlainTelegram:
    """A Channel that posts sendMessage with aiohttp, for comparison with the real adapter."""

    platform = Platform.TELEGRAM

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        timeout = aiohttp.ClientTimeout(total=10, sock_read=READ_TIMEOUT)
        self.session = aiohttp.ClientSession(timeout=timeout)

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

    async def send_notice(self, message: OutgoingMessage, notice: NoticeMeta) -> SentMessage:
        """A notice is one sendMessage call, like any message here."""
        return await self.send(message)

    async def edit(self, sent: SentMessage, message: OutgoingMessage) -> SentMessage:
        """Not used by notices."""
        raise SendError("edit is not supported here")

    def private_chat(self, user_id: str) -> ChatRef:
        """A user's private chat: its id is the user's id."""
        return ChatRef(Platform.TELEGRAM, user_id, is_group=False)

    def hears(self, chat: ChatRef) -> Hearing:
        """Everything, as on Telegram."""
        return Hearing.EVERYTHING

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


def is_postgres(database_url: str) -> bool:
    """Whether the URL names a PostgreSQL database."""
    return urlsplit(database_url).scheme in POSTGRES_SCHEMES


async def empty_postgres(database_url: str) -> None:
    """Drop everything in the database's public schema (the benchmark's own database)."""
    await open_store(database_url, upgrade=False)
    try:
        await get_connection("default").execute_script(
            "DROP SCHEMA public CASCADE; CREATE SCHEMA public"
        )
    finally:
        await close_store()


async def bench_estate() -> Estate:
    """The estate every scenario fills."""
    return await Estate.create(code="bench", name="阳光花园", payment_instructions="小程序缴费")


async def fill_private(count: int, period: str) -> None:
    """`count` units, each with one owner bound to a Telegram account and a bill."""
    estate = await bench_estate()
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
    # The driver's placeholders: asyncpg's $n, else sqlite's ?. (The client's module is
    # tortoise.backends.asyncpg, whose name says nothing of postgres: ask its dialect.)
    return "$1, $2" if connection.capabilities.dialect == "postgres" else "?, ?"


async def fill_groups(groups: int, per_group: int, today: date) -> list[Notice]:
    """`groups` owner groups of the estate and `per_group` greetings for each, chat by chat as
    `send_greetings` lists them (not recorded yet)."""
    estate = await bench_estate()
    await Chat.bulk_create(
        [
            Chat(
                platform=Platform.TELEGRAM,
                chat_id=str(FIRST_GROUP - n),
                kind=ChatKind.OWNERS,
                title=f"{estate.name}业主{n}群",
                estate=estate,
            )
            for n in range(groups)
        ],
        batch_size=1000,
    )
    notices = []
    for chat in await Chat.filter(estate_id=estate.id, kind=ChatKind.OWNERS).order_by("id"):
        for n in range(1, per_group + 1):
            key = f"greeting:bench{n}:{today.isoformat()}:{chat.platform}:{chat.chat_id}"
            text = f"{estate.name}祝各位业主节日快乐！（第 {n}/{per_group} 条）"
            notices.append(
                Notice(key, "greeting", Audience.OWNERS, chat.platform, chat.chat_id, text)
            )
    return notices


# The run ----------------------------------------------------------------------------------------


def busiest_window(stamps: Iterable[float], width: float = 1.0) -> int:
    """The most stamps in any window of `width` seconds, (t - width, t]."""
    ordered = sorted(stamps)
    best, start = 0, 0
    for end, stamp in enumerate(ordered):
        while ordered[start] <= stamp - width:
            start += 1
        best = max(best, end - start + 1)
    return best


def group_required(per_group: int) -> tuple[float, float]:
    """Seconds from a group's first message to its last that the 20-a-minute limit requires:
    (evenly spaced, one every 3 s; the least possible, in bursts of 20 every 60 s)."""
    if per_group <= 1:
        return 0.0, 0.0
    even = (per_group - 1) * GROUP_WINDOW / GROUP_CAP
    least = (per_group - 1) // GROUP_CAP * GROUP_WINDOW
    return even, least


def share(value: float | None, of: float) -> float | None:
    """`value / of` rounded, or None."""
    return round(value / of, 3) if value is not None else None


async def settle(notifier: Notifier) -> int:
    """Run the deliveries job until nothing is pending, being sent or owed its retry."""
    sent = 0
    while (
        await Delivery.filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING]).exists()
        or await Delivery.filter(
            status=DeliveryStatus.UNKNOWN, next_attempt_at__isnull=False
        ).exists()
    ):
        sent += (await notifier.deliver()).sent
        await asyncio.sleep(0.5)
    return sent


def tally(
    expected: set[Hashable], got: Counter[Hashable], unknown: set[Hashable]
) -> dict[str, int]:
    """Lost and duplicated messages, and the duplicates no unknown send explains."""
    lost = expected - set(got)
    duplicated = {message: n - 1 for message, n in got.items() if n > 1}
    return {
        "lost": len(lost),
        "duplicates": sum(duplicated.values()),
        "duplicates_not_unknown": len(set(duplicated) - unknown),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Fill the store, broadcast through the fake server, and measure."""
    if is_postgres(args.database):
        await empty_postgres(args.database)
    await open_store(args.database)
    api = FakeBotApi(
        args.p429,
        args.p500,
        args.pdrop,
        args.pdelay,
        args.delay_min,
        args.delay_max,
        args.seed,
    )
    runner = web.AppRunner(api.app(), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base_url = f"http://127.0.0.1:{port}"
    channel: Any = None
    try:
        now = datetime.now(UTC)
        notices: list[Notice] = []
        if args.scenario == "private":
            await fill_private(args.count, now.strftime("%Y-%m"))
        else:
            notices = await fill_groups(args.groups, args.per_group, now.date())
        if args.channel == "telegram":
            channel = await telegram_adapter(base_url)
        else:
            channel = PlainTelegram(base_url)
        hub = ChannelHub()
        hub.add(channel)
        limits = dict(DEFAULT_LIMITS)
        limits[Platform.TELEGRAM] = PlatformLimits(
            per_second=args.rate, group_per_minute=GROUP_CAP, private_per_second=1
        )
        notifier = Notifier(
            hub=hub, clock=SystemClock(), limits=limits, concurrency=args.concurrency
        )
        started = time.monotonic()
        if args.scenario == "private":
            sent = await push_bills(now, SimpleNamespace(catalogues=Catalogues()), notifier)
        else:
            sent = await notifier.notify(notices, now)
        # Retries beyond the job's own wait: run the deliveries job until all is settled.
        sent += await settle(notifier)
        wall = time.monotonic() - started
        statuses = Counter(
            str(DeliveryStatus(s)) for s in await Delivery.all().values_list("status", flat=True)
        )
        unknown_rows: list[tuple[str, Any]] = await Delivery.filter(
            unknown_sends__gt=0
        ).values_list("chat_id", "payload")
    finally:
        if channel is not None:
            if args.channel == "telegram":
                await channel.application.shutdown()
            else:
                await channel.close()
        await runner.cleanup()
        await close_store()

    figures: dict[str, Any] = {
        "scenario": args.scenario,
        "channel": "real Telegram adapter (PTB 22)" if args.channel == "telegram" else "aiohttp",
        "database": "postgresql" if is_postgres(args.database) else "sqlite",
        "faults": {
            "p429": args.p429,
            "p500": args.p500,
            "pdrop": args.pdrop,
            "pdelay": args.pdelay,
            "delay_seconds": [args.delay_min, args.delay_max],
        },
        "paced_at_per_second": args.rate,
        "wall_seconds": round(wall, 1),
    }
    stamps = sorted(api.delivered_at)
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    if args.scenario == "private":
        figures.update(private_figures(args, api, stamps))
        recipients: set[Hashable] = {str(FIRST_USER + n) for n in range(args.count)}
        by_chat: Counter[Hashable] = Counter()
        for (chat, _), n in api.delivered.items():
            by_chat[chat] += n
        counts = tally(recipients, by_chat, {chat for chat, _ in unknown_rows})
    else:
        figures.update(group_figures(args, api, span))
        expected: set[Hashable] = {(notice.to, notice.text) for notice in notices}
        explained: set[Hashable] = {
            (chat, str(payload.get("text", "")) if isinstance(payload, dict) else "")
            for chat, payload in unknown_rows
        }
        counts = tally(expected, Counter[Hashable](api.delivered), explained)
    calls = max(api.request_at) - min(api.request_at) if len(api.request_at) > 1 else 0.0
    figures.update(
        {
            "calls_per_second": round(api.requests / calls, 2) if calls else None,
            "busiest_second_calls": busiest_window(api.request_at),
            "calls": api.requests,
            "limit_429": api.limit_429,
            "limit_429_overall": api.limit_429_overall,
            "limit_429_private": api.limit_429_private,
            "limit_429_group": api.limit_429_group,
            "injected_429": api.injected_429,
            "errors_500": api.errors_500,
            "answers_dropped": api.dropped_before + api.dropped_after,
            "answers_delayed": api.delayed,
            "answers_delayed_past_read_timeout": api.delayed_past_read_timeout,
            "delivered": sum(api.delivered.values()),
            **counts,
            "unknown_sends": len(unknown_rows),
            "deliveries": dict(statuses),
            "job_sent": sent,
        }
    )
    return figures


def private_figures(
    args: argparse.Namespace, api: FakeBotApi, stamps: list[float]
) -> dict[str, Any]:
    """Messages and calls a second, over the first 95 % of the deliveries and in all."""
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    # The steady pace: the first 95 % of the deliveries, before the tail of waiting retries.
    bulk = int(len(stamps) * STEADY)
    bulk_span = stamps[bulk - 1] - stamps[0] if bulk > 1 else 0.0
    steady = (bulk - 1) / bulk_span if bulk_span else None
    # The calls made meanwhile (429s and other refusals count: Telegram counts them), as
    # intervals between the calls of the first and the 95th-percentile delivery, like messages.
    steady_calls = None
    if bulk_span:
        requests = sorted(api.request_at)
        calls = bisect.bisect_right(requests, stamps[bulk - 1]) - bisect.bisect_left(
            requests, stamps[0]
        )
        steady_calls = (calls - 1) / bulk_span
    return {
        "notices": args.count,
        "steady_per_second": round(steady, 2) if steady is not None else None,
        "steady_share_of_cap": share(steady, CAP),
        "steady_calls_per_second": round(steady_calls, 2) if steady_calls is not None else None,
        "steady_calls_share_of_cap": share(steady_calls, CAP),
        "delivered_per_second": round(len(stamps) / span, 2) if span else None,
    }


def group_figures(args: argparse.Namespace, api: FakeBotApi, span: float) -> dict[str, Any]:
    """The time against what the 20-a-minute limit requires, and the busiest group minute."""
    even, least = group_required(args.per_group)
    groups = [stamps for chat, stamps in api.chat_delivered_at.items() if int(chat) < 0]
    spans = [max(stamps) - min(stamps) for stamps in groups]
    return {
        "groups": args.groups,
        "per_group": args.per_group,
        "notices": args.groups * args.per_group,
        "first_to_last_seconds": round(span, 1),
        "required_seconds": round(even, 1),
        "least_possible_seconds": round(least, 1),
        "ratio_to_required": round(span / even, 2) if even and span else None,
        "busiest_group_minute": max(
            (busiest_window(stamps, GROUP_WINDOW) for stamps in groups), default=0
        ),
        "slowest_group_seconds": round(max(spans), 1) if spans else None,
        "fastest_group_seconds": round(min(spans), 1) if spans else None,
    }


def failed_checks(figures: dict[str, Any]) -> list[str]:
    """What makes the run fail (exit 1)."""
    failures = []
    if figures["lost"]:
        failures.append(f"{figures['lost']} lost")
    if figures["duplicates_not_unknown"]:
        unexplained = figures["duplicates_not_unknown"]
        failures.append(f"{unexplained} duplicated without an unknown send")
    if figures.get("busiest_group_minute", 0) > GROUP_CAP:
        failures.append(f"a group got {figures['busiest_group_minute']} in 60 s")
    if figures["busiest_second_calls"] > CAP:
        failures.append(f"{figures['busiest_second_calls']} calls in one second")
    return failures


def percent(value: float | None) -> str:
    """A share as a percentage, or "n/a" when there was nothing to measure."""
    return f"{value:.1%}" if value is not None else "n/a"


def print_figures(figures: dict[str, Any]) -> None:
    """The figures as a few lines of text."""
    where = f"via {figures['channel']}, {figures['database']}"
    if figures["scenario"] == "private":
        print(f"{figures['notices']} private bill notices {where}")
        print(
            f"  first 95 %: {figures['steady_per_second']} messages/s against the {CAP}/s cap "
            f"({percent(figures['steady_share_of_cap'])}), {figures['steady_calls_per_second']} "
            f"calls/s ({percent(figures['steady_calls_share_of_cap'])}); first to last with the "
            f"retries' tail {figures['delivered_per_second']} messages/s, "
            f"{figures['calls_per_second']} calls/s; {figures['wall_seconds']} s in all"
        )
    else:
        print(
            f"{figures['groups']} owner groups x {figures['per_group']} greetings "
            f"({figures['notices']} group notices) {where}"
        )
        print(
            f"  first to last delivery {figures['first_to_last_seconds']} s; the 20-a-minute "
            f"limit requires {figures['required_seconds']} s evenly spaced "
            f"({figures['least_possible_seconds']} s at the least, in bursts): ratio "
            f"{figures['ratio_to_required']}; one group's own first to last "
            f"{figures['fastest_group_seconds']}-{figures['slowest_group_seconds']} s; "
            f"{figures['wall_seconds']} s in all"
        )
        print(
            f"  most in one group in any 60 s: {figures['busiest_group_minute']} "
            f"(limit {GROUP_CAP})"
        )
    print(
        f"  calls {figures['calls']}, busiest second {figures['busiest_second_calls']} calls "
        f"(limit {CAP}); 429 from the limits {figures['limit_429']} (overall "
        f"{figures['limit_429_overall']}, private chat {figures['limit_429_private']}, group "
        f"{figures['limit_429_group']}), injected 429 {figures['injected_429']}, 500 "
        f"{figures['errors_500']}, answers dropped {figures['answers_dropped']}, delayed "
        f"{figures['answers_delayed']} (past the {READ_TIMEOUT:g} s read timeout: "
        f"{figures['answers_delayed_past_read_timeout']})"
    )
    print(
        f"  delivered {figures['delivered']}, lost {figures['lost']}, duplicates "
        f"{figures['duplicates']} (not explained by an unknown send: "
        f"{figures['duplicates_not_unknown']}), unknown sends {figures['unknown_sends']}; "
        f"deliveries {figures['deliveries']}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags, with a fault preset's shares as defaults that explicit flags override."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scenario", choices=("private", "groups"), default="private")
    parser.add_argument("--count", type=int, default=10_000, help="owners to notify (private)")
    parser.add_argument("--groups", type=int, default=50, help="owner groups (groups)")
    parser.add_argument("--per-group", type=int, default=25, help="greetings to each group")
    parser.add_argument("--channel", choices=("telegram", "plain"), default="telegram")
    parser.add_argument("--rate", type=float, default=29.0, help="notifier pace, messages/s")
    parser.add_argument("--concurrency", type=int, default=8, help="sends in flight at once")
    parser.add_argument(
        "--faults", choices=sorted(FAULT_PRESETS), help="a preset of the shares below"
    )
    parser.add_argument("--p429", type=float, default=0.005, help="share of injected 429s")
    parser.add_argument("--p500", type=float, default=0.005, help="share of 500 answers")
    parser.add_argument("--pdrop", type=float, default=0.005, help="share of dropped answers")
    parser.add_argument("--pdelay", type=float, default=0.0, help="share of delayed answers")
    parser.add_argument("--delay-min", type=float, default=1.0, help="shortest delay, seconds")
    parser.add_argument("--delay-max", type=float, default=6.0, help="longest delay, seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", default="sqlite://:memory:")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    known, _ = parser.parse_known_args(argv)
    if known.faults:
        parser.set_defaults(**FAULT_PRESETS[known.faults])
    args = parser.parse_args(argv)
    shares = (args.p429, args.p500, args.pdrop, args.pdelay)
    if any(not 0 <= p <= 1 for p in shares) or sum(shares) > 1:
        parser.error("--p429, --p500, --pdrop and --pdelay are shares that add up to at most 1")
    if not 0 <= args.delay_min <= args.delay_max:
        parser.error("need 0 <= --delay-min <= --delay-max")
    if min(args.count, args.groups, args.per_group, args.concurrency) < 1 or args.rate <= 0:
        parser.error("counts, --concurrency and --rate must be positive")
    if urlsplit(args.database).scheme == "sqlite" and ":memory:" not in args.database:
        path = Path(args.database.removeprefix("sqlite://").split("?", 1)[0])
        if path.exists():
            parser.error(f"{path} exists: the benchmark fills a new SQLite file")
    return args


def main() -> int:
    """Parse the flags, run, print the figures; exit 1 when a check failed."""
    args = parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)
    figures = asyncio.run(run(args))
    failures = failed_checks(figures)
    figures["failed"] = failures
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=1))
    else:
        print_figures(figures)
        if failures:
            print(f"  FAILED: {'; '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
