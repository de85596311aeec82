"""The one aiohttp web server every HTTP-facing channel shares.

Telegram webhooks, WeChat and WeCom callbacks and the web chat all mount their routes on one
`HttpServer`, so a deployment opens one port. Usage::

    server = HttpServer(host=settings.http_host, port=settings.http_port)
    server.add_routes([web.post("/telegram/webhook", handle_update)])  # before start()
    server.on_shutdown(close_websockets)                               # optional
    await server.start()
    ...
    await server.stop()

Routes must be added before `start()`: aiohttp freezes the router when the application starts,
and adding a route afterwards raises `RuntimeError`. `GET /healthz` is always there and answers
`{"ok": true, "store": true}` with 200 when the store answers a query, and 503 with
`"store": false` when it does not.

`host` defaults to 127.0.0.1: the web chat served here is a local demo channel with no login, so
it must not be exposed beyond localhost (see `bot/adapters/webchat.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from models.store import store_answers

log = logging.getLogger("guanjia.http")

ShutdownHook = Callable[[web.Application], Awaitable[None]]


class ServerStartError(Exception):
    """The server could not listen (the port is taken, say); the message says what to change."""


async def healthz(request: web.Request) -> web.Response:
    """Say whether the store answers: 200 when it does, 503 when it does not."""
    ok = await store_answers()
    return web.json_response({"ok": ok, "store": ok}, status=200 if ok else 503)


class HttpServer:
    """One `aiohttp.web.Application` on one host and port, shared by every channel."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.host = host
        self.port = port
        self.app = web.Application(client_max_size=8 * 1024 * 1024)
        self.app.router.add_get("/healthz", healthz)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    def add_routes(self, routes: Iterable[web.AbstractRouteDef]) -> None:
        """Register routes (e.g. `[web.post("/path", handler)]`); only before `start()`."""
        if self._runner is not None:
            raise RuntimeError("HttpServer.add_routes must be called before start()")
        self.app.add_routes(list(routes))

    def on_shutdown(self, hook: ShutdownHook) -> None:
        """Run `hook(app)` when the server stops (close open WebSockets, say)."""
        self.app.on_shutdown.append(hook)

    @property
    def url(self) -> str:
        """The base URL the server listens on, e.g. http://127.0.0.1:8080."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen on host and port (0 picks a free port); raise ServerStartError if it cannot."""
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ServerStartError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); "
                "set HTTP_HOST / HTTP_PORT to a free address"
            ) from exc
        self._runner, self._site = runner, site
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            # When port 0 was asked for, report the port the OS chose.
            self.port = sockets[0].getsockname()[1]
        log.info("HTTP server listening on %s", self.url)

    async def stop(self) -> None:
        """Stop listening and close open connections; safe to call twice."""
        if self._runner is None:
            return
        runner, self._runner, self._site = self._runner, None, None
        await runner.cleanup()
        log.info("HTTP server stopped")
