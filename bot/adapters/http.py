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

Every response of the server, whatever route (or none) answered it, carries the security headers
(`SECURITY_HEADERS`: a strict Content-Security-Policy, no framing, no MIME sniffing, no
Referer, since a sign-in link holds a token). `hosts` is the `HostPolicy` of the names browsers
may reach the server by: the console and the web chat check each request's `Host` (and a
WebSocket's `Origin`) against it rather than trusting the request's own `Host`, so a page on
another name that resolves here (DNS rebinding) is refused.

`host` defaults to 127.0.0.1: the web chat demo served here has no login, so it is served only
on a loopback address (see `bot/adapters/webchat.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from aiohttp import hdrs, web

from bot.config import LOOPBACK_NAMES
from bot.core.health import store_answers

log = logging.getLogger("guanjia.http")

ShutdownHook = Callable[[web.Application], Awaitable[None]]


# What the pages may load: their own scripts, styles and images (and data: images, the web
# chat's photo preview), their own WebSocket; nothing inline, no plugins, never in a frame.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # The console's sign-in link holds a token: no page sends its URL anywhere.
    "Referrer-Policy": "no-referrer",
}


def host_name(value: str | None) -> str | None:
    """The host name of a `Host` header (`bot.example.com:443`, `[::1]:8080`), lower-cased;
    None when there is none."""
    if not value or any(ch in value for ch in "@/\\?#"):
        return None  # a Host header is a name and a port, nothing a URL parser might re-read
    try:
        return urlsplit(f"//{value.strip()}").hostname
    except ValueError:
        return None


class HostPolicy:
    """The names browsers may reach the server by (PUBLIC_HOSTS): a request's own `Host` is
    what an attacker's name resolving here (DNS rebinding) would also send."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(name.strip().strip("[]").lower() for name in names if name)

    def allows_host(self, request: web.Request) -> bool:
        """Whether the request's `Host` is one of the names."""
        return host_name(request.headers.get(hdrs.HOST)) in self.names

    def allows_origin(self, request: web.Request) -> bool:
        """Whether the request's `Origin` is a page served under one of the names (a request
        with no `Origin`, or `null`, is not)."""
        origin = request.headers.get(hdrs.ORIGIN, "")
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        return parts.scheme in ("http", "https") and parts.hostname in self.names

    def check(self, request: web.Request, *, origin: bool = False) -> None:
        """Refuse (403, with a log line) a request whose `Host`, or with `origin` whose `Origin`,
        is not one of the names."""
        if not self.allows_host(request):
            log.warning(
                "refused %s %s: Host %r is not one of the public names (PUBLIC_HOSTS)",
                request.method,
                request.path,
                request.headers.get(hdrs.HOST, ""),
            )
            raise web.HTTPForbidden(text="this server is not reached by that name")
        if origin and not self.allows_origin(request):
            log.warning(
                "refused %s %s: Origin %r is not a page of the public names (PUBLIC_HOSTS)",
                request.method,
                request.path,
                request.headers.get(hdrs.ORIGIN),
            )
            raise web.HTTPForbidden(text="only this server's own pages may do that")


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Put the security headers on every response (a route may set a stricter one first)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


class ServerStartError(Exception):
    """The server could not listen (the port is taken, say); the message says what to change."""


async def healthz(request: web.Request) -> web.Response:
    """Say whether the store answers: 200 when it does, 503 when it does not."""
    ok = await store_answers()
    return web.json_response({"ok": ok, "store": ok}, status=200 if ok else 503)


class HttpServer:
    """One `aiohttp.web.Application` on one host and port, shared by every channel."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        public_hosts: Iterable[str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        # By default the loopback names (and the listening address): a local server.
        names = public_hosts if public_hosts is not None else LOOPBACK_NAMES | {host}
        self.hosts = HostPolicy(names)
        self.app = web.Application(client_max_size=8 * 1024 * 1024)
        # A signal rather than a middleware: it also reaches the answers no handler gave (a 404,
        # a 405, the 500 of a handler that failed).
        self.app.on_response_prepare.append(_security_headers)
        self.app.router.add_get("/healthz", healthz)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    def add_routes(self, routes: Iterable[web.AbstractRouteDef]) -> None:
        """Register routes (e.g. `[web.post("/path", handler)]`); only before `start()`."""
        if self._runner is not None:
            raise RuntimeError("HttpServer.add_routes must be called before start()")
        self.app.add_routes(list(routes))

    def add_subapp(self, prefix: str, app: web.Application) -> None:
        """Serve an application of its own (its middlewares, its cookies) under `prefix`; only
        before `start()`. The server's security headers reach its answers too."""
        if self._runner is not None:
            raise RuntimeError("HttpServer.add_subapp must be called before start()")
        self.app.add_subapp(prefix, app)

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
