"""Shared by tests/models/test_query_plans.py and benchmarks/query_plans.py: a store seeded with
many tickets, the per-message and per-job code paths, the SQL they send (captured from
tortoise's client log) and what their plans read."""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise.connection import get_connection
from tortoise.transactions import in_transaction

from bot.core import console, reports
from bot.core import desk as staff_desk
from handlers.tickets import SAME_FAULT_WINDOW
from models import (
    Delivery,
    DeliveryStatus,
    Department,
    EventKind,
    Platform,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketReporter,
    TicketStatus,
)
from scheduler import jobs
from tests.desk import STAFF, Desk, bind
from tests.factories import make_estate
from tests.staffdesk import bind_staff

CodePath = Callable[[], Awaitable[object]]

# The sender of a report that says no place (an owner of two flats, bound by the test), and
# how many open tickets with no place they reported within the window (`seed_unplaced`).
SENDER = "u-wang"
SENDER_OPEN = 4

# The tables whose full scans grow with the store's age.
GROWING = ("ticket", "ticket_event", "delivery")


@dataclass
class Captured:
    """The statements tortoise sent while a code path ran."""

    statements: list[tuple[str, list[Any]]] = field(default_factory=list)

    def reads_of_growing_tables(self) -> list[tuple[str, list[Any]]]:
        """Each distinct SELECT (or WITH ... SELECT) that reads a growing table."""
        seen: set[str] = set()
        found = []
        for sql, values in self.statements:
            if not sql.lstrip().upper().startswith(("SELECT", "WITH")) or sql in seen:
                continue
            if any(re.search(rf'(FROM|JOIN) "?{table}"?(\s|$)', sql) for table in GROWING):
                seen.add(sql)
                found.append((sql, values))
        return found


class _Recorder(logging.Handler):
    def __init__(self, captured: Captured) -> None:
        super().__init__(logging.DEBUG)
        self.captured = captured

    def emit(self, record: logging.LogRecord) -> None:
        # The clients log each statement as ("%s: %s", query, values).
        if record.msg == "%s: %s" and isinstance(record.args, tuple) and len(record.args) == 2:
            sql, values = record.args
            if isinstance(sql, str):
                self.captured.statements.append((sql, list(values or [])))


@asynccontextmanager
async def capture() -> AsyncIterator[Captured]:
    """Record the SQL tortoise runs inside the block."""
    captured = Captured()
    logger = logging.getLogger("tortoise.db_client")
    handler = _Recorder(captured)
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # recorded here, not shown
    logger.addHandler(handler)
    try:
        yield captured
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


async def seed(desk_: Desk, now: datetime, count: int, chunk: int = 10_000) -> Ticket:
    """`count` tickets over two years, stored in the order they were opened, most in the desk's
    estate and the rest in three others: closed, but for the last three days' open, claimed or
    resolved; four events and a sent delivery per ticket. Returns one of the desk estate's
    open tickets."""
    rng = random.Random(17)
    estates = [desk_.estate.id] + [(await make_estate(f"e{i}")).id for i in range(3)]
    kinds = list(TicketKind)
    departments = list(Department)
    opened = sorted(
        now - timedelta(minutes=rng.randrange(2 * 365 * 24 * 60)) for _ in range(count)
    )
    # A closed ticket's history: opened, claimed, resolved, closed.
    history = (EventKind.OPENED, EventKind.CLAIMED, EventKind.RESOLVED, EventKind.CLOSED)
    for first in range(0, count, chunk):
        tickets = []
        for i in range(first, min(count, first + chunk)):
            created = opened[i]
            # Auto-closed three days after it was resolved: older ones are done with.
            if now - created > timedelta(days=3):
                status = TicketStatus.CLOSED
            else:
                status = rng.choice(list(TicketStatus))
            resolved = None
            if status is not TicketStatus.OPEN:
                resolved = min(now, created + timedelta(hours=5))
            closed = resolved + timedelta(days=3) if resolved is not None else None
            tickets.append(
                Ticket(
                    # One estate holds most: a company's big estate, and three small ones.
                    estate_id=estates[0] if i % 10 < 7 else estates[i % len(estates)],
                    number=f"S-{i:07d}",
                    kind=rng.choice(kinds),
                    department=rng.choice(departments),
                    status=status,
                    source_platform=Platform.WEBCHAT,
                    source_chat_id="owners",
                    source_message_id=f"seed-{i}",
                    reporter_id=f"u-{i % 500}",
                    text="楼道灯不亮了" if i % 2 else "水管漏水",
                    created_at=created,
                    resolved_at=resolved,
                    closed_at=closed if status is TicketStatus.CLOSED else None,
                    due_response_at=created + timedelta(hours=2),
                    due_resolve_at=created + timedelta(days=365),
                    rating=5 if status is TicketStatus.CLOSED else None,
                )
            )
        await Ticket.bulk_create(tickets, batch_size=2000)
        ids = await Ticket.filter(
            number__gte=f"S-{first:07d}", number__lte=f"S-{first + chunk - 1:07d}"
        ).values_list("id", flat=True)
        await TicketEvent.bulk_create(
            [
                TicketEvent(ticket_id=ticket_id, kind=kind, actor="system", at=now)
                for ticket_id in ids
                for kind in history
            ],
            batch_size=4000,
        )
        await Delivery.bulk_create(
            [
                Delivery(
                    dedup_key=f"seed:{ticket_id}",
                    kind="ticket",
                    platform=Platform.WEBCHAT,
                    chat_id="staff",
                    status=DeliveryStatus.SENT,
                    attempts=1,
                    created_at=now - timedelta(days=1),
                    sent_at=now - timedelta(days=1),
                )
                for ticket_id in ids
            ],
            batch_size=2000,
        )
    client = get_connection("default")
    if client.capabilities.dialect == "postgres":
        # As autovacuum would have by now. A SQLite store is never analyzed (nothing runs
        # ANALYZE there), so its planner goes by its rules, as it will in production: its
        # statistics hold an average per value, which one dominant status (sent, closed) skews.
        await client.execute_script("ANALYZE")
    ticket = (
        await Ticket.filter(estate_id=desk_.estate.id, status=TicketStatus.OPEN)
        .order_by("-id")
        .first()
    )
    assert ticket is not None, "the seed has no open ticket in the desk's estate"
    return ticket


