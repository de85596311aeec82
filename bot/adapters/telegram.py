"""The Telegram channel: python-telegram-bot 22 updates in, Bot API calls out.

Updates become `IncomingMessage`s for the router; `OutgoingMessage`s become `send_message`,
`send_photo`, `send_document` and `edit_message_text` calls. No business rule lives here: who may
press a button, what a code does, which chat is an estate's staff chat are the router's and the
handlers' to decide.

It runs the real PTB `Application`:

- long polling by default (PTB's `Updater`);
- a webhook when `TELEGRAM_WEBHOOK_URL` is set: the `Updater` is left out (`updater(None)`) and
  the route mounted on the shared aiohttp server puts each update in the application's
  `update_queue`, as PTB's custom-webhook examples do; a request without the secret header is
  refused with 403 and nothing of it is processed.

Every call goes through PTB's `AIORateLimiter` (30 messages a second overall, 20 a minute per
group, retrying a 429 after its `retry_after`). A send that still fails raises `SendError` and is
logged with the chat. Notices (`send_notice`: everything the Notifier sends, to private chats
and groups alike) share the limiter's overall and per-group limits but not its retries: PTB
answers a 429 by holding every send for the `retry_after` and retrying inside the call, after
which the held sends leave together and draw more 429s. The Notifier paces notices itself, so
a notice's 429 goes straight back to it, which holds only that chat and retries the row later.

Updates of different chats are handled side by side, the updates of one chat in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import logging
import re
import warnings
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import web
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest
from telegram.warnings import PTBDeprecationWarning

from bot.adapters.http import HttpServer
from bot.core import chats
from bot.core.channel import NoticeMeta, SendError
from bot.core.context import Services
from bot.core.router import Router
from bot.core.types import (
    Attachment,
    Button,
    ChatRef,
    IncomingMessage,
    OutgoingMessage,
    Platform,
    SentMessage,
)

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger("guanjia.telegram")

T = TypeVar("T")
Callback = ContextTypes.DEFAULT_TYPE

# How often a 429 is retried (after its retry_after) before the send fails with SendError.
SEND_RETRIES = 3
# Telegram takes 4096 characters a message, counted in UTF-16 code units; 200 a toast.
TEXT_LIMIT = 4096
TOAST_LIMIT = 200
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_WEBHOOK_PATH = "/telegram/webhook"
# Update ids remembered to drop a redelivered update; SeenMessage dedups across processes.
RECENT_UPDATES = 4096
MAX_CONCURRENT_UPDATES = 32
COMMAND = re.compile(r"^/([A-Za-z0-9_]+)(?:@([A-Za-z0-9_]+))?")


class NoticeSend:
    """The `rate_limit_args` of a notice's Bot API call: no retries inside the limiter."""

    def __repr__(self) -> str:
        return "NoticeSend()"


NOTICE = NoticeSend()


class NoticeAwareRateLimiter(AIORateLimiter):
    """PTB's `AIORateLimiter`, except that a notice's call is neither retried nor holds others.

    A notice still waits for the overall and per-group limits and for a hold another call's 429
    started. `AIORateLimiter` reads `max_retries=0` as "the default", so a notice is marked with
    its own `rate_limit_args` instead.
    """

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | NoticeSend | None,
    ) -> Any:
        """Run a notice's call once within the limits; anything else as PTB does."""
        if not isinstance(rate_limit_args, NoticeSend):
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )
        chat_id = data.get("chat_id")
        with contextlib.suppress(ValueError, TypeError):
            chat_id = int(chat_id)  # type: ignore[arg-type]
        group: int | str | bool = (
            chat_id
            if (isinstance(chat_id, int) and chat_id < 0) or isinstance(chat_id, str)
            else False
        )
        return await self._run_request(
            chat=chat_id is not None,
            group=group,
            allow_paid_broadcast=bool(data.get("allow_paid_broadcast", False)),
            callback=callback,
            args=args,
            kwargs=kwargs,
        )


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


