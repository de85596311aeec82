#!/usr/bin/env python3
"""Load benchmark: an open-loop generator with Poisson arrivals against the real router (issue 17).

usage: python benchmarks/load.py [--backend sqlite|postgres] [--database URL]
       [--rates 15,50,125,200] [--duration 20] [--tickets 0|100000|1000000] [--owners 2580]
       [--mode inprocess|websocket] [--url ws://127.0.0.1:8080/webchat/ws] [--pid PID]
       [--pages 300] [--messages N] [--trace] [--seed 1] [--seed-only] [--no-seed] [--json]

The store is set up first: EMPTIED (PostgreSQL: `DROP SCHEMA public CASCADE; CREATE SCHEMA
public`, so give a database that is yours to empty, by default
postgres://postgres@127.0.0.1:5432/bench_load; SQLite: a new file, by default in a temporary
folder), migrated by `open_store`, then seeded:

* one estate, code `demo` (so that a `guanjia run` on the same store serves it in its web
  chat), with OWNERS owners in as many flats (12 buildings x 2 entrances x 18 floors x 6 flats
  = 2,592 flats for the default 2,580), through the real estate import (`write_estate`), and a
  staff list with every department;
* its web chat owner group and staff chat registered, and every owner's web chat identity
  (`owner-<id>`) bound, as a page that picked them would have it;
* TICKETS past tickets by bulk insert (PostgreSQL: COPY; SQLite: multi-row INSERT, 500 rows a
  statement), each with its reporter and its `opened` event: created over the past
  max(1, TICKETS / 50,000) years, none in the last day, 96 % closed, 3 % resolved (half of those
  rated), 1 % still open or claimed; the ticket counters set past the numbers used. The time
  the bulk insert took is printed.

Then, for each offered rate R (msg/s), arrival times are drawn in advance (exponential gaps of
mean 1/R over DURATION seconds, or until MESSAGES have been drawn) and each message is sent at
its time without waiting for earlier ones to be answered (open loop):

* `--mode inprocess` (the default): the message goes to `Router.handle` with a recording
  channel (which keeps counts only), with `guanjia run`'s recovery round running beside it
  every 30 s (`bot.app.Recovery`), at most WORKERS (32, as the Telegram adapter's
  `MAX_CONCURRENT_UPDATES`) at once, the others waiting in arrival order; its reply latency is
  from its scheduled arrival to `handle` returning, which is after its replies were sent. With
  no such bound, an offered rate beyond what the process can do makes every message progress
  slowly side by side and almost none finish. 60 % are in the owner's private
  chat with the bot, 40 % in the owner group (half of those addressed `@管家`).
* `--mode websocket`: a running `guanjia run` on the same store (seed it first with
  `--seed-only`, start `guanjia run` on it, then run this with `--no-seed`) is driven through its
  web chat's public protocol (docs/webchat-protocol.md): one page per owner that is used, each
  picks its owner; a message is a `say` in that owner's private chat, sent by an idle page (one
  with no message awaiting its first answer, and quiet for 0.5 s since); its latency is from
  its scheduled arrival to the first bot message in that chat. `--pid` names the server
  process whose resident memory is read.

The messages are a mix from templates of this file (not the NLU's corpus): repairs (35 %),
complaints (15 %), enquiries (15 %), payments (10 %), chit-chat (15 %) and follow-ups (10 %),
each filled in with places, flats, times and words drawn at random.

Printed per offered rate: messages sent and answered, the achieved rate (answered / time from
the first arrival to the last answer), reply latency p50/p95/p99, the resident memory of the
process that handles them before and after, and the store's round trips per answered message
(the mean over the messages answered, each counted in its own task by `models.querycount`, at
the drivers; in-process only), and the CPU time per message answered of the process that
handled them (in process: the router and the generator together; through the web chat: the
server, with `--pid`).

`--soak N` instead handles N messages in process, `--concurrency` at a time (closed loop: for
memory, not latency), printing the resident memory after every tenth; with `--trace`, tracemalloc
snapshots after the first tenth and at the end give the 25 source lines whose memory grew most.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import io
import itertools
import json
import logging
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tortoise.connection import get_connection  # noqa: E402

from bot.app import Recovery  # noqa: E402
from bot.core.channel import ChannelHub, Hearing, NoticeMeta  # noqa: E402
from bot.core.clock import SystemClock  # noqa: E402
from bot.core.context import Services  # noqa: E402
from bot.core.demo import DEMO_CODE  # noqa: E402
from bot.core.estate_import import EstateData, OwnerRow, StaffRow, UnitRow, write_estate  # noqa: E402
from bot.core.i18n import Catalogues  # noqa: E402
from bot.core.nlu import NLU  # noqa: E402
from bot.core.reference import EstateCache  # noqa: E402
from bot.core.router import Router  # noqa: E402
from bot.core.types import ChatRef, IncomingMessage, OutgoingMessage, Platform, SentMessage  # noqa: E402
from handlers import build_handlers  # noqa: E402
from models import (  # noqa: E402
    Chat,
    ChatIdentity,
    ChatKind,
    Department,
    Estate,
    Owner,
    StaffRole,
    TicketCounter,
    Unit,
)
from models.querycount import count_queries  # noqa: E402
from models.store import close_store, open_store  # noqa: E402

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/bench_load"
MODEL = ROOT / "data" / "nlu" / "model.pkl"
BUILDINGS, ENTRANCES, FLOORS, FLATS = 12, 2, 18, 6

# -- the message mix ---------------------------------------------------------------------------

PLACES = ["厨房", "卫生间", "阳台", "客厅", "卧室", "门口", "楼道", "电梯", "地下车库", "单元门"]
FAULTS = [
    "水管漏水了",
    "灯不亮了",
    "下水道堵了",
    "门锁坏了",
    "墙皮脱落",
    "插座没电",
    "暖气不热",
    "窗户关不上",
    "天花板渗水",
    "马桶一直流水",
]
COMPLAINTS = [
    "楼上每天晚上{h}点还在装修，吵得睡不着",
    "{b}号楼门口的垃圾{d}天没人清了，味道很大",
    "有人把车停在消防通道上，已经{d}天了",
    "小区里有人遛狗不牵绳，今天差点咬到孩子",
    "{b}号楼的保安晚上总是不在岗",
    "绿化带的草{d}个星期没修剪了",
    "电梯里有人抽烟，气味很重",
]
ENQUIRIES = [
    "物业费一平米多少钱",
    "请问物业办公室几点下班",
    "停车位怎么办理月卡",
    "装修需要去哪里备案",
    "快递柜放在哪里",
    "小区的门禁卡丢了怎么补办",
    "What time does the management office open?",
    "How much is the parking fee per month?",
]
PAYMENTS = [
    "我{m}月的物业费交了吗",
    "怎么交物业费",
    "我想查一下我家还欠多少钱",
    "物业费可以用微信付吗",
    "I paid the fee for {m} yesterday, can you check?",
]
CHAT = [
    "谢谢",
    "好的",
    "大家早上好",
    "今天天气真不错",
    "收到，辛苦了",
    "哈哈哈",
    "thanks!",
    "晚上有人一起打羽毛球吗",
]
FOLLOW_UPS = [
    "我昨天报的维修怎么还没人来",
    "上次说的问题什么时候能处理",
    "师傅到了吗",
    "维修进度怎么样了",
    "已经等了{d}天了，还没人联系我",
    "Any update on my repair request?",
]
MIX = (
    ("repair", 35),
    ("complaint", 15),
    ("enquiry", 15),
    ("payment", 10),
    ("chat", 15),
    ("follow_up", 10),
)


def make_text(kind: str, rng: random.Random) -> str:
    """One message of a kind, filled in at random."""
    fill = {
        "h": rng.randint(9, 12),
        "d": rng.randint(2, 9),
        "b": rng.randint(1, BUILDINGS),
        "m": rng.randint(1, 12),
    }
    if kind == "repair":
        building, entrance = rng.randint(1, BUILDINGS), rng.randint(1, ENTRANCES)
        flat = f"{rng.randint(1, FLOORS)}{rng.randint(1, FLATS):02d}"
        forms = [
            f"{building}-{entrance}-{flat}{rng.choice(PLACES)}{rng.choice(FAULTS)}",
            f"我家{rng.choice(PLACES)}{rng.choice(FAULTS)}，麻烦派人来看看",
            f"{building}号楼{rng.choice(PLACES)}{rng.choice(FAULTS)}",
            f"{rng.choice(FAULTS)}，在{rng.choice(PLACES)}，急",
        ]
        return rng.choice(forms)
    pool = {
        "complaint": COMPLAINTS,
        "enquiry": ENQUIRIES,
        "payment": PAYMENTS,
        "chat": CHAT,
        "follow_up": FOLLOW_UPS,
    }[kind]
    return rng.choice(pool).format(**fill)


def draw_kind(rng: random.Random) -> str:
    """A message kind, by the mix's weights."""
    return rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX])[0]


