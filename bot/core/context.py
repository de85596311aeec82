"""The one explicit Context a handler gets: the message, who sent it, where, and how to answer.

Handlers never send directly: what they say goes into the context's outbox, which the router sends
after the message's transaction has committed, so a failure half-way sends nothing false.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.core.channel import Channel, ChannelHub, SendError
from bot.core.clock import Clock
from bot.core.i18n import Catalogues
from bot.core.reference import EstateCache
from bot.core.types import Button, ChatRef, IncomingMessage, OutgoingMessage, SentMessage
from models import (
    Chat,
    ChatIdentity,
    ChatKind,
    Dialog,
    Estate,
    Incident,
    OutboxMessage,
    Owner,
    Staff,
    Ticket,
    TicketCard,
    Unit,
)
from models.statements import Statement, delete_ids, run, together, upsert_statement

if TYPE_CHECKING:
    from bot.core.dialogs import DialogKind
    from bot.core.nlu import NLU, FaqIndex, Understanding

Handler = Callable[["Context"], Awaitable[None]]
TicketListener = Callable[["Context", Ticket], Awaitable[None]]
AfterSend = Callable[[SentMessage], Awaitable[None]]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Remember:
    """What to remember once a message went out, named so that a reply kept in the store can
    still do it after a restart: `ticket_card` (data: ticket), `dialog_prompt` (data: dialog),
    `incident_card` (data: incident)."""

    kind: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Outbound:
    """An outbox entry beyond a plain send: an edit of a message sent earlier, and what to
    remember of the platform's SentMessage once it went out (a card's message id).

    `after_send` is a callback for sends made directly, never kept in the store; the router's
    replies name what they remember (`remember`) instead.
    """

    message: OutgoingMessage
    edit: SentMessage | None = None
    after_send: AfterSend | None = None
    remember: Remember | None = None


def _card_statement(remember: Remember, sent: SentMessage) -> Statement:
    """The statement that keeps a ticket card's message id (`ticket_card`)."""
    return upsert_statement(
        TicketCard,
        key=("ticket_id", "platform", "chat_id"),
        values={
            "ticket_id": int(remember.data["ticket"]),
            "platform": sent.chat.platform,
            "chat_id": sent.chat.chat_id,
            "message_id": sent.message_id,
        },
        update=("message_id",),
    )


async def remember_sent(remember: Remember, sent: SentMessage) -> None:
    """Record what a sent message is for: the one place that knows every `Remember` kind."""
    kind, data = remember.kind, remember.data
    if kind == "ticket_card":
        await run(TicketCard, _card_statement(remember, sent))
    elif kind == "dialog_prompt":
        dialog = await Dialog.get_or_none(id=int(data["dialog"]))
        if dialog is not None:
            dialog.data = {**dialog.data, "prompt": sent.message_id}
            await dialog.save(update_fields=["data"])
    elif kind == "incident_card":
        incident = await Incident.get_or_none(id=int(data["incident"]))
        if incident is not None:
            key = f"{sent.chat.platform}:{sent.chat.chat_id}"
            incident.cards = {**incident.cards, key: sent.message_id}
            await incident.save(update_fields=["cards"])
    else:
        raise ValueError(f"nothing knows how to remember {kind!r}")


async def send_outbox(
    hub: ChannelHub,
    entries: Sequence[OutgoingMessage | Outbound],
    via: Channel | None = None,
    *,
    forget: Sequence[int] = (),
) -> int:
    """Send (or edit) each entry through `via` or the hub's channel of its platform. Each send
    stands alone: one that fails, for whatever reason, is logged with its chat and the rest still
    go. Returns how many went out.

    `forget`: the ids of the entries' rows in the journal's outbox, deleted once they were all
    tried, in the same round trip as the ticket cards' message ids are kept.
    """
    sent_count = 0
    # The ticket cards' message ids, by card (the last send of a card wins).
    cards: dict[tuple[str, str, str], Statement] = {}
    for entry in entries:
        outbound = entry if isinstance(entry, Outbound) else Outbound(entry)
        message = outbound.message
        try:
            channel = (
                via
                if via is not None and message.chat.platform == via.platform
                else hub.for_chat(message.chat)
            )
            if outbound.edit is not None:
                sent = await channel.edit(outbound.edit, message)
            else:
                sent = await channel.send(message)
        except SendError as exc:
            log.warning("could not send to %s: %s", message.chat, exc)
            continue
        except Exception:  # an adapter's bug or an unexpected answer: this send only
            log.exception("sending to %s failed unexpectedly", message.chat)
            continue
        sent_count += 1
        try:
            remember = outbound.remember
            if remember is not None and remember.kind == "ticket_card":
                key = (str(remember.data["ticket"]), str(sent.chat.platform), sent.chat.chat_id)
                cards[key] = _card_statement(remember, sent)
            elif remember is not None:
                await remember_sent(remember, sent)
            if outbound.after_send is not None:
                await outbound.after_send(sent)
        except Exception:  # the message is out; losing its bookkeeping must not stop the rest
            log.exception("after sending to %s", message.chat)
    statements = [*cards.values()]
    if forget:
        statements.append(delete_ids(OutboxMessage, forget))
    try:
        await together(TicketCard, statements)
    except Exception:  # the messages are out; a card may be posted again rather than edited
        log.exception("could not keep the cards' message ids or forget the sent replies")
    return sent_count


