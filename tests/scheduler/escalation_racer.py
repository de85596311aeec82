"""A second Guanjia process for the escalation race test: it runs the staged escalation job on
the same PostgreSQL store at the same moment as the test's own process, and prints what it sent.

Run as `python -m tests.scheduler.escalation_racer DATABASE_URL ISO_MOMENT`; it prints `ready`
once its store is open, waits for a line on standard input, runs, then prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from types import SimpleNamespace

from bot.core.channel import ChannelHub
from bot.core.desk import escalate_overdue
from bot.core.i18n import Catalogues
from bot.core.notifier import Notifier
from bot.core.reference import EstateCache
from bot.core.types import Platform
from models.store import close_store, open_store
from tests.notice_fakes import FakeTime, ScriptedChannel


async def race(url: str, moment: datetime) -> None:
    """Open the store, wait for the start signal, run the job, report what was sent."""
    await open_store(url, upgrade=False)
    try:
        time = FakeTime(moment)
        channel = ScriptedChannel(platform=Platform.WEBCHAT, time=time)
        hub = ChannelHub()
        hub.add(channel)
        notifier = Notifier(hub=hub, clock=time, sleep=time.sleep)
        services = SimpleNamespace(
            catalogues=Catalogues(), hub=hub, clock=time, cache=EstateCache(time)
        )
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        raised = await escalate_overdue(moment, services, notifier)  # type: ignore[arg-type]
        texts = [[message.chat.chat_id, message.text] for message in channel.sent]
        print(json.dumps({"raised": raised, "sent": texts}, ensure_ascii=False), flush=True)
    finally:
        await close_store()


if __name__ == "__main__":
    asyncio.run(race(sys.argv[1], datetime.fromisoformat(sys.argv[2])))
