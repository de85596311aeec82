"""A second Guanjia process for the race test: it runs the bills job on the same PostgreSQL
store at the same moment as the test's own process, and prints the chats it sent to.

Run as `python -m tests.scheduler.racer DATABASE_URL ISO_MOMENT`; it prints `ready` once its
store is open, waits for a line on standard input, runs, then prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from types import SimpleNamespace

from bot.core.channel import ChannelHub
from bot.core.i18n import Catalogues
from bot.core.notifier import Notifier
from bot.core.types import Platform
from models.store import close_store, open_store
from scheduler.jobs import push_bills
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
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        sent = await push_bills(moment, SimpleNamespace(catalogues=Catalogues()), notifier)
        chats = [message.chat.chat_id for message in channel.sent]
        print(json.dumps({"sent": sent, "chats": chats}), flush=True)
    finally:
        await close_store()


if __name__ == "__main__":
    asyncio.run(race(sys.argv[1], datetime.fromisoformat(sys.argv[2])))