async def explain(sql: str, values: list[Any], *, generic: bool = False) -> dict[str, Any]:
    """PostgreSQL's plan of the statement, run by `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`: its
    top node. The plan is made for the values given, or with `generic`, without them: the
    generic plan a prepared statement (asyncpg prepares each) may be run by from its sixth run
    on."""
    if not generic:
        client = get_connection("default")
        [row] = await client.execute_query_dict(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", values
        )
    else:
        # EXECUTE takes no bound parameters: the values go as literals, of the types the
        # prepared statement's parameters were given.
        given = literals(values)
        async with in_transaction() as connection:
            await connection.execute_script("SET LOCAL plan_cache_mode = force_generic_plan")
            await connection.execute_script(f"PREPARE generic_plan AS {sql}")
            try:
                [row] = await connection.execute_query_dict(
                    f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE generic_plan({given})"
                )
            finally:
                await connection.execute_script("DEALLOCATE generic_plan")
    plan = row["QUERY PLAN"]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    top: dict[str, Any] = plan[0]["Plan"]
    return top


def literals(values: list[Any]) -> str:
    """A statement's values as the argument list of an EXECUTE of it (see `_literal`)."""
    return ", ".join(_literal(value) for value in values)


def _literal(value: Any) -> str:
    """A value as an SQL literal of no type yet (PostgreSQL gives it the parameter's)."""
    if value is None:
        return "NULL"
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'{}'".format(text.replace("'", "''"))


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """A plan's nodes, the top one first, each before the nodes under it."""
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(nodes(child))
    return found


def rows_examined(plan: dict[str, Any]) -> dict[str, float]:
    """How many rows of each growing table a plan run by EXPLAIN ANALYZE looked at: the rows its
    scans of the table returned and the ones they read and dropped (by a filter or a recheck),
    in every loop."""
    examined: dict[str, float] = dict.fromkeys(GROWING, 0.0)
    for node in nodes(plan):
        relation = node.get("Relation Name")
        if relation in GROWING:
            rows = (
                node.get("Actual Rows", 0)
                + node.get("Rows Removed by Filter", 0)
                + node.get("Rows Removed by Index Recheck", 0)
            )
            examined[relation] += rows * node.get("Actual Loops", 1)
    return examined


async def plan_problems(store: str, sql: str, values: list[Any]) -> list[str]:
    """What in the statement's plan reads a growing table whole: a sequential scan, or (on
    PostgreSQL, where the statement is run by EXPLAIN ANALYZE) more than a fifth of its rows
    examined; on SQLite, a SCAN of it (a full traversal, by an index or not) or a search of the
    estate's tickets by estate alone (every ticket, for a company with one estate)."""
    client = get_connection("default")
    if store == "postgres":
        plan = await explain(sql, values)
        problems = [
            f"Seq Scan on {node['Relation Name']}"
            for node in nodes(plan)
            if node.get("Relation Name") in GROWING and node.get("Node Type") == "Seq Scan"
        ]
        examined = rows_examined(plan)
        for table, rows in examined.items():
            [count] = await client.execute_query_dict(f'SELECT count(*) AS n FROM "{table}"')
            if rows > count["n"] / 5:
                problems.append(f"{rows:.0f} of {count['n']} rows of {table} examined")
        return problems
    rows = await client.execute_query_dict(f"EXPLAIN QUERY PLAN {sql}", values)
    return [
        row["detail"]
        for row in rows
        if re.match(rf"SCAN ({'|'.join(GROWING)})\b", row["detail"])
        or re.match(r"SEARCH ticket USING INDEX \S+ \(estate_id=\?\)$", row["detail"])
    ]