@dataclass
class Services:
    """What every handler may use, built once by the app and passed down."""

    nlu: NLU
    catalogues: Catalogues
    clock: Clock
    hub: ChannelHub
    # The rows of estates that rarely change (the estate, its calendar, targets, buildings,
    # staff chats and announced outages), kept for a short while (`bot/core/reference.py`).
    cache: EstateCache
    # Called, inside the message's transaction, for every ticket a handler opens.
    ticket_opened: list[TicketListener] = field(default_factory=list)
    # Built FAQ indexes by (estate id, language): (the entries they were built from, the index).
    faq_indexes: dict[tuple[int, str], tuple[object, FaqIndex]] = field(default_factory=dict)
    # Where month reports' charts and workbooks are written: <reports_dir>/<estate>/<month>/.
    reports_dir: Path = Path("data/reports")


@dataclass(frozen=True)
class Handlers:
    """The handlers the router dispatches to, assembled in `handlers/`."""

    intents: Mapping[str, Handler]
    staff: Handler
    # A group message below the confidence floor that may be a request: shown to staff.
    needs_look: Handler
    # Photos sent without a word: joined to the sender's recent report, or kept and asked about.
    photos: Handler
    # By the part of a button's payload before the first colon ("rate:42:4" → "rate").
    buttons: Mapping[str, Handler] = field(default_factory=dict)
    # By an open dialog's kind.
    dialogs: Mapping[DialogKind, Handler] = field(default_factory=dict)
    # Private-chat text that is a command or a code (binding): tried before classifying;
    # returns True when it handled the message.
    private_commands: Sequence[Callable[[Context], Awaitable[bool]]] = ()
    # Group text tried first in any group, even one of no known estate (`/register CODE`);
    # returns True when it handled the message.
    group_commands: Sequence[Callable[[Context], Awaitable[bool]]] = ()
    # A bound staff member's private messages (any platform), tried before anything else:
    # returns True when it handled the message; one that none handles is an owner's message
    # (a person bound as staff and owner who said they report as an owner).
    staff_private_commands: Sequence[Callable[[Context], Awaitable[bool]]] = ()
    # Text in an owner group that is a command or a code, not a report (`/help`, `绑定 CODE`,
    # a staff command word): answered briefly or not at all; returns True when it was one.
    owner_group_commands: Sequence[Callable[[Context], Awaitable[bool]]] = ()
    # Listeners the app adds to `Services.ticket_opened` (the staff desk's card).
    ticket_opened: Sequence[TicketListener] = ()


