"""The WeCom AI bot (智能机器人) as a staff-chat channel.

The bot is added to internal WeCom groups and chatted with 1:1. A group is registered as an
estate's staff chat like any group (`@bot /register CODE`); only messages that @-mention the bot
reach it there, so each is `addressed`. A 1:1 message is an ordinary private message.

Answers to a message go back as replies to it (a finished stream, whose text is markdown, or a
template card when it has buttons); anything else (a new ticket's card, a notice) is pushed to
the chat (`aibot_send_msg`, long connection only). `@name`s the message carries as `mentions`
become `<@userid>`, which notifies those people.

A press on a card's button (`template_card_event`) must be answered within 5 seconds with the
updated card. The press goes to the router at once; the card it edits (a claim shows who holds
the ticket) is that answer. If the router has not edited the card within `card_wait` seconds, or
ends without editing it (a refusal: not staff, an unknown button), the card is answered from what
is known at once, for the presser only: the card as it was, with what became of the press (or
"being handled") above its text. Whatever the router does after that goes out as new messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.adapters.http import HttpServer
from bot.adapters.wecom_aibot import frames
from bot.adapters.wecom_aibot.callback import AIBotCallbacks
from bot.adapters.wecom_aibot.connection import LongConnection
from bot.adapters.wecom_aibot.frames import BadFrame, Inbound
from bot.adapters.wxcommon import Sleep
from bot.core.accounts import welcome_once
from bot.core.channel import Hearing, NoticeMeta, SendError
from bot.core.context import Services
from bot.core.router import Router
from bot.core.types import ChatRef, IncomingMessage, OutgoingMessage, Platform, SentMessage

log = logging.getLogger("guanjia.wecom_aibot")

CARDS_KEPT = 5_000
# Replies to one message WeCom takes (30 a conversation a day): more go as pushes.
REPLIES_PER_MESSAGE = 5


@dataclass(frozen=True)
class AIBotConfig:
    """What the AI bot channel needs from the settings."""

    bot_id: str
    secret: str = ""
    mode: str = "long-connection"  # or "callback"
    ws_url: str = "wss://openws.work.weixin.qq.com"
    token: str = ""
    aes_key: str = ""
    callback_path: str = "/wecom/aibot"
    heartbeat: float = 30.0
    card_wait: float = 3.0
    # What a used card (one without buttons) opens when tapped: the staff console.
    card_link: str = "http://127.0.0.1:8080/console/"


class Turn(Protocol):
    """How to answer one callback: over the long connection with its req_id, or in the HTTP
    answer to it (callback mode)."""

    # Whether the callback must be answered by a deadline (an HTTP answer waits for it).
    deadline: bool

    async def respond(self, body: dict[str, Any]) -> None:
        """Reply to the message (`aibot_respond_msg`)."""
        ...

    async def update_card(self, body: dict[str, Any]) -> None:
        """Answer a card press with the updated card (`aibot_respond_update_msg`)."""
        ...

    async def welcome(self, body: dict[str, Any]) -> None:
        """Answer entering the 1:1 chat with a welcome (`aibot_respond_welcome_msg`)."""
        ...

    def settle(self) -> None:
        """The callback's answer is due: nothing more goes into it."""
        ...


@dataclass
class SocketTurn:
    """A callback that came over the long connection: answered with frames bearing its req_id."""

    connection: LongConnection
    req_id: str
    deadline: bool = False

    async def respond(self, body: dict[str, Any]) -> None:
        """Reply with the callback's req_id."""
        await self.connection.request(frames.RESPOND, body, self.req_id)

    async def update_card(self, body: dict[str, Any]) -> None:
        """Update the pressed card with the callback's req_id."""
        await self.connection.request(frames.RESPOND_UPDATE, body, self.req_id)

    async def welcome(self, body: dict[str, Any]) -> None:
        """Welcome with the callback's req_id."""
        await self.connection.request(frames.RESPOND_WELCOME, body, self.req_id)

    def settle(self) -> None:
        """Nothing to settle: frames may follow for as long as WeCom takes them."""


@dataclass
class _Press:
    """A card press waiting for its answer."""

    turn: Turn
    task_id: str
    userid: str
    answered: asyncio.Event = field(default_factory=asyncio.Event)