def utf16_length(text: str) -> int:
    """A text's length as Telegram counts it: in UTF-16 code units (an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


def fit(text: str, limit: int = TEXT_LIMIT) -> str:
    """The longest start of a text that Telegram takes as one message."""
    end = min(len(text), limit)
    while (excess := utf16_length(text[:end]) - limit) > 0:
        # A character is one or two units: dropping excess // 2 never drops too many.
        end -= max(1, excess // 2)
    return text[:end]


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut a long text into messages Telegram accepts, at line breaks where it can."""
    chunks: list[str] = []
    while utf16_length(text) > limit:
        head = fit(text, limit)
        cut = head.rfind("\n")
        if cut <= 0:
            cut = len(head)
        chunks.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text.strip():
        chunks.append(text)
    return chunks


def html_text(text: str) -> str:
    """Text for parse_mode HTML: we write no markup, so every `<`, `>` and `&` is escaped."""
    return html.escape(text, quote=False)


def keyboard(rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    """An inline keyboard of the buttons (None when there are none)."""
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.payload) for b in row] for row in rows]
    )


def language_hint(code: str | None) -> str | None:
    """`zh-hans` → `zh`, `en-US` → `en`: the language part of a Telegram language code."""
    if not code:
        return None
    return code.split("-", 1)[0].lower() or None


def largest_photo(message: Message) -> Attachment | None:
    """The largest size of a message's photo, as an attachment kept by its file_id."""
    if not message.photo:
        return None
    best = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
    return Attachment("photo", best.file_id)


def _is_group(chat_type: str) -> bool:
    return chat_type in (ChatType.GROUP, ChatType.SUPERGROUP)


