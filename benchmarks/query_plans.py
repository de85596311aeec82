#!/usr/bin/env python3
"""Query benchmark (issue 17, item 1): what each per-message and per-job code path's reads of
the growing tables cost on a store of many tickets, with and without migration 0014's indexes.

usage: python benchmarks/query_plans.py [--tickets 100000] [--repeat 15] [--database URL]
       [--verbose]

The store is a new SQLite file in a temporary folder by default. `--database
postgres://user@host:5432/db` uses PostgreSQL instead: that database is EMPTIED at the start
(`DROP SCHEMA public CASCADE; CREATE SCHEMA public`), then migrated, so give one that is yours.

It seeds the store as tests/models/test_query_plans.py does (`tests/queryplans.py`: TICKETS
tickets over two years, 70 % of them in one estate, all closed but the last three days', four
events and a sent delivery each), runs each code path once for real (a repair report, the same
report again, the staff queue, the console's boards, a ticket's events, escalation, rating
reminders, the auto-close, the deliveries due, the month report) and captures the SELECTs it
sent that read `ticket`, `ticket_event` or `delivery`. Each captured statement is then run
REPEAT times as it was sent (the same SQL and values) and its median taken; a code path's
figure is the sum of its statements' medians. "after" is with every index; "before" is after
dropping the indexes migration 0014 added (and, on PostgreSQL, ANALYZE), which are then put
back. The statements are those of the code as it now is: where a query was rewritten to use an
index, "before" times the rewritten query without it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from tortoise.connection import get_connection  # noqa: E402

import models  # noqa: E402
from models.store import close_store, open_store  # noqa: E402
from tests.desk import build_desk, load_nlu  # noqa: E402
from tests.queryplans import bind_people, capture, code_paths, seed  # noqa: E402

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
MIGRATION = "models.migrations.0014_query_indexes"
Read = tuple[str, list[Any]]


def new_indexes() -> list[tuple[str, tuple[str, ...]]]:
    """(table, columns) of each index migration 0014 adds."""
    migration = importlib.import_module(MIGRATION).Migration
    found = []
    for operation in migration.operations:
        model = getattr(models, operation.model_name)
        found.append((model._meta.db_table, tuple(operation.index.fields)))
    return found


async def index_definitions(postgres: bool) -> dict[tuple[str, tuple[str, ...]], tuple[str, str]]:
    """Every index of the store: (table, columns) -> (name, the SQL that creates it)."""
    client = get_connection("default")
    found: dict[tuple[str, tuple[str, ...]], tuple[str, str]] = {}
    if postgres:
        rows = await client.execute_query_dict(
            "SELECT t.relname AS table_name, i.relname AS index_name,"
            " pg_get_indexdef(ix.indexrelid) AS definition,"
            " array_agg(a.attname ORDER BY k.ord) AS columns"
            " FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid"
            " JOIN pg_class i ON i.oid = ix.indexrelid"
            " JOIN pg_namespace n ON n.oid = t.relnamespace"
            " CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord)"
            " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum"
            " WHERE n.nspname = current_schema()"
            " GROUP BY t.relname, i.relname, ix.indexrelid"
        )
        for row in rows:
            key = (row["table_name"], tuple(row["columns"]))
            found[key] = (row["index_name"], row["definition"])
        return found
    rows = await client.execute_query_dict(
        "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    )
    for row in rows:
        columns = await client.execute_query_dict(f'PRAGMA index_info("{row["name"]}")')
        key = (row["tbl_name"], tuple(column["name"] for column in columns))
        found[key] = (row["name"], row["sql"])
    return found


async def time_reads(reads: list[Read], repeat: int, verbose: bool) -> float:
    """The sum over `reads` of each one's median time in milliseconds."""
    client = get_connection("default")
    total = 0.0
    for sql, values in reads:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            await client.execute_query(sql, values)
            times.append(time.perf_counter() - started)
        total += statistics.median(times) * 1000
        if verbose:
            print(f"  {statistics.median(times) * 1000:8.2f} ms  {sql[-150:]}")
    return total


async def empty_postgres(url: str) -> None:
    dsn = url.replace("postgres://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        await connection.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    finally:
        await connection.close()


async def run(args: argparse.Namespace) -> None:
    postgres = urlsplit(args.database).scheme in {"postgres", "postgresql"}
    if postgres:
        await empty_postgres(args.database)
    await open_store(args.database)
    try:
        started = time.perf_counter()
        desk = await build_desk(load_nlu(), NOW)
        recent = await seed(desk, NOW, args.tickets)
        await bind_people(desk)
        seeded = time.perf_counter() - started
        paths: list[tuple[str, list[Read]]] = []
        for name, path in code_paths(desk, recent, NOW):
            async with capture() as captured:
                await path()
            paths.append((name, captured.reads_of_growing_tables()))
        after = {name: await time_reads(reads, args.repeat, args.verbose) for name, reads in paths}

        client = get_connection("default")
        every = await index_definitions(postgres)
        dropped = [every[key] for key in new_indexes()]
        for name, _ in dropped:
            await client.execute_script(f'DROP INDEX "{name}"')
        if postgres:
            await client.execute_script("ANALYZE")
        before = {
            name: await time_reads(reads, args.repeat, args.verbose) for name, reads in paths
        }
        for _, definition in dropped:
            await client.execute_script(definition)
        if postgres:
            await client.execute_script("ANALYZE")
    finally:
        await close_store()

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    backend = "PostgreSQL" if postgres else "SQLite"
    print(
        f"{backend}, {args.tickets:,} tickets seeded in {seeded:.0f} s; median of {args.repeat}"
        f" runs per statement; {os.cpu_count()} cores, load average {load}"
    )
    print()
    print("| code path | reads | before (ms) | after (ms) |")
    print("|---|---|---|---|")
    for name, reads in paths:
        print(f"| {name} | {len(reads)} | {before[name]:.2f} | {after[name]:.2f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--database", default="")
    parser.add_argument("--verbose", action="store_true", help="each statement's time")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        if not args.database:
            args.database = f"sqlite://{Path(folder) / 'bench.sqlite3'}"
        asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
