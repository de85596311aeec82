"""Nothing accepted is lost, tried as an operator would meet it: `guanjia run` killed with SIGKILL
in the middle of a burst of web chat messages and started again, and an owner's repair made while
`guanjia import` writes a large estate in another process."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp

from models import InboundMessage, InboundStatus, SeenMessage
from models.store import close_store, open_store
from tests.bot.test_run import free_port, read_until, start

OWNERS = 4
MESSAGES_EACH = 15
KILL_AFTER = 12  # echoes seen by all pages together


async def _page(
    session: aiohttp.ClientSession, url: str, origin: str
) -> aiohttp.ClientWebSocketResponse:
    socket = await session.ws_connect(url, headers={"Origin": origin})
    return socket


async def _frames(socket: aiohttp.ClientWebSocketResponse, kind: str) -> dict:
    while True:
        message = await socket.receive(timeout=30)
        if message.type is not aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"the socket closed: {message}")
        frame = json.loads(message.data)
        if frame.get("type") == kind:
            return frame


def test_a_killed_process_handles_on_restart_what_it_had_accepted(tmp_path: Path) -> None:
    port = free_port()
    env = {"HTTP_PORT": str(port), "SCHEDULER_ENABLED": "false"}
    process = start(tmp_path, **env)
    read_until(process, "Guanjia is running")
    accepted: list[str] = []

    async def burst() -> None:
        origin = f"http://127.0.0.1:{port}"
        url = f"ws://127.0.0.1:{port}/webchat/ws"
        async with aiohttp.ClientSession() as session:
            pages = [await _page(session, url, origin) for _ in range(OWNERS)]
            welcome = await _frames(pages[0], "welcome")
            for other in pages[1:]:
                await _frames(other, "welcome")
            owners = [o for o in welcome["estates"][0]["owners"] if o["units"]][:OWNERS]
            for page, owner in zip(pages, owners, strict=True):
                await page.send_json({"type": "pick", "role": "owner", "id": owner["id"]})
                await _frames(page, "picked")
            chat = f"owners-{welcome['estates'][0]['code']}"
            for index in range(MESSAGES_EACH):
                for page, owner in zip(pages, owners, strict=True):
                    text = f"请问物业几点上班？（{owner['units'][0]} 第{index}次）"
                    await page.send_json({"type": "say", "chat": chat, "text": text})

            async def echoes(page: aiohttp.ClientWebSocketResponse, me: int) -> None:
                while True:
                    frame = await _frames(page, "message")
                    message = frame["message"]
                    if (
                        message["from"]["kind"] == "owner"
                        and message["from"]["id"] == f"owner-{me}"
                    ):
                        accepted.append(message["id"])
                        if len(accepted) >= KILL_AFTER:
                            return

            watchers = [
                asyncio.create_task(echoes(page, owner["id"]))
                for page, owner in zip(pages, owners, strict=True)
            ]
            await asyncio.wait(watchers, return_when=asyncio.FIRST_COMPLETED, timeout=60)
            # Shown in the group means accepted: now the process dies without a word.
            process.send_signal(signal.SIGKILL)
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)

    asyncio.run(burst())
    process.wait(timeout=30)
    assert accepted, "the premise of the test: messages were shown before the kill"

    restart = start(tmp_path, **env)
    log = read_until(restart, "Guanjia is running")
    restart.send_signal(signal.SIGTERM)
    restart.communicate(timeout=60)

    async def check() -> tuple[int, list[str]]:
        await open_store(f"sqlite://{tmp_path}/store.sqlite3", upgrade=False)
        try:
            unhandled = []
            for message_id in accepted:
                row = await InboundMessage.get_or_none(message_id=message_id)
                seen = await SeenMessage.filter(message_id=message_id).count()
                if row is None or row.status is not InboundStatus.DONE or seen != 1:
                    unhandled.append(message_id)
            return await InboundMessage.filter(status=InboundStatus.PENDING).count(), unhandled
        finally:
            await close_store()

    pending, unhandled = asyncio.run(check())
    assert unhandled == [], log
    assert pending == 0


def test_an_import_in_another_process_does_not_lose_an_owners_repair(tmp_path: Path) -> None:
    """SQLite has one writer at a time: the import writes a chunk per transaction and a writer
    waits for the lock, so an owner's repair made while a large import runs is handled."""
    from datetime import UTC, datetime

    from bot.core.nlu import NLU
    from models import Estate, Owner, Ticket
    from tests.desk import ROOT, build_desk

    rows = 20_000
    folder = tmp_path / "big"
    folder.mkdir()
    with (folder / "units.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(
            [["building", "entrance", "room"]]
            + [[str(1 + i // 400), "1", str(101 + i % 400)] for i in range(rows)]
        )
    with (folder / "owners.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(
            [["owner_name", "phone", "units", "language"]]
            + [[f"Owner {i}", "", f"{1 + i // 400}-1-{101 + i % 400}", "zh"] for i in range(rows)]
        )
    url = f"sqlite://{tmp_path}/store.sqlite3"
    nlu = NLU.load(ROOT / "data" / "nlu" / "model.pkl")

    async def scenario() -> tuple[int, list[str], int, str]:
        await open_store(url)
        try:
            desk = await build_desk(nlu, datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
            importing = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "import",
                str(folder),
                "--estate",
                "big",
                cwd=tmp_path,
                env={**os.environ, "DATABASE_URL": url, "DATA_DIR": str(tmp_path)},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            # Once the import's first rows are in, an owner reports a leak.
            deadline = time.monotonic() + 120
            while not await Estate.exists(code="big"):
                if importing.returncode is not None or time.monotonic() > deadline:
                    importing.kill()
                    raise AssertionError("the import never started writing")
                await asyncio.sleep(0.02)
            await desk.say("3栋2单元501 厨房水管漏水了", "u-li")
            # Answered while the import still writes: it got in between the import's chunks.
            written = await Owner.filter(estate__code="big").count()
            tickets = await Ticket.all().count()
            output, _ = await asyncio.wait_for(importing.communicate(), timeout=300)
            result = f"{importing.returncode}\n{output.decode()}"
            return tickets, desk.channel.texts("owners"), written, result
        finally:
            await close_store()

    tickets, said, written, result = asyncio.run(scenario())
    assert result.startswith("0\n"), result
    assert written < rows
    assert tickets == 1
    [reply] = said
    assert "R-0001" in reply and "抱歉" not in reply
