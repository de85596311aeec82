#!/usr/bin/env python3
"""What one run of the escalation job costs as the backlog of late tickets grows (issue 17).

usage: python benchmarks/escalation.py [--backend sqlite|postgres] [--database URL]
       [--backlog 0,10000,30000,100000] [--runs 5]

The store is EMPTIED (PostgreSQL: its public schema dropped and made again; by default
postgres://postgres@127.0.0.1:5432/bench_escalation; SQLite: a new file in a temporary folder)
and migrated. An estate (`demo`, 20 owners, a staff chat, the default steps +0, +30 min, +2 h)
is made, then, for each BACKLOG in turn, tickets are bulk-inserted until the store holds that
many late tickets nobody has handled: open (half of them claimed after the response time), each
past its response time by a random span of one minute to 30 days (and past its completion time
a day later), with every escalation step due by now already recorded, as if the job had run
every minute since. That is the store a long-running estate with a backlog gives the job every
minute (and `benchmarks/load.py`'s soak, which never handles a ticket).

For each backlog the job (`bot.core.desk.escalate_overdue`) runs RUNS times at the same moment
(each raises nothing: every step due is recorded); printed: the median time of a run, the
statements it sent (`models.querycount`), the rows of tickets it made into models, and the
peak of the memory it allocated (tracemalloc, in one more run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tortoise.connection import get_connection  # noqa: E402

from benchmarks.load import (  # noqa: E402
    DEFAULT_POSTGRES,
    MODEL,
    TICKET_COLUMNS,
    _copy,
    _insert_many,
    empty_store,
    seed_estate,
    ticket_row,
)
from bot.core.channel import ChannelHub  # noqa: E402
from bot.core.clock import FixedClock  # noqa: E402
from bot.core.context import Services  # noqa: E402
from bot.core.desk import DEFAULT_STEPS, escalate_overdue  # noqa: E402
from bot.core.i18n import Catalogues  # noqa: E402
from bot.core.nlu import NLU  # noqa: E402
from bot.core.notifier import Notifier  # noqa: E402
from bot.core.reference import EstateCache  # noqa: E402
from models import Chat, ChatKind, Escalation, Platform, Ticket  # noqa: E402
from models.querycount import count_queries  # noqa: E402
from models.store import close_store, open_store  # noqa: E402

STEPS = tuple(timedelta(minutes=m) for m in DEFAULT_STEPS)  # the estate's own
ESCALATION_COLUMNS = "id ticket_id breach deadline level at".split()


def late_rows(
    first: int, count: int, estate_id: int, owners: list[tuple[int, int]], now: datetime
) -> tuple[list[tuple], list[tuple]]:
    """`count` late tickets from id `first` on, and the escalations every step due by `now`
    raised for them."""
    rng = random.Random(first)
    tickets: list[tuple] = []
    escalations: list[tuple] = []
    for i in range(first, first + count):
        owner_id, unit_id = owners[rng.randrange(len(owners))]
        late_by = timedelta(minutes=1) + timedelta(seconds=rng.random() * 30 * 86400)
        responded_by = now - late_by
        created = responded_by - timedelta(minutes=15)
        resolved_by = created + timedelta(hours=24)
        claimed = rng.random() < 0.5
        user = f"owner-{owner_id}"
        tickets.append(
            ticket_row(
                id=i,
                estate_id=estate_id,
                number=f"R-{i:06d}",
                kind="repair",
                department="engineering",
                status="claimed" if claimed else "open",
                owner_id=owner_id,
                unit_id=unit_id or None,
                reporter_unit_id=unit_id or None,
                source_chat_id=f"private:{user}",
                source_message_id=f"late-{i}",
                reporter_id=user,
                text="厨房水管漏水了",
                created_at=created,
                claimed_at=responded_by if claimed else None,
                due_response_at=responded_by,
                due_resolve_at=resolved_by,
            )
        )
        # A claimed ticket owes no response.
        breaches = [("response", responded_by)] if not claimed else []
        breaches.append(("resolve", resolved_by))
        for breach, deadline in breaches:
            for level, step in enumerate(STEPS):
                if deadline + step <= now:
                    escalations.append((breach, deadline, level, deadline + step, i))
    return tickets, escalations


async def grow(
    url: str, held: int, backlog: int, estate_id: int, owners: list[tuple[int, int]], now: datetime
) -> None:
    """Insert late tickets until `backlog` are held (`held` are already)."""
    conn = get_connection("default")
    chunk = 50_000
    last = await Escalation.all().order_by("-id").first()
    escalation_id = last.id if last else 0
    for first in range(held + 1, backlog + 1, chunk):
        count = min(chunk, backlog + 1 - first)
        tickets, raised = late_rows(first, count, estate_id, owners, now)
        escalations = []
        for breach, deadline, level, at, ticket_id in raised:
            escalation_id += 1
            escalations.append((escalation_id, ticket_id, breach, deadline, level, at))
        if url.startswith("postgres"):
            await _copy(conn, "ticket", TICKET_COLUMNS, tickets)
            await _copy(conn, "escalation", ESCALATION_COLUMNS, escalations)
        else:
            await _insert_many(conn, "ticket", TICKET_COLUMNS, tickets)
            await _insert_many(conn, "escalation", ESCALATION_COLUMNS, escalations)
    if url.startswith("postgres"):
        for table in ("ticket", "escalation"):  # the ids go on after those written here
            await conn.execute_script(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table})); ANALYZE {table}"
            )


def job_services(now: datetime) -> tuple[Services, Notifier]:
    """What the escalation job is given, at a clock stopped at `now`; its alerts only recorded."""
    clock = FixedClock(now)
    services = Services(
        nlu=NLU.load(MODEL),
        catalogues=Catalogues(),
        clock=clock,
        hub=ChannelHub(),
        cache=EstateCache(clock),
    )
    return services, Notifier(services.hub, clock, queue_only=True)


async def main(args: argparse.Namespace) -> list[dict[str, float]]:
    url = args.database
    if url is None:
        if args.backend == "postgres":
            url = DEFAULT_POSTGRES.rsplit("/", 1)[0] + "/bench_escalation"
        else:
            folder = Path(tempfile.mkdtemp(prefix="guanjia-escalation-"))
            url = f"sqlite://{folder / 'escalation.sqlite3'}"
    await empty_store(url)
    await open_store(url)
    results: list[dict[str, float]] = []
    try:
        estate, owners = await seed_estate(20)
        assert await Chat.filter(estate_id=estate.id, kind=ChatKind.STAFF).exists()
        now = datetime.now(UTC).replace(microsecond=0)
        services, notifier = job_services(now)
        print(f"store: {url.split('@')[-1]}  platform: {Platform.WEBCHAT}")
        print("| late tickets | run (median) | statements | tickets read | peak allocated |")
        print("|---|---|---|---|---|")
        held = 0
        for backlog in (int(b) for b in args.backlog.split(",")):
            await grow(url, held, backlog, estate.id, owners, now)
            held = backlog
            times: list[float] = []
            statements = 0
            for _ in range(args.runs):
                with count_queries() as counted:
                    started = time.perf_counter()
                    raised = await escalate_overdue(now, services, notifier)
                    times.append(time.perf_counter() - started)
                if raised:
                    raise SystemExit(f"the run raised {raised}: the seed left a step due")
                statements = counted.total
            with tickets_made() as made:
                tracemalloc.start()
                await escalate_overdue(now, services, notifier)
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
            read = made[0]
            result = {
                "late": backlog,
                "ms": statistics.median(times) * 1000,
                "statements": statements,
                "read": read,
                "peak_mb": peak / 2**20,
            }
            results.append(result)
            print(
                f"| {backlog:,} | {result['ms']:.1f} ms | {statements} | {read:,} "
                f"| {result['peak_mb']:.1f} MB |",
                flush=True,
            )
        if args.json:
            print(json.dumps(results))
        return results
    finally:
        await close_store()


@contextlib.contextmanager
def tickets_made() -> Iterator[list[int]]:
    """Counts, in the list it gives, the tickets made from rows within the block
    (`Ticket._init_from_db`), however the job reads them."""
    made = [0]
    original = Ticket._init_from_db.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Ticket], **kwargs: object) -> Ticket:
        made[0] += 1
        return original(cls, **kwargs)  # type: ignore[no-any-return]

    Ticket._init_from_db = classmethod(counted)  # type: ignore[method-assign,assignment]
    try:
        yield made
    finally:
        del Ticket._init_from_db  # Model's own again


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--database", help="the store's URL (EMPTIED first)")
    parser.add_argument("--backlog", default="0,10000,30000,100000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
