"""The shared aiohttp server: routes mounted before start, /healthz, clean stop."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from bot.adapters.http import HttpServer, ServerStartError
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
