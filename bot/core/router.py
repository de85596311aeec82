"""The conversation router: every message from every channel goes through `Router.handle`.

It refuses bad input, drops a message it has seen, finds who sent it and where, sends staff-chat
messages to the staff handlers, continues an open dialog, and otherwise classifies the message and
calls its intent's handler. All of that runs in one transaction, but for understanding the text
(the NLU), which is done before it begins so that no classification holds the store's writer
lock; what handlers say is sent after it commits, the sender's answer first. A failure rolls
everything back, is logged with the message, and the sender gets an apology rather than silence.

A bound staff member's private chat with the bot, on any platform, is their staff desk: what they
write there goes to the handlers' staff private commands (the staff commands, a close prompt's
answer, or a short hint) and is never classified as an owner's report, unless they are also bound
as an owner and say so (`业主 …`: the staff handlers then let it through).

Who may speak where: a group is served only once it is registered as an estate's owner group or
staff chat (`/register CODE`); in any other group nothing but `/register` is answered, and the
bot says so once when it is addressed there. Commands and codes typed where they do not apply are
answered briefly (or not at all) by the handlers' group and private commands, never classified,
so they never open a ticket or change the sender's language. A group message that looks like a
request but is below the confidence floor goes to the staff chat for a look.
"""

from __future__ import annotations

import dataclasses
import logging
import unicodedata
from typing import TYPE_CHECKING

from tortoise.transactions import in_transaction

from bot.core import chats, journal
from bot.core.channel import Channel, SendError
from bot.core.context import Context, Handlers, Outbound, Services, send_outbox
from bot.core.dialogs import DialogKind, open_dialog, start_dialog
from bot.core.logsafe import log_excerpt
from bot.core.types import Button, IncomingMessage, OutgoingMessage
from models import Chat, ChatIdentity, ChatKind, Estate, Owner, SeenMessage, Staff
from models.lookup import read_context
from models.statements import Statement, insert_statement, run, update_statement

if TYPE_CHECKING:
    from bot.core.nlu import Understanding

log = logging.getLogger(__name__)

MAX_TEXT = 4000
MAX_PAYLOAD = 64
# Below this confidence the router does not guess: it stays quiet in a group, or asks.
CONFIDENCE_FLOOR = 0.45
ASKABLE_INTENTS = ("repair", "complaint", "enquiry", "payment")


class _Duplicate(Exception):
    """The message was handled before."""


def clean_text(text: str) -> str:
    """Drop control characters (but keep line breaks), what could not be read (U+FFFD) and
    surrounding space."""
    return "".join(
        ch
        for ch in text
        if ch in "\n\t" or (ch != "\ufffd" and unicodedata.category(ch) not in ("Cc", "Cs", "Co"))
    ).strip()


def _registered(chat: Chat | None) -> bool:
    """Whether a group is registered as an estate's owner group or staff chat."""
    return (
        chat is not None
        and chat.estate_id is not None
        and chat.kind in (ChatKind.OWNERS, ChatKind.STAFF)
    )


# A message says enough about its writer's language to remember it for their notices when it
# is a request of some length: not a greeting, a command or a word or two.
_SETTLING_CJK = 4
_SETTLING_WORDS = 3


def settles_language(text: str, intent: str, lang: str) -> bool:
    """Whether a message may set its writer's language (the one their bills come in)."""
    if intent == "other" or lang not in ("zh", "en") or text.startswith("/"):
        return False
    if lang == "zh":
        return sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff") >= _SETTLING_CJK
    return len([word for word in text.split() if any(c.isalpha() for c in word)]) >= (
        _SETTLING_WORDS
    )


