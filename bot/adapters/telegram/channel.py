"""The Telegram channel: a `Channel` for the core, and PTB's handlers feeding the router."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from telegram import Message, Update
from telegram.constants import ChatMemberStatus
from telegram.error import (
    InvalidToken,
    TelegramError,
)
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.adapters.http import HttpServer
from bot.adapters.telegram.application import (
    ALLOWED_UPDATES,
    JournalQueue,
    TelegramConfig,
    TelegramStartError,
    build_application,
)
from bot.adapters.telegram.inbound import is_group, language_hint, to_incoming
from bot.adapters.telegram.limits import (
    TOAST_LIMIT,
    fit,
)
from bot.adapters.telegram.outbound import TelegramSender, move_chat
from bot.adapters.telegram.webhook import handle_webhook
from bot.core import chats
from bot.core.channel import Hearing, NoticeMeta
from bot.core.context import Services
from bot.core.router import Router
from bot.core.types import (
    ChatRef,
    IncomingMessage,
    OutgoingMessage,
    Platform,
    SentMessage,
)

if TYPE_CHECKING:
    from bot.config import Settings


log = logging.getLogger("guanjia.telegram")

Callback = ContextTypes.DEFAULT_TYPE

# Update ids remembered to drop a redelivered update; SeenMessage dedups across processes.
RECENT_UPDATES = 4096


class TelegramChannel:
    """The Telegram channel: a `Channel` for the core, and PTB's handlers feeding the router."""

    platform = Platform.TELEGRAM
    # The webhook is set once the shared server listens: the Bot API may call it at once.
    after_server = True
    stops_before_server = True

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
        self.sender = TelegramSender(
            lambda: self.application.bot, (*file_roots, services.reports_dir)
        )
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
            chat=ChatRef(Platform.TELEGRAM, str(chat.id), is_group(chat.type)),
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
        if not is_group(chat.type):
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
        return to_incoming(message, self.bot)

    # ---- webhook -------------------------------------------------------------------------

    async def handle_webhook(self, request: web.Request) -> web.Response:
        """Telegram's webhook call: the secret checked, the update queued for the application."""
        return await handle_webhook(request, self.config.webhook_secret, self.application)

    def webhook_routes(self) -> list[web.RouteDef]:
        """The webhook route for the shared server; none when polling."""
        if not self.config.webhook:
            return []
        return [web.post(self.config.webhook_path, self.handle_webhook)]

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

    def hears(self, chat: ChatRef) -> Hearing:
        """Everything: a private chat, and a group (the bot reads its messages, and a reply to
        the bot's message reaches it even with privacy mode on)."""
        return Hearing.EVERYTHING

    def sends_local(self, chat: ChatRef, kind: str) -> bool:
        """A local image goes as a photo (`send_photo`), a file as a document (`send_document`),
        to any chat, from the allowed folders (the reports' among them)."""
        return kind in ("photo", "file")

    async def send_notice(self, message: OutgoingMessage, notice: NoticeMeta) -> SentMessage:
        """Send a notice (private or to a group) the notifier paces and retries: the limiter
        neither retries it nor holds other calls for it."""
        return await self.send(message, notice=True)

    async def send(self, message: OutgoingMessage, *, notice: bool = False) -> SentMessage:
        """Send text (with its buttons and the message it quotes), then photos and files (see
        `TelegramSender.send`)."""
        return await self.sender.send(message, notice=notice)

    async def edit(self, sent: SentMessage, message: OutgoingMessage) -> SentMessage:
        """Replace a message's text and buttons; one that cannot be edited is sent anew."""
        return await self.sender.edit(sent, message)


def build_telegram(
    settings: Settings, services: Services, router: Router
) -> TelegramChannel | None:
    """The Telegram channel, or None when TELEGRAM_BOT_TOKEN is not set."""
    if not settings.telegram_bot_token:
        return None
    return TelegramChannel.from_settings(settings, router, services)