# -- seeding -----------------------------------------------------------------------------------


async def empty_store(url: str) -> None:
    """Empty a PostgreSQL database (its public schema) before it is migrated."""
    if not url.startswith("postgres"):
        return
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


def estate_data(owners: int) -> EstateData:
    """An estate with `owners` owners, one flat each."""
    units = [
        UnitRow(str(b), str(e), f"{f}{k:02d}", floor_area=Decimal("89.50"))
        for b in range(1, BUILDINGS + 1)
        for e in range(1, ENTRANCES + 1)
        for f in range(1, FLOORS + 1)
        for k in range(1, FLATS + 1)
    ]
    if owners > len(units):
        raise SystemExit(f"at most {len(units)} owners")
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
    given = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明"]
    people = [
        OwnerRow(
            name=f"{surnames[i % len(surnames)]}{given[(i // 20) % len(given)]}{i}",
            phone=f"139{i:08d}",
            units=(units[i].label,),
        )
        for i in range(owners)
    ]
    roles = {
        Department.ENGINEERING: StaffRole.ENGINEER,
        Department.CLEANING: StaffRole.CLEANER,
        Department.SECURITY: StaffRole.GUARD,
        Department.GREENING: StaffRole.GARDENER,
        Department.CUSTOMER_SERVICE: StaffRole.CLERK,
    }
    staff = [
        StaffRow(name=f"{d.value}-{n}", role=r, department=d)
        for d, r in roles.items()
        for n in range(3)
    ]
    staff.append(StaffRow("主管", StaffRole.SUPERVISOR, Department.CUSTOMER_SERVICE))
    return EstateData(units=units, owners=people, staff=staff)


