"""The console's history reads through an index, not the whole ticket table, once the store
holds enough tickets: its queries (a page and its count, with and without a search, for a
supervisor and for a department, and the export) run for real on a store seeded with 20,000
tickets over two years (`tests/queryplans.py`), and their plans are asked for as the per-message
paths' are (`plan_problems`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise.connection import get_connection

from bot.core import console
from tests.desk import Desk
from tests.queryplans import GROWING, capture, plan_problems, seed

TICKETS = 20_000


async def test_the_history_reads_through_an_index(desk: Desk, now: datetime) -> None:
    dialect = get_connection("default").capabilities.dialect
    store = "postgres" if dialect == "postgres" else "sqlite"
    await seed(desk, now, TICKETS)
    chen, zhang = desk.staff["chen"], desk.staff["zhang"]
    today = now.date()
    month = console.HistoryFilter(since=today - timedelta(days=30), until=today)
    searched = console.HistoryFilter(since=month.since, until=month.until, search="水管")
    by_unit = console.HistoryFilter(since=month.since, until=month.until, search="3-2-501")
    paths = {
        "the supervisor's history": lambda: console.history(chen, month, 1),
        "a department's history": lambda: console.history(zhang, month, 2),
        "a search of the text": lambda: console.history(chen, searched, 1),
        "a search by unit": lambda: console.history(zhang, by_unit, 1),
        "the export": lambda: console.history_for_export(chen, searched),
    }
    for name, run in paths.items():
        async with capture() as captured:
            found = await run()
        reads = captured.reads_of_growing_tables()
        assert reads, f"{name}: no read of {GROWING} was captured"
        for sql, values in reads:
            problems = await plan_problems(store, sql, values)
            assert problems == [], f"{name}: {problems} in\n{sql}\n{values}"
        tickets = found.tickets if isinstance(found, console.History) else found
        # The seeded tickets name no unit: only the search by one finds none.
        assert bool(tickets) is (name != "a search by unit"), name
