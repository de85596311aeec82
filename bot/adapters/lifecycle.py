"""One lifecycle for every part of the web server (each channel, and the staff console), so that
the app runs them all through one loop.

A channel module offers a builder (`ChannelBuilder`): from the settings, the channel, or None
when its settings are absent. The app then, for every part it built, in the builders' order
(the console last):

1. `mount_on`: its routes go on the shared `HttpServer` (only before the server starts);
2. `start`s it — before the server listens, so that no request reaches a part that is not
   ready, unless its start needs the server listening (`after_server`: Telegram's webhook);
   a channel is then registered with the hub;
3. on the way out, in the reverse order of the starts: a part that holds connections of its own
   (the web chat's sockets, Telegram's polling) `stop`s before the server
   (`stops_before_server`), and its `stop` finishes what it holds; then the server stops, so
   that no new request reaches the parts it calls (WeChat's callbacks, the console); then those
   parts `drain` together, for a limited time (`DRAIN_PATIENCE`), and `stop`.
"""

from __future__ import annotations

from typing import Protocol

from bot.adapters.http import HttpServer
from bot.config import Settings
from bot.core.channel import Channel
from bot.core.context import Services
from bot.core.router import Router

# How long, at the stop, the parts the server calls have to finish what they hold, together.
DRAIN_PATIENCE = 10.0


class WebPart(Protocol):
    """A part of the web server as the app runs it: mounted, started, drained and stopped."""

    # Whether `start` needs the web server listening (a webhook the platform checks at once).
    after_server: bool
    # Whether `stop` comes before the server's (it closes connections it holds on the server).
    stops_before_server: bool

    def mount_on(self, server: HttpServer) -> None:
        """Add the channel's routes (none, for one that only calls out) to the shared server."""
        ...

    async def start(self) -> None:
        """Start taking and sending messages (connect, register chats, poll)."""
        ...

    async def drain(self) -> None:
        """Wait until what the channel has in flight (handlings, late answers) has finished."""
        ...

    async def stop(self) -> None:
        """Stop cleanly: finish what is in flight for a while, then close connections."""
        ...


class ChannelLifecycle(WebPart, Channel, Protocol):
    """A channel as the app runs it: a part of the web server that also sends messages."""


class ChannelBuilder(Protocol):
    """Builds a channel from the settings."""

    def __call__(
        self, settings: Settings, services: Services, router: Router
    ) -> ChannelLifecycle | None:
        """The channel, or None when its settings are absent."""
        ...