async def seed_estate(owners: int) -> tuple[Estate, list[tuple[int, int]]]:
    """The estate, its web chat chats and bound identities; (owner id, unit id) of each owner."""
    await write_estate(estate_data(owners), DEMO_CODE, "负载小区 Load Gardens")
    estate = await Estate.get(code=DEMO_CODE)
    for chat_id, kind in (
        (f"owners-{DEMO_CODE}", ChatKind.OWNERS),
        (f"staff-{DEMO_CODE}", ChatKind.STAFF),
    ):
        await Chat.get_or_create(
            platform=Platform.WEBCHAT,
            chat_id=chat_id,
            defaults={"estate_id": estate.id, "kind": kind, "title": chat_id},
        )
    rows = await Owner.filter(estate_id=estate.id).order_by("id").values_list("id", "name")
    await ChatIdentity.bulk_create(
        [
            ChatIdentity(
                platform=Platform.WEBCHAT, user_id=f"owner-{oid}", display_name=name, owner_id=oid
            )
            for oid, name in rows
        ],
        batch_size=500,
    )
    unit_of = {}
    conn = get_connection("default")
    _, links = await conn.execute_query(
        "SELECT owner_id, unit_id FROM owner_unit WHERE owner_id IN "
        f"(SELECT id FROM owner WHERE estate_id = {estate.id})"
    )
    for link in links:
        unit_of[link["owner_id"]] = link["unit_id"]
    return estate, [(oid, unit_of.get(oid, 0)) for oid, _ in rows]


TICKET_COLUMNS = (
    "id estate_id number kind department urgent status owner_id unit_id location_place "
    "location_building location_unknown reporter_unit_id source_platform source_chat_id "
    "source_message_id reporter_id reporter_name language text photos claimed_by_id result "
    "rating reopen_count created_at claimed_at resolved_at closed_at due_response_at "
    "due_resolve_at severity office_time paused_seconds appointment_reminded"
).split()
# What a seeded ticket has unless its row says otherwise: a web chat report, unplaced, on the
# clock round the hour, never paused, unrated.
TICKET_DEFAULTS: dict[str, Any] = {
    "urgent": False,
    "location_place": None,
    "location_building": None,
    "location_unknown": "",
    "source_platform": "webchat",
    "reporter_name": "",
    "language": "zh",
    "photos": "[]",
    "claimed_by_id": None,
    "result": "",
    "rating": None,
    "reopen_count": 0,
    "claimed_at": None,
    "resolved_at": None,
    "closed_at": None,
    "severity": "",
    "office_time": False,
    "paused_seconds": 0,
    "appointment_reminded": False,
}


def ticket_row(**values: Any) -> tuple:
    """A ticket's row in TICKET_COLUMNS order: `values`, and TICKET_DEFAULTS for the rest."""
    row = {**TICKET_DEFAULTS, **values}
    return tuple(row[column] for column in TICKET_COLUMNS)


