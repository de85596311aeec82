"""Fakes for notice tests: time that moves only when slept on, and a channel that fails as told.

Both stand for the far end (the clock on the wall, the platform): the notifier, the jobs and the
store they drive are the real ones.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.core.channel import Hearing, NoticeMeta, SendError
from bot.core.types import ChatRef, OutgoingMessage, Platform, SentMessage


class ProcessKilled(BaseException):
    """Stands for the process being killed: not an Exception, so nothing on the way catches it."""


class FakeTime:
    """A clock (`now`) and a `sleep` that moves it instead of waiting."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeTime needs an aware datetime")
        self._at = start
        self.slept = 0.0

    def now(self) -> datetime:
        """The current fake time."""
        return self._at

    def set(self, moment: datetime) -> None:
        """Jump to a moment (a job test walks through a year)."""
        self._at = moment

    def advance(self, **delta: float) -> datetime:
        """Move on by a timedelta's keyword arguments."""
        self._at += timedelta(**delta)
        return self._at

    async def sleep(self, seconds: float) -> None:
        """Move the clock on by `seconds`, and let other tasks run."""
        # Tasks started before the sleep run first, at the time they were started.
        await asyncio.sleep(0)
        if seconds > 0:
            self._at += timedelta(seconds=seconds)
            self.slept += seconds


@dataclass
class ScriptedChannel:
    """Records every send with the time it landed; `plan[chat_id]` says how each next send to
    that chat goes: "ok", "refuse" (answered error), "429:<seconds>", "lost" (no answer, not
    delivered), "lost-after" (delivered, answer lost), "boom" (an unexpected exception), "hang"
    (no answer until `release` is set, then lost: a send waiting out its read timeout);
    `kill_after` kills the process when that many messages have gone out. Notices record what
    the notifier said of them in `notices`; edits are recorded in `edits`."""

    platform: Platform = Platform.TELEGRAM
    time: FakeTime | None = None
    plan: dict[str, list[str]] = field(default_factory=dict)
    kill_after: int | None = None
    sent: list[OutgoingMessage] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    notices: list[tuple[str, NoticeMeta]] = field(default_factory=list)
    edits: list[tuple[SentMessage, OutgoingMessage]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """Deliver (record) or fail as planned."""
        if self.kill_after is not None and len(self.sent) >= self.kill_after:
            raise ProcessKilled
        chat_id = message.chat.chat_id
        self.attempts[chat_id] += 1
        steps = self.plan.get(chat_id)
        step = steps.pop(0) if steps else "ok"
        if step == "refuse":
            raise SendError("Bad Gateway (502)")
        if step.startswith("429:"):
            raise SendError("Too Many Requests", retry_after=float(step[4:]))
        if step == "lost":
            raise SendError("timed out", answered=False)
        if step == "boom":
            raise RuntimeError("connection reset by peer")
        if step == "hang":
            await self.release.wait()
            raise SendError("read timed out", answered=False)
        self.sent.append(message)
        if self.time is not None:
            self.times.append(self.time.now())
        if step == "lost-after":
            raise SendError("connection reset", answered=False)
        return SentMessage(chat=message.chat, message_id=f"out-{next(self._ids)}")

    async def send_notice(self, message: OutgoingMessage, notice: NoticeMeta) -> SentMessage:
        """Send as planned, recording what the notifier said of the notice."""
        sent = await self.send(message)
        self.notices.append((message.chat.chat_id, notice))
        return sent

    async def edit(self, sent: SentMessage, message: OutgoingMessage) -> SentMessage:
        """Record an edit of a message sent earlier."""
        self.edits.append((sent, message))
        return sent

    def private_chat(self, user_id: str) -> ChatRef:
        """A user's private chat: on Telegram its id is the user's id."""
        return ChatRef(self.platform, user_id, is_group=False)

    def hears(self, chat: ChatRef) -> Hearing:
        """Everything, as on Telegram."""
        return Hearing.EVERYTHING

    def received(self) -> Counter[str]:
        """How many messages each chat received."""
        return Counter(message.chat.chat_id for message in self.sent)
