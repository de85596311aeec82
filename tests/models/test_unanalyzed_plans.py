"""The duplicate check reads a bounded number of tickets on PostgreSQL even when the ticket table
has never been analyzed (issue 17): a store that starts empty and grows on a server whose
autovacuum is off has no statistics for the planner to go by, and a plan chosen without them
once read every ticket of the estate since the window began, for each report.

The store here is migrated into a schema of its own, so its tables are new, as an empty store's
are: no ANALYZE has run on them (the shared test schema's have been, by other tests, and a
TRUNCATE keeps the column statistics), and autovacuum, if the server runs it, is off for them.
The estate holds many tickets within the window, most closed or of other faults; a repair report,
the same report again, and a report of no place (compared only with its sender's) go through the
router, and the candidate queries they sent are run by EXPLAIN ANALYZE with the plan made for
their values and with the generic plan.

The candidates are the open tickets of the fault at the report's place: the index holds the
four place columns before the time, and the check compares all four (those that do not place
the ticket as NULL or empty). With thousands of open tickets of the same kind and department at
other places, a report at a flat, at a common place of a building, at one of no building, and
at a flat the estate does not have each reads about as many tickets as there are at its place.

A report of no place is compared only with its sender's open tickets: with thousands of open
tickets of its fault and no place reported by others, it reads the sender's few reports through
their index and each one's ticket by id, about as many rows of each as the sender's reports."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from tortoise.connection import get_connection
from tortoise.transactions import in_transaction

from bot.core.nlu import NLU
from handlers.tickets import SAME_FAULT_WINDOW
from models import (
    Building,
    Department,
    Ticket,
    TicketKind,
    TicketReporter,
    TicketStatus,
    Unit,
    unit_label,
)
from models.statements import analyze, refresh_statistics
from models.store import close_store, open_store
from tests.conftest import POSTGRES_URL
from tests.desk import Desk, bind, build_desk
from tests.queryplans import (
    SENDER,
    SENDER_OPEN,
    Captured,
    bind_people,
    capture,
    code_paths,
    explain,
    literals,
    nodes,
    report_by_openers,
    rows_examined,
    seed_unplaced,
    seeded_ticket,
)

# The schema the new store is migrated into, beside the shared `public` one.
FRESH_SCHEMA = "guanjia_unanalyzed"
TICKETS = 20_000
# The most ticket rows the candidate query may look at: the estate's open tickets of the
# report's kind and department within the window are fewer (see `seed_window`).
MOST_EXAMINED = 500
# Open repairs for engineering within the window at other places than the reports' (other
# flats, other common places, other buildings, unknown flats, no place), and at each report's.
ELSEWHERE = 4_000
AT_PLACE = 6
# The most pages it may read (indexes and tables; about 80 here): a scan that runs through the
# estate's index entries, or the platform's reporters once per candidate, returning few rows,
# reads hundreds or thousands.
MOST_BLOCKS = 250


async def _on_server(sql: str) -> None:
    """Run a statement on the test database, outside the store."""
    dsn = POSTGRES_URL.replace("postgres://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
async def new_store(store: str) -> AsyncIterator[None]:
    """A store migrated into a new schema (the shared one is open again afterwards)."""
    assert store == "postgres"
    await close_store()
    await _on_server(
        f'DROP SCHEMA IF EXISTS "{FRESH_SCHEMA}" CASCADE; CREATE SCHEMA "{FRESH_SCHEMA}"'
    )
    try:
        await open_store(f"{POSTGRES_URL}?schema={FRESH_SCHEMA}")
        # Nothing analyzes it behind the test's back, on a server that runs autovacuum.
        await get_connection("default").execute_script(
            "ALTER TABLE ticket SET (autovacuum_enabled = false); "
            "ALTER TABLE ticket_reporter SET (autovacuum_enabled = false)"
        )
        yield
    finally:
        await close_store()
        await _on_server(f'DROP SCHEMA IF EXISTS "{FRESH_SCHEMA}" CASCADE')
        await open_store(POSTGRES_URL, upgrade=False)


@pytest.fixture
async def desk(new_store: None, nlu: NLU, now: datetime) -> Desk:
    """The test desk on the new store, its people bound to their chat accounts."""
    built = await build_desk(nlu, now)
    await bind_people(built)
    return built


async def seed_window(desk: Desk, now: datetime) -> int:
    """`TICKETS` tickets of the desk's estate opened over the last two windows, one in twenty
    open or claimed and the rest resolved or closed, of any kind and department, none at a unit.
    Returns how many open or claimed repairs for engineering the last window holds."""
    rng = random.Random(17)
    start = now - 2 * SAME_FAULT_WINDOW
    tickets = []
    for i in range(TICKETS):
        created = start + (now - start) * i / TICKETS
        if i % 20 == 0:
            status = rng.choice((TicketStatus.OPEN, TicketStatus.CLAIMED))
        else:
            status = rng.choice((TicketStatus.RESOLVED, TicketStatus.CLOSED))
        tickets.append(
            seeded_ticket(
                desk.estate.id,
                f"S-{i:07d}",
                f"seed-{i}",
                f"u-{i % 500}",
                created,
                kind=rng.choice(list(TicketKind)),
                department=rng.choice(list(Department)),
                status=status,
            )
        )
    await Ticket.bulk_create(tickets, batch_size=2000)
    await report_by_openers(estate_id=desk.estate.id)
    return await Ticket.filter(
        estate_id=desk.estate.id,
        kind=TicketKind.REPAIR,
        department=Department.ENGINEERING,
        status__in=[TicketStatus.OPEN, TicketStatus.CLAIMED],
        created_at__gte=now - SAME_FAULT_WINDOW,
    ).count()


async def never_analyzed() -> bool:
    """Whether PostgreSQL has no statistics of the tables the duplicate check reads: no column
    statistics and no row count (-1), as a new table has."""
    client = get_connection("default")
    rows = await client.execute_query_dict(
        "SELECT c.relname AS name, c.reltuples AS rows, (SELECT count(*) FROM pg_stats s WHERE "
        "s.schemaname = n.nspname AND s.tablename = c.relname) AS columns FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname IN "
        "('ticket', 'ticket_reporter')",
        [FRESH_SCHEMA],
    )
    return len(rows) == 2 and all(row["rows"] < 0 and row["columns"] == 0 for row in rows)


def blocks(node: dict[str, Any]) -> int:
    """The pages a plan node (and those under it) read, from the buffer cache or not."""
    return int(node.get("Shared Hit Blocks", 0)) + int(node.get("Shared Read Blocks", 0))


def summary(plan: dict[str, Any]) -> str:
    return " > ".join(
        f"{node['Node Type']}"
        + (f" using {node['Index Name']}" if "Index Name" in node else "")
        + (f" {node['Scan Direction']}" if "Scan Direction" in node else "")
        + f" ({node.get('Actual Rows')} rows, {node.get('Rows Removed by Filter', 0)} filtered"
        f" x {node.get('Actual Loops')}, {blocks(node)} blocks)"
        for node in nodes(plan)
    )


# What marks the duplicate check's query among the statements captured: its order.
CHECK_ORDER = '"t"."created_at" DESC, "t"."id" DESC LIMIT'


def duplicate_checks(captured: Captured) -> list[tuple[str, list[Any]]]:
    """The duplicate check's queries among what was captured, with their values."""
    reads = captured.reads_of_growing_tables()
    return [(sql, values) for sql, values in reads if CHECK_ORDER in sql]