REPORTER_COLUMNS = "id ticket_id platform chat_id user_id message_id language name text at".split()
EVENT_COLUMNS = "id ticket_id kind actor at data".split()
KINDS = (
    ("repair", "R", "engineering"),
    ("complaint", "C", "customer_service"),
    ("enquiry", "Q", "customer_service"),
)


def past_tickets(
    count: int, estate_id: int, owners: list[tuple[int, int]], now: datetime, seed: int
) -> tuple[list[tuple], list[tuple], list[tuple], dict[str, int]]:
    """Rows of past tickets, their reporters and `opened` events; the last number per prefix."""
    rng = random.Random(seed)
    span = max(1.0, count / 50_000) * 365 * 86400
    numbers = {"R": 0, "C": 0, "Q": 0}
    tickets, reporters, events = [], [], []
    for i in range(1, count + 1):
        kind, prefix, department = KINDS[0 if rng.random() < 0.6 else rng.randint(1, 2)]
        numbers[prefix] += 1
        owner_id, unit_id = owners[rng.randrange(len(owners))]
        created = now - timedelta(seconds=86400 + rng.random() * span)
        share = rng.random()
        status, resolved, closed, rating, claimed = "closed", None, None, None, None
        if share < 0.01:
            status = rng.choice(("open", "claimed"))
        elif share < 0.04:
            status, resolved = "resolved", created + timedelta(hours=5)
            rating = rng.randint(3, 5) if share < 0.025 else None
        else:
            resolved, closed = created + timedelta(hours=5), created + timedelta(days=3)
            rating = rng.randint(1, 5) if share < 0.5 else None
        if status != "open":
            claimed = created + timedelta(minutes=20)
        text = make_text(kind if kind != "enquiry" else "enquiry", rng)
        user = f"owner-{owner_id}"
        tickets.append(
            ticket_row(
                id=i,
                estate_id=estate_id,
                number=f"{prefix}-{numbers[prefix]:04d}",
                kind=kind,
                department=department,
                status=status,
                owner_id=owner_id,
                unit_id=unit_id or None,
                reporter_unit_id=unit_id or None,
                source_chat_id=f"private:{user}",
                source_message_id=f"seed-{i}",
                reporter_id=user,
                text=text,
                rating=rating,
                created_at=created,
                claimed_at=claimed,
                resolved_at=resolved,
                closed_at=closed,
                due_response_at=created + timedelta(minutes=15),
                due_resolve_at=created + timedelta(hours=24),
            )
        )
        reporters.append(
            (i, i, "webchat", f"private:{user}", user, f"seed-{i}", "zh", "", text, created)
        )
        events.append((i, i, "opened", f"webchat:{user}", created, json.dumps({"text": text})))
    return tickets, reporters, events, numbers


async def seed_tickets(
    url: str, count: int, estate_id: int, owners: list[tuple[int, int]], seed: int
) -> float:
    """Bulk-insert `count` past tickets; the seconds it took (rows made and written)."""
    if count <= 0:
        return 0.0
    started = time.perf_counter()
    now = datetime.now(UTC)
    chunk = 100_000
    numbers: dict[str, int] = {"R": 0, "C": 0, "Q": 0}
    conn = get_connection("default")
    for first in range(0, count, chunk):
        n = min(chunk, count - first)
        tickets, reporters, events, used = past_tickets(n, estate_id, owners, now, seed + first)
        # Ids and numbers continue from the chunk before.
        tickets = [(t[0] + first, *t[1:2], _renumber(t[2], numbers), *t[3:]) for t in tickets]
        for prefix, value in used.items():
            numbers[prefix] += value
        reporters = [(r[0] + first, r[1] + first, *r[2:]) for r in reporters]
        events = [(e[0] + first, e[1] + first, *e[2:]) for e in events]
        if url.startswith("postgres"):
            await _copy(conn, "ticket", TICKET_COLUMNS, tickets)
            await _copy(conn, "ticket_reporter", REPORTER_COLUMNS, reporters)
            await _copy(conn, "ticket_event", EVENT_COLUMNS, events)
        else:
            await _insert_many(conn, "ticket", TICKET_COLUMNS, tickets)
            await _insert_many(conn, "ticket_reporter", REPORTER_COLUMNS, reporters)
            await _insert_many(conn, "ticket_event", EVENT_COLUMNS, events)
    for prefix, value in numbers.items():
        await TicketCounter.update_or_create(
            estate_id=estate_id, prefix=prefix, defaults={"value": value}
        )
    if url.startswith("postgres"):
        for table in ("ticket", "ticket_reporter", "ticket_event"):
            await conn.execute_script(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {count}); ANALYZE {table}"
            )
    else:
        await conn.execute_script("ANALYZE")
    return time.perf_counter() - started


