"""The PTB application the Telegram channel runs: its settings, the chat-ordered processing of
updates, and the update queue that keeps each update in the journal before it is queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, BaseUpdateProcessor
from telegram.request import BaseRequest

from bot.adapters.telegram.limits import SEND_RETRIES, NoticeAwareRateLimiter
from bot.adapters.telegram.webhook import DEFAULT_WEBHOOK_PATH

if TYPE_CHECKING:
    from bot.config import Settings


log = logging.getLogger("guanjia.telegram")

ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
MAX_CONCURRENT_UPDATES = 32


class TelegramStartError(Exception):
    """The Telegram channel could not start (a refused token, an unreachable Bot API)."""


@dataclass(frozen=True)
class TelegramConfig:
    """What the Telegram channel needs from the settings."""

    token: str = field(repr=False)
    webhook_url: str = ""
    webhook_secret: str = ""
    api_base_url: str = ""
    file_base_url: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramConfig:
        """The Telegram part of the settings."""
        return cls(
            token=settings.telegram_bot_token,
            webhook_url=settings.telegram_webhook_url,
            webhook_secret=settings.telegram_webhook_secret,
            api_base_url=settings.telegram_api_base_url,
            file_base_url=settings.telegram_file_base_url,
        )

    @property
    def webhook(self) -> bool:
        """Whether updates come by webhook rather than long polling."""
        return bool(self.webhook_url)

    @property
    def webhook_path(self) -> str:
        """The path of the webhook route on the shared server: the webhook URL's path."""
        path = urlsplit(self.webhook_url).path.rstrip("/")
        return path or DEFAULT_WEBHOOK_PATH


def bot_api_url(base: str, suffix: str) -> str:
    """A self-hosted Bot API server's URL as PTB wants it: `http://host:8081` → `.../bot`."""
    base = base.strip().rstrip("/")
    if "{token}" in base or base.endswith(suffix):
        return base
    return base + suffix


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Updates of different chats run side by side; the updates of one chat run in order.

    A group at its 20-a-minute limit then slows only itself, and an owner's two messages are
    never handled out of order.
    """

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: Counter[int] = Counter()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for the chat's earlier updates, then process this one."""
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._users[chat.id] += 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[chat.id] -= 1
            if not self._users[chat.id]:
                del self._users[chat.id]
                del self._locks[chat.id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free."""


class JournalQueue(asyncio.Queue):  # type: ignore[type-arg]
    """PTB's update queue, which keeps each message and button press in the journal before it is
    queued: the Updater confirms updates to Telegram right after queueing them (and a webhook
    answers 200), so from then on the update is accepted and must survive a stop."""

    def __init__(self) -> None:
        super().__init__()
        self.keep: Callable[[Update], Awaitable[bool]] | None = None

    async def put(self, item: object) -> None:
        """Keep the update (when it is a message or a press), then queue it."""
        if isinstance(item, Update) and self.keep is not None:
            try:
                if not await self.keep(item):
                    log.info("dropped Telegram update %s: handled already", item.update_id)
                    return
            except Exception:  # never stall polling: handled now, only not kept
                log.exception("could not keep Telegram update %s", item.update_id)
        await super().put(item)


def build_application(
    config: TelegramConfig,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    update_queue: asyncio.Queue | None = None,  # type: ignore[type-arg]
) -> Application:
    """The PTB application: rate limited, chat-ordered, without an Updater for a webhook."""
    builder: ApplicationBuilder = (
        Application.builder()
        .token(config.token)
        .rate_limiter(NoticeAwareRateLimiter(max_retries=SEND_RETRIES))
        .concurrent_updates(ChatOrderedProcessor())
    )
    if update_queue is not None:
        builder = builder.update_queue(update_queue)
    if config.api_base_url:
        builder = builder.base_url(bot_api_url(config.api_base_url, "/bot"))
    if config.file_base_url:
        builder = builder.base_file_url(bot_api_url(config.file_base_url, "/file/bot"))
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    if config.webhook:
        builder = builder.updater(None)
    return builder.build()
