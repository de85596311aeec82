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

The package: `channel` (the `TelegramChannel`: PTB's handlers feeding the router, the lifecycle,
and its builder), `application` (the PTB application, its settings and update queue), `inbound`
(a message as the router sees it), `outbound` (the `TelegramSender`: text, keyboards, replies,
photos and files as the Bot API takes them, a moved group followed, failures read), `limits`
(lengths and rate limits) and `webhook` (the webhook route). What the app and the tests use is
imported from here.
"""

from bot.adapters.telegram.application import (
    ALLOWED_UPDATES,
    ChatOrderedProcessor,
    JournalQueue,
    TelegramConfig,
    TelegramStartError,
    bot_api_url,
    build_application,
)
from bot.adapters.telegram.channel import TelegramChannel, build_telegram, move_chat
from bot.adapters.telegram.inbound import language_hint, largest_photo, to_incoming
from bot.adapters.telegram.limits import (
    NOTICE,
    SEND_RETRIES,
    TEXT_LIMIT,
    TOAST_LIMIT,
    NoticeAwareRateLimiter,
    NoticeSend,
    fit,
    split_text,
    utf16_length,
)
from bot.adapters.telegram.outbound import html_text, keyboard
from bot.adapters.telegram.webhook import DEFAULT_WEBHOOK_PATH, SECRET_HEADER, handle_webhook

__all__ = [
    "ALLOWED_UPDATES",
    "DEFAULT_WEBHOOK_PATH",
    "NOTICE",
    "SECRET_HEADER",
    "SEND_RETRIES",
    "TEXT_LIMIT",
    "TOAST_LIMIT",
    "ChatOrderedProcessor",
    "JournalQueue",
    "NoticeAwareRateLimiter",
    "NoticeSend",
    "TelegramChannel",
    "TelegramConfig",
    "TelegramStartError",
    "bot_api_url",
    "build_application",
    "build_telegram",
    "fit",
    "handle_webhook",
    "html_text",
    "keyboard",
    "language_hint",
    "largest_photo",
    "move_chat",
    "split_text",
    "to_incoming",
    "utf16_length",
]