def _renumber(number: str, done: dict[str, int]) -> str:
    prefix, value = number.split("-")
    return f"{prefix}-{int(value) + done[prefix]:04d}"


async def _copy(conn: Any, table: str, columns: list[str], rows: list[tuple]) -> None:
    """COPY rows into a PostgreSQL table through the pool's asyncpg connection."""
    if table == "ticket_event":
        rows = [(*r[:5], r[5]) for r in rows]  # jsonb goes in as text
    async with conn.acquire_connection() as raw:
        await raw.copy_records_to_table(table, records=_as_copy(table, rows), columns=columns)


def _as_copy(table: str, rows: list[tuple]) -> list[tuple]:
    """Rows as COPY's binary format takes them: JSON columns as text."""
    if table == "ticket":
        index = TICKET_COLUMNS.index("photos")
        return [(*r[:index], r[index], *r[index + 1 :]) for r in rows]
    return rows


async def _insert_many(conn: Any, table: str, columns: list[str], rows: list[tuple]) -> None:
    """Multi-row INSERTs of 500 rows, in one transaction (SQLite)."""
    per = 500 if len(columns) < 20 else 30  # SQLite allows 32,766 variables a statement
    raw = conn._connection  # the aiosqlite connection the tortoise client holds
    await raw.execute("BEGIN")
    for start in range(0, len(rows), per):
        part = rows[start : start + per]
        marks = ", ".join(["(" + ", ".join("?" * len(columns)) + ")"] * len(part))
        values = [_sqlite_value(v) for row in part for v in row]
        await raw.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {marks}", values)
    await raw.execute("COMMIT")


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value


# -- the recording channel ---------------------------------------------------------------------


@dataclass
class Recorder:
    """A channel that keeps counts only: what the router sends goes nowhere."""

    platform: Platform = Platform.WEBCHAT
    sends: int = 0
    edits: int = 0
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    async def send(self, message: OutgoingMessage) -> SentMessage:
        self.sends += 1
        return SentMessage(chat=message.chat, message_id=f"out-{next(self._ids)}")

    async def send_notice(self, message: OutgoingMessage, notice: NoticeMeta) -> SentMessage:
        return await self.send(message)

    async def edit(self, sent: SentMessage, message: OutgoingMessage) -> SentMessage:
        self.edits += 1
        return sent

    def private_chat(self, user_id: str) -> ChatRef:
        return ChatRef(self.platform, f"private:{user_id}", is_group=False)

    def hears(self, chat: ChatRef) -> Hearing:
        return Hearing.EVERYTHING


