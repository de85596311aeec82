"""The queries that run per message or per scheduled job read through an index, not the whole
table, once the store holds enough tickets: each code path runs for real on a store seeded with
20,000 tickets (80,000 events, 20,000 deliveries), the SQL it sent is captured from tortoise's
client log, and its plan is asked for (PostgreSQL: `EXPLAIN (ANALYZE, FORMAT JSON)`, SQLite:
`EXPLAIN QUERY PLAN`). A sequential scan of `ticket`, `ticket_event` or `delivery` fails the
test, and so does reading a fifth of one (`tests/queryplans.py`'s `plan_problems`)."""

from __future__ import annotations

from datetime import datetime

from tortoise.connection import get_connection

from models import Ticket
from tests.desk import Desk
from tests.queryplans import GROWING, bind_people, capture, code_paths, plan_problems, seed

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
