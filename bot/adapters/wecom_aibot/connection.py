"""The long connection to WeCom's AI bot service: one WebSocket per bot, our own aiohttp client.

Once connected it subscribes (`aibot_subscribe` with the bot id and secret) and then pings every
`heartbeat` seconds; two pings in a row without an answer, a closed socket or a refused subscribe
end the connection, and it is opened again after 1, 2, 4 … up to 30 seconds. Every frame Guanjia
sends carries a `req_id` and is answered by a frame with the same `req_id` and an `errcode`;
frames with one `req_id` go one at a time, each waiting for its answer, as WeCom asks. WeCom
keeps one connection per bot: a newer one (another process) takes over, WeCom says so with a
`disconnected_event`, and this one then stays closed rather than take it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bot.adapters.wecom_aibot.frames import PING, SUBSCRIBE, new_req_id
from bot.adapters.wxcommon import Sleep
from bot.core.channel import SendError

log = logging.getLogger("guanjia.wecom_aibot")

ACK_TIMEOUT = 10.0
MAX_FRAME_BYTES = 256 * 1024
MISSED_PINGS = 2
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0

OnFrame = Callable[[dict[str, Any]], Awaitable[None]]


class FrameRefused(SendError):
    """WeCom answered a frame with an error code."""

    def __init__(self, what: str, errcode: int, errmsg: str) -> None:
        super().__init__(f"{what}: WeCom said {errcode} {errmsg}")
        self.errcode = errcode


class LongConnection:
    """The bot's WebSocket: subscribe, heartbeat, reconnect, and frames answered by req_id."""

    def __init__(
        self,
        url: str,
        bot_id: str,
        secret: str,
        on_frame: OnFrame,
        *,
        heartbeat: float = 30.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.url = url
        self.bot_id = bot_id
        self._secret = secret
        self._on_frame = on_frame
        self.heartbeat = heartbeat
        self._sleep = sleep
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._missed = 0
        self._stopping = False
        # Set by a disconnected_event: another connection of this bot took over.
        self.replaced = False
        self.subscribed = asyncio.Event()
        # Set when the connection has ended for good (stopped, or taken over).
        self.finished = asyncio.Event()

    # Lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (and keep reconnecting) until `stop`."""
        if self._task is None:
            self._http = aiohttp.ClientSession()
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Close the socket and stop reconnecting."""
        self._stopping = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    def taken_over(self) -> None:
        """WeCom said another connection of this bot took over: close, and stay closed."""
        log.error(
            "WeCom AI bot %s: another connection took over (is a second Guanjia running with "
            "this bot?); this one stays closed",
            self.bot_id,
        )
        self.replaced = True
        if self._ws is not None:
            asyncio.get_running_loop().create_task(self._ws.close())

    async def _run(self) -> None:
        try:
            await self._connect_until_done()
        finally:
            self.finished.set()

    async def _connect_until_done(self) -> None:
        failures = 0
        while not self._stopping and not self.replaced:
            try:
                if await self._session():
                    failures = 0
            except FrameRefused as exc:
                log.error("WeCom AI bot refused the subscription: %s", exc)
            except (aiohttp.ClientError, OSError, TimeoutError, SendError) as exc:
                log.warning("WeCom AI bot connection failed: %r", exc)
            except Exception:  # a bug must not end the bot's connection for good
                log.exception("WeCom AI bot connection failed unexpectedly")
            finally:
                self.subscribed.clear()
                self._ws = None
                self._fail_pending("the connection closed")
            if self._stopping or self.replaced:
                break
            failures += 1
            delay = min(FIRST_BACKOFF * 2 ** (failures - 1), MAX_BACKOFF)
            log.info("WeCom AI bot: reconnecting in %.0f s (attempt %d)", delay, failures)
            await self._sleep(delay)

    async def _session(self) -> bool:
        """One connection, from opening to closing; True once it had subscribed."""
        assert self._http is not None
        async with self._http.ws_connect(
            self.url, autoping=True, max_msg_size=MAX_FRAME_BYTES
        ) as ws:
            self._ws = ws
            self._missed = 0
            reader = asyncio.create_task(self._read(ws))
            beating: asyncio.Task[None] | None = None
            try:
                await self._request(ws, SUBSCRIBE, {"bot_id": self.bot_id, "secret": self._secret})
                log.info("WeCom AI bot %s: subscribed", self.bot_id)
                self.subscribed.set()
                beating = asyncio.create_task(self._beat(ws))
                await reader
                return True
            except FrameRefused:
                raise
            finally:
                for task in (reader, beating):
                    if task is not None and not task.done():
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task

    async def _beat(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Ping every `heartbeat` seconds; two unanswered in a row close the connection."""
        while not ws.closed:
            await self._sleep(self.heartbeat)
            if self._missed >= MISSED_PINGS:
                log.warning("WeCom AI bot: %d pings unanswered, reconnecting", self._missed)
                await ws.close()
                return
            self._missed += 1
            req_id = new_req_id(PING)
            await ws.send_str(json.dumps({"cmd": PING, "headers": {"req_id": req_id}}))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            await self._read_frames(ws)
        finally:
            # Nothing more will be answered on this socket: whoever waits is told at once.
            self._fail_pending("the connection closed")

    async def _read_frames(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for raw in ws:
            if raw.type is not aiohttp.WSMsgType.TEXT:
                if raw.type is aiohttp.WSMsgType.ERROR:
                    log.warning("WeCom AI bot socket error: %r", ws.exception())
                    return
                log.warning("WeCom AI bot: ignored a %s frame", raw.type.name)
                continue
            try:
                frame = json.loads(raw.data)
                if not isinstance(frame, dict):
                    raise ValueError("not an object")
                headers = frame.get("headers")
                req_id = headers.get("req_id") if isinstance(headers, dict) else None
                if not isinstance(req_id, str) or not req_id:
                    raise ValueError("no headers.req_id")
            except ValueError as exc:
                log.warning("WeCom AI bot: refused a malformed frame (%s)", exc)
                continue
            if "cmd" not in frame:
                self._answered(req_id, frame)
                continue
            try:
                await self._on_frame(frame)
            except Exception:  # one bad frame must not end the connection
                log.exception("WeCom AI bot: handling a %r frame failed", frame.get("cmd"))

    def _answered(self, req_id: str, frame: dict[str, Any]) -> None:
        if req_id.startswith(PING):
            self._missed = 0
            return
        future = self._pending.pop(req_id, None)
        if future is None:
            log.warning("WeCom AI bot: an answer to no frame we sent (%s)", req_id[:40])
        elif not future.done():
            future.set_result(frame)

    def _fail_pending(self, why: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(SendError(f"WeCom AI bot: {why}", answered=False))
        self._pending.clear()

    # Frames ------------------------------------------------------------------------------

    async def request(self, cmd: str, body: dict[str, Any], req_id: str | None = None) -> None:
        """Send a frame and wait for WeCom's answer; raise SendError when it is refused or the
        connection is down. Frames with one req_id (the replies to one callback) go in turn."""
        ws = self._ws
        if ws is None or ws.closed or not self.subscribed.is_set():
            raise SendError("the WeCom AI bot is not connected", retry_after=5)
        await self._request(ws, cmd, body, req_id)

    async def _request(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        cmd: str,
        body: dict[str, Any],
        req_id: str | None = None,
    ) -> None:
        req_id = req_id or new_req_id(cmd)
        lock = self._locks.setdefault(req_id, asyncio.Lock())
        try:
            async with lock:
                future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
                self._pending[req_id] = future
                frame = {"cmd": cmd, "headers": {"req_id": req_id}, "body": body}
                try:
                    await ws.send_str(json.dumps(frame, ensure_ascii=False))
                    answer = await asyncio.wait_for(future, ACK_TIMEOUT)
                except (ConnectionError, aiohttp.ClientError) as exc:
                    raise SendError(f"{cmd}: {exc!r}", retry_after=5, answered=False) from exc
                except TimeoutError as exc:
                    raise SendError(f"{cmd}: no answer", retry_after=5, answered=False) from exc
                finally:
                    self._pending.pop(req_id, None)
        finally:
            if not lock.locked():
                self._locks.pop(req_id, None)
        errcode = answer.get("errcode", 0)
        if errcode != 0:
            errmsg = str(answer.get("errmsg", ""))
            log.warning("WeCom AI bot refused %s: %s %s", cmd, errcode, errmsg)
            raise FrameRefused(cmd, int(errcode) if isinstance(errcode, int) else -1, errmsg)
