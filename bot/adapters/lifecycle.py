"""One lifecycle for every channel, so that the app runs them all through one loop.

A channel module offers a builder (`ChannelBuilder`): from the settings, the channel, or None
when its settings are absent. The app then, for every channel it built, in the builders' order:

1. `mount`s its routes on the shared `HttpServer` (only before the server starts);
2. `start`s it — before the server listens, so that no request reaches a channel that is not
   ready, unless its start needs the server listening (`after_server`: Telegram's webhook);
3. registers it with the hub, and, on the way out, `stop`s it (in the reverse order of the
   starts), which lets what is in flight finish (`drain`) for a while before it gives up. A
   channel the server calls (WeChat's callbacks) stops after the server, once no new request can
   reach it; one that holds connections of its own (the web chat's sockets) stops before it
   (`stops_before_server`).
"""

from __future__ import annotations

from typing import Protocol

from bot.adapters.http import HttpServer
from bot.config import Settings
from bot.core.channel import Channel
from bot.core.context import Services
from bot.core.router import Router


class ChannelLifecycle(Channel, Protocol):
    """A channel as the app runs it: mounted, started, drained and stopped."""

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


class ChannelBuilder(Protocol):
    """Builds a channel from the settings."""

    def __call__(
        self, settings: Settings, services: Services, router: Router
    ) -> ChannelLifecycle | None:
        """The channel, or None when its settings are absent."""
        ...
