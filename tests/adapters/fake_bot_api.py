"""Telegram's Bot API, answered in memory: the far end of the network for the Telegram tests.

`FakeBotApi` answers methods the way Telegram does (JSON envelopes, error codes, `retry_after`,
`migrate_to_chat_id`, HTML parse errors) and records every call. PTB reaches it through
`FakeRequest`, a `BaseRequest` (PTB's lowest seam, as its own test suite fakes it), or over real
HTTP through `serve_bot_api`, a small aiohttp server on loopback.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from telegram.request import BaseRequest, RequestData

TOKEN = "123456:TEST-token_for-Guanjia"
BOT_ID = 777000
BOT_USERNAME = "GuanjiaTestBot"
BOT_USER = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "管家",
    "username": BOT_USERNAME,
    "can_join_groups": True,
    "can_read_all_group_messages": True,
    "supports_inline_queries": False,
}
# The tags Telegram's HTML parse mode knows; anything else is "can't parse entities".
HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}
HTML_TAGS |= {"span", "tg-spoiler", "blockquote", "tg-emoji"}
_TAG = re.compile(r"<(/?)([A-Za-z][\w-]*)[^>]*>|<")
_AMP = re.compile(r"&(?!(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)")
# A text mention in HTML parse mode: a link to a user by id (Telegram's `text_mention` entity).
_TEXT_MENTION = re.compile(r'<a href="tg://user\?id=(\d+)">(.*?)</a>', re.DOTALL)


def _utf16(text: str) -> int:
    """A length as Telegram counts entity offsets: in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def text_mentions(text: str, parse_mode: str | None) -> list[dict[str, Any]]:
    """The `text_mention` entities Telegram makes of `<a href="tg://user?id=…">` links."""
    if parse_mode != "HTML":
        return []
    entities = []
    for match in _TEXT_MENTION.finditer(text):
        before = html.unescape(_TAG.sub("", text[: match.start()]))
        shown = html.unescape(_TAG.sub("", match.group(2)))
        entities.append(
            {
                "type": "text_mention",
                "offset": _utf16(before),
                "length": _utf16(shown),
                "user": {"id": int(match.group(1)), "is_bot": False, "first_name": shown},
            }
        )
    return entities


@dataclass
class ApiCall:
    """One Bot API call as Telegram received it."""

    method: str
    params: dict[str, Any]
    url: str
    files: list[str] = field(default_factory=list)


@dataclass
class Failure:
    """A scripted answer for the next call of a method: an error envelope, or an exception."""

    status: int = 400
    description: str = "Bad Request"
    parameters: dict[str, Any] | None = None
    raises: Exception | None = None
    # Only a call to this chat meets it (None: the next call, whatever its chat).
    chat_id: int | None = None


