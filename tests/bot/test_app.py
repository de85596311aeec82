"""The app's logging: `configure_logging` takes every secret setting out of every logger's records,
and `guanjia run` at LOG_LEVEL=DEBUG, talking to a fake Bot API, writes none of them."""

from __future__ import annotations

import asyncio
import io
import logging
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from bot.app import configure_logging
from bot.config import Settings
from bot.core.logsafe import installed_redactor
from tests.adapters.fake_bot_api import BOT_USERNAME, FakeBotApi, serve_bot_api
from tests.adapters.test_telegram import LI, Updates, post, private
from tests.adapters.wx_fake import AES_KEY, APP_ID, APP_SECRET, CORP_ID, CORP_SECRET, TOKEN
from tests.bot.test_run import free_port, read_until, start

TG_TOKEN = "7012345678:AAHq3-Zx_realistic0Token9abcdefghijKLM"
WEBHOOK_SECRET = "hook-Secret_42"
ROBOT_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
NOISY = ("tortoise", "aiosqlite", "asyncpg", "jieba", "httpx", "apscheduler")


@pytest.fixture
def logging_state() -> Iterator[None]:
    """What `configure_logging` changes in the process, put back after the test."""
    root = logging.getLogger()
    factory = logging.getLogRecordFactory()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in NOISY}
    yield
    logging.setLogRecordFactory(factory)
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, each in levels.items():
        logging.getLogger(name).setLevel(each)


def test_configure_logging_redacts_every_logger_and_names_short_secrets(
    logging_state: None, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url="postgres://guanjia:db-Pass-w0rd@db.internal:5432/guanjia",
        telegram_bot_token=TG_TOKEN,
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_token="abc",  # too short to redact by value: named in a warning
        wecom_robots=f"demo/owners-1={ROBOT_KEY}",
    )
    caplog.set_level(logging.WARNING, logger="guanjia")
    configure_logging(settings)

    redactor = installed_redactor()
    assert redactor is not None and redactor.too_short == ["WECHAT_TOKEN"]
    assert "cannot be redacted from the logs: WECHAT_TOKEN" in caplog.text
    stream = io.StringIO()
    library = logging.getLogger("some.library.with.its.own.handler")
    handler = logging.StreamHandler(stream)
    library.addHandler(handler)
    library.propagate = False
    try:
        library.error(
            "%s %s %s",
            f"https://api.telegram.org/bot{TG_TOKEN}/getMe",
            settings.database_url,
            APP_SECRET,
        )
    finally:
        library.removeHandler(handler)
        library.propagate = True
    logged = stream.getvalue()
    assert logged == (
        "https://api.telegram.org/bot7012345678:<redacted>/getMe "
        "postgres://guanjia:<redacted>@db.internal:5432/guanjia <WECHAT_APP_SECRET>\n"
    )


async def test_guanjia_run_at_debug_writes_no_secret(tmp_path: Path) -> None:
    api = FakeBotApi(datetime.now(UTC))
    runner = web.AppRunner(serve_bot_api(api, TG_TOKEN))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = free_port()
    secrets = {
        "TELEGRAM_BOT_TOKEN": TG_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "WECHAT_APP_SECRET": APP_SECRET,
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_ENCODING_AES_KEY": AES_KEY,
        "WECOM_SECRET": CORP_SECRET,
        "WECOM_TOKEN": TOKEN,
        "WECOM_ENCODING_AES_KEY": AES_KEY,
        "CONSOLE_SECRET_KEY": "console-key-" + "k" * 40,
    }
    process = start(
        tmp_path,
        LOG_LEVEL="DEBUG",
        HTTP_PORT=str(port),
        SCHEDULER_ENABLED="false",
        TELEGRAM_WEBHOOK_URL="https://guanjia.example.com/telegram/webhook",
        TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{runner.addresses[0][1]}/bot",
        WECHAT_APP_ID=APP_ID,
        WECHAT_API_BASE_URL="http://127.0.0.1:9/cgi-bin/",
        WECOM_CORP_ID=CORP_ID,
        WECOM_AGENT_ID="1000002",
        WECOM_API_BASE_URL="http://127.0.0.1:9/cgi-bin/",
        WECOM_ROBOTS=f"sunshine/owners={ROBOT_KEY}",
        **secrets,
    )
    try:
        log = await asyncio.to_thread(read_until, process, "Guanjia is running")
        # A private message by webhook: handled, answered through the Bot API.
        update = Updates(api.now).message(private(LI), LI, "你好")
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        assert await post(url, update, WEBHOOK_SECRET) == 200
        for _ in range(200):
            if api.of("sendMessage"):
                break
            await asyncio.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = await asyncio.to_thread(process.communicate, timeout=60)
        await runner.cleanup()
    log += rest

    assert process.returncode == 0, rest
    assert f"running as @{BOT_USERNAME}" in log and api.of("sendMessage")
    for name, value in {**secrets, "WECOM_ROBOTS": ROBOT_KEY}.items():
        assert value not in log, name
    assert TG_TOKEN.split(":")[1] not in log
    # PTB wrote its URLs and the webhook's parameters at DEBUG: redacted.
    assert "/bot7012345678:<redacted>" in log
    assert "'secret_token': '<redacted>'" in log
