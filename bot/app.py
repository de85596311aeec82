"""The one place that wires settings, store, NLU, router, channels and scheduler together."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from tortoise import Tortoise

from bot.adapters.console import Console
from bot.adapters.http import HttpServer
from bot.adapters.lifecycle import DRAIN_PATIENCE, ChannelBuilder, ChannelLifecycle, WebPart
from bot.adapters.webchat import WebChat, build_webchat, photo_url
from bot.config import Settings
from bot.core import chats, journal
from bot.core.channel import Channel, ChannelHub
from bot.core.clock import Clock, SystemClock
from bot.core.console import ConsoleConfig, session_key
from bot.core.context import Services
from bot.core.heap import give_back_freed
from bot.core.i18n import Catalogues
from bot.core.logsafe import Redactor, install_redaction
from bot.core.nlu import NLU
from bot.core.reference import EstateCache
from bot.core.router import Router
from handlers import build_handlers
from models import Estate
from models.statements import refresh_statistics
from models.store import close_store, open_store

log = logging.getLogger("guanjia")


@dataclass(frozen=True)
class PlatformBuilder:
    """A platform's channel builder, its adapter imported on first use: only a platform that
    may be configured loads its SDK (python-telegram-bot about 20 MB, wechatpy with requests
    about 20 MB). `maybe` is a quick look at the settings; the adapter's own builder decides."""

    module: str
    name: str
    maybe: Callable[[Settings], bool]

    def load(self) -> ChannelBuilder:
        builder: ChannelBuilder = getattr(importlib.import_module(self.module), self.name)
        return builder

    def __call__(
        self, settings: Settings, services: Services, router: Router
    ) -> ChannelLifecycle | None:
        if not self.maybe(settings):
            return None
        return self.load()(settings, services, router)


# Every channel, in the order they are mounted and started: the web chat (always), then each
# platform whose settings are present.
CHANNELS: tuple[ChannelBuilder, ...] = (
    build_webchat,
    PlatformBuilder(
        "bot.adapters.telegram", "build_telegram", lambda s: bool(s.telegram_bot_token)
    ),
    PlatformBuilder("bot.adapters.wechat", "build_wechat", lambda s: s.wechat_enabled),
    PlatformBuilder(
        "bot.adapters.wecom", "build_wecom", lambda s: s.wecom_enabled or bool(s.wecom_robot_keys)
    ),
    PlatformBuilder(
        "bot.adapters.wecom_aibot", "build_wecom_aibot", lambda s: s.wecom_aibot_enabled
    ),
    PlatformBuilder("bot.adapters.wecom_kf", "build_wecom_kf", lambda s: s.wecom_kf_enabled),
)


class Stoppable(Protocol):
    """Something started by the app that must be stopped on the way out."""

    async def stop(self) -> None:
        """Stop it cleanly."""
        ...


@dataclass
class App:
    """The running parts, built by `build_app` and started by `run`."""

    settings: Settings
    services: Services
    router: Router
    started: list[Stoppable] = field(default_factory=list)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ZonedFormatter(logging.Formatter):
    """Log times in the deployment's time zone (TIMEZONE), as cards and notices show them,
    with its UTC offset: `2026-12-07 09:30:00,250 +0800`."""

    def __init__(self, fmt: str, zone: ZoneInfo) -> None:
        super().__init__(fmt)
        self.zone = zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, self.zone)
        if datefmt:
            return moment.strftime(datefmt)
        return f"{moment:%Y-%m-%d %H:%M:%S},{int(record.msecs):03d} {moment:%z}"