class FakeBotApi:
    """The Bot API of one bot: messages it was asked to send, and updates waiting for it."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.calls: list[ApiCall] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        # The bytes of each file uploaded over HTTP (`serve_bot_api`), by its file name.
        self.uploads: dict[str, bytes] = {}
        self._failures: dict[str, deque[Failure]] = defaultdict(deque)
        self._ids = itertools.count(5000)
        self._updates: list[dict[str, Any]] = []
        self._offset = 0
        self._changed = asyncio.Condition()

    # ---- scripting ---------------------------------------------------------------------

    def fail(
        self,
        method: str,
        status: int = 400,
        description: str = "Bad Request",
        *,
        parameters: dict[str, Any] | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` (to `chat_id`, when given) with an error."""
        for _ in range(times):
            self._failures[method].append(
                Failure(status, description, parameters, chat_id=chat_id)
            )

    def raise_on(self, method: str, error: Exception, times: int = 1) -> None:
        """Make the next `times` calls of `method` fail in transit (no answer at all)."""
        for _ in range(times):
            self._failures[method].append(Failure(raises=error))

    async def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates."""
        async with self._changed:
            self._updates.append(update)
            self._changed.notify_all()

    async def fetched(self, update_id: int) -> None:
        """Wait until the bot has confirmed the update (asked for updates after it)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._offset > update_id)

    # ---- what was asked ----------------------------------------------------------------

    def of(self, method: str, chat_id: int | None = None) -> list[dict[str, Any]]:
        """The parameters of every call of a method (to one chat, when given)."""
        return [
            call.params
            for call in self.calls
            if call.method == method and (chat_id is None or call.params.get("chat_id") == chat_id)
        ]

    def texts(self, chat_id: int) -> list[str]:
        """The texts of the messages sent to a chat, as its members see them."""
        return [
            m["text"]
            for (chat, _), m in sorted(self.messages.items())
            if chat == chat_id and "text" in m
        ]

    def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        """The messages sent to a chat, as Telegram holds them, in order."""
        return [m for (chat, _), m in sorted(self.messages.items()) if chat == chat_id]

    def clear(self) -> None:
        """Forget the calls and messages so far."""
        self.calls.clear()
        self.messages.clear()

    # ---- answering ---------------------------------------------------------------------

    def _next_failure(self, method: str, params: dict[str, Any]) -> Failure | None:
        """The first scripted failure this call meets (taken), if any."""
        queue = self._failures[method]
        for failure in queue:
            if failure.chat_id is None or str(failure.chat_id) == str(params.get("chat_id")):
                queue.remove(failure)
                return failure
        return None

    async def answer(
        self, method: str, params: dict[str, Any], url: str = "", files: list[str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Telegram's answer to one call: (HTTP status, JSON envelope)."""
        self.calls.append(ApiCall(method, params, url, files or []))
        failure = self._next_failure(method, params)
        if failure is not None:
            if failure.raises is not None:
                raise failure.raises
            body: dict[str, Any] = {
                "ok": False,
                "error_code": failure.status,
                "description": failure.description,
            }
            if failure.parameters:
                body["parameters"] = failure.parameters
            return failure.status, body
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        result = await handler(params, files or [])
        if isinstance(result, tuple):
            return result
        return 200, {"ok": True, "result": result}

    async def _getMe(self, params: dict[str, Any], files: list[str]) -> Any:
        return BOT_USER

    async def _setWebhook(self, params: dict[str, Any], files: list[str]) -> Any:
        return True

    async def _deleteWebhook(self, params: dict[str, Any], files: list[str]) -> Any:
        return True

    async def _answerCallbackQuery(self, params: dict[str, Any], files: list[str]) -> Any:
        return True

    async def _getUpdates(self, params: dict[str, Any], files: list[str]) -> Any:
        offset = int(params.get("offset") or 0)
        async with self._changed:
            self._offset = max(self._offset, offset)
            self._changed.notify_all()

            def ready() -> list[dict[str, Any]]:
                return [u for u in self._updates if u["update_id"] >= self._offset]

            if not ready() and params.get("timeout"):
                # A long poll: held until an update comes (or the bot stops polling).
                await self._changed.wait_for(lambda: bool(ready()))
            return ready()

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id < 0:
            return {"id": chat_id, "type": "supergroup", "title": f"group {chat_id}"}
        return {"id": chat_id, "type": "private", "first_name": f"user {chat_id}"}

    def _shown(self, text: str, parse_mode: str | None) -> tuple[str | None, str]:
        """The text as members see it, or an error as Telegram words it."""
        if parse_mode != "HTML":
            return None, text
        for match in _TAG.finditer(text):
            if match.group(2) is None or match.group(2).lower() not in HTML_TAGS:
                return f"Bad Request: can't parse entities: unsupported tag at {match.start()}", ""
        if _AMP.search(text):
            return "Bad Request: can't parse entities: unescaped &", ""
        return None, html.unescape(_TAG.sub("", text))

    def _new_message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message = {
            "message_id": next(self._ids),
            "date": int(self.now.timestamp()),
            "chat": self._chat(chat_id),
            "from": BOT_USER,
            **content,
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self.messages[(chat_id, message["message_id"])] = message
        return message

    async def _sendMessage(self, params: dict[str, Any], files: list[str]) -> Any:
        error, shown = self._shown(str(params["text"]), params.get("parse_mode"))
        if error:
            return 400, {"ok": False, "error_code": 400, "description": error}
        if not shown.strip():
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message text is empty",
            }
        entities = text_mentions(str(params["text"]), params.get("parse_mode"))
        if entities:
            return self._new_message(params, text=shown, entities=entities)
        return self._new_message(params, text=shown)

    async def _sendPhoto(self, params: dict[str, Any], files: list[str]) -> Any:
        ref = params.get("photo") or f"uploaded:{files[0]}"
        if not files and not str(ref).startswith("AgAC"):
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: wrong remote file identifier specified",
            }
        size = {"file_id": ref, "file_unique_id": "u" + str(ref)[-6:], "width": 90, "height": 90}
        return self._new_message(params, photo=[size])

    async def _sendDocument(self, params: dict[str, Any], files: list[str]) -> Any:
        ref = params.get("document") or f"uploaded:{files[0]}"
        return self._new_message(
            params, document={"file_id": ref, "file_unique_id": "d" + str(ref)[-6:]}
        )

    async def _editMessageText(self, params: dict[str, Any], files: list[str]) -> Any:
        key = (int(params["chat_id"]), int(params["message_id"]))
        message = self.messages.get(key)
        if message is None:
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message to edit not found",
            }
        error, shown = self._shown(str(params["text"]), params.get("parse_mode"))
        if error:
            return 400, {"ok": False, "error_code": 400, "description": error}
        markup = params.get("reply_markup")
        if message.get("text") == shown and message.get("reply_markup") == markup:
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message is not modified: specified new message "
                "content and reply markup are exactly the same",
            }
        message["text"] = shown
        message["entities"] = text_mentions(str(params["text"]), params.get("parse_mode"))
        message["edit_date"] = int(self.now.timestamp())
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return message