def code_paths(desk: Desk, recent: Ticket, now: datetime) -> list[tuple[str, CodePath]]:
    """The code paths that run per message or per scheduled job, in the order they are run (the
    second report joins the ticket the first opened). The owner u-li and the staff u-zhang and
    u-chen must be bound (`bind_people`)."""
    zhang, chen = desk.staff["zhang"], desk.staff["chen"]
    return [
        # The duplicate check, opening a ticket, and the second report joining it.
        ("a repair report", lambda: desk.say("3栋2单元501 厨房水管漏水了", "u-li")),
        ("the same report again", lambda: desk.say("3栋2单元501 厨房水管又漏水了", "u-li")),
        # A photo alone: it joins its sender's report of the last minutes.
        ("a photo after it", lambda: desk.say("", "u-li", photos=("photo-1",))),
        ("the staff queue", lambda: desk.say("队列", "u-zhang", STAFF)),
        ("a staff member's tickets", lambda: desk.say("我的", "u-zhang", STAFF)),
        ("the board", lambda: console.board(zhang, console.BoardFilter(), now)),
        ("the supervisor's board", lambda: console.board(chen, console.BoardFilter(), now)),
        ("events by ticket", lambda: console.ticket_events(recent)),
        ("escalation", lambda: staff_desk.escalate_overdue(now, desk.services, desk.notifier)),
        ("rating reminders", lambda: jobs.remind_to_rate(now, desk.services, desk.notifier)),
        ("auto-close", lambda: staff_desk.close_unrated(now, desk.services, desk.notifier)),
        ("deliveries due", lambda: desk.notifier.deliver()),
        ("the month report", lambda: reports.month_report(desk.estate, "2026-11", now)),
    ]


def seeded_ticket(
    estate_id: int, number: str, message: str, reporter: str, created: datetime, **fields: Any
) -> Ticket:
    """A ticket as the duplicate check's seeders write it: from the web chat's owner group,
    about a corridor light (with no features kept), promised within 2 hours and a day of
    `created`; `fields` say the rest (kind, department, status, place)."""
    return Ticket(
        estate_id=estate_id,
        number=number,
        source_platform=Platform.WEBCHAT,
        source_chat_id="owners",
        source_message_id=message,
        reporter_id=reporter,
        text="楼道灯不亮了",
        features=[],
        created_at=created,
        due_response_at=created + timedelta(hours=2),
        due_resolve_at=created + timedelta(days=1),
        **fields,
    )


async def report_by_openers(**filters: Any) -> None:
    """Each ticket `filters` select reported by its opener, as `open_ticket` records them."""
    await TicketReporter.bulk_create(
        [
            TicketReporter(
                ticket_id=ticket_id,
                platform=Platform.WEBCHAT,
                chat_id="owners",
                user_id=reporter,
                message_id=message,
                at=created,
            )
            for ticket_id, reporter, message, created in await Ticket.filter(
                **filters
            ).values_list("id", "reporter_id", "source_message_id", "created_at")
        ],
        batch_size=2000,
    )


async def bind_people(desk: Desk) -> None:
    """Bind the owner and the staff members the code paths act as."""
    await bind("u-li", desk.owners["li"])
    await bind_staff("u-chen", desk.staff["chen"])
    await bind_staff("u-zhang", desk.staff["zhang"])


async def seed_unplaced(
    desk: Desk, now: datetime, kind: TicketKind, department: Department, others: int
) -> int:
    """`others` open or claimed tickets of `kind` and `department` with no place within the
    window, each reported by one of 500 other senders, all newer than the `SENDER_OPEN` such
    tickets `SENDER` reported; and `SENDER`'s tickets that are not candidates: one opened
    before the window, one closed, one at a flat. Returns how many reports `SENDER` has made
    within the window."""
    rng = random.Random(21)
    start = now - SAME_FAULT_WINDOW + timedelta(minutes=1)
    unit = desk.units["5-1-1202"]
    # (reporter, status, unit id, created)
    rows: list[tuple[str, TicketStatus, int | None, datetime]] = [
        (SENDER, TicketStatus.OPEN, None, start + timedelta(minutes=i)) for i in range(SENDER_OPEN)
    ]
    rows += [
        (SENDER, TicketStatus.OPEN, None, now - 2 * SAME_FAULT_WINDOW),
        (SENDER, TicketStatus.CLOSED, None, start + timedelta(minutes=10)),
        (SENDER, TicketStatus.OPEN, unit.id, start + timedelta(minutes=11)),
    ]
    later = start + timedelta(minutes=20)
    rows += [
        (
            f"u-{i % 500}",
            rng.choice((TicketStatus.OPEN, TicketStatus.CLAIMED)),
            None,
            later + (now - later) * i / others,
        )
        for i in range(others)
    ]
    await Ticket.bulk_create(
        [
            seeded_ticket(
                desk.estate.id,
                f"U-{i:07d}",
                f"unplaced-{i}",
                reporter,
                created,
                kind=kind,
                department=department,
                status=status,
                unit_id=unit_id,
            )
            for i, (reporter, status, unit_id, created) in enumerate(rows)
        ],
        batch_size=2000,
    )
    await report_by_openers(number__startswith="U-")
    return await TicketReporter.filter(
        platform=Platform.WEBCHAT, user_id=SENDER, at__gte=now - SAME_FAULT_WINDOW
    ).count()