async def both_plans(sql: str, values: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """The statement's plan for its values ("custom") and without them ("generic": what a
    prepared statement may be run by from its sixth run)."""
    return [
        ("generic" if generic else "custom", await explain(sql, values, generic=generic))
        for generic in (False, True)
    ]


@pytest.mark.server_store
async def test_the_duplicate_check_reads_few_tickets_of_a_never_analyzed_table(
    desk: Desk, now: datetime
) -> None:
    like = await seed_window(desk, now)
    assert 0 < like < MOST_EXAMINED
    recent = await Ticket.filter(estate_id=desk.estate.id).order_by("-id").first()
    assert recent is not None

    await bind("u-wang", desk.owners["wang"])
    async with capture() as captured:
        for _name, run in code_paths(desk, recent, now)[:2]:
            await run()
        # An owner of two flats who says not which: only their own reports are the same.
        await desk.say("马桶堵了", "u-wang")
    # The second report joined the ticket the first opened; the third opened one.
    assert await Ticket.all().count() == TICKETS + 2
    candidates = duplicate_checks(captured)
    # One for a report at a flat, one for a report of no place (by its reporter).
    assert len(candidates) == 2, "the duplicate check's queries were not captured"
    assert '"ticket_reporter"' in candidates[1][0]

    assert await never_analyzed()
    for sql, values in candidates:
        for kind, plan in await both_plans(sql, values):
            examined = rows_examined(plan)["ticket"]
            assert examined < MOST_EXAMINED, (
                f"{kind} plan examined {examined:.0f} tickets: {summary(plan)}\n{sql}\n{values}"
            )
            assert blocks(plan) < MOST_BLOCKS, (
                f"{kind} plan read {blocks(plan)} pages: {summary(plan)}\n{sql}\n{values}"
            )
            print(f"{kind}: {summary(plan)}")
    assert await never_analyzed()


# The reports of the same fault at one place each, with the place: (unit label, place,
# building, unknown flat) as the ticket keeps them.
PLACED_REPORTS = (
    ("3栋2单元501 厨房水管漏水了", ("3-2-501", None, None, "")),
    ("3号楼电梯坏了", (None, "lift", "3", "")),
    ("电梯坏了", (None, "lift", None, "")),
    ("8栋3单元1201 厨房水管漏水了", (None, None, None, "8-3-1201")),
)


async def seed_places(desk: Desk, now: datetime) -> None:
    """`ELSEWHERE` open or claimed repairs for engineering within the window at other places
    than `PLACED_REPORTS`', newer than the `AT_PLACE` at each of theirs: a read through the
    fault's tickets by time alone meets every one of the others first."""
    rng = random.Random(20)
    building, _ = await Building.get_or_create(estate_id=desk.estate.id, name="9")
    await Unit.bulk_create(
        [
            Unit(
                estate_id=desk.estate.id,
                building_id=building.id,
                room=str(room),
                label=unit_label("9", None, str(room)),
            )
            for room in range(101, 301)
        ]
    )
    others = await Unit.filter(estate_id=desk.estate.id).exclude(label="3-2-501")
    places: list[tuple[int | None, str | None, str | None, str]] = []
    for i in range(ELSEWHERE):
        match i % 6:
            case 0 | 1:
                places.append((rng.choice(others).id, None, None, ""))
            case 2:
                # The lift of another building, or another place of building 3.
                other = rng.choice((("lift", "5"), ("corridor", "3"), ("lift", "9")))
                places.append((None, *other, ""))
            case 3:
                places.append((None, rng.choice(("corridor", "gate", "garage")), None, ""))
            case 4:
                places.append((None, None, None, f"8-3-{rng.randrange(100, 1200)}"))
            case _:
                places.append((None, None, None, ""))
    unit = desk.units["3-2-501"]
    asked = [
        (unit.id if label else None, place, building_name, unknown)
        for _text, (label, place, building_name, unknown) in PLACED_REPORTS
    ]
    start = now - SAME_FAULT_WINDOW + timedelta(minutes=1)
    rows = [where for where in asked for _ in range(AT_PLACE)] + places
    tickets = []
    for i, (unit_id, place, building_name, unknown) in enumerate(rows):
        created = start + (now - start) * i / len(rows)
        tickets.append(
            seeded_ticket(
                desk.estate.id,
                f"P-{i:07d}",
                f"place-{i}",
                f"u-{i % 500}",
                created,
                kind=TicketKind.REPAIR,
                department=Department.ENGINEERING,
                status=rng.choice((TicketStatus.OPEN, TicketStatus.CLAIMED)),
                unit_id=unit_id,
                location_place=place,
                location_building=building_name,
                location_unknown=unknown,
            )
        )
    await Ticket.bulk_create(tickets, batch_size=2000)


@pytest.mark.server_store
async def test_the_duplicate_check_reads_only_the_tickets_at_the_place(
    desk: Desk, now: datetime
) -> None:
    await seed_window(desk, now)
    await seed_places(desk, now)

    async with capture() as captured:
        for text, _place in PLACED_REPORTS:
            await desk.say(text, "u-li")
    candidates = duplicate_checks(captured)
    assert len(candidates) == len(PLACED_REPORTS), "the check's queries were not captured"
    # Each report opened a ticket at its place, beside the `AT_PLACE` there.
    unit = desk.units["3-2-501"]
    for _text, (label, place, building_name, unknown) in PLACED_REPORTS:
        assert (
            await Ticket.filter(
                estate_id=desk.estate.id,
                kind=TicketKind.REPAIR,
                department=Department.ENGINEERING,
                unit_id=unit.id if label else None,
                location_place=place,
                location_building=building_name,
                location_unknown=unknown,
                status__in=[TicketStatus.OPEN, TicketStatus.CLAIMED],
            ).count()
            == AT_PLACE + 1
        ), (label, place, building_name, unknown)

    assert await never_analyzed()
    for sql, values in candidates:
        for kind, plan in await both_plans(sql, values):
            examined = rows_examined(plan)["ticket"]
            assert examined <= AT_PLACE + 1, (
                f"{kind} plan examined {examined:.0f} tickets: {summary(plan)}\n{sql}\n{values}"
            )
            assert any(
                node.get("Index Name") == "idx_ticket_open_place" for node in nodes(plan)
            ), f"{kind} plan: {summary(plan)}"
            assert blocks(plan) < 50, (
                f"{kind} plan read {blocks(plan)} pages: {summary(plan)}\n{sql}\n{values}"
            )
            print(f"{kind}: {summary(plan)}")
    assert await never_analyzed()


# Open tickets of the fault with no place within the window, reported by other senders.
UNPLACED_OTHERS = 3_000


def examined_of(plan: dict[str, Any], table: str) -> float:
    """The rows of `table` the plan's scans of it returned or read and dropped, in every loop."""
    return sum(
        (
            node.get("Actual Rows", 0)
            + node.get("Rows Removed by Filter", 0)
            + node.get("Rows Removed by Index Recheck", 0)
        )
        * node.get("Actual Loops", 1)
        for node in nodes(plan)
        if node.get("Relation Name") == table
    )


@pytest.mark.server_store
async def test_a_report_of_no_place_reads_only_the_senders_reports(
    desk: Desk, now: datetime
) -> None:
    await bind(SENDER, desk.owners["wang"])
    await seed_window(desk, now)
    # The sender's report of no place opens a ticket (none like it yet): its kind and department
    # are the fault's. Then thousands of open tickets of it with no place, of other senders.
    text = "马桶堵了"
    await desk.say(text, SENDER)
    first = await Ticket.filter(reporter_id=SENDER).get()
    assert (first.unit_id, first.location_place, first.location_unknown) == (None, None, "")
    reports = await seed_unplaced(desk, now, first.kind, first.department, UNPLACED_OTHERS)
    assert reports == SENDER_OPEN + 3
    before = await Ticket.all().count()

    async with capture() as captured:
        await desk.say(text, SENDER)
    candidates = duplicate_checks(captured)
    assert len(candidates) == 1, "the check's query was not captured"
    [(sql, values)] = candidates
    # The same report again found the sender's ticket (or one of theirs like it): none opened.
    assert await Ticket.all().count() == before

    assert await never_analyzed()
    for kind, plan in await both_plans(sql, values):
        print(f"{kind}: {summary(plan)}")
        tickets = examined_of(plan, "ticket")
        reporters = examined_of(plan, "ticket_reporter")
        assert tickets <= reports, (
            f"{kind} plan examined {tickets:.0f} tickets: {summary(plan)}\n{sql}\n{values}"
        )
        assert reporters <= reports, (
            f"{kind} plan examined {reporters:.0f} reports: {summary(plan)}\n{sql}\n{values}"
        )
        scans = [node["Relation Name"] for node in nodes(plan) if node["Node Type"] == "Seq Scan"]
        assert scans == [], f"{kind} plan: {summary(plan)}"
        assert blocks(plan) < 50, f"{kind} plan read {blocks(plan)} pages: {summary(plan)}"
    assert await never_analyzed()


async def _open_repairs(
    estate_id: int,
    count: int,
    created: datetime,
    where: tuple[int | None, str | None, str | None, str],
    prefix: str,
) -> None:
    """`count` open repairs for engineering at `where` (unit id, place, building, unknown flat),
    opened at `created`, in one transaction whose changes `pg_stat_user_tables` counts as soon
    as it ends."""
    unit_id, place, building, unknown = where
    async with in_transaction() as connection:
        await Ticket.bulk_create(
            [
                seeded_ticket(
                    estate_id,
                    f"{prefix}{i}",
                    f"{prefix}{i}",
                    "u-x",
                    created,
                    kind=TicketKind.REPAIR,
                    department=Department.ENGINEERING,
                    status=TicketStatus.OPEN,
                    unit_id=unit_id,
                    location_place=place,
                    location_building=building,
                    location_unknown=unknown,
                )
                for i in range(count)
            ],
            batch_size=2000,
            using_db=connection,
        )
        await connection.execute_query("SELECT pg_stat_force_next_flush()")


@pytest.mark.server_store
async def test_plans_made_on_a_new_store_are_made_again_once_it_has_grown(
    desk: Desk, now: datetime
) -> None:
    # A prepared statement's generic plan is made once and kept as the table grows (growing
    # invalidates nothing; an ANALYZE does): on a store that starts empty, each connection would
    # run the duplicate check for good by the plan it chose while the tickets were few. One made
    # at 200 tickets reads the estate's tickets by time (its two-column index fits one page,
    # the place index needs two), every open ticket of the window for each report. The
    # recovery round's `refresh_statistics` analyzes the grown table, and the plan is made anew.
    async with capture() as captured:
        for text, _place in PLACED_REPORTS:
            await desk.say(text, "u-li")
    candidates = duplicate_checks(captured)
    assert len(candidates) == len(PLACED_REPORTS), "the check's queries were not captured"
    unit = desk.units["3-2-501"]
    places = [
        (unit.id if label else None, place, building_name, unknown)
        for _text, (label, place, building_name, unknown) in PLACED_REPORTS
    ]
    start = now - SAME_FAULT_WINDOW + timedelta(minutes=1)
    dsn = POSTGRES_URL.replace("postgres://", "postgresql://", 1)
    connection = await asyncpg.connect(
        dsn, timeout=10, server_settings={"search_path": FRESH_SCHEMA}
    )
    try:
        # A new store's first tickets (the reports' were only for their statements).
        await connection.execute("TRUNCATE ticket CASCADE")
        await _open_repairs(desk.estate.id, 200, start, (None, "gate", None, ""), "A-")
        await connection.execute("SET plan_cache_mode = force_generic_plan")
        for i, (sql, values) in enumerate(candidates):
            await connection.execute(f"PREPARE made_young_{i} AS {sql}")
            await connection.fetch(f"EXECUTE made_young_{i}({literals(values)})")
        # Then it grows: AT_PLACE tickets at each report's place, and 4,000 newer elsewhere.
        for i, where in enumerate(places):
            await _open_repairs(desk.estate.id, AT_PLACE, start, where, f"P{i}-")
        later = start + timedelta(minutes=1)
        await _open_repairs(desk.estate.id, ELSEWHERE, later, (None, "gate", None, ""), "B-")
        assert await never_analyzed()

        async def examined() -> list[float]:
            found = []
            for i, (_sql, values) in enumerate(candidates):
                [row] = await connection.fetch(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
                    f"EXECUTE made_young_{i}({literals(values)})"
                )
                found.append(rows_examined(json.loads(row[0])[0]["Plan"])["ticket"])
            return found

        assert max(await examined()) > ELSEWHERE, "the young plans were not the problem shown"
        autovacuum = await connection.fetchval("SHOW autovacuum")
        analyzed = await refresh_statistics(Ticket, TicketReporter)
        if autovacuum == "on":
            assert analyzed == []  # autovacuum's to do: done here as it would
            await analyze(Ticket)
        else:
            assert analyzed == ["ticket"]
            assert await refresh_statistics(Ticket, TicketReporter) == []  # nothing changed
        assert all(rows <= AT_PLACE + 1 for rows in await examined()), await examined()
    finally:
        await connection.close()
