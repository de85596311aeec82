"""The one lifecycle every channel follows (`bot/adapters/lifecycle.py`), and the app's list of
channels (`CHANNELS` in `bot/app.py`): which are built from which settings, in which order, and
which start only once the web server listens."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from tortoise.connection import get_connection
from tortoise.transactions import in_transaction

from bot.adapters.console import Console
from bot.adapters.http import HttpServer
from bot.adapters.lifecycle import ChannelLifecycle
from bot.adapters.webchat import WebChat
from bot.adapters.wechat import WeChatChannel
from bot.adapters.wecom import WeComChannel
from bot.app import CHANNELS, App, Drain, Recovery, start_parts
from bot.config import Settings
from bot.core.types import Platform
from tests.adapters.wx_fake import (
    AES_KEY,
    AGENT_ID,
    APP_ID,
    APP_SECRET,
    CORP_ID,
    CORP_SECRET,
    TOKEN,
)
from tests.desk import Desk


def build_all(settings: Settings, desk: Desk) -> list[ChannelLifecycle]:
    built = [build(settings, desk.services, desk.router) for build in CHANNELS]
    return [channel for channel in built if channel is not None]


async def test_without_platform_settings_only_the_web_chat_is_built(
    desk: Desk, tmp_path: Path
) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    built = build_all(settings, desk)
    assert [channel.platform for channel in built] == [Platform.WEBCHAT]


async def test_every_configured_platform_is_built_in_the_start_up_order(
    desk: Desk, tmp_path: Path
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        telegram_bot_token="7012345678:AAHq3-Zx_realistic0Token9abcdefghijKLM",
        telegram_webhook_url="https://guanjia.example.com/telegram/webhook",
        telegram_webhook_secret="s3cret",
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_token=TOKEN,
        wechat_encoding_aes_key=AES_KEY,
        wecom_corp_id=CORP_ID,
        wecom_agent_id=AGENT_ID,
        wecom_secret=CORP_SECRET,
        wecom_token=TOKEN,
        wecom_encoding_aes_key=AES_KEY,
    )
    built = build_all(settings, desk)
    platforms = [channel.platform for channel in built]
    assert platforms == [Platform.WEBCHAT, Platform.TELEGRAM, Platform.WECHAT, Platform.WECOM]
    # Only Telegram's start (which sets its webhook) waits for the server to listen.
    assert [channel.after_server for channel in built] == [False, True, False, False]
    # The web chat closes its sockets before the server stops; WeChat's and WeCom's callbacks
    # stop after it, so that none arrives while they finish what they hold.
    assert [channel.stops_before_server for channel in built] == [True, True, False, False]
    server = HttpServer(port=0)
    for channel in built:
        channel.mount_on(server)
    paths = {route.resource.canonical for route in server.app.router.routes() if route.resource}
    assert {"/", "/telegram/webhook", "/wechat/callback", "/wecom/callback"} <= paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_parts_stop_in_order_and_those_the_server_calls_drain_together_after_it(
    desk: Desk, tmp_path: Path
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        http_port=free_port(),
        scheduler_enabled=False,
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_token=TOKEN,
        wechat_encoding_aes_key=AES_KEY,
        wecom_corp_id=CORP_ID,
        wecom_agent_id=AGENT_ID,
        wecom_secret=CORP_SECRET,
        wecom_token=TOKEN,
        wecom_encoding_aes_key=AES_KEY,
    )
    app = App(settings=settings, services=desk.services, router=desk.router)
    try:
        await start_parts(app)
        stops = list(reversed(app.started))
    finally:
        for part in reversed(app.started):
            await part.stop()
    kinds = [type(part) for part in stops]
    # The web chat closes its sockets, then the server stops taking requests; then the parts it
    # calls (WeChat's and WeCom's callbacks, the console) finish what they hold, together, and
    # stop, in the reverse order of their starts.
    assert kinds == [Recovery, WebChat, HttpServer, Drain, Console, WeComChannel, WeChatChannel]
    drain = stops[3]
    assert isinstance(drain, Drain)
    assert [type(part) for part in drain.parts] == [WeChatChannel, WeComChannel, Console]
    # The console is a part of the server, not a channel: the hub sends through channels only.
    registered = set(desk.services.hub.platforms)
    assert {Platform.WEBCHAT, Platform.WECHAT, Platform.WECOM} <= registered
    assert not any(isinstance(desk.services.hub.get(p), Console) for p in registered)


class Holding:
    """A part with work in flight until its `done` is set."""

    after_server = False
    stops_before_server = False

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.drained = False

    def mount_on(self, server: HttpServer) -> None:
        pass

    async def start(self) -> None:
        pass

    async def drain(self) -> None:
        await self.done.wait()
        self.drained = True

    async def stop(self) -> None:
        pass


async def test_a_drain_waits_for_every_part_at_once_and_gives_up_after_its_patience(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, second = Holding(), Holding()
    stopping = asyncio.create_task(Drain([first, second]).stop())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not stopping.done()
    second.done.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert second.drained and not stopping.done()
    first.done.set()
    await stopping
    assert first.drained

    stuck = Holding()
    with caplog.at_level(logging.WARNING, logger="guanjia"):
        await Drain([stuck], patience=0).stop()
    assert not stuck.drained
    assert "work still in flight" in caplog.text


def test_a_platform_that_is_not_configured_loads_no_sdk(tmp_path: Path) -> None:
    # In a fresh interpreter: this one has imported every adapter already. openpyxl is loaded
    # when a workbook is read or written, not by the server's modules.
    code = (
        "import sys\n"
        "from bot.app import CHANNELS\n"
        "from bot.config import Settings\n"
        f"settings = Settings(_env_file=None, data_dir={str(tmp_path)!r})\n"
        "built = [build(settings, None, None) for build in CHANNELS[1:]]\n"
        "sdks = ('telegram', 'wechatpy', 'openpyxl')\n"
        "print(built, sorted(m for m in sdks if m in sys.modules))\n"
        "from bot.core.estate_import import read_estate\n"
        "print('openpyxl' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split("\n")[:2] == ["[None, None, None, None, None] []", "False"]


async def test_a_recovery_round_gives_freed_memory_back(desk: Desk) -> None:
    def resident_kb() -> int:
        with open("/proc/self/status", encoding="ascii") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

    recovery = Recovery(desk.router, trim_every=2)
    blocks = [bytearray(b"x" * 100_000) for _ in range(400)]
    pinned = bytearray(b"y" * 100_000)
    del blocks
    before = resident_kb()
    await recovery.run_once()  # the first of two rounds: nothing given back yet
    assert before - resident_kb() < 10_000
    await recovery.run_once()
    assert before - resident_kb() > 20_000
    assert pinned[0] == ord("y")

    # As `guanjia run` makes it: every round gives back what was freed since the one before.
    every_round = Recovery(desk.router)
    for _ in range(2):
        blocks = [bytearray(b"x" * 100_000) for _ in range(400)]
        del blocks
        before = resident_kb()
        await every_round.run_once()
        assert before - resident_kb() > 20_000


async def test_a_recovery_round_analyzes_the_tables_that_grew(desk: Desk, store: str) -> None:
    recovery = Recovery(desk.router)
    if store != "postgres":
        await recovery.run_once()  # SQLite: its planner goes by rules; nothing is analyzed
        rows = await get_connection("default").execute_query_dict(
            "SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'"
        )
        assert rows == []
        return

    async def analyzed() -> int:
        rows = await get_connection("default").execute_query_dict(
            "SELECT analyze_count + autoanalyze_count AS n FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema() AND relname = 'seen_message'"
        )
        return int(rows[0]["n"])

    await recovery.run_once()
    before = await analyzed()
    async with in_transaction() as connection:
        await connection.execute_query(
            "INSERT INTO seen_message (platform, chat_id, message_id, at) "
            "SELECT 'webchat', 'c', 'm-' || g, $1 FROM generate_series(1, 2000) g",
            [desk.clock.now()],
        )
        # Counted where pg_stat_user_tables shows it as soon as the transaction ends.
        await connection.execute_query("SELECT pg_stat_force_next_flush()")
    [[autovacuum]] = (await get_connection("default").execute_query("SHOW autovacuum"))[1]
    await recovery.run_once()
    # Where autovacuum is off, the round analyzes the grown table, as autovacuum would.
    assert await analyzed() == before + (0 if autovacuum == "on" else 1)
    await recovery.run_once()
    assert await analyzed() == before + (0 if autovacuum == "on" else 1)  # nothing changed