@dataclass
class Context:
    """One message being handled."""

    message: IncomingMessage
    channel: Channel
    services: Services
    identity: ChatIdentity
    estate: Estate | None
    chat: Chat | None
    owner: Owner | None
    staff: Staff | None
    lang: str
    understanding: Understanding | None = None
    outbox: list[OutgoingMessage | Outbound] = field(default_factory=list)
    # What the person who pressed a button is told privately (a toast on Telegram and in the
    # web chat): never posted into the chat, so a stale or refused press writes nowhere.
    toast: str | None = None
    # What the NLU made of a message's text before its transaction began, by the text:
    # (understanding, match features). See `understood` and `match_features`.
    early: dict[str, tuple[Understanding | None, list[str] | None]] = field(default_factory=dict)
    # (platform, chat, user) whose open dialog was looked for and found absent while handling
    # this message (`open_dialog` need not ask again; `start_dialog` forgets it).
    no_dialog: set[tuple[str, str, str]] = field(default_factory=set)
    # Units this message read (by id): a ticket's card need not read them again.
    units_read: dict[int, Unit] = field(default_factory=dict)
    # Estates whose cached rows this message changed (None: any), forgotten again after the
    # commit (`reference_changed`).
    changed_estates: set[int | None] = field(default_factory=set)
    # The sender's open dialog as read with the context, taken by the first `open_dialog`.
    prefetched_dialogs: dict[tuple[str, str, str], Dialog] = field(default_factory=dict)

    def reference_changed(self, estate_id: int | None = None) -> None:
        """Say the message changed rows the `EstateCache` keeps (a chat's registration, an
        outage): forgotten now, and again once the transaction committed."""
        self.services.cache.invalidate(estate_id)
        self.changed_estates.add(estate_id)

    def understood(self, text: str) -> Understanding:
        """The NLU's understanding of `text` (cleaned), worked out before the transaction when
        the router could (`Router.handle`), else now."""
        understanding, feats = self.early.get(text, (None, None))
        if understanding is None:
            understanding = self.services.nlu.understand(text)
            self.early[text] = (understanding, feats)
        return understanding

    def match_features(self) -> list[str]:
        """The features the message's text is compared by (a ticket's duplicate check, kept
        with the ticket it opens): worked out once per text, before the transaction when the
        router could."""
        text = self.message.text
        understanding, feats = self.early.get(text, (None, None))
        if feats is None:
            feats = self.services.nlu.match_features(text)
            self.early[text] = (understanding, feats)
        return feats

    @property
    def now(self) -> datetime:
        """The time the message is handled at (from the injected clock)."""
        return self.services.clock.now()

    @property
    def estate_tz(self) -> ZoneInfo:
        """The estate's time zone (the deployment's when there is no estate)."""
        return ZoneInfo(self.estate.timezone if self.estate else "Asia/Shanghai")

    @property
    def in_group(self) -> bool:
        """Whether the message came from a group chat."""
        return self.message.chat.is_group

    @property
    def in_staff_chat(self) -> bool:
        """Whether the message came from an estate's staff chat."""
        return self.chat is not None and self.chat.kind is ChatKind.STAFF

    @property
    def at_staff_desk(self) -> bool:
        """Whether the message came to the staff desk: an estate's staff chat, or a bound staff
        member's private chat with the bot (on any platform)."""
        return self.in_staff_chat or (not self.in_group and self.staff is not None)

    @property
    def private_chat(self) -> ChatRef:
        """The sender's private chat with the bot on this platform."""
        return self.channel.private_chat(self.message.sender_id)

    def text(self, key: str, lang: str | None = None, **fields: object) -> str:
        """A text from the catalogues, in the sender's language unless told otherwise."""
        return self.services.catalogues.text(lang or self.lang, key, **fields)

    def send(
        self,
        chat: ChatRef,
        text: str,
        buttons: Sequence[Sequence[Button]] = (),
        reply_to: str | None = None,
    ) -> None:
        """Queue a message to any chat; it goes out after the transaction commits."""
        rows = tuple(tuple(row) for row in buttons)
        self.outbox.append(OutgoingMessage(chat=chat, text=text, buttons=rows, reply_to=reply_to))

    def reply(self, key: str, buttons: Sequence[Sequence[Button]] = (), **fields: object) -> None:
        """Answer in the chat the message came from, quoting it in a group.

        A button press is answered privately (`toast`), unless the answer has buttons of its
        own: a press never posts a refusal or a thank-you into a group.
        """
        text = self.text(key, **fields)
        if self.pressed and not buttons:
            self.toast = text if self.toast is None else f"{self.toast}\n{text}"
            return
        reply_to = self.message.message_id if self.in_group else None
        self.send(self.message.chat, text, buttons, reply_to)

    def answer_press(self, key: str, **fields: object) -> None:
        """Tell the person who pressed a button how it went, privately (see `toast`)."""
        self.toast = self.text(key, **fields)

    def replace_pressed(self, text: str) -> None:
        """Replace the message whose button was pressed by `text`, without its buttons (a used
        picker, rating or request card), when the platform said which message it was."""
        if self.message.replied_to is None:
            return
        chat = self.message.chat
        self.outbox.append(
            Outbound(
                OutgoingMessage(chat=chat, text=text),
                edit=SentMessage(chat=chat, message_id=self.message.replied_to),
            )
        )

    @property
    def pressed(self) -> bool:
        """Whether the message is a button press."""
        return self.message.payload is not None

    def tell_private(self, text: str, buttons: Sequence[Sequence[Button]] = ()) -> None:
        """Queue a message to the sender's private chat."""
        self.send(self.private_chat, text, buttons)
