"""An import, an update and the demo estate leave PostgreSQL with the statistics of the tables
they wrote (units, owners, their link, buildings …): a server whose autovacuum is off, or has not
got to them yet, would otherwise plan every look-up of a unit as a read of the whole table. On
SQLite nothing is analyzed: its planner goes by its rules, as the query-plan tests check.

The shared test schema's tables are emptied by TRUNCATE after each test, which resets their row
count to unknown (-1): a row count that matches the table's rows after the import was set by an
ANALYZE since (a table this small is sampled whole)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tortoise.connection import get_connection

from bot.core.demo import load_demo
from bot.core.estate_import import import_estate
from bot.core.estate_update import update_estate
from tests.core.test_estate_import import good_sheets, write_workbook
from tests.core.test_register_import import (
    BILLS_NOVEMBER,
    december_bills,
    month_register,
    register_rows,
)

# The tables the per-message look-ups read that an import writes, and one more (bills).
LOOKED_UP = ("unit", "owner", "owner_unit", "building", "entrance", "staff", "bill")


async def statistics() -> dict[str, tuple[float, int, int]]:
    """Each of `LOOKED_UP`'s row count as the planner knows it (-1: never analyzed since it was
    emptied), how many rows it has, and how many times it was analyzed (by ANALYZE, not
    autovacuum), on PostgreSQL."""
    client = get_connection("default")
    found = {}
    for table in LOOKED_UP:
        [row] = await client.execute_query_dict(
            "SELECT c.reltuples AS known, s.analyze_count AS analyzed, "
            f'(SELECT count(*) FROM "{table}") AS rows FROM pg_class c '
            "JOIN pg_stat_user_tables s ON s.relid = c.oid "
            "WHERE c.oid = to_regclass($1)",
            [table],
        )
        found[table] = (float(row["known"]), int(row["rows"]), int(row["analyzed"]))
    return found


async def sqlite_statistics() -> list[str]:
    """The tables SQLite holds statistics of (`sqlite_stat1`, which ANALYZE makes)."""
    client = get_connection("default")
    made = await client.execute_query_dict(
        "SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'"
    )
    if not made:
        return []
    rows = await client.execute_query_dict("SELECT DISTINCT tbl FROM sqlite_stat1")
    return sorted(row["tbl"] for row in rows)


def assert_analyzed(
    before: dict[str, tuple[float, int, int]], after: dict[str, tuple[float, int, int]]
) -> None:
    assert after["unit"][1] > 0
    for table in LOOKED_UP:
        known, rows, analyzed = after[table]
        assert known == rows, f"{table}: the planner knows {known} rows of {rows}"
        assert analyzed > before[table][2], f"{table} was not analyzed"


async def test_an_import_leaves_the_statistics_of_the_tables_it_wrote(
    store: str, tmp_path: Path
) -> None:
    path = write_workbook(tmp_path / "estate.xlsx", good_sheets())
    if store == "postgres":
        before = await statistics()
        assert all(known <= 0 for known, _, _ in before.values()), before

    report = await import_estate(path, "sunny", "阳光花园")

    assert (report.units, report.owners, report.staff, report.bills) == (4, 3, 3, 4)
    if store == "postgres":
        assert_analyzed(before, await statistics())
    else:
        assert await sqlite_statistics() == []


async def test_an_update_leaves_the_statistics_of_the_tables_it_changed(
    store: str, tmp_path: Path
) -> None:
    first = write_workbook(
        tmp_path / "11月.xlsx", {"业主档案": register_rows(), "欠费明细": BILLS_NOVEMBER}
    )
    await import_estate(first, "sunny")
    second = write_workbook(
        tmp_path / "12月.xlsx", {"业主档案": month_register(), "欠费明细": december_bills()}
    )
    before = await statistics() if store == "postgres" else {}

    done = await update_estate(second, "sunny")

    # One more owner (and their link to a unit) and one more bill, as the register tests say.
    assert done.written is not None and done.written.owners == 1 and done.written.bills == 1
    if store == "postgres":
        after = await statistics()
        assert_analyzed(before, after)
        assert after["owner"][1] == before["owner"][1] + 1
    else:
        assert await sqlite_statistics() == []


async def test_the_demo_estate_leaves_the_statistics_of_its_tables(store: str) -> None:
    before = await statistics() if store == "postgres" else {}

    await load_demo(date(2026, 11, 23))

    if store == "postgres":
        assert_analyzed(before, await statistics())
    else:
        assert await sqlite_statistics() == []