class TelegramChannel:
    """The Telegram channel: a `Channel` for the core, and PTB's handlers feeding the router."""

    platform = Platform.TELEGRAM
    # The webhook is set once the shared server listens: the Bot API may call it at once.
    after_server = True

    def __init__(
        self,
        config: TelegramConfig,
        router: Router,
        services: Services,
        *,
        request: BaseRequest | None = None,
        get_updates_request: BaseRequest | None = None,
        file_roots: Iterable[Path] = (),
    ) -> None:
        self.config = config
        self.router = router
        self.services = services
        queue = JournalQueue()
        queue.keep = self._keep
        self.application = build_application(
            config, request=request, get_updates_request=get_updates_request, update_queue=queue
        )
        # Local files are sent only from these folders (and the reports folder): a ref in a
        # message is never a way to read any file of the server.
        self.file_roots = tuple(Path(root).resolve() for root in file_roots)
        self._recent: OrderedDict[int, None] = OrderedDict()
        self._add_handlers()

    @classmethod
    def from_settings(
        cls, settings: Settings, router: Router, services: Services
    ) -> TelegramChannel:
        """The channel the settings describe (started by `start`)."""
        return cls(
            TelegramConfig.from_settings(settings),
            router,
            services,
            file_roots=(settings.data_dir,),
        )

    @property
    def bot(self) -> Any:
        """PTB's bot (an `ExtBot`), for sending."""
        return self.application.bot

    # ---- PTB callbacks -------------------------------------------------------------------

    async def _drop_seen_update(self, update: Update, context: Callback) -> None:
        """Stop an update whose update_id was handled already (a redelivery)."""
        if update.update_id in self._recent:
            log.info("dropped a repeated Telegram update %s", update.update_id)
            raise ApplicationHandlerStop
        self._recent[update.update_id] = None
        if len(self._recent) > RECENT_UPDATES:
            self._recent.popitem(last=False)

    async def _on_message(self, update: Update, context: Callback) -> None:
        """A text or a photo from a person, in a group or in private: to the router."""
        message = update.message
        if message is None:
            return
        incoming = self.incoming(message)
        if incoming is not None:
            await self.router.handle(incoming, self, accepted=True)

    async def _keep(self, update: Update) -> bool:
        """Keep a message or a press in the journal as it arrives; False when it was handled."""
        incoming: IncomingMessage | None = None
        if update.message is not None and (update.message.text or update.message.photo):
            incoming = self.incoming(update.message)
        elif update.callback_query is not None:
            incoming = self.pressed(update)
        if incoming is None:
            return True
        return await self.router.accept(incoming)

    def pressed(self, update: Update) -> IncomingMessage | None:
        """The router's view of a button press; None when it has no message or data."""
        query = update.callback_query
        if query is None or query.message is None or query.data is None:
            return None
        user = query.from_user
        if user.is_bot:
            return None
        chat = query.message.chat
        return IncomingMessage(
            chat=ChatRef(Platform.TELEGRAM, str(chat.id), _is_group(chat.type)),
            sender_id=str(user.id),
            sender_name=user.full_name,
            text="",
            # Each press is its own event: a second press on the same card is not a repeat.
            message_id=f"cb:{query.id}",
            received_at=self.services.clock.now(),
            payload=query.data,
            addressed=True,
            language_hint=language_hint(user.language_code),
            replied_to=str(query.message.message_id),
            raw=update,
        )

    async def _on_press(self, update: Update, context: Callback) -> None:
        """A button press: to the router as a payload, then answered with what became of it (a
        toast only the presser sees: done, refused, already claimed …)."""
        query = update.callback_query
        if query is None:
            return
        toast: str | None = None
        incoming = self.pressed(update)
        if incoming is None:
            log.info("ignored a button press %s without a message or data", query.id)
        else:
            toast = await self.router.handle(incoming, self, accepted=True)
        try:
            await query.answer(fit(toast, TOAST_LIMIT) if toast else None)
        except TelegramError as exc:
            # A press answered too late still counts; only the toast is lost.
            log.warning("could not answer button press %s: %s", query.id, exc)

    async def _on_edited(self, update: Update, context: Callback) -> None:
        """An edited message: the original was handled; an edit opens nothing new."""
        message = update.edited_message
        if message is not None:
            log.info(
                "ignored an edit of message %s in Telegram chat %s",
                message.message_id,
                message.chat.id,
            )

    async def _on_membership(self, update: Update, context: Callback) -> None:
        """Guanjia added to or removed from a group: logged; staff register it with /register."""
        change = update.my_chat_member
        if change is None:
            return
        chat = change.chat
        if not _is_group(chat.type):
            # A person blocking or unblocking the bot in private: nothing to learn.
            log.debug("membership change in Telegram %s chat %s", chat.type, chat.id)
            return
        old, new = change.old_chat_member.status, change.new_chat_member.status
        present = (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR)
        if new in present and old not in present:
            known = await chats.find_chat(Platform.TELEGRAM, str(chat.id))
            log.info(
                "Guanjia was added to Telegram %s %r (%s) by %s (%s); %s",
                chat.type,
                chat.title,
                chat.id,
                change.from_user.full_name,
                change.from_user.id,
                f"it is the {known.kind} chat of estate {known.estate_id}"
                if known and known.estate_id is not None
                else "register it with `guanjia chats code` and /register CODE",
            )
        elif new not in present and old in present:
            log.warning(
                "Guanjia was removed from Telegram %s %r (%s) by %s (%s)",
                chat.type,
                chat.title,
                chat.id,
                change.from_user.full_name,
                change.from_user.id,
            )

    async def _on_joined(self, update: Update, context: Callback) -> None:
        """New members in a group: logged when Guanjia is one of them (older clients say so)."""
        message = update.message
        if message is None:
            return
        if any(member.id == self.bot.id for member in message.new_chat_members):
            log.info("Guanjia joined Telegram group %r (%s)", message.chat.title, message.chat.id)

    async def _on_migrate(self, update: Update, context: Callback) -> None:
        """A group became a supergroup: its registration and tickets follow it to the new id."""
        message = update.message
        if message is None:
            return
        if message.migrate_to_chat_id:
            await move_chat(str(message.chat.id), str(message.migrate_to_chat_id))
        elif message.migrate_from_chat_id:
            await move_chat(str(message.migrate_from_chat_id), str(message.chat.id))

    async def _on_error(self, update: object, context: Callback) -> None:
        """Log a failure while handling an update; the bot keeps running."""
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("Telegram update %s failed", update_id, exc_info=context.error)

    def _add_handlers(self) -> None:
        app = self.application
        app.add_handler(TypeHandler(Update, self._drop_seen_update), group=-1)
        app.add_handlers(
            [
                MessageHandler(filters.StatusUpdate.MIGRATE, self._on_migrate),
                MessageHandler(filters.StatusUpdate.NEW_CHAT_MEMBERS, self._on_joined),
                ChatMemberHandler(self._on_membership, ChatMemberHandler.MY_CHAT_MEMBER),
                MessageHandler(filters.UpdateType.EDITED, self._on_edited),
                CallbackQueryHandler(self._on_press),
                MessageHandler(
                    filters.UpdateType.MESSAGE
                    & (filters.ChatType.PRIVATE | filters.ChatType.GROUPS)
                    & (filters.TEXT | filters.PHOTO),
                    self._on_message,
                ),
            ]
        )
        app.add_error_handler(self._on_error)

    # ---- update → IncomingMessage ------------------------------------------------------

    def incoming(self, message: Message) -> IncomingMessage | None:
        """The router's view of a Telegram message; None when it is not for Guanjia."""
        sender = message.from_user
        if sender is None or sender.is_bot:
            log.info(
                "ignored message %s in %s from a bot or a channel",
                message.message_id,
                message.chat.id,
            )
            return None
        text = message.text or message.caption or ""
        username = (self.bot.username or "").lower()
        addressed = False
        command = COMMAND.match(text)
        if command:
            to = command.group(2)
            if to and to.lower() != username:
                log.info("ignored a command for @%s in %s", to, message.chat.id)
                return None
            # `/bind@GuanjiaBot CODE` reads as `/bind CODE`.
            text = f"/{command.group(1)}{text[command.end() :]}"
            addressed = True
        mentions = message.parse_entities(
            [MessageEntity.MENTION]
        ) or message.parse_caption_entities([MessageEntity.MENTION])
        if username and any(value.lower() == f"@{username}" for value in mentions.values()):
            addressed = True
            text = re.sub(rf"@{re.escape(username)}\b", "", text, flags=re.IGNORECASE)
        for entity in (*message.entities, *message.caption_entities):
            if (
                entity.type == MessageEntity.TEXT_MENTION
                and entity.user
                and entity.user.id == self.bot.id
            ):
                addressed = True
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None:
            addressed = addressed or replied.from_user.id == self.bot.id
        photo = largest_photo(message)
        return IncomingMessage(
            chat=ChatRef(Platform.TELEGRAM, str(message.chat.id), _is_group(message.chat.type)),
            sender_id=str(sender.id),
            sender_name=sender.full_name,
            text=text.strip(),
            message_id=str(message.message_id),
            received_at=message.date,
            attachments=(photo,) if photo else (),
            addressed=addressed,
            language_hint=language_hint(sender.language_code),
            replied_to=str(replied.message_id) if replied is not None else None,
            raw=message,
        )

    # ---- webhook -------------------------------------------------------------------------

    async def handle_webhook(self, request: web.Request) -> web.Response:
        """Telegram's webhook call: the secret checked, the update queued for the application."""
        given = request.headers.get(SECRET_HEADER, "")
        expected = self.config.webhook_secret
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            log.warning(
                "refused a Telegram webhook call from %s: %s secret header",
                request.remote,
                "a wrong" if given else "no",
            )
            return web.Response(status=403, text="forbidden")
        if not self.application.running:
            return web.Response(status=503, text="not running")
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            update = Update.de_json(data, self.bot)
        except Exception as exc:
            log.warning("refused a Telegram webhook call that is not an update: %s", exc)
            return web.Response(status=400, text="not an update")
        await self.application.update_queue.put(update)
        return web.Response(text="ok")

    def webhook_routes(self) -> list[web.RouteDef]:
        """The webhook route for the shared server; none when polling."""
        if not self.config.webhook:
            return []
        return [web.post(self.config.webhook_path, self.handle_webhook)]

    def add_routes(self, app: web.Application) -> None:
        """Mount the webhook route on an aiohttp application (before it starts)."""
        app.add_routes(self.webhook_routes())

    def mount_on(self, server: HttpServer) -> None:
        """Mount the webhook route on the shared server (before it starts); none when polling."""
        server.add_routes(self.webhook_routes())

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to the Bot API, then poll or set the webhook (TelegramStartError if not)."""
        try:
            await self.application.initialize()
            await self.application.start()
            if self.config.webhook:
                await self.bot.set_webhook(
                    url=self.config.webhook_url,
                    secret_token=self.config.webhook_secret,
                    allowed_updates=list(ALLOWED_UPDATES),
                    drop_pending_updates=False,
                )
            else:
                updater = self.application.updater
                assert updater is not None
                await updater.start_polling(
                    allowed_updates=list(ALLOWED_UPDATES), drop_pending_updates=False
                )
        except (TelegramError, OSError) as exc:
            await self.stop()
            # PTB's messages may quote the token: never let it reach a log or a terminal.
            reason = str(exc).replace(self.config.token, "<TELEGRAM_BOT_TOKEN>")
            if isinstance(exc, InvalidToken):
                reason = "the Bot API refused TELEGRAM_BOT_TOKEN; check it with @BotFather"
            raise TelegramStartError(f"the Telegram channel did not start: {reason}") from None
        log.info(
            "Telegram channel running as @%s (%s)",
            self.bot.username,
            f"webhook {self.config.webhook_path}" if self.config.webhook else "long polling",
        )

    async def drain(self) -> None:
        """Wait until every update received so far has been handled."""
        await self.application.update_queue.join()

    async def stop(self) -> None:
        """Stop polling, finish the updates in hand, and close the connections."""
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    # ---- Channel -----------------------------------------------------------------------------

    def private_chat(self, user_id: str) -> ChatRef:
        """A user's private chat with the bot: on Telegram its id is the user's id."""
        return ChatRef(Platform.TELEGRAM, user_id, is_group=False)

    async def send_notice(self, message: OutgoingMessage, notice: NoticeMeta) -> SentMessage:
        """Send a notice (private or to a group) the notifier paces and retries: the limiter
        neither retries it nor holds other calls for it."""
        return await self.send(message, notice=True)

    async def send(self, message: OutgoingMessage, *, notice: bool = False) -> SentMessage:
        """Send text (with its buttons and the message it quotes), then photos and files.

        Photos and files are Telegram file_ids or local paths (a report's chart and workbook).
        A notice's calls are not retried by the rate limiter (see `NoticeAwareRateLimiter`).
        """
        limit = NOTICE if notice else None
        markup = keyboard(message.buttons)
        reply = _reply_parameters(message.reply_to)
        chunks = split_text(message.text)
        sent: Message | None = None
        for index, chunk in enumerate(chunks):
            sent = await self._call(
                message.chat,
                "send_message",
                partial(
                    self._send_text,
                    text=chunk,
                    markup=markup if index == len(chunks) - 1 else None,
                    reply=reply if index == 0 else None,
                    limit=limit,
                ),
            )
        for attachment in (*message.photos, *message.attachments):
            alone = sent is None
            try:
                media = await self._call(
                    message.chat,
                    f"send {attachment.kind}",
                    partial(
                        self._send_media,
                        attachment=attachment,
                        markup=markup if alone else None,
                        reply=reply if alone else None,
                        limit=limit,
                    ),
                )
            except SendError:
                if sent is None:
                    raise
                # The text went out: a photo that cannot follow it must not make it go again.
                continue
            sent = sent or media
        if sent is None:
            raise SendError(f"nothing to send to Telegram chat {message.chat.chat_id}")
        return SentMessage(
            chat=ChatRef(Platform.TELEGRAM, str(sent.chat_id), message.chat.is_group),
            message_id=str(sent.message_id),
        )

    async def edit(self, sent: SentMessage, message: OutgoingMessage) -> SentMessage:
        """Replace a message's text and buttons; one that cannot be edited is sent anew."""
        text = html_text(fit(message.text))
        markup = keyboard(message.buttons)

        async def call(chat_id: int) -> bool:
            try:
                await self.bot.edit_message_text(
                    text,
                    chat_id=chat_id,
                    message_id=int(sent.message_id),
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                )
            except BadRequest as exc:
                reason = exc.message.lower()
                if "not modified" in reason:
                    return True
                if "not found" in reason or "can't be edited" in reason:
                    return False
                raise
            return True

        if not sent.message_id.isdigit():
            return await self.send(message)
        if await self._call(sent.chat, "edit_message_text", call):
            return sent
        log.info("message %s in %s can no longer be edited: sent anew", sent.message_id, sent.chat)
        return await self.send(message)

    async def _send_text(
        self,
        chat_id: int,
        *,
        text: str,
        markup: InlineKeyboardMarkup | None,
        reply: ReplyParameters | None,
        limit: NoticeSend | None = None,
    ) -> Message:
        return await self.bot.send_message(
            chat_id,
            html_text(text),
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            reply_parameters=reply,
            rate_limit_args=limit,
        )

    async def _send_media(
        self,
        chat_id: int,
        *,
        attachment: Attachment,
        markup: InlineKeyboardMarkup | None,
        reply: ReplyParameters | None,
        limit: NoticeSend | None = None,
    ) -> Message:
        media: Any = self._local_file(attachment.ref) or attachment.ref
        if attachment.kind == "photo":
            return await self.bot.send_photo(
                chat_id, media, reply_markup=markup, reply_parameters=reply, rate_limit_args=limit
            )
        return await self.bot.send_document(
            chat_id, media, reply_markup=markup, reply_parameters=reply, rate_limit_args=limit
        )

    def _local_file(self, ref: str) -> Path | None:
        """The local file a ref names (None for a file_id); only inside the allowed folders."""
        # A Telegram file_id is URL-safe base64: it never holds a slash, a path always does.
        if "/" not in ref and "\\" not in ref:
            return None
        path = Path(ref).resolve()
        roots = (*self.file_roots, Path(self.services.reports_dir).resolve())
        if path.is_file() and any(path.is_relative_to(root) for root in roots):
            return path
        log.warning("refused to send %s: not a file in %s", ref, ", ".join(map(str, roots)))
        raise SendError(f"{ref} is not a file Guanjia may send")

    async def _call(self, chat: ChatRef, what: str, call: Callable[[int], Awaitable[T]]) -> T:
        """Make one Bot API call for a chat, following a migrated group, mapping failures."""
        try:
            chat_id = int(chat.chat_id)
        except ValueError:
            raise SendError(f"{chat.chat_id!r} is not a Telegram chat id") from None
        try:
            try:
                return await call(chat_id)
            except ChatMigrated as moved:
                await move_chat(str(chat_id), str(moved.new_chat_id))
                return await call(moved.new_chat_id)
        except RetryAfter as exc:
            wait = _seconds(exc)
            log.warning(
                "Telegram %s to chat %s: flood limit, retry after %ss", what, chat_id, wait
            )
            raise SendError(f"Telegram flood limit: {exc}", retry_after=wait) from exc
        except BadRequest as exc:
            # BadRequest is a NetworkError in PTB, but Telegram did answer: nothing went out.
            log.warning("Telegram %s to chat %s refused: %s", what, chat_id, exc)
            raise SendError(f"Telegram refused: {exc}") from exc
        except (TimedOut, NetworkError) as exc:
            if _server_answered(exc):
                # An HTTP error status (5xx): Telegram answered, so nothing went out; retry it.
                log.warning("Telegram %s to chat %s failed: %s", what, chat_id, exc)
                raise SendError(f"Telegram answered with an error: {exc}") from exc
            log.warning("Telegram %s to chat %s: no answer: %s", what, chat_id, exc)
            raise SendError(f"Telegram did not answer: {exc}", answered=False) from exc
        except TelegramError as exc:
            log.warning("Telegram %s to chat %s refused: %s", what, chat_id, exc)
            raise SendError(f"Telegram refused: {exc}") from exc
        except OSError as exc:
            log.warning("Telegram %s to chat %s: cannot read the file: %s", what, chat_id, exc)
            raise SendError(f"cannot read the file to send: {exc}") from exc


def _server_answered(exc: NetworkError) -> bool:
    """Whether PTB raised for an HTTP error status, not for a lost connection or a timeout.

    PTB chains transport failures (httpx errors, timeouts) as the exception's cause; an error
    status from the server is raised with no cause (or a JSON parsing error as its cause).
    """
    if isinstance(exc, TimedOut):
        return False
    return exc.__cause__ is None or isinstance(exc.__cause__, TelegramError)


def _reply_parameters(reply_to: str | None) -> ReplyParameters | None:
    """Quote a message by its id; a press (`cb:...`) or a deleted message quotes nothing."""
    if reply_to is None or not reply_to.isdigit():
        return None
    return ReplyParameters(message_id=int(reply_to), allow_sending_without_reply=True)


def _seconds(exc: RetryAfter) -> float:
    """A RetryAfter's wait in seconds, whichever type this PTB version gives it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def build_telegram(
    settings: Settings, services: Services, router: Router
) -> TelegramChannel | None:
    """The Telegram channel, or None when TELEGRAM_BOT_TOKEN is not set."""
    if not settings.telegram_bot_token:
        return None
    return TelegramChannel.from_settings(settings, router, services)


async def move_chat(old: str, new: str) -> bool:
    """Carry a Telegram group's registration, tickets, cards and dialogs over to its new id
    (`bot/core/chats.py`); returns whether a registered chat moved."""
    return (await chats.move_chat(Platform.TELEGRAM, old, new)).registered
