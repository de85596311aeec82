"""The shared aiohttp server: routes mounted before start, /healthz, clean stop, the security
headers on every answer, and how Host names are read."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from bot.adapters.http import HostPolicy, HttpServer, ServerStartError, host_name
from models.store import close_store, open_store
from tests.conftest import POSTGRES_URL


async def test_healthz_says_the_store_answers_and_mounted_routes_are_served(store: str) -> None:
    server = HttpServer(host="127.0.0.1", port=0)

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="pong")

    server.add_routes([web.get("/ping", ping)])
    await server.start()
    try:
        assert server.port != 0
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{server.url}/healthz") as response:
                assert response.status == 200
                assert await response.json() == {"ok": True, "store": True}
            async with session.get(f"{server.url}/ping") as response:
                assert await response.text() == "pong"
        with pytest.raises(RuntimeError):
            server.add_routes([web.get("/late", ping)])
    finally:
        await server.stop()
    await server.stop()  # a second stop does nothing


async def test_healthz_is_503_when_the_store_does_not_answer(store: str) -> None:
    server = HttpServer(host="127.0.0.1", port=0)
    await server.start()
    try:
        await close_store()
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{server.url}/healthz") as response:
                assert response.status == 503
                assert await response.json() == {"ok": False, "store": False}
    finally:
        await server.stop()
        # Give the fixture back an open store to clean up.
        await open_store(POSTGRES_URL if store == "postgres" else "sqlite://:memory:")


async def test_a_taken_port_is_a_readable_error(store: str) -> None:
    first = HttpServer(host="127.0.0.1", port=0)
    await first.start()
    try:
        second = HttpServer(host="127.0.0.1", port=first.port)
        with pytest.raises(ServerStartError, match=f"127.0.0.1:{first.port}.*HTTP_PORT"):
            await second.start()
    finally:
        await first.stop()


SECURITY_HEADERS = {
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
}


async def test_every_answer_carries_the_security_headers(store: str) -> None:
    server = HttpServer(host="127.0.0.1", port=0)

    async def webhook(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a handler's bug")

    server.add_routes([web.post("/telegram/webhook", webhook), web.get("/broken", broken)])
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            for method, path, status in (
                ("POST", "/telegram/webhook", 200),
                ("GET", "/healthz", 200),
                ("GET", "/nowhere", 404),
                ("GET", "/telegram/webhook", 405),
                ("GET", "/broken", 500),
            ):
                async with session.request(method, f"{server.url}{path}") as response:
                    assert response.status == status, path
                    assert SECURITY_HEADERS <= set(response.headers), path
                    assert response.headers["X-Frame-Options"] == "DENY"
                    assert response.headers["Referrer-Policy"] == "no-referrer"
                    assert response.headers["X-Content-Type-Options"] == "nosniff"
                    policy = response.headers["Content-Security-Policy"]
                    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
                    assert "'unsafe-inline'" not in policy
    finally:
        await server.stop()


def test_host_names_are_read_strictly() -> None:
    assert host_name("bot.example.com") == "bot.example.com"
    assert host_name("Bot.Example.com:443") == "bot.example.com"
    assert host_name("[::1]:8080") == "::1"
    assert host_name("127.0.0.1:8080") == "127.0.0.1"
    # Nothing a URL parser could read another name out of.
    for tricky in ("evil@127.0.0.1", "127.0.0.1/evil", "", None, "a\\b"):
        assert host_name(tricky) is None, tricky
    policy = HostPolicy(["bot.example.com", "[::1]"])
    assert policy.names == frozenset({"bot.example.com", "::1"})
