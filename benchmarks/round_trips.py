#!/usr/bin/env python3
"""Round trips and time per message, by kind, with 0 or N open tickets in the store (issue 17).

usage: python benchmarks/round_trips.py [--open 0 10000] [--messages 60] [--database URL]
       [--model data/nlu/model.pkl] [--json]

For each count of open tickets, a fresh store gets the test desk's estate (tests/desk.py: units,
owners, staff, an owner group and a staff chat), then that many open repair tickets reported in
the last hour (bulk-inserted; each with its kept duplicate-check features when the code keeps
them), all in building 3 and half of them at its lift: the worst case for the duplicate check,
whose candidates are the open tickets of the same kind at the same place within the hour. Then
MESSAGES messages of each kind go through the real router (one at a time, in the owner group):

* `open`: a repair at a place nobody reported yet (a new ticket);
* `join`: the lift fault of building 3 that one owner reported (unmeasured) just before, from
  another owner each time: it joins that ticket, or the seeded one of the same words (its
  candidates are every open lift ticket of building 3 of the last hour);
* `enquiry`: a question the FAQ answers;
* `other`: chit-chat.

Printed per kind: the mean round trips to the store a message took (models/querycount.py: every
driver call, BEGIN and COMMIT included, and the after-commit card id and reply-row deletion),
and the median and 90th percentile milliseconds a message took, from `Router.handle` called to
returned (the replies are sent to an in-memory channel).

The store is a new SQLite file in a temporary folder by default. `--database postgres://…`
uses PostgreSQL instead: that database is EMPTIED for each count (`DROP SCHEMA public CASCADE`),
so give one that is yours to empty.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.nlu import NLU  # noqa: E402
from bot.core.types import IncomingMessage  # noqa: E402
from models import Department, Platform, Ticket, TicketKind, TicketStatus  # noqa: E402
from models.querycount import count_queries  # noqa: E402
from models.store import close_store, open_store  # noqa: E402
from tests.desk import OWNERS, Desk, build_desk  # noqa: E402

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
SEED_TEXTS = (
    "3号楼电梯按钮不亮了",
    "3号楼电梯门关不上",
    "3号楼电梯里的灯坏了",
    "3号楼电梯有异响",
    "3号楼楼道灯不亮",
    "3号楼地下车库漏水",
    "3号楼大堂门禁坏了",
    "3号楼楼道墙皮脱落",
)
PLACES = ("stairwell", "lobby", "garage", "roof", "corridor", "lift")
KINDS = ("open", "join", "enquiry", "other")


async def _reset_postgres(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await connection.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    finally:
        await connection.close()


async def _seed(desk: Desk, nlu: NLU, count: int) -> None:
    """COUNT open repairs of the last hour in building 3: half at its lift, half elsewhere."""
    keeps = "features" in Ticket._meta.fields_map
    features = {text: nlu.match_features(text) for text in SEED_TEXTS} if keeps else {}
    batch: list[Ticket] = []
    for n in range(count):
        text = SEED_TEXTS[n % len(SEED_TEXTS)]
        place = "lift" if n % 2 == 0 else PLACES[n % (len(PLACES) - 1)]
        at = NOW - timedelta(minutes=50) + timedelta(seconds=n % 2400)
        values = {
            "estate_id": desk.estate.id,
            "number": f"S-{n:06d}",
            "kind": TicketKind.REPAIR,
            "department": Department.ENGINEERING,
            "status": TicketStatus.OPEN,
            "location_place": place,
            "location_building": "3",
            "source_platform": Platform.WEBCHAT,
            "source_chat_id": OWNERS.chat_id,
            "source_message_id": f"seed-{n}",
            "reporter_id": f"seed-{n}",
            "text": text,
            "created_at": at,
            "due_response_at": at + timedelta(hours=1),
            "due_resolve_at": at + timedelta(hours=24),
        }
        if keeps:
            values["features"] = features[text]
        batch.append(Ticket(**values))
        if len(batch) == 1000:
            await Ticket.bulk_create(batch)
            batch = []
    if batch:
        await Ticket.bulk_create(batch)


def _messages(kind: str, n: int) -> tuple[str, str]:
    """The text and sender of the n-th message of a kind."""
    if kind == "open":
        building = 20 + n  # a building of its own: never a duplicate
        return f"{building}号楼{n % 9 + 1}单元楼道灯坏了，晚上一片黑", f"u-open-{n}"
    if kind == "join":
        # The fault FIRST_REPORT reported, at the place every seeded lift ticket is.
        return "3号楼电梯按钮又不亮了，按了没反应", f"u-join-{n}"
    if kind == "enquiry":
        return "请问物业办公时间是几点到几点", f"u-ask-{n}"
    return "谢谢你们，辛苦了", f"u-chat-{n}"


FIRST_REPORT = "3号楼电梯按钮不亮了"


async def _measure(desk: Desk, kind: str, count: int) -> dict[str, float]:
    trips: list[int] = []
    millis: list[float] = []
    if kind == "join":
        await desk.say(FIRST_REPORT, "u-join-first")  # what the others join (or a seed's twin)
    for n in range(count):
        text, sender = _messages(kind, n)
        # Each sender once spoke before (not a first contact), outside the measurement.
        await desk.say("你好", sender, message_id=f"hello-{kind}-{n}")
        message = IncomingMessage(
            chat=OWNERS,
            sender_id=sender,
            sender_name=sender,
            text=text,
            message_id=f"m-{kind}-{n}",
            received_at=desk.clock.now(),
        )
        with count_queries() as counted:
            started = time.perf_counter()
            await desk.router.handle(message, desk.channel)
            millis.append((time.perf_counter() - started) * 1000)
        trips.append(counted.total)
        desk.channel.clear()
    millis.sort()
    return {
        "round_trips": round(statistics.mean(trips), 1),
        "ms_p50": round(statistics.median(millis), 2),
        "ms_p90": round(millis[int(len(millis) * 0.9) - 1], 2),
    }


async def run(
    open_counts: list[int], messages: int, database: str | None, load_nlu: Callable[[], NLU]
) -> dict[int, dict[str, dict[str, float]]]:
    nlu = load_nlu()
    results: dict[int, dict[str, dict[str, float]]] = {}
    for count in open_counts:
        with tempfile.TemporaryDirectory() as folder:
            url = database or f"sqlite://{Path(folder) / 'bench.sqlite3'}"
            if url.startswith("postgres"):
                await _reset_postgres(url)
            await open_store(url)
            try:
                desk = await build_desk(nlu, NOW)
                await _seed(desk, nlu, count)
                await desk.say("你好", "u-warmup")  # the first message loads what is lazy
                results[count] = {kind: await _measure(desk, kind, messages) for kind in KINDS}
            finally:
                await close_store()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, nargs="+", default=[0, 10_000])
    parser.add_argument("--messages", type=int, default=60)
    parser.add_argument("--database", default=None)
    parser.add_argument("--model", type=Path, default=ROOT / "data" / "nlu" / "model.pkl")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    def load_nlu() -> NLU:
        return NLU.load(args.model)

    results = asyncio.run(run(args.open, args.messages, args.database, load_nlu))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'open tickets':>12} {'kind':>8} {'round trips':>12} {'ms p50':>8} {'ms p90':>8}")
    for count, kinds in results.items():
        for kind, figures in kinds.items():
            print(
                f"{count:>12} {kind:>8} {figures['round_trips']:>12} "
                f"{figures['ms_p50']:>8} {figures['ms_p90']:>8}"
            )


if __name__ == "__main__":
    main()