class FakeRequest(BaseRequest):
    """PTB's lowest seam: every Bot API call of the real bot ends here, answered by the fake."""

    def __init__(self, api: FakeBotApi) -> None:
        self.api = api

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (unused: nothing goes over a network)."""
        return 5.0

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Answer one call as Telegram would."""
        params = dict(request_data.parameters) if request_data else {}
        files = []
        if request_data is not None and request_data.contains_files:
            files = [upload[0] for upload in request_data.multipart_data.values()]
        status, body = await self.api.answer(url.rsplit("/", 1)[-1], params, url, files)
        return status, json.dumps(body).encode()


def serve_bot_api(api: FakeBotApi, token: str = TOKEN) -> web.Application:
    """The fake as a small Bot API HTTP server (`/bot<token>/<method>`), for a loopback test."""

    async def call(request: web.Request) -> web.Response:
        if request.match_info["token"] != token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        form = await request.post()
        params: dict[str, Any] = {}
        files: list[str] = []
        for name, value in form.items():
            if isinstance(value, web.FileField):
                # An upload (multipart/form-data), as PTB sends a local photo or document.
                files.append(value.filename)
                api.uploads[value.filename] = value.file.read()
                continue
            text = str(value)
            # PTB sends JSON-encoded values, but strings as they are.
            try:
                params[name] = json.loads(text) if name != "text" else text
            except ValueError:
                params[name] = text
        method = request.match_info["method"]
        status, body = await api.answer(method, params, str(request.url), files)
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", call)
    return app


async def bot_api_on_loopback(api: FakeBotApi) -> tuple[web.AppRunner, int]:
    """`serve_bot_api` started on a free loopback port: its runner (to clean up) and port."""
    runner = web.AppRunner(serve_bot_api(api))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]
