"""A channel that records what Guanjia sends: the far end of the network, faked at our seam."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from bot.core.channel import Hearing, NoticeMeta, SendError
from bot.core.types import ChatRef, OutgoingMessage, Platform, SentMessage


@dataclass
class FakeChannel:
    """Records every send and edit; `fail_sends` makes the next sends fail."""

    platform: Platform = Platform.WEBCHAT
    sent: list[OutgoingMessage] = field(default_factory=list)
    # The platform id each sent message got, in the order of `sent`.
    sent_ids: list[str] = field(default_factory=list)
    edits: list[tuple[SentMessage, OutgoingMessage]] = field(default_factory=list)
    # What the notifier said of each notice it sent (in the order of its sends).
    notices: list[tuple[str, NoticeMeta]] = field(default_factory=list)
    fail_sends: int = 0
    # The kinds of local file ("photo", "file") it says it delivers (see `sends_local`).
    local_kinds: tuple[str, ...] = ("photo", "file")
    # What of a group's messages reaches the bot (a private chat's always do).
    group_hearing: Hearing = Hearing.EVERYTHING
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """Record a send (or fail it)."""
        if self.fail_sends:
            self.fail_sends -= 1
            raise SendError("the far end is down")
        self.sent.append(message)
        self.sent_ids.append(f"out-{next(self._ids)}")
        return SentMessage(chat=message.chat, message_id=self.sent_ids[-1])

    async def send_notice(self, message: OutgoingMessage, notice: NoticeMeta) -> SentMessage:
        """Record a notice's send (or fail it), with what the notifier said of it."""
        sent = await self.send(message)
        self.notices.append((message.chat.chat_id, notice))
        return sent

    async def edit(self, sent: SentMessage, message: OutgoingMessage) -> SentMessage:
        """Record an edit."""
        self.edits.append((sent, message))
        return sent

    def private_chat(self, user_id: str) -> ChatRef:
        """A user's private chat with the bot."""
        return ChatRef(self.platform, f"private:{user_id}", is_group=False)

    def hears(self, chat: ChatRef) -> Hearing:
        """What of a chat's messages reaches the bot: `group_hearing` for a group."""
        return self.group_hearing if chat.is_group else Hearing.EVERYTHING

    def sends_local(self, chat: ChatRef, kind: str) -> bool:
        """Whether it delivers a local file of `kind`, as `local_kinds` says."""
        return kind in self.local_kinds

    def to(self, chat_id: str) -> list[OutgoingMessage]:
        """What was sent to one chat."""
        return [m for m in self.sent if m.chat.chat_id == chat_id]

    def texts(self, chat_id: str) -> list[str]:
        """The texts sent to one chat."""
        return [m.text for m in self.to(chat_id)]

    def id_of(self, message: OutgoingMessage) -> str:
        """The platform id a sent message got."""
        return self.sent_ids[self.sent.index(message)]

    def clear(self) -> None:
        """Forget what was sent."""
        self.sent.clear()
        self.sent_ids.clear()
        self.edits.clear()