_reply_turn: ContextVar[tuple[ChatRef, Turn, list[int]] | None] = ContextVar(
    "aibot_turn", default=None
)


class WeComAIBotChannel:
    """The AI bot's Channel, in long-connection or callback mode."""

    platform = Platform.WECOM_AIBOT
    after_server = False
    # The long connection is ours to close; callbacks stop arriving once the server has stopped.
    stops_before_server = False

    def __init__(
        self,
        config: AIBotConfig,
        router: Router,
        services: Services,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config
        self.router = router
        self.services = services
        self.clock = services.clock
        self._sleep = sleep
        self._background: set[asyncio.Task[Any]] = set()
        # The cards we sent, by task id: what a press is answered from when nothing newer is.
        self._cards: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._presses: dict[str, _Press] = {}
        self.connection: LongConnection | None = None
        self.callbacks: AIBotCallbacks | None = None
        if config.mode == "callback":
            self.callbacks = AIBotCallbacks(self, config)
        else:
            self.connection = LongConnection(
                config.ws_url,
                config.bot_id,
                config.secret,
                self._on_frame,
                heartbeat=config.heartbeat,
                sleep=sleep,
            )

    # Lifecycle ---------------------------------------------------------------------------

    def mount_on(self, server: HttpServer) -> None:
        """The callback routes (callback mode); the long connection needs none."""
        if self.callbacks is not None:
            server.add_routes(self.callbacks.routes())

    async def start(self) -> None:
        """Open the long connection (it keeps itself open in the background)."""
        if self.connection is not None:
            self.connection.start()

    async def drain(self) -> None:
        """Wait until every handling has finished (tests)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def stop(self, patience: float = 10.0) -> None:
        """Let handlings finish for a while, then close the connection."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), patience)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*list(self._background), return_exceptions=True)
        if self.connection is not None:
            await self.connection.stop()
        if self.callbacks is not None:
            await self.callbacks.close()

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run work in the background, keeping it until it ends (for `drain`); a failure (the
        store away) is logged, never lost in a task nobody awaits."""

        async def logged() -> Any:
            try:
                return await coroutine
            except Exception:
                log.exception("WeCom AI bot: handling a callback failed")
                return None

        task = asyncio.create_task(logged())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # In ----------------------------------------------------------------------------------

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        """A callback frame from the long connection."""
        assert self.connection is not None
        cmd = frame.get("cmd")
        if cmd not in (frames.MSG_CALLBACK, frames.EVENT_CALLBACK):
            log.warning("WeCom AI bot: ignored a frame of unknown command %r", str(cmd)[:40])
            return
        try:
            inbound = frames.parse_body(frame.get("body"), self.config.bot_id)
        except BadFrame as exc:
            log.warning("WeCom AI bot: refused a %s frame: %s", cmd, exc)
            return
        turn = SocketTurn(self.connection, str(frame["headers"]["req_id"]))
        self.take(inbound, turn)

    def take(self, inbound: Inbound, turn: Turn) -> asyncio.Task[Any] | None:
        """Handle a callback in the background; the task settles `turn` when it is due."""
        if inbound.kind == "disconnected":
            if self.connection is not None:
                self.connection.taken_over()
            turn.settle()
            return None
        if inbound.kind == "press":
            return self.spawn(self._press_flow(inbound, turn))
        if inbound.kind == "message":
            return self.spawn(self._message_flow(inbound, turn))
        if inbound.kind == "enter_chat":
            return self.spawn(self._welcome(inbound, turn))
        log.info("WeCom AI bot: nothing to do with a %s from %s", inbound.kind, inbound.userid)
        turn.settle()
        return None

    def _chat(self, inbound: Inbound) -> ChatRef:
        if inbound.in_group:
            return ChatRef(Platform.WECOM_AIBOT, inbound.chatid, is_group=True)
        return self.private_chat(inbound.userid)

    async def _message_flow(self, inbound: Inbound, turn: Turn) -> None:
        message = IncomingMessage(
            chat=self._chat(inbound),
            sender_id=inbound.userid,
            sender_name=inbound.userid,
            text=inbound.text,
            message_id=inbound.msgid,
            received_at=self.clock.now(),
            # Only messages that @-mention the bot reach it in a group.
            addressed=inbound.in_group,
            raw=inbound,
        )
        try:
            if not await self.router.accept(message):
                log.info("WeCom AI bot: %s was handled before", inbound.msgid)
                return
            routing = asyncio.create_task(self._route(message, turn))
            if turn.deadline:
                deadline = asyncio.create_task(self._sleep(self.config.card_wait))
                await asyncio.wait({routing, deadline}, return_when=asyncio.FIRST_COMPLETED)
                deadline.cancel()
                turn.settle()
            await routing
        finally:
            turn.settle()

    async def _welcome(self, inbound: Inbound, turn: Turn) -> None:
        """Someone opened their 1:1 chat with the bot (the first time that day): welcome them,
        once for the event however often WeCom repeats it."""
        try:
            text = await welcome_once(
                Platform.WECOM_AIBOT,
                inbound.userid,
                inbound.create_time,
                "enter_chat",
                self.services,
                self.clock.now(),
            )
            if text:
                await turn.welcome({"msgtype": "text", "text": {"content": text}})
        except SendError as exc:
            log.warning("WeCom AI bot: could not welcome %s: %s", inbound.userid, exc)
        finally:
            turn.settle()

    async def _route(self, message: IncomingMessage, turn: Turn | None) -> None:
        """The router's handling, its replies to the message going back through `turn`."""
        if turn is not None:
            _reply_turn.set((message.chat, turn, [0]))
        try:
            toast = await self.router.handle(message, self, accepted=True)
        except Exception:  # the router logs and apologises itself; this is a last resort
            log.exception("WeCom AI bot: handling %s failed", message.message_id)
            return
        if toast:
            await self._tell(message.sender_id, toast)

    async def _tell(self, userid: str, text: str) -> None:
        """Tell one person something privately (what became of their press)."""
        try:
            await self._send_now(OutgoingMessage(chat=self.private_chat(userid), text=text))
        except SendError as exc:
            log.warning("WeCom AI bot: could not tell %s privately: %s", userid, exc)

    async def _press_flow(self, inbound: Inbound, turn: Turn) -> None:
        chat = self._chat(inbound)
        message = IncomingMessage(
            chat=chat,
            sender_id=inbound.userid,
            sender_name=inbound.userid,
            text="",
            message_id=inbound.msgid,
            received_at=self.clock.now(),
            payload=inbound.event_key,
            replied_to=inbound.task_id,
            raw=inbound,
        )
        press = _Press(turn, inbound.task_id, inbound.userid)
        try:
            if not await self.router.accept(message):
                log.info("WeCom AI bot: the press %s was handled before", inbound.msgid)
                return
            self._presses[inbound.task_id] = press
            routing = asyncio.create_task(self._route_press(message))
            deadline = asyncio.create_task(self._sleep(self.config.card_wait))
            answered = asyncio.create_task(press.answered.wait())
            await asyncio.wait({routing, deadline, answered}, return_when=asyncio.FIRST_COMPLETED)
            deadline.cancel()
            answered.cancel()
            toast: str | None = None
            if not press.answered.is_set():
                toast = routing.result() if routing.done() else None
                note = toast or self.services.catalogues.text(None, "aibot.card_working")
                await self._answer_known(press, note)
                if routing.done():
                    return  # what became of it is in the card
            toast = await routing
            if toast:
                await self._tell(inbound.userid, toast)
        finally:
            if self._presses.get(inbound.task_id) is press:
                del self._presses[inbound.task_id]
            turn.settle()

    async def _route_press(self, message: IncomingMessage) -> str | None:
        try:
            return await self.router.handle(message, self, accepted=True)
        except Exception:
            log.exception("WeCom AI bot: handling the press %s failed", message.message_id)
            return None

    async def _answer_known(self, press: _Press, note: str) -> None:
        """Answer a press from the card as we sent it, for the presser only, with `note`."""
        press.answered.set()
        known = self._cards.get(press.task_id)
        if known is None:
            # Sent before a restart: nothing to show but the note, which goes privately.
            log.info("WeCom AI bot: a press on a card we no longer hold (%s)", press.task_id)
            await self._tell(press.userid, note)
            return
        body = frames.update(frames.with_note(known, note), [press.userid])
        try:
            await press.turn.update_card(body)
        except SendError as exc:
            log.warning("WeCom AI bot: could not answer a press on %s: %s", press.task_id, exc)

    # Channel -----------------------------------------------------------------------------

    def private_chat(self, user_id: str) -> ChatRef:
        """A person's 1:1 chat with the bot: their WeCom userid."""
        return ChatRef(Platform.WECOM_AIBOT, user_id, is_group=False)

    def hears(self, chat: ChatRef) -> Hearing:
        """Everything a person writes in their 1:1 chat with the bot; in a group, only the
        messages that @-mention it."""
        return Hearing.ADDRESSED if chat.is_group else Hearing.EVERYTHING

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """A reply to the message being handled, when it is for its chat; else a push."""
        current = _reply_turn.get()
        if current is not None and current[0] == message.chat:
            _, turn, count = current
            if count[0] < REPLIES_PER_MESSAGE:
                count[0] += 1
                return await self._deliver(message, turn)
        return await self._send_now(message)

    async def send_notice(self, message: OutgoingMessage, notice: NoticeMeta) -> SentMessage:
        """A notice is a push (the notifier paces and retries it)."""
        return await self._send_now(message)

    async def edit(self, sent: SentMessage, message: OutgoingMessage) -> SentMessage:
        """Update a card whose press is waiting for its answer; anything else is sent anew
        (WeCom updates a card only in answer to a press on it)."""
        press = self._presses.get(sent.message_id)
        if press is None or press.answered.is_set():
            return await self.send(message)
        press.answered.set()
        found = frames.card(message, sent.message_id, self.config.card_link)
        await press.turn.update_card(frames.update(found))
        self._keep(sent.message_id, found)
        return SentMessage(chat=message.chat, message_id=sent.message_id)

    async def _send_now(self, message: OutgoingMessage) -> SentMessage:
        return await self._deliver(message, None)

    async def _deliver(self, message: OutgoingMessage, turn: Turn | None) -> SentMessage:
        """Send one message: as a reply through `turn`, else pushed to its chat."""
        if message.chat.platform is not Platform.WECOM_AIBOT:
            raise SendError(f"not a WeCom AI bot chat: {message.chat}")
        if message.buttons:
            task_id = f"c-{secrets.token_hex(12)}"
            found = frames.card(message, task_id, self.config.card_link)
            body = {"msgtype": "template_card", "template_card": found}
            if turn is not None:
                await turn.respond(body)
            else:
                await self._push(message.chat, body)
            self._keep(task_id, found)
            if message.mentions:
                # A card's text notifies nobody: a line that mentions them by userid does.
                first = message.text.strip().splitlines()[0] if message.text.strip() else ""
                line = frames.mention_line(message.mentions, first)
                await self._push_or_reply(message.chat, line, turn)
            return SentMessage(chat=message.chat, message_id=task_id)
        text = frames.markdown(message)
        return await self._push_or_reply(message.chat, text, turn)

    async def _push_or_reply(self, chat: ChatRef, text: str, turn: Turn | None) -> SentMessage:
        if turn is not None:
            body = frames.stream(text)
            await turn.respond(body)
            return SentMessage(chat=chat, message_id=str(body["stream"]["id"]))
        req_id = await self._push(chat, {"msgtype": "markdown", "markdown": {"content": text}})
        return SentMessage(chat=chat, message_id=req_id)

    async def _push(self, chat: ChatRef, body: dict[str, Any]) -> str:
        """Push a message to a chat (`aibot_send_msg`): the long connection's alone."""
        if self.connection is None:
            raise SendError(
                "the WeCom AI bot in callback mode can only answer messages, not write first"
            )
        req_id = frames.new_req_id(frames.SEND)
        full = {"chatid": chat.chat_id, "chat_type": 2 if chat.is_group else 1, **body}
        await self.connection.request(frames.SEND, full, req_id)
        return req_id

    def _keep(self, task_id: str, found: dict[str, Any]) -> None:
        self._cards[task_id] = found
        self._cards.move_to_end(task_id)
        while len(self._cards) > CARDS_KEPT:
            self._cards.popitem(last=False)
