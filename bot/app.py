"""The one place that wires settings, store, NLU, router, channels and scheduler together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

from bot.config import Settings
from bot.core.clock import SystemClock
from models import Estate
from models.store import close_store, open_store

log = logging.getLogger("guanjia")


def configure_logging(settings: Settings) -> None:
    """Plain, timestamped log lines on standard error."""
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("tortoise", "aiosqlite", "asyncpg", "jieba"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


async def ensure_demo(settings: Settings) -> None:
    """Load the demo estate into an empty store, when the settings allow it."""
    if not settings.demo_on_empty or await Estate.exists():
        return
    from bot.core.demo import load_demo

    today = SystemClock().now().astimezone(settings.tz).date()
    estate = await load_demo(today)
    log.info("the store was empty: loaded the demo estate %s (%s)", estate.name, estate.code)


async def run(settings: Settings, *, ready: Callable[[], Awaitable[None]] | None = None) -> None:
    """Run Guanjia until SIGINT or SIGTERM, then stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await open_store(settings.database_url)
    try:
        await ensure_demo(settings)
        log.info("Guanjia is running (time zone %s); Ctrl-C stops it", settings.timezone)
        if ready is not None:
            await ready()
        await stop.wait()
        log.info("stopping")
    finally:
        await close_store()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
    log.info("stopped")
