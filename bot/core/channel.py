"""The Channel protocol every adapter implements, and the hub that finds a chat's channel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from bot.core.types import ChatRef, OutgoingMessage, Platform, SentMessage


class SendError(Exception):
    """A send failed; `retry_after` is the seconds the platform asked us to wait, if it said."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        answered: bool = True,
        whole_bot: bool = False,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        # False when the platform's answer was lost: nobody knows whether it went out.
        self.answered = answered
        # True when the platform said the bot as a whole is over its limit, not one chat.
        self.whole_bot = whole_bot


@dataclass(frozen=True)
class NoticeMeta:
    """What a channel is told about a notice besides its message: its kind (bill, greeting,
    escalation …), its named values (unit, period, total …) for a platform that sends notices
    as structured messages, and who it is for (`private`, `owners`, `staff`)."""

    kind: str
    fields: Mapping[str, str] = field(default_factory=dict)
    audience: str = "private"


class Hearing(StrEnum):
    """What of the members' messages in a chat reaches the bot, as its channel declares it."""

    # Every message (a private chat, a Telegram group, the web chat's staff chat).
    EVERYTHING = "everything"
    # Only the messages addressed to the bot (@-mentions): a group whose bot hears nothing else.
    ADDRESSED = "addressed"
    # Nothing: a group the bot only posts to (a WeCom app group chat, a group robot's group).
    NOTHING = "nothing"


@runtime_checkable
class Channel(Protocol):
    """One platform's way of sending; every platform's adapter implements it."""

    platform: Platform

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """Send a message; raise SendError when it cannot."""
        ...

    async def send_notice(self, message: OutgoingMessage, notice: NoticeMeta) -> SentMessage:
        """Send a notice for the Notifier, which paces and retries it: one attempt, never
        retried nor held inside the platform's SDK (a refusal raises SendError, with the
        platform's retry_after when it gave one); a platform that has a second way to reach a
        person (WeChat's template messages outside its 48-hour window) uses it here."""
        ...

    async def edit(self, sent: SentMessage, message: OutgoingMessage) -> SentMessage:
        """Replace a message sent earlier; a platform that cannot edit sends anew."""
        ...

    def private_chat(self, user_id: str) -> ChatRef:
        """The private chat between the bot and a user of this platform."""
        ...

    def hears(self, chat: ChatRef) -> Hearing:
        """What of the members' messages in `chat` reaches the bot: where a staff chat's
        answers cannot come back (`NOTHING`), the staff desk asks its questions privately."""
        ...


class ChannelHub:
    """The channels that are running, by platform."""

    def __init__(self) -> None:
        self._channels: dict[Platform, Channel] = {}

    def add(self, channel: Channel) -> None:
        """Register a running channel."""
        self._channels[channel.platform] = channel

    def get(self, platform: Platform) -> Channel | None:
        """The channel of a platform, or None when it is not running."""
        return self._channels.get(platform)

    def for_chat(self, chat: ChatRef) -> Channel:
        """The channel that can reach a chat."""
        channel = self._channels.get(chat.platform)
        if channel is None:
            raise SendError(f"no {chat.platform} channel is running")
        return channel

    @property
    def platforms(self) -> list[Platform]:
        """The platforms with a running channel."""
        return list(self._channels)


def sends_local(channel: object, chat: ChatRef, kind: str) -> bool:
    """Whether `channel` delivers a local file of `kind` to `chat`: "photo" (an image shown in
    the chat, a report's chart) or "file" (a document, a report's workbook). A channel says so
    with a `sends_local(chat, kind)` method; one without delivers neither, and whoever sends
    says in text where to get them."""
    says = getattr(channel, "sends_local", None)
    return bool(says(chat, kind)) if callable(says) else False
