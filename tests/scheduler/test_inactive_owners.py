"""An owner a register update marked inactive (moved out, sold) hears no bills or reminders."""

from __future__ import annotations

from collections import Counter
from datetime import date

from models import ChatIdentity, Owner
from scheduler import jobs
from tests.scheduler.conftest import Estate4Jobs, at


async def test_an_inactive_owner_gets_no_bills_or_arrears(jobs_estate: Estate4Jobs) -> None:
    e = jobs_estate
    for label in ("1-1-101", "1-1-102", "2-1-201", "2-1-202"):
        await e.bill(label, "2026-01")
    wang = await ChatIdentity.filter(user_id="u-wang").values_list("owner_id", flat=True)
    await Owner.filter(id__in=wang).update(active=False)

    moment = at(date(2026, 1, 1))
    e.time.set(moment)
    await jobs.push_bills(moment, e.services, e.notifier)
    later = at(date(2026, 3, 1), 9, 5)
    e.time.set(later)
    await jobs.remind_arrears(later, e.services, e.notifier)

    received = Counter(m.chat.chat_id for m in e.channel.sent if m.chat.chat_id.startswith("u-"))
    assert "u-wang" not in received
    assert received["u-li"] == 2 and received["u-smith"] == 2
