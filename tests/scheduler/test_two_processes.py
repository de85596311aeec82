"""Two Guanjia processes run the same job on one PostgreSQL store at the same moment: every
owner gets their bill once, every stage of every escalation is raised and sent once. (SQLite in
memory cannot be shared by two processes: the tests run only when GUANJIA_TEST_POSTGRES is set,
as `.ci/run` sets it.)"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Coroutine
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.core.channel import ChannelHub
from bot.core.desk import escalate_overdue
from models import (
    ChatIdentity,
    Delivery,
    DeliveryStatus,
    Department,
    DutyShift,
    Escalation,
    Platform,
    StaffRole,
)
from scheduler.jobs import push_bills
from tests.conftest import POSTGRES_URL
from tests.factories import make_owner, make_staff, make_ticket, make_unit
from tests.scheduler.conftest import Estate4Jobs, at

ROOT = Path(__file__).resolve().parents[2]


async def race(module: str, moment: datetime, job: Coroutine[Any, Any, int]) -> tuple[int, Any]:
    """Run `job` here while `tests.scheduler.<module>` runs the same job in another process at
    `moment`, both let go at once; this process's count and what the other printed (JSON)."""
    other = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"tests.scheduler.{module}",
        POSTGRES_URL,
        moment.isoformat(),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert other.stdin is not None and other.stdout is not None
    try:
        assert (await asyncio.wait_for(other.stdout.readline(), 60)).strip() == b"ready"
        other.stdin.write(b"go\n")
        await other.stdin.drain()
        ours = await job
        theirs = json.loads(await asyncio.wait_for(other.stdout.readline(), 60))
        assert await asyncio.wait_for(other.wait(), 60) == 0
    finally:
        job.close()  # never awaited when the other process did not start
        if other.returncode is None:
            other.kill()
            await other.wait()
    return ours, theirs


@pytest.mark.server_store
async def test_two_processes_racing_on_postgresql_send_each_bill_once(
    jobs_estate: Estate4Jobs, store: str
) -> None:
    assert store == "postgres"
    e = jobs_estate
    users = ["u-li", "u-smith", "u-wang"]
    for label in ("1-1-101", "1-1-102", "2-1-201"):
        await e.bill(label, "2026-12")
    for n in range(120):
        unit = await make_unit(e.estate, "8", "1", f"{1000 + n}")
        owner = await make_owner(e.estate, f"业主{n}", unit)
        await ChatIdentity.create(platform=Platform.WEBCHAT, user_id=f"o{n}", owner_id=owner.id)
        e.units[unit.label] = unit
        await e.bill(unit.label, "2026-12")
        users.append(f"o{n}")
    moment = at(date(2026, 12, 1))
    e.time.set(moment)
    ours, theirs = await race("racer", moment, push_bills(moment, e.services, e.notifier))
    received = Counter(m.chat.chat_id for m in e.channel.sent) + Counter(theirs["chats"])
    assert received == Counter({user: 1 for user in users})
    assert ours + theirs["sent"] == len(users) == 123
    assert await Delivery.filter(kind="bill", status=DeliveryStatus.SENT).count() == 123
    print(f"this process sent {ours}, the other {theirs['sent']}")


@pytest.mark.server_store
async def test_two_processes_escalating_on_postgresql_raise_each_stage_once(
    jobs_estate: Estate4Jobs, store: str
) -> None:
    assert store == "postgres"
    e = jobs_estate
    people = {
        "u-zhang": await make_staff(e.estate, "张工", StaffRole.ENGINEER, Department.ENGINEERING),
        "u-liu": await make_staff(
            e.estate, "刘主管", StaffRole.SUPERVISOR, Department.ENGINEERING
        ),
        "u-sun": await make_staff(
            e.estate, "孙经理", StaffRole.MANAGER, Department.CUSTOMER_SERVICE
        ),
    }
    for user, member in people.items():
        await ChatIdentity.create(platform=Platform.WEBCHAT, user_id=user, staff_id=member.id)
    opened = at(date(2026, 12, 1))
    for n in range(30):
        await make_ticket(e.estate, opened, message_id=f"m{n}")
    # Three hours after: every ticket's response (15 minutes) is late past all three steps.
    moment = opened + timedelta(hours=3)
    await DutyShift.create(
        estate=e.estate,
        department=Department.ENGINEERING,
        staff=people["u-zhang"],
        starts_at=opened,
        ends_at=opened + timedelta(hours=12),
    )
    e.time.set(moment)
    hub = ChannelHub()
    hub.add(e.channel)
    services = SimpleNamespace(
        catalogues=e.services.catalogues, hub=hub, clock=e.services.clock, cache=e.services.cache
    )
    ours, theirs = await race(
        "escalation_racer",
        moment,
        escalate_overdue(moment, services, e.notifier),  # type: ignore[arg-type]
    )
    assert ours + theirs["raised"] == 30 * 3
    assert await Escalation.all().count() == 90
    sent = [(m.chat.chat_id, m.text) for m in e.channel.sent] + [
        (chat, text) for chat, text in theirs["sent"]
    ]
    # Each stage once in the staff chat and once privately to its person: nothing doubled.
    assert len(sent) == len(set(sent)) == 180
    assert Counter(chat for chat, _ in sent) == Counter(
        {"staff": 90, "u-zhang": 30, "u-liu": 30, "u-sun": 30}
    )
    assert await Delivery.filter(kind="escalation", status=DeliveryStatus.SENT).count() == 180
    print(f"this process raised {ours}, the other {theirs['raised']}")