class Router:
    """Routes each incoming message to the handler that acts on it."""

    def __init__(self, services: Services, handlers: Handlers) -> None:
        self.services = services
        self.handlers = handlers

    async def accept(self, message: IncomingMessage) -> bool:
        """Keep a message in the journal before the sender can see it was taken (it is shown in
        a group, or the platform is told "received"); False when it needs no handling here."""
        if self._refusal(message) == "ignore":
            return False
        return await journal.accept(message, self.services.clock.now())

    async def handle(
        self, message: IncomingMessage, channel: Channel, *, accepted: bool = False
    ) -> str | None:
        """Handle one message from `channel`, answering through it.

        `accepted` says the adapter kept it in the journal already (`accept`); otherwise it is
        kept here first. Returns what the person who pressed a button is to be told privately
        (a toast), if anything; the channel shows it (or sends it to their private chat).
        """
        refusal = self._refusal(message)
        if refusal == "ignore":
            log.info("ignored an empty message %s in %s", message.message_id, message.chat)
            return None
        ctx: Context | None = None
        kept: list[int] = []
        try:
            if not accepted and not await self.accept(message):
                log.info(
                    "dropped a message handled before: %s %s", message.chat, message.message_id
                )
                return None
            # Understanding a text takes the processor, not the store: it is done before the
            # transaction, so that on SQLite no classification holds the single writer lock.
            early = self._understand_early(message, refusal)
            async with in_transaction():
                ctx = await self._context(message, channel)
                ctx.early.update(early)
                if refusal is not None:
                    log.info("refused message %s: %s", message.message_id, refusal)
                    if not ctx.in_group or message.addressed or message.payload is not None:
                        ctx.reply(refusal, limit=MAX_TEXT)
                else:
                    await self._dispatch(ctx)
                # What it answers, and that it was handled, commit with what it changed.
                kept = await journal.finish_with_outbox(message, ctx.outbox, ctx.now)
        except _Duplicate:
            log.info("dropped a message seen before: %s %s", message.chat, message.message_id)
            await journal.finish(message, self.services.clock.now())
            return None
        except Exception:
            log.exception(
                "failed to handle message %s from %s in %s: %r",
                message.message_id,
                message.sender_id,
                message.chat,
                log_excerpt(message.text),
            )
            self._forget_changed(ctx)
            await journal.release(message)
            await self._apologise(message, channel, ctx)
            return None
        self._forget_changed(ctx)
        await self._flush(ctx, kept)
        return ctx.toast if ctx is not None else None

    def _forget_changed(self, ctx: Context | None) -> None:
        """Once the transaction ended: forget again what the cache may have read of the rows
        the message changed (before its commit, or of its rolled-back writes)."""
        for estate_id in ctx.changed_estates if ctx is not None else ():
            self.services.cache.invalidate(estate_id)

    async def recover(self, *, starting_alone: bool = False) -> tuple[int, int]:
        """Finish what a process that stopped had taken on: send the replies it committed but
        never sent, and handle the messages it accepted but never finished, once their claim has
        lapsed (or at once, when this process is starting as the store's only one). Returns how
        many messages were handled and replies sent."""
        now = self.services.clock.now()
        hub = self.services.hub
        replies = await journal.resend_lapsed(hub, now, every=starting_alone)
        handled = 0
        for message in await journal.take_lapsed_messages(now, every=starting_alone):
            channel = hub.get(message.chat.platform)
            if channel is None:
                log.warning("no %s channel to handle %s on", message.chat.platform, message)
                await journal.release(message)
                continue
            log.info("handling message %s accepted before a stop", message.message_id)
            await self.handle(message, channel, accepted=True)
            handled += 1
        return handled, replies

    def _understand_early(
        self, message: IncomingMessage, refusal: str | None
    ) -> dict[str, tuple[Understanding | None, list[str] | None]]:
        """What the NLU makes of a message that may be classified: its understanding (of the
        cleaned text) and the features its duplicate check compares (of the text as sent)."""
        if refusal is not None or message.payload is not None:
            return {}
        text = clean_text(message.text)
        if not text:
            return {}
        nlu = self.services.nlu
        early: dict[str, tuple[Understanding | None, list[str] | None]] = {
            text: (nlu.understand(text), None)
        }
        understanding, _ = early[text]
        if understanding is not None and understanding.intent in ("repair", "complaint"):
            early.setdefault(message.text, (None, None))
            known, _ = early[message.text]
            early[message.text] = (known, nlu.match_features(message.text))
        return early

    def _refusal(self, message: IncomingMessage) -> str | None:
        if message.payload is not None:
            if not message.payload or len(message.payload) > MAX_PAYLOAD:
                return "input.bad_button"
            return None
        text = clean_text(message.text)
        if len(message.text) > MAX_TEXT:
            return "input.too_long"
        if not text and not message.attachments:
            return "ignore" if not message.text else "input.unreadable"
        return None

    @staticmethod
    def _remembering(message: IncomingMessage) -> list[Statement]:
        """The router's dedup row (first: it decides), and in a private chat the reply window's
        opening (WeChat's 48 hours open again with this message), run with the context read."""
        seen = insert_statement(
            SeenMessage,
            [
                {
                    "platform": message.chat.platform,
                    "chat_id": message.chat.chat_id,
                    "message_id": message.message_id,
                    "at": message.received_at,
                }
            ],
        ).then("ON CONFLICT DO NOTHING RETURNING id")
        if message.chat.is_group:
            return [seen]
        window = chats.saw_statement(
            message.chat.platform, message.chat.chat_id, message.received_at
        )
        return [seen, window.if_first()]

    async def _context(self, message: IncomingMessage, channel: Channel) -> Context:
        # Who, where, and what they were asked: one query, in the round trip of the dedup.
        found = await read_context(
            message.chat.platform,
            message.sender_id,
            message.chat.chat_id,
            before=self._remembering(message),
        )
        if not found.first_count:
            raise _Duplicate
        identity = found.identity
        if identity is None:
            identity, _ = await ChatIdentity.get_or_create(
                platform=message.chat.platform,
                user_id=message.sender_id,
                defaults={"display_name": message.sender_name[:128]},
            )
        owner: Owner | None = found.owner if identity.owner_id is not None else None
        staff: Staff | None = found.staff if identity.staff_id is not None else None
        if staff is not None and not staff.active:
            staff = None
        chat = found.chat
        estate = await self._estate(chat, owner, staff, message.chat.is_group)
        lang = self.services.catalogues.language(
            identity.language or message.language_hint or self.services.catalogues.default
        )
        ctx = Context(
            message=message,
            channel=channel,
            services=self.services,
            identity=identity,
            estate=estate,
            chat=chat,
            owner=owner,
            staff=staff,
            lang=lang,
        )
        key = (str(message.chat.platform), message.chat.chat_id, message.sender_id)
        if found.dialog is None:
            ctx.no_dialog.add(key)
        else:
            ctx.prefetched_dialogs[key] = found.dialog
        return ctx

    async def _estate(
        self, chat: Chat | None, owner: Owner | None, staff: Staff | None, in_group: bool
    ) -> Estate | None:
        if chat is not None and chat.estate_id is not None:
            return chat.estate  # read with the chat
        if in_group:
            return None  # a group belongs to an estate only by being registered
        if owner is not None:
            return await self.services.cache.estate(owner.estate_id)
        if staff is not None:
            return await self.services.cache.estate(staff.estate_id)
        # A deployment with a single estate needs no binding to know where a message belongs.
        estates = await Estate.all().limit(2)
        return estates[0] if len(estates) == 1 else None

    async def _dispatch(self, ctx: Context) -> None:
        message = ctx.message
        if ctx.in_group and message.payload is None:
            for command in self.handlers.group_commands:
                if await command(ctx):
                    return
        if ctx.in_group and not _registered(ctx.chat):
            await self._unregistered(ctx)
            return
        if ctx.in_staff_chat:
            await self.handlers.staff(ctx)
            return
        if message.payload is not None:
            await self._press(ctx)
            return
        if not ctx.in_group and ctx.staff is not None:
            for command in self.handlers.staff_private_commands:
                if await command(ctx):
                    return
        commands = self.handlers.owner_group_commands if ctx.in_group else ()
        if not ctx.in_group:
            commands = self.handlers.private_commands
        for command in commands:
            if await command(ctx):
                return
        dialog = await open_dialog(ctx)
        if dialog is not None and dialog.kind in self.handlers.dialogs:
            await self.handlers.dialogs[DialogKind(dialog.kind)](ctx)
            return
        if ctx.estate is None:
            if not ctx.in_group or message.addressed:
                ctx.reply("chat.unknown_estate")
            log.info("message in a chat of no known estate: %s", message.chat)
            return
        if not clean_text(message.text) and message.attachments:
            await self.handlers.photos(ctx)
            return
        await self._classify_and_act(ctx)

    async def _unregistered(self, ctx: Context) -> None:
        """A group nobody registered: nothing is served; addressed, the bot says so once."""
        message = ctx.message
        log.info(
            "not serving message %s in %s: the group is not registered to an estate",
            message.message_id,
            message.chat,
        )
        if message.payload is not None:
            ctx.reply("chat.unregistered")
            return
        if not message.addressed or ctx.chat is not None:
            return
        _, created = await Chat.get_or_create(
            platform=message.chat.platform,
            chat_id=message.chat.chat_id,
            defaults={"kind": ChatKind.UNREGISTERED},
        )
        if created:
            ctx.reply("chat.unregistered")

    async def _classify_and_act(self, ctx: Context) -> None:
        text = clean_text(ctx.message.text)
        understanding = ctx.understood(text)
        ctx.understanding = understanding
        ctx.lang = self.services.catalogues.language(understanding.lang)
        if settles_language(text, understanding.intent, understanding.lang):
            if ctx.identity.language != ctx.lang:
                ctx.identity.language = ctx.lang
                changed = {"language": ctx.lang}
                await run(
                    ChatIdentity, update_statement(ChatIdentity, {"id": ctx.identity.id}, changed)
                )
        quiet_in_group = ctx.in_group and not ctx.message.addressed
        if understanding.intent == "other":
            if not quiet_in_group:
                await self.handlers.intents["other"](ctx)
            return
        if understanding.confidence < CONFIDENCE_FLOOR and not understanding.urgent:
            if quiet_in_group:
                # Not sure enough to act, too likely a request to drop: staff take a look.
                await self.handlers.needs_look(ctx)
            else:
                await self._ask_intent(ctx)
            return
        await self.handlers.intents[understanding.intent](ctx)

    async def _ask_intent(self, ctx: Context) -> None:
        """Ask one short question, with buttons for the likely intents."""
        assert ctx.understanding is not None
        ranked = sorted(
            ASKABLE_INTENTS, key=lambda intent: -ctx.understanding.scores.get(intent, 0.0)
        )[:3]
        await start_dialog(
            ctx,
            DialogKind.CLARIFY,
            {"text": ctx.message.text, "message_id": ctx.message.message_id},
        )
        buttons = [[Button(ctx.text(f"intent.{intent}"), f"intent:{intent}") for intent in ranked]]
        ctx.reply("clarify.question", buttons=buttons)

    async def _press(self, ctx: Context) -> None:
        payload = ctx.message.payload or ""
        prefix = payload.split(":", 1)[0]
        if prefix == "intent":
            await self._clarified(ctx, payload.removeprefix("intent:"))
            return
        handler = self.handlers.buttons.get(prefix)
        if handler is None:
            log.info("unknown button %r from %s", payload, ctx.message.sender_id)
            ctx.answer_press("input.bad_button")
            return
        await handler(ctx)

    async def _clarified(self, ctx: Context, intent: str) -> None:
        dialog = await open_dialog(ctx)
        if intent not in ASKABLE_INTENTS or dialog is None or dialog.kind != DialogKind.CLARIFY:
            ctx.answer_press("input.expired_button")
            return
        await dialog.delete()
        # The question's buttons are used: it now says what was chosen.
        ctx.replace_pressed(ctx.text("clarify.chosen", intent=ctx.text(f"intent.{intent}")))
        original = dataclasses.replace(
            ctx.message,
            text=str(dialog.data.get("text", "")),
            message_id=str(dialog.data.get("message_id", ctx.message.message_id)),
            payload=None,
            replied_to=None,
        )
        ctx.message = original
        understanding = self.services.nlu.understand(clean_text(original.text))
        department = understanding.department
        if intent in ("repair", "complaint") and department is None:
            department = "engineering" if intent == "repair" else "customer_service"
        if intent not in ("repair", "complaint"):
            department = None
        ctx.understanding = dataclasses.replace(
            understanding,
            intent=intent,
            confidence=1.0,
            department=department,
            location=self.services.nlu.locate(clean_text(original.text), intent),
        )
        ctx.lang = self.services.catalogues.language(understanding.lang)
        if ctx.estate is None:
            ctx.reply("chat.unknown_estate")
            return
        await self.handlers.intents[intent](ctx)

    async def _flush(self, ctx: Context | None, kept: list[int]) -> None:
        if ctx is None:
            return
        # The sender's answer goes first: it never waits for the staff chats' cards (their
        # sends, and the card's message id being kept).
        here = ctx.message.chat
        first = sorted(
            ctx.outbox,
            key=lambda entry: (
                (entry.message if isinstance(entry, Outbound) else entry).chat != here
            ),
        )
        await send_outbox(self.services.hub, first, ctx.channel, forget=kept)

    async def _apologise(
        self, message: IncomingMessage, channel: Channel, ctx: Context | None
    ) -> None:
        lang = ctx.lang if ctx is not None else self.services.catalogues.default
        text = self.services.catalogues.text(lang, "error.apology")
        reply_to = message.message_id if message.chat.is_group else None
        try:
            await channel.send(OutgoingMessage(chat=message.chat, text=text, reply_to=reply_to))
        except SendError as exc:
            log.warning("could not apologise in %s: %s", message.chat, exc)
