"""The queries that run per message or per scheduled job read through an index, not the whole
table, once the store holds enough tickets: each code path runs for real on a store seeded with
20,000 tickets (80,000 events, 20,000 deliveries), the SQL it sent is captured from tortoise's
client log, and its plan is asked for (PostgreSQL: `EXPLAIN (ANALYZE, FORMAT JSON)`, SQLite:
`EXPLAIN QUERY PLAN`). A sequential scan of `ticket`, `ticket_event` or `delivery` fails the
test, and so does reading a fifth of one (`tests/queryplans.py`'s `plan_problems`)."""

from __future__ import annotations

import re
from datetime import datetime

from tortoise.connection import get_connection

from models import Ticket
from tests.desk import Desk, bind
from tests.queryplans import (
    GROWING,
    SENDER,
    bind_people,
    capture,
    code_paths,
    plan_problems,
    seed,
    seed_unplaced,
)

TICKETS = 20_000


async def test_per_message_and_per_job_queries_use_indexes(desk: Desk, now: datetime) -> None:
    dialect = get_connection("default").capabilities.dialect
    store = "postgres" if dialect == "postgres" else "sqlite"
    recent = await seed(desk, now, TICKETS)
    await bind_people(desk)
    before = await Ticket.all().count()

    checked: dict[str, int] = {}
    for name, run in code_paths(desk, recent, now):
        async with capture() as captured:
            await run()
        reads = captured.reads_of_growing_tables()
        assert reads, f"{name}: no read of {GROWING} was captured"
        for sql, values in reads:
            problems = await plan_problems(store, sql, values)
            assert problems == [], f"{name}: {problems} in\n{sql}\n{values}"
        checked[name] = len(reads)

    # The second report and the photo joined the first.
    assert await Ticket.all().count() == before + 1
    assert (await Ticket.get(source_message_id="in-1")).photos == ["photo-1"]
    assert len(checked) == 13


async def test_a_report_of_no_place_reads_the_senders_reports_by_index(
    desk: Desk, now: datetime
) -> None:
    """The duplicate check of a report that says no place reads the sender's reports through
    their index and each one's ticket by id, not the open tickets of the fault, nor all
    reports (SQLite: no SCAN of either table)."""
    await bind(SENDER, desk.owners["wang"])
    await desk.say("马桶堵了", SENDER)
    first = await Ticket.get(reporter_id=SENDER)
    await seed_unplaced(desk, now, first.kind, first.department, 2_000)
    async with capture() as captured:
        await desk.say("马桶堵了", SENDER)
    [(sql, values)] = [
        (sql, values)
        for sql, values in captured.reads_of_growing_tables()
        if '"ticket_reporter"' in sql and '"t"."created_at" DESC, "t"."id" DESC LIMIT' in sql
    ]
    client = get_connection("default")
    if client.capabilities.dialect == "postgres":
        assert await plan_problems("postgres", sql, values) == []
        return
    rows = await client.execute_query_dict(f"EXPLAIN QUERY PLAN {sql}", values)
    details = [row["detail"] for row in rows]
    assert await plan_problems("sqlite", sql, values) == [], details
    # The sender's reports by their index, each one's ticket by id; then the few tickets
    # found (the CTE, "t" too) are scanned and sorted.
    assert any(
        re.fullmatch(r"SEARCH r USING INDEX \S+ \(platform=\? AND user_id=\? AND at>\?\)", detail)
        for detail in details
    ), details
    assert "SEARCH t USING INTEGER PRIMARY KEY (rowid=?)" in details, details
    [materialized] = [row["id"] for row in rows if row["detail"] == "MATERIALIZE reported"]
    scans = [row for row in rows if row["detail"].startswith("SCAN")]
    assert [(row["detail"], row["parent"]) for row in scans] == [("SCAN t", 0)], details
    assert all(row["parent"] == materialized for row in rows if row["detail"].startswith("SEARCH"))