def configure_logging(settings: Settings) -> None:
    """Plain, timestamped log lines on standard error, in TIMEZONE, with every secret taken
    out."""
    redactor = install_redaction(Redactor(settings.secret_values()))
    handler = logging.StreamHandler()
    handler.setFormatter(ZonedFormatter(LOG_FORMAT, settings.tz))
    logging.basicConfig(level=settings.log_level, handlers=[handler])
    if redactor.too_short:
        log.warning(
            "secrets shorter than %d characters cannot be redacted from the logs: %s",
            redactor.min_length,
            ", ".join(redactor.too_short),
        )
    for noisy in ("tortoise", "aiosqlite", "asyncpg", "jieba", "httpx", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


async def ensure_demo(settings: Settings, clock: Clock) -> None:
    """Load the demo estate into an empty store, when the settings allow it."""
    if not settings.demo_on_empty or await Estate.exists():
        return
    from bot.core.demo import load_demo

    estate = await load_demo(clock.now().astimezone(settings.tz).date())
    log.info("the store was empty: loaded the demo estate %s (%s)", estate.name, estate.code)


def console_config(settings: Settings) -> ConsoleConfig:
    """Where the staff console is reached, and how long its sign-in links and sessions last."""
    return ConsoleConfig(
        public_url=settings.public_base_url,
        login_minutes=settings.console_login_minutes,
        session_hours=settings.console_session_hours,
    )


async def build_app(settings: Settings, clock: Clock | None = None) -> App:
    """Build the services and the router on an open store."""
    nlu = await asyncio.to_thread(NLU.load, settings.nlu_model_file)
    # Loading built the segmenter's dictionary and the model through large passing buffers.
    give_back_freed()
    clock = clock or SystemClock()
    services = Services(
        nlu=nlu,
        catalogues=Catalogues(default=settings.default_language),
        clock=clock,
        hub=ChannelHub(),
        cache=EstateCache(clock),
        reports_dir=settings.data_dir / "reports",
    )
    handlers = build_handlers(console_config(settings))
    services.ticket_opened.extend(handlers.ticket_opened)
    return App(settings=settings, services=services, router=Router(services, handlers))


async def start_parts(app: App) -> None:
    """Start the channels and the scheduler whose settings are present."""
    settings = app.settings
    # One web server for every HTTP-facing channel: each mounts its routes before it starts.
    server = HttpServer(
        host=settings.http_host,
        port=settings.http_port,
        public_hosts=settings.public_host_names,
    )
    channels: list[ChannelLifecycle] = []
    for build in CHANNELS:
        channel = build(settings, app.services, app.router)
        if channel is not None:
            # Routes go on before the server starts; the demo's only on loopback (see WebChat).
            channel.mount_on(server)
            channels.append(channel)
    demo = any(isinstance(channel, WebChat) and channel.demo for channel in channels)
    key = await session_key(settings.console_secret_key, app.services.clock.now())
    console = Console(
        app.services, console_config(settings), key, photo_url=photo_url if demo else None
    )
    console.mount_on(server)
    parts: list[WebPart] = [*channels, console]
    # A part is ready before the server takes its first request, unless its start needs the
    # server listening (Telegram's webhook).
    early = [part for part in parts if not part.after_server]
    for part in early:
        await start_part(app, part, stopped=not part.stops_before_server)
    # On the way out (the parts stop in reverse): once the server takes no more requests, the
    # parts it calls finish what they hold together, then each stops.
    app.started.append(Drain([part for part in early if not part.stops_before_server]))
    await server.start()
    app.started.append(server)
    # Stopped before the server: the web chat closes its sockets.
    app.started.extend(part for part in early if part.stops_before_server)
    for part in parts:
        if part.after_server:
            await start_part(app, part)
    if demo:
        log.info("web chat: open %s in a browser (a local demo with no login)", server.url)
    log.info(
        "staff console: %s/console/ (staff send /login to the bot in private for a link)",
        settings.public_base_url,
    )
    if not settings.http_on_loopback and not settings.public_url:
        log.warning(
            "PUBLIC_URL is not set while HTTP_HOST %s is not a loopback address: sign-in links "
            "point at %s and the console answers only to %s; set PUBLIC_URL (and PUBLIC_HOSTS) "
            "to the name people reach Guanjia by",
            settings.http_host,
            settings.public_base_url,
            ", ".join(sorted(settings.public_host_names)),
        )
    log.info("channels running: %s", ", ".join(app.services.hub.platforms) or "none")
    # The channels registered their chats as they started: nothing read before that is kept.
    app.services.cache.invalidate()
    recovery = Recovery(app.router, alone=settings.database_url.startswith("sqlite"))
    await recovery.start()
    app.started.append(recovery)
    if settings.scheduler_enabled:
        app.started.append(await start_scheduler(app))


async def start_part(app: App, part: WebPart, *, stopped: bool = True) -> None:
    """Start a part, and register it with the hub if it is a channel; and for the stop, unless
    `stopped` is False (the caller places it among the parts to stop)."""
    await part.start()
    if isinstance(part, Channel):
        app.services.hub.add(part)
    if stopped:
        app.started.append(part)


class Drain:
    """At the stop, after the server: every part the server calls finishes what it holds (a
    WeChat callback's late answer, a handling), all of them at once, for up to `patience`
    seconds; what is left then is cut short by each part's own stop."""

    def __init__(self, parts: list[WebPart], patience: float = DRAIN_PATIENCE) -> None:
        self.parts = parts
        self.patience = patience

    async def stop(self) -> None:
        """Wait for the parts' work in flight, together, within the patience."""
        try:
            await asyncio.wait_for(
                asyncio.gather(*(part.drain() for part in self.parts)), self.patience
            )
        except TimeoutError:
            log.warning(
                "stopping with work still in flight after %.0f s: it is cut short (accepted "
                "messages are finished by the next start)",
                self.patience,
            )


class Recovery:
    """Finishes what a stopped process had taken on (accepted messages, committed replies): at
    start, then every `every` seconds for processes that die while others run, and forgets
    handled messages past their redelivery time. On PostgreSQL whose autovacuum is off, it
    analyzes the tables that changed much since last analyzed (`refresh_statistics`), as
    autovacuum would. Every `trim_every` rounds (every round by default) it also gives the
    memory freed since back to the system (`heap.give_back_freed`): glibc keeps what a busy
    process freed between blocks still in use, and the resident size would otherwise only
    grow with the traffic's peaks. Between two trims the allocator reuses,
    and so touches again, those pages: with a trim every 4th round (2 minutes) the resident
    size rose 10-12 MB before each at 80 msg/s through the web chat."""

    def __init__(
        self, router: Router, every: float = 30.0, *, alone: bool = False, trim_every: int = 1
    ) -> None:
        self.router = router
        self.every = every
        self.trim_every = trim_every
        self._rounds = 0
        # SQLite is one process's store: at start, whatever was held was held by a dead process.
        self.alone = alone
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Recover once now, then keep recovering in the background."""
        await self.run_once(starting=True)
        self._task = asyncio.create_task(self._loop())

    async def run_once(self, *, starting: bool = False) -> None:
        """One round: lapsed messages and replies, then pruning."""
        try:
            handled, replies = await self.router.recover(starting_alone=starting and self.alone)
            if handled or replies:
                log.info("recovered %d message(s) and %d reply(ies)", handled, replies)
            now = self.router.services.clock.now()
            await journal.prune(now)
            await chats.prune_seen(now)
        except Exception:  # the store may be away: try again next round
            log.exception("recovering accepted messages failed")
        try:
            models = Tortoise.apps.get_models_iterable() if Tortoise.apps is not None else ()
            stale = await refresh_statistics(*models)
            if stale:
                log.info("analyzed %s: the server's autovacuum is off", ", ".join(stale))
        except Exception:
            log.exception("analyzing the store's changed tables failed")
        self._rounds += 1
        if self._rounds % self.trim_every == 0:
            started = time.perf_counter()
            give_back_freed()
            log.debug("gave freed memory back in %.1f ms", (time.perf_counter() - started) * 1e3)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await self.run_once()

    async def stop(self) -> None:
        """Stop the background rounds."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def start_scheduler(app: App) -> Stoppable:
    """Compete for the scheduler lease; the process holding it runs the jobs."""
    from bot.core.notifier import Notifier
    from scheduler.runner import ScheduleTimes, build_scheduler

    settings, services = app.settings, app.services
    times = ScheduleTimes(
        timezone=settings.timezone,
        bill_day=settings.bill_day,
        bill_hour=settings.bill_hour,
        notice_hour=settings.notice_hour,
        revisit_hour=settings.revisit_hour,
        grace_hours=settings.notice_grace_hours,
    )
    notifier = Notifier(hub=services.hub, clock=services.clock)
    scheduler = build_scheduler(times, services, notifier, services.clock)
    await scheduler.start()
    return scheduler


async def run(
    settings: Settings, *, ready: Callable[[App], Awaitable[None]] | None = None
) -> None:
    """Run Guanjia until SIGINT or SIGTERM, then stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    web_chat = f"http://{settings.http_host}:{settings.http_port}"
    if settings.http_on_loopback or settings.webchat_demo_unsafe_public:
        log.info("Guanjia starting; the web chat will be at %s", web_chat)
    else:
        log.info("Guanjia starting; its web server will listen on %s", web_chat)
    await open_store(settings.database_url)
    app: App | None = None
    try:
        clock = SystemClock()
        await ensure_demo(settings, clock)
        app = await build_app(settings, clock)
        await start_parts(app)
        log.info("Guanjia is running (time zone %s); Ctrl-C stops it", settings.timezone)
        if ready is not None:
            await ready(app)
        await stop.wait()
        log.info("stopping")
    finally:
        if app is not None:
            for part in reversed(app.started):
                try:
                    await part.stop()
                except Exception:
                    log.exception("stopping %r failed", part)
        await close_store()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
    log.info("stopped")