# -- measuring ---------------------------------------------------------------------------------


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (this one by default), in MB."""
    path = Path(f"/proc/{pid or 'self'}/status")
    for line in path.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of `values` lie (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def arrivals(rate: float, duration: float, limit: int | None, rng: random.Random) -> list[float]:
    """Poisson arrival times from 0: exponential gaps of mean 1/rate."""
    times, t = [], 0.0
    while True:
        t += rng.expovariate(rate)
        if (limit is None and t >= duration) or (limit is not None and len(times) >= limit):
            return times
        times.append(t)


@dataclass
class Outcome:
    """What one offered rate gave."""

    offered: float
    sent: int
    answered: int
    failed: int
    achieved: float
    p50: float
    p95: float
    p99: float
    rss_before: float
    rss_after: float
    round_trips: float | None
    # CPU time (user and system) of the process that handled the messages, per message answered,
    # in ms, over the rate: in process the router and the generator together; through the web
    # chat the server's (`--pid`).
    cpu_ms: float = float("nan")

    def line(self) -> str:
        trips = f"{self.round_trips:5.1f}" if self.round_trips is not None else "    -"
        return (
            f"{self.offered:7.0f} {self.sent:7d} {self.answered:8d} {self.achieved:8.1f} "
            f"{self.p50 * 1000:8.1f} {self.p95 * 1000:8.1f} {self.p99 * 1000:8.1f} "
            f"{self.rss_before:7.1f} {self.rss_after:7.1f} {trips}     {self.cpu_ms:6.2f}"
        )


HEADER = (
    "offered    sent answered achieved  p50(ms)  p95(ms)  p99(ms) rss0(MB) rss1(MB) trips/msg"
    " cpu(ms/msg)"
)


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user and system) a process has used, in seconds: this one by default."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command's name: state is field 3 of proc(5), utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def per_message_ms(cpu: tuple[float, float], answered: int) -> float:
    """CPU milliseconds a message, from the CPU seconds before and after."""
    return (cpu[1] - cpu[0]) * 1000 / answered if answered else float("nan")


def outcome(
    rate: float,
    sent: int,
    latencies: list[float],
    failed: int,
    span: float,
    rss: tuple[float, float],
    trips: float | None,
) -> Outcome:
    return Outcome(
        offered=rate,
        sent=sent,
        answered=len(latencies),
        failed=failed,
        achieved=len(latencies) / span if span > 0 else 0.0,
        p50=percentile(latencies, 0.50),
        p95=percentile(latencies, 0.95),
        p99=percentile(latencies, 0.99),
        rss_before=rss[0],
        rss_after=rss[1],
        round_trips=trips,
    )


# -- in-process --------------------------------------------------------------------------------


class InProcess:
    """The real router with a recording channel, in this process."""

    def __init__(self, owners: list[tuple[int, int]], rng: random.Random) -> None:
        nlu = NLU.load(MODEL)
        self.channel = Recorder()
        hub = ChannelHub()
        hub.add(self.channel)
        clock = SystemClock()
        services = Services(
            nlu=nlu, catalogues=Catalogues(), clock=clock, hub=hub, cache=EstateCache(clock)
        )
        handlers = build_handlers()
        services.ticket_opened.extend(handlers.ticket_opened)
        self.router = Router(services, handlers)
        self.owners = owners
        self.rng = rng
        self.ids = itertools.count(1)
        # Each run's message ids are its own: a run on a store an earlier run used (`--no-seed`),
        # or a second process beside it, would otherwise repeat ids the journal has seen, and
        # those messages would be dropped as handled already instead of handled.
        self.run_id = secrets.token_hex(4)

    def message(self) -> IncomingMessage:
        owner_id, _ = self.owners[self.rng.randrange(len(self.owners))]
        user = f"owner-{owner_id}"
        text = make_text(draw_kind(self.rng), self.rng)
        group = self.rng.random() < 0.4
        addressed = group and self.rng.random() < 0.5
        if addressed:
            text = "@管家 " + text
        chat = (
            ChatRef(Platform.WEBCHAT, f"owners-{DEMO_CODE}", is_group=True)
            if group
            else ChatRef(Platform.WEBCHAT, f"private:{user}", is_group=False)
        )
        return IncomingMessage(
            chat=chat,
            sender_id=user,
            sender_name=user,
            text=text,
            message_id=f"load-{self.run_id}-{next(self.ids)}",
            received_at=datetime.now(UTC),
            addressed=addressed,
        )

    async def run(self, rate: float, duration: float, limit: int | None, workers: int) -> Outcome:
        times = arrivals(rate, duration, limit, self.rng)
        gc.collect()
        rss0 = rss_mb()
        cpu0 = cpu_seconds()
        latencies: list[float] = []
        failed = 0
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        pending: set[asyncio.Task] = set()

        trips: list[int] = []
        last = [start]

        gate = asyncio.Semaphore(workers)

        async def one(at: float) -> None:
            nonlocal failed
            message = self.message()
            try:
                async with gate:
                    with count_queries() as counted:
                        await self.router.handle(message, self.channel)
            except Exception:
                failed += 1
                return
            done = loop.time()
            latencies.append(done - at)
            trips.append(counted.total)
            last[0] = max(last[0], done)

        for offset in times:
            at = start + offset
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(at))
            pending.add(task)
            task.add_done_callback(pending.discard)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*pending, return_exceptions=True), timeout=max(30, duration)
            )
        # Achieved: answered messages over the time from the first arrival to the last answer
        # (at least the time the arrivals spanned).
        span = max(last[0], start + (times[-1] if times else 0.0)) - start
        gc.collect()
        per = statistics.fmean(trips) if trips else None
        result = outcome(rate, len(times), latencies, failed, span, (rss0, rss_mb()), per)
        result.cpu_ms = per_message_ms((cpu0, cpu_seconds()), len(latencies))
        return result

    async def soak(self, count: int, concurrency: int, trace: bool) -> None:
        """Handle `count` messages, `concurrency` at a time (closed loop), printing the resident
        memory every tenth; with `trace`, what grew from the first tenth to the end."""
        if trace:
            tracemalloc.start(1)
        step = max(1, count // 10)
        done = 0
        snapshot: tracemalloc.Snapshot | None = None
        began = time.perf_counter()
        gc.collect()
        print(f"memory soak: {count:,} messages, {concurrency} at a time")
        print(f"  after {0:>7,} messages: {rss_mb():6.1f} MB resident")

        async def worker(share: int) -> None:
            nonlocal done
            for _ in range(share):
                await self.router.handle(self.message(), self.channel)
                done += 1

        while done < count:
            batch = min(step, count - done)
            shares = [
                batch // concurrency + (1 if i < batch % concurrency else 0)
                for i in range(concurrency)
            ]
            await asyncio.gather(*(worker(n) for n in shares if n))
            gc.collect()
            traced = ""
            if trace:
                current, _ = tracemalloc.get_traced_memory()
                traced = f", {current / 1e6:6.1f} MB traced"
                if snapshot is None:
                    snapshot = tracemalloc.take_snapshot()
            print(
                f"  after {done:>7,} messages: {rss_mb():6.1f} MB resident{traced}"
                f" ({done / (time.perf_counter() - began):.1f} msg/s)",
                flush=True,
            )
        if trace and snapshot is not None:
            final = tracemalloc.take_snapshot()
            tracemalloc.stop()
            print("grown most from the first tenth to the end, by source line (tracemalloc):")
            for stat in final.compare_to(snapshot, "lineno")[:25]:
                print("  ", stat)


# -- WebSocket ---------------------------------------------------------------------------------


class Pages:
    """Web chat pages of a running `guanjia run`, one per owner used."""

    def __init__(
        self, url: str, owners: list[tuple[int, int]], rng: random.Random, pid: int | None
    ):
        self.url = url
        self.owners = owners
        self.rng = rng
        self.pid = pid
        self.pages: list[dict[str, Any]] = []

    async def open(self, count: int) -> None:
        import aiohttp

        origin = "http://" + self.url.split("//", 1)[1].split("/", 1)[0]
        # One connection per page: aiohttp's default pool stops at 100.
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=120)
        )
        connects: list[float] = []
        sizes: list[int] = []
        for owner_id, _ in self.owners[:count]:
            began = time.perf_counter()
            socket = await self.session.ws_connect(
                self.url, headers={"Origin": origin}, max_msg_size=64 * 1024 * 1024
            )
            data = (await socket.receive()).data
            connects.append(time.perf_counter() - began)
            sizes.append(len(data.encode()))
            welcome = json.loads(data)
            assert welcome["type"] == "welcome", welcome
            await socket.send_json({"type": "pick", "role": "owner", "id": owner_id})
            while True:
                frame = json.loads((await socket.receive()).data)
                if frame["type"] == "picked":
                    break
                if frame["type"] == "error":
                    raise SystemExit(f"could not pick owner {owner_id}: {frame}")
            page = {
                "socket": socket,
                "chat": f"private:owner-{owner_id}",
                "waiting": None,
                "quiet_from": 0.0,
                "latencies": [],
            }
            page["reader"] = asyncio.create_task(self._read(page))
            self.pages.append(page)
        print(
            f"pages: {len(connects)} connected; connect to welcome p50 "
            f"{percentile(connects, 0.5) * 1000:.1f} ms, welcome frame {max(sizes):,} bytes"
        )

    async def _read(self, page: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        async for frame in page["socket"]:
            data = json.loads(frame.data)
            if data.get("type") != "message" or data["message"]["from"]["kind"] != "bot":
                continue
            now = loop.time()
            page["quiet_from"] = now + 0.5
            if page["waiting"] is not None:
                page["latencies"].append(now - page["waiting"])
                page["waiting"] = None

    async def close(self) -> None:
        for page in self.pages:
            await page["socket"].close()
            page["reader"].cancel()
        await self.session.close()

    async def run(self, rate: float, duration: float, limit: int | None) -> Outcome:
        times = arrivals(rate, duration, limit, self.rng)
        for page in self.pages:
            page["latencies"] = []
        rss0 = rss_mb(self.pid) if self.pid else float("nan")
        cpu0 = cpu_seconds(self.pid) if self.pid else float("nan")
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        skipped = 0
        for offset in times:
            at = start + offset
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            idle = [p for p in self.pages if p["waiting"] is None and p["quiet_from"] <= now]
            if not idle:
                skipped += 1
                continue
            page = self.rng.choice(idle)
            page["waiting"] = at
            text = make_text(draw_kind(self.rng), self.rng)
            await page["socket"].send_json({"type": "say", "chat": page["chat"], "text": text})
        deadline = loop.time() + max(30, duration)
        while any(p["waiting"] is not None for p in self.pages) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        latencies = [x for p in self.pages for x in p["latencies"]]
        last = max((p["quiet_from"] - 0.5 for p in self.pages), default=start)
        span = max(last, start + (times[-1] if times else 0)) - start
        rss1 = rss_mb(self.pid) if self.pid else float("nan")
        result = outcome(rate, len(times), latencies, skipped, span, (rss0, rss1), None)
        if self.pid:
            result.cpu_ms = per_message_ms((cpu0, cpu_seconds(self.pid)), len(latencies))
        return result


# -- main --------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> list[Outcome]:
    url = args.database
    if url is None:
        if args.backend == "postgres":
            url = DEFAULT_POSTGRES
        else:
            folder = Path(tempfile.mkdtemp(prefix="guanjia-load-"))
            url = f"sqlite://{folder / 'load.sqlite3'}"
    rng = random.Random(args.seed)
    if not args.no_seed:
        await empty_store(url)
    await open_store(url)
    try:
        if args.no_seed:
            estate = await Estate.get(code=DEMO_CODE)
            owners = [
                (oid, 0)
                for oid in await Owner.filter(estate_id=estate.id)
                .order_by("id")
                .values_list("id", flat=True)
            ]
        else:
            started = time.perf_counter()
            estate, owners = await seed_estate(args.owners)
            print(f"estate: {len(owners)} owners seeded in {time.perf_counter() - started:.1f} s")
            seconds = await seed_tickets(url, args.tickets, estate.id, owners, args.seed)
            if args.tickets:
                print(f"tickets: {args.tickets:,} past tickets bulk-inserted in {seconds:.1f} s")
        print(
            f"store: {url.split('@')[-1]}  units: {await Unit.filter(estate_id=estate.id).count()}"
        )
        results: list[Outcome] = []
        if args.seed_only:
            return results
        rates = [float(r) for r in args.rates.split(",")]
        print(HEADER)
        if args.soak:
            await InProcess(owners, rng).soak(args.soak, args.concurrency, args.trace)
        elif args.mode == "inprocess":
            runner = InProcess(owners, rng)
            # What `guanjia run` does beside the messages every 30 s (recovery, pruning, the
            # planner's statistics where autovacuum is off, giving freed memory back).
            recovery = Recovery(runner.router, alone=url.startswith("sqlite"))
            await recovery.start()
            try:
                for rate in rates:
                    result = await runner.run(rate, args.duration, args.messages, args.workers)
                    results.append(result)
                    print(result.line(), flush=True)
            finally:
                await recovery.stop()
        else:
            pages = Pages(args.url, owners, rng, args.pid)
            await pages.open(args.pages)
            try:
                for rate in rates:
                    result = await pages.run(rate, args.duration, args.messages)
                    results.append(result)
                    print(result.line(), flush=True)
            finally:
                await pages.close()
        return results
    finally:
        await close_store()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--database", help="the store's URL (EMPTIED first)")
    parser.add_argument("--rates", default="15,50,125,200", help="offered msg/s, comma-separated")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per rate")
    parser.add_argument("--messages", type=int, help="messages per rate (instead of --duration)")
    parser.add_argument("--tickets", type=int, default=0, help="past tickets to seed")
    parser.add_argument("--owners", type=int, default=2580)
    parser.add_argument("--mode", choices=("inprocess", "websocket"), default="inprocess")
    parser.add_argument("--url", default="ws://127.0.0.1:8080/webchat/ws")
    parser.add_argument("--pages", type=int, default=300, help="web chat pages (websocket)")
    parser.add_argument("--pid", type=int, help="the server's process id (websocket)")
    parser.add_argument("--no-seed", action="store_true", help="use the store as it is")
    parser.add_argument("--seed-only", action="store_true", help="seed the store, then stop")
    parser.add_argument("--trace", action="store_true", help="tracemalloc growth (with --soak)")
    parser.add_argument(
        "--workers", type=int, default=32, help="messages handled at once (in-process)"
    )
    parser.add_argument("--soak", type=int, help="memory soak: this many messages, closed loop")
    parser.add_argument("--concurrency", type=int, default=4, help="messages at a time (--soak)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    logging.basicConfig(
        level=logging.ERROR, stream=io.StringIO() if not arguments.json else sys.stderr
    )
    logging.disable(logging.WARNING)
    print(f"load benchmark: {os.cpu_count()} cores, load average {os.getloadavg()}")
    outcomes = asyncio.run(main(arguments))
    if arguments.json:
        print(json.dumps([o.__dict__ for o in outcomes]))
    print(f"load average after: {os.getloadavg()}")
