"""The web chat demo: a local chat app in the browser, a `Channel` like Telegram and WeChat.

It is served by the shared `HttpServer` (`bot/adapters/http.py`): `GET /` is the page, its static
files are beside this module in `webchat_static/`, and every open page holds one WebSocket at
`/webchat/ws`. Each estate has an owner group (chat id `owners-<estate code>`) and a staff chat
(`staff-<estate code>`), registered as `Chat` rows at start-up; each person has a private chat
with the bot (`private:<user id>`). A page picks who it is — any owner or staff member of the
demo estate (code `demo`, `bot/core/demo.py`) — and from then on speaks as the `ChatIdentity`
(platform `webchat`, user id `owner-<id>` or `staff-<id>`) bound to that owner or staff member.
Its messages and button presses go to the same `Router`, staff desk and store as every other
channel's. A staff page reaches the staff console as staff do anywhere: `/login` in its private
chat brings a one-time sign-in link.

**This is a local demo with no login: anyone who can reach the page can speak as any owner or
staff member of the demo estate.** So it is served only when the server listens on a loopback
address (`HTTP_HOST` 127.0.0.0/8, ::1 or localhost); on any other address its routes are not
mounted unless WEBCHAT_DEMO_UNSAFE_PUBLIC says so, and start-up then logs a warning. Its
`welcome` frame lists the demo estate's people only, and its page, WebSocket, photos and files
answer only to the loopback names (to the server's public names, `HttpServer.hosts`, when served
publicly): the socket needs such a `Host` and `Origin`, so a script with no `Origin`, or a page on
another name that resolves here (DNS rebinding), is refused.

The chats' messages are kept in memory (the last `HISTORY_LIMIT` per chat, for the chats
used most recently, up to `HELD_BYTES` in all) and appended to
`<data dir>/webchat/history/<chat>.jsonl`, so a page opened later, or after a restart, shows
them. A message goes only to the open pages that show its chat, as one JSON text for all of
them. The `welcome` frame lists a page of the demo estate's owners, not all of them; a page
searches and pages the rest with `people` frames.
Photos are saved under `<data dir>/webchat/uploads/` and referred to as `Attachment("photo",
"webchat:<file name>")`. A bot message's files (a report's workbook, `Attachment("file", <local
path>)`) are copied to `<data dir>/webchat/files/<random token>/<name>` and offered in the page as
download links; like a photo's, a file's URL is unguessable and reaches only the pages that show
its chat. Only files inside the data folder or the reports folder are shown or offered: a ref in
a message is never a way to read any file of the server. A copy that no message kept in a chat's
history offers any more is removed when the channel starts (`prune_files`).

The WebSocket protocol (JSON text frames: `pick`, `say`, `press`, `lang`, `people` in;
`welcome`, `picked`, `people`, `message`, `edit`, `toast`, `lang`, `error` out) is documented in
`docs/webchat-protocol.md`, a public interface: change it only together with that page.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import re
import shutil
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import WSCloseCode, WSMsgType, hdrs, web

from bot.adapters.http import HostPolicy, HttpServer
from bot.config import LOOPBACK_NAMES, Settings, is_loopback
from bot.core import chats
from bot.core.channel import Hearing, NoticeMeta, SendError
from bot.core.chats import ChatKind, Estate
from bot.core.context import Services
from bot.core.demo import DEMO_CODE, OWNERS_PAGE, demo_people, demo_person
from bot.core.i18n import LANGUAGES, Catalogues
from bot.core.router import Router
from bot.core.types import (
    Attachment,
    ChatRef,
    IncomingMessage,
    OutgoingMessage,
    Platform,
    SentMessage,
    safe_text,
)

log = logging.getLogger("guanjia.webchat")

STATIC_DIR = Path(__file__).with_name("webchat_static")
MAX_TEXT = 4000
MAX_PHOTO_BYTES = 5 * 1024 * 1024
# The largest file a bot message offers for download (a month report's workbook is far smaller).
MAX_FILE_BYTES = 20 * 1024 * 1024
# Room for a 5 MB photo in base64 (4/3 larger) plus the JSON around it; a bigger frame closes.
MAX_FRAME = 8 * 1024 * 1024
# No frame of the protocol nests deeper than this; a deeper one is refused as malformed.
MAX_DEPTH = 4
# The longest search a `people` frame may carry.
MAX_QUERY = 64
HISTORY_LIMIT = 200
# How old a file copy must be before it may be removed as offered by no kept message.
FILE_COPY_GRACE = timedelta(hours=1)
# A file a kept message offers, as its JSON says it (`"file": "<token>/<name>"`).
_OFFERED = re.compile(rb'"file": "([0-9a-f]{32})/')
# What may not be in a history file's name (the rest of a chat id becomes "_").
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9_.-]")
# How much of the chats' recent messages is held in memory at once, in bytes as `ChatLog`
# counts them (the chats used most recently); another chat's are read back from its history
# file when it is next shown. Bytes rather than chats: a few busy groups and many short private
# chats both fit, and neither can take more.
HELD_BYTES = 16 * 1024 * 1024
# What a held chat and a held message cost beside their messages' encoded bytes (the Python
# objects that hold them), as counted against `HELD_BYTES`.
CHAT_OVERHEAD = 1024
MESSAGE_OVERHEAD = 128
# Button payloads only staff may press, wherever they appear (the staff desk's card buttons).
STAFF_PAYLOADS = frozenset({"claim", "transfer", "transfer_to", "close", "approve", "refuse"})
PHOTO_PREFIX = "webchat:"
UPLOAD_NAME = r"[0-9a-f]{32}\.(?:jpg|png|gif|webp)"
# A file offered for download: `<token>/<name>` under the files folder.
FILE_TOKEN = r"[0-9a-f]{32}"
FILE_NAME = r"[\w-][\w.-]{0,119}"
FILE_TYPES = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".csv": "text/csv",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".zip": "application/zip",
}
_MENTION = re.compile(r"@\s*(管家|guanjia)", re.IGNORECASE)
_IMAGE_TYPES = (
    (b"\xff\xd8\xff", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


class Refusal(Exception):
    """A frame the web chat will not act on; `code` names why (see the module docstring)."""

    def __init__(self, code: str, **fields: object) -> None:
        super().__init__(code)
        self.code = code
        self.fields = fields


@dataclass(frozen=True)
class Sender:
    """Who wrote a message in the web chat: the bot, or a person the page picked."""

    kind: str  # "bot", "owner" or "staff"
    id: str
    name: str


BOT = Sender("bot", "bot", "")


@dataclass
class LoggedMessage:
    """One message as the web chat shows it."""

    id: str
    chat: str
    sender: Sender
    text: str
    at: str
    buttons: list[list[dict[str, str]]] = field(default_factory=list)
    photos: list[str] = field(default_factory=list)
    reply_to: str | None = None
    edited: bool = False
    # Who the text's `@name`s are: [{"name": "@张工", "id": <web chat user id>}], highlighted.
    mentions: list[dict[str, str]] = field(default_factory=list)
    # Files offered for download: [{"file": "<token>/<name>", "name": <name>, "size": <bytes>}].
    files: list[dict[str, Any]] = field(default_factory=list)

    def has_button(self, payload: str) -> dict[str, str] | None:
        """The button with this payload, if the message has one."""
        for row in self.buttons:
            for button in row:
                if button["payload"] == payload:
                    return button
        return None


class ChatLog:
    """The recent messages of every web chat, in memory and (when given a folder) on disk.

    Memory holds the last `limit` messages of the chats used most recently, at most
    `held_bytes` of them in all (`held_bytes()` counts them); a chat let go of is read back from
    its file when it is next asked for (with no folder, its messages are gone), so memory stays
    bounded however many people write. The chat in use is held whatever its size. A message is
    held as the UTF-8 of its JSON (the text its file line carries), about a quarter of the
    message as Python objects, and made into a `LoggedMessage` only when shown or looked up. A
    chat's file is rewritten with only what is kept once it holds twice that many lines, so it
    stays as short on disk."""

    def __init__(
        self, folder: Path | None, limit: int = HISTORY_LIMIT, held_bytes: int = HELD_BYTES
    ) -> None:
        self.folder = folder
        self.limit = limit
        self.budget = held_bytes
        self._chats: OrderedDict[str, _Recent] = OrderedDict()
        self._held = 0  # what the held chats cost, as `_Recent.size` counts it
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def _file(self, chat_id: str) -> Path | None:
        if self.folder is None:
            return None
        return self.folder / (_UNSAFE_IN_NAME.sub("_", chat_id) + ".jsonl")

    def _load(self, chat_id: str) -> _Recent:
        messages: dict[str, bytes] = {}
        lines = 0
        path = self._file(chat_id)
        if path is not None and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                lines += 1
                try:
                    record = json.loads(line)
                    op, data = record["op"], record["message"]
                    message = _decode(data)
                except (ValueError, KeyError, TypeError):
                    log.warning("skipped a damaged line of %s", path)
                    continue
                if op == "edit" and message.id not in messages:
                    continue
                messages[message.id] = _encode_data(data)  # an edit keeps its place
        recent = _Recent(self.limit)
        for message_id, data in messages.items():
            recent.add(message_id, data)
        recent.lines = lines
        if path is not None and len(messages) > self.limit:
            self._rewrite(path, recent)
        return recent

    def _rewrite(self, path: Path, recent: _Recent) -> None:
        """Keep the file as short as what is shown."""
        try:
            path.write_bytes(b"".join(_line(b"add", data) for _, data in recent.entries))
        except OSError:
            log.exception("could not rewrite the web chat history %s", path)
            return
        recent.lines = len(recent.entries)

    def _append(self, chat_id: str, recent: _Recent, op: bytes, data: bytes) -> None:
        path = self._file(chat_id)
        if path is None:
            return
        if recent.lines + 1 > 2 * self.limit:
            self._rewrite(path, recent)  # what is kept already holds this message
            return
        try:
            with path.open("ab") as handle:
                handle.write(_line(op, data))
        except OSError:  # a full disk
            log.exception("could not write the web chat history to %s", path)
            return
        recent.lines += 1

    def _recent(self, chat_id: str) -> _Recent:
        kept = self._chats.get(chat_id)
        if kept is not None:
            self._chats.move_to_end(chat_id)
            return kept
        kept = self._chats[chat_id] = self._load(chat_id)
        self._held += kept.size
        self._let_go()
        return kept

    def _let_go(self) -> None:
        """Let go of the chats used least recently while more than the budget is held (never
        of the one in use, the most recent)."""
        while self._held > self.budget and len(self._chats) > 1:
            _, recent = self._chats.popitem(last=False)
            self._held -= recent.size

    def messages(self, chat_id: str) -> list[LoggedMessage]:
        """The recent messages of a chat, oldest first."""
        return [_decode(json.loads(data)) for _, data in self._recent(chat_id).entries]

    def offered_tokens(self) -> set[str]:
        """The tokens of the file copies the kept messages offer: in every history file (which
        holds every message held), or in what is held when there is no folder. A history that
        cannot be read raises OSError: what it offers is not known."""
        texts: Iterator[bytes] = (
            (data for recent in self._chats.values() for _, data in recent.entries)
            if self.folder is None
            else (path.read_bytes() for path in self.folder.glob("*.jsonl"))  # one at a time
        )
        return {token.decode() for text in texts for token in _OFFERED.findall(text)}

    def held(self) -> dict[str, int]:
        """How many messages each chat held in memory has (what memory holds, for checks)."""
        return {chat_id: len(recent.entries) for chat_id, recent in self._chats.items()}

    def held_bytes(self) -> int:
        """What the chats held in memory cost, as counted against the budget: their messages'
        encoded bytes, and `CHAT_OVERHEAD` and `MESSAGE_OVERHEAD` for each chat and message."""
        return self._held

    def add(self, message: LoggedMessage) -> None:
        """Add a message to its chat."""
        data = _encode(message)
        recent = self._recent(message.chat)
        self._held += recent.add(message.id, data)
        self._append(message.chat, recent, b"add", data)
        self._let_go()

    def find(self, chat_id: str, message_id: str) -> LoggedMessage | None:
        """A recent message of a chat by its id."""
        for kept_id, data in self._recent(chat_id).entries:
            if kept_id == message_id:
                return _decode(json.loads(data))
        return None

    def replace(self, message: LoggedMessage) -> bool:
        """Replace a recent message in place; False when it is no longer kept."""
        recent = self._recent(message.chat)
        for index, (kept_id, _) in enumerate(recent.entries):
            if kept_id == message.id:
                data = _encode(message)
                self._held += recent.put(index, message.id, data)
                self._append(message.chat, recent, b"edit", data)
                self._let_go()
                return True
        return False


class _Recent:
    """A chat's recent messages held in memory (id and encoded JSON, oldest first), and how
    many lines its file has."""

    __slots__ = ("entries", "lines", "size")

    def __init__(self, limit: int) -> None:
        self.entries: deque[tuple[str, bytes]] = deque(maxlen=limit)
        self.lines = 0
        # What it costs against `ChatLog`'s budget: CHAT_OVERHEAD, and each message's encoded
        # bytes and id with MESSAGE_OVERHEAD.
        self.size = CHAT_OVERHEAD

    def add(self, message_id: str, data: bytes) -> int:
        """Add a message; how much its size grew (less when an older message made way)."""
        before = self.size
        if len(self.entries) == self.entries.maxlen:
            self.size -= _cost(*self.entries[0])
        self.entries.append((message_id, data))
        self.size += _cost(message_id, data)
        return self.size - before

    def put(self, index: int, message_id: str, data: bytes) -> int:
        """Replace the message at `index`; how much its size grew."""
        before = self.size
        self.size += _cost(message_id, data) - _cost(*self.entries[index])
        self.entries[index] = (message_id, data)
        return self.size - before


def _cost(message_id: str, data: bytes) -> int:
    return len(data) + len(message_id) + MESSAGE_OVERHEAD


# What a message has unless it says otherwise: left out of the JSON held and written.
_DEFAULTS: dict[str, Any] = {
    "buttons": [],
    "photos": [],
    "reply_to": None,
    "edited": False,
    "mentions": [],
    "files": [],
}
_BOT_SENDER = asdict(BOT)


def _encode_data(data: dict[str, Any]) -> bytes:
    """The JSON of a message (as `asdict` gives it) without what a message has by default;
    the bot as sender is left out too."""
    kept = {k: v for k, v in data.items() if k not in _DEFAULTS or _DEFAULTS[k] != v}
    if kept.get("sender") == _BOT_SENDER:
        del kept["sender"]
    return json.dumps(kept, ensure_ascii=False).encode("utf-8")


def _encode(message: LoggedMessage) -> bytes:
    return _encode_data(asdict(message))


def _decode(data: dict[str, Any]) -> LoggedMessage:
    """A message from its JSON object (raises ValueError, KeyError or TypeError if damaged)."""
    fields = dict(data)
    sender = fields.get("sender")
    fields["sender"] = BOT if sender is None else Sender(**sender)
    return LoggedMessage(**fields)


def _line(op: bytes, data: bytes) -> bytes:
    """A file line: what ``json.dumps({"op": op, "message": ...})`` writes, from the message's
    JSON as held."""
    return b'{"op": "' + op + b'", "message": ' + data + b"}\n"


@dataclass
class Viewer:
    """The person a page picked."""

    role: str  # "owner" or "staff"
    id: int
    name: str
    estate_id: int
    estate_code: str
    estate_name: str

    @property
    def user_id(self) -> str:
        """The web chat user id: `owner-<id>` or `staff-<id>`."""
        return f"{self.role}-{self.id}"

    @property
    def is_staff(self) -> bool:
        """Whether the page speaks as staff."""
        return self.role == "staff"


@dataclass(eq=False)
class Page:
    """One open page and its WebSocket."""

    socket: web.WebSocketResponse
    lang: str
    viewer: Viewer | None = None
    chats: dict[str, str] = field(default_factory=dict)  # chat id → kind

    async def push(self, frame: dict[str, Any]) -> None:
        """Send a frame; a page that has gone away, or any failure of this page's send, affects
        this page only."""
        try:
            text = json.dumps(frame, ensure_ascii=False)
        except (TypeError, ValueError):
            log.exception("could not push a %s frame to a web chat page", frame.get("type"))
            return
        await self.push_text(text)

    async def push_text(self, text: str) -> None:
        """Send a frame already made into its JSON text (one text for every page it goes to)."""
        if self.socket.closed:
            return
        try:
            await self.socket.send_str(text)
        except (ConnectionError, RuntimeError):
            pass  # the page has just gone away
        except Exception:
            log.exception("could not push a frame to a web chat page: %.40s", text)


def owners_chat_id(estate_code: str) -> str:
    """The chat id of an estate's owner group in the web chat."""
    return f"owners-{estate_code}"


def staff_chat_id(estate_code: str) -> str:
    """The chat id of an estate's staff chat in the web chat."""
    return f"staff-{estate_code}"


def photo_url(ref: str) -> str | None:
    """The URL of a web chat photo; None for another platform's photo (a Telegram file id)."""
    name = ref.removeprefix(PHOTO_PREFIX)
    if ref.startswith(PHOTO_PREFIX) and re.fullmatch(UPLOAD_NAME, name):
        return f"/webchat/uploads/{name}"
    return None


def file_url(file: str) -> str:
    """The URL of a file offered in the web chat (`<token>/<name>`)."""
    token, _, name = file.partition("/")
    return f"/webchat/files/{token}/{quote(name)}"


def _is_local(ref: str) -> bool:
    """Whether a photo's or file's ref names a local file (a report's chart or workbook), not an
    uploaded photo or another platform's id (those never hold a path separator)."""
    return not ref.startswith(PHOTO_PREFIX) and ("/" in ref or "\\" in ref)


def _within(ref: str, roots: tuple[Path, ...], limit: int) -> Path | None:
    """The file a local ref names when it is a file inside one of `roots` of at most `limit`
    bytes; None, with a log line, otherwise."""
    try:
        path = Path(ref).resolve()
        if not path.is_file() or not any(path.is_relative_to(root) for root in roots):
            log.warning("not shown in the web chat: %s is not a file Guanjia may show", ref)
            return None
        if path.stat().st_size > limit:
            log.warning("not shown in the web chat: %s is larger than %d bytes", ref, limit)
            return None
    except (OSError, ValueError):
        log.warning("not shown in the web chat: %s cannot be read", ref)
        return None
    return path


def _read_image(ref: str, roots: tuple[Path, ...]) -> bytes:
    """A local image's bytes, or nothing when it is not one the page may show (see `_within`)."""
    path = _within(ref, roots, MAX_PHOTO_BYTES)
    try:
        return path.read_bytes() if path is not None else b""
    except OSError:
        return b""


def _file_name(name: str) -> str:
    """A file's name as offered: letters, digits, `_`, `-` and `.` only, not hidden, and at
    most 120 characters with its suffix kept."""
    safe = re.sub(r"[^\w.-]", "_", name).lstrip(".") or "file"
    suffix = Path(safe).suffix[:20]
    return safe if len(safe) <= 120 else safe[: 120 - len(suffix)] + suffix


def _disposition(name: str) -> str:
    """A Content-Disposition that downloads a file by its name (RFC 6266: an ASCII fallback
    and the UTF-8 name)."""
    fallback = name.encode("ascii", "replace").decode("ascii").replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


def _image_extension(data: bytes) -> str | None:
    for magic, extension in _IMAGE_TYPES:
        if data.startswith(magic):
            return extension
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


class WebChat:
    """The web chat channel: a page per person, live over WebSockets, on the shared server."""

    platform = Platform.WEBCHAT
    after_server = False
    stops_before_server = True  # its pages' sockets close while the server still runs

    def __init__(self, router: Router, data_dir: Path | None) -> None:
        self.router = router
        self.catalogues: Catalogues = router.services.catalogues
        self.clock = router.services.clock
        folder = Path(data_dir) / "webchat" if data_dir is not None else None
        self.log = ChatLog(folder / "history" if folder else None)
        self.uploads = (folder or Path("data/webchat")) / "uploads"
        self.files = (folder or Path("data/webchat")) / "files"
        self.data_dir = Path(data_dir) if data_dir is not None else Path("data")
        self.pages: set[Page] = set()
        # The open pages showing each chat (what `Page.chats` says, by chat): a message goes to
        # those only, without looking at every page.
        self.viewers: dict[str, set[Page]] = {}
        # The names the page may be reached by; set by `mount` from the server's.
        self.hosts = HostPolicy(())
        # Whether the demo is served on an address other than loopback (the unsafe setting).
        self.public = False
        # WEBCHAT_DEMO_UNSAFE_PUBLIC; and whether `mount_on` served the demo.
        self.unsafe_public = False
        self.demo = False

    # -- wiring ---------------------------------------------------------------------------------

    def mount_on(self, server: HttpServer) -> None:
        """Add the demo's routes to the shared server (before it starts) when it listens on
        loopback, or `unsafe_public` (WEBCHAT_DEMO_UNSAFE_PUBLIC) says to anyway; whether it did
        is kept in `demo`. The channel itself runs either way: it is where messages to the
        demo's chats go."""
        self.demo = False
        if not is_loopback(server.host):
            if not self.unsafe_public:
                log.info(
                    "the web chat demo is off: %s is not a loopback address "
                    "(it lets anyone speak as any owner or staff member)",
                    server.host,
                )
                return
            log.warning(
                "WEBCHAT_DEMO_UNSAFE_PUBLIC is on: the web chat demo, where anyone who reaches "
                "it speaks as any owner or staff member of the demo estate with no login, is "
                "served on %s, which is not a loopback address",
                server.host,
            )
            self.public = True
        # On loopback the demo answers to the loopback names only, whatever else the server
        # answers to: a reverse proxy that forwards everything still does not expose it.
        self.hosts = server.hosts if self.public else HostPolicy(LOOPBACK_NAMES | {server.host})
        server.add_routes(
            [
                web.get("/", self._index),
                web.get("/webchat/ws", self._socket),
                web.get(r"/webchat/uploads/{name:" + UPLOAD_NAME + "}", self._upload),
                web.get(r"/webchat/files/{token:" + FILE_TOKEN + "}/{name}", self._file),
                web.static("/webchat/static", STATIC_DIR, append_version=False),
            ]
        )
        server.on_shutdown(self._on_shutdown)
        self.demo = True

    async def start(self) -> None:
        """Register every estate's web chats, and remove the copied files no kept message
        offers any more: the channel itself runs in the server's hands."""
        await asyncio.to_thread(self.prune_files)
        await self.register_chats()

    def prune_files(self) -> int:
        """Remove the copies of files (`<files>/<token>/<name>`) that no message kept in a
        chat's history offers any more: their messages left the histories, so no page can show
        them. Returns how many were removed; only folders named as tokens are looked at, and
        none made within the last FILE_COPY_GRACE (a copy is made just before the message that
        offers it is kept: one being sent now is not in a history yet)."""
        if not self.files.is_dir():
            return 0
        made_before = time.time() - FILE_COPY_GRACE.total_seconds()  # the files' own clock
        old = [
            folder
            for folder in self.files.iterdir()
            if re.fullmatch(FILE_TOKEN, folder.name)
            and folder.is_dir()
            and folder.stat().st_mtime < made_before
        ]
        if not old:
            return 0  # the histories are not read
        try:
            offered = self.log.offered_tokens()
        except OSError:
            log.exception("could not read the web chat histories: no file copy is removed")
            return 0
        removed = 0
        for folder in old:
            if folder.name not in offered:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        if removed:
            log.info("removed %d web chat file copies no kept message offers", removed)
        return removed

    async def drain(self) -> None:
        """Nothing to wait for: a page's message is handled within its own request."""

    async def register_chats(self) -> int:
        """Make sure every estate has its web chat owner group and staff chat; returns how many."""
        estates = await chats.all_estates()
        for estate in estates:
            await self._ensure_chats(estate)
        return len(estates)

    @staticmethod
    async def _ensure_chats(estate: Estate) -> None:
        for chat_id, kind in (
            (owners_chat_id(estate.code), ChatKind.OWNERS),
            (staff_chat_id(estate.code), ChatKind.STAFF),
        ):
            await chats.register_chat(
                Platform.WEBCHAT, chat_id, estate, kind, f"{estate.name} {kind}"
            )

    async def stop(self) -> None:
        """Close every open page's socket."""
        await self._close_pages()

    async def _on_shutdown(self, app: web.Application) -> None:
        await self._close_pages()

    async def _close_pages(self) -> None:
        pages, self.pages = list(self.pages), set()
        self.viewers = {}
        for page in pages:
            with contextlib.suppress(Exception):
                await page.socket.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")

    # -- the Channel protocol -------------------------------------------------------------------

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """Show a message of the bot in a chat, live in every page that shows it."""
        if not message.chat.chat_id:
            raise SendError("a web chat message needs a chat id")
        message, files = await self._shown_photos(message), await self._offered_files(message)
        logged = self._logged(message, f"b-{uuid.uuid4().hex[:16]}", files)
        self.log.add(logged)
        await self._broadcast(logged.chat, {"type": "message", "chat": logged.chat}, logged)
        return SentMessage(chat=message.chat, message_id=logged.id)

    async def send_notice(self, message: OutgoingMessage, notice: NoticeMeta) -> SentMessage:
        """A notice is shown like any message: the pages are local, with no limits to keep."""
        return await self.send(message)

    async def edit(self, sent: SentMessage, message: OutgoingMessage) -> SentMessage:
        """Replace a message in place (a ticket card); one no longer kept is sent anew."""
        old = self.log.find(sent.chat.chat_id, sent.message_id)
        if old is None:
            return await self.send(message)
        message, files = await self._shown_photos(message), await self._offered_files(message)
        logged = replace(self._logged(message, old.id, files), at=old.at, edited=True)
        self.log.replace(logged)
        await self._broadcast(logged.chat, {"type": "edit", "chat": logged.chat}, logged)
        return sent

    def private_chat(self, user_id: str) -> ChatRef:
        """A person's private chat with the bot."""
        return ChatRef(Platform.WEBCHAT, f"private:{user_id}", is_group=False)

    def hears(self, chat: ChatRef) -> Hearing:
        """Everything: every page's messages, in every chat, come to the router."""
        return Hearing.EVERYTHING

    def sends_local(self, chat: ChatRef, kind: str) -> bool:
        """A local image (a report's chart) is shown in the page, a file (a workbook) offered
        there for download."""
        return kind in ("photo", "file")

    def _roots(self) -> tuple[Path, ...]:
        """The folders local files are shown or offered from: the data folder and the reports
        folder."""
        return tuple(
            Path(root).resolve() for root in (self.data_dir, self.router.services.reports_dir)
        )

    async def _shown_photos(self, message: OutgoingMessage) -> OutgoingMessage:
        """The message with its local image files (a report's chart) copied to the uploads, so
        that the page shows them as it shows an owner's photo, not as a broken "[图片]"."""
        if not any(_is_local(photo.ref) for photo in message.photos):
            return message
        photos = []
        for photo in message.photos:
            if not _is_local(photo.ref):
                photos.append(photo)
                continue
            data = await asyncio.to_thread(_read_image, photo.ref, self._roots())
            extension = _image_extension(data) if data else None
            if extension is None:
                log.warning("not an image file, not shown in the web chat: %s", photo.ref)
                continue
            saved = PHOTO_PREFIX + await self._save_photo(data, extension)
            photos.append(Attachment("photo", saved))
        return replace(message, photos=tuple(photos))

    async def _offered_files(self, message: OutgoingMessage) -> list[dict[str, Any]]:
        """The message's local files (a report's workbook), each copied to the files folder
        under a random token, as the page offers them; a file that may not be offered (not
        local, outside the data and reports folders, too large) is left out with a log line."""
        offered = []
        for attachment in message.attachments:
            if attachment.kind != "file":
                continue
            if not _is_local(attachment.ref):
                log.warning("not a local file, not offered in the web chat: %s", attachment.ref)
                continue
            copied = await asyncio.to_thread(self._copy_file, attachment.ref, self._roots())
            if copied is not None:
                offered.append(copied)
        return offered

    def _copy_file(self, ref: str, roots: tuple[Path, ...]) -> dict[str, Any] | None:
        path = _within(ref, roots, MAX_FILE_BYTES)
        if path is None:
            return None
        name = _file_name(path.name)
        folder = self.files / uuid.uuid4().hex
        try:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, folder / name)
        except OSError:
            log.exception("could not copy %s to the web chat's files; it is not offered", ref)
            shutil.rmtree(folder, ignore_errors=True)
            return None
        return {
            "file": f"{folder.name}/{name}",
            "name": name,
            "size": (folder / name).stat().st_size,
        }

    def _logged(
        self, message: OutgoingMessage, message_id: str, files: list[dict[str, Any]]
    ) -> LoggedMessage:
        return LoggedMessage(
            id=message_id,
            chat=message.chat.chat_id,
            sender=BOT,
            text=message.text,
            at=self.clock.now().isoformat(),
            buttons=[
                [{"label": b.label, "payload": b.payload} for b in row] for row in message.buttons
            ],
            photos=[p.ref for p in message.photos if p.kind == "photo"],
            files=files,
            reply_to=message.reply_to,
            mentions=[{"name": m.name, "id": m.user_id} for m in message.mentions],
        )

    # -- frames to pages ------------------------------------------------------------------------

    def _frame_message(self, message: LoggedMessage) -> dict[str, Any]:
        quote = None
        if message.reply_to:
            quoted = self.log.find(message.chat, message.reply_to)
            if quoted is not None:
                quote = {"name": quoted.sender.name, "text": quoted.text[:120]}
        return {
            "id": message.id,
            "chat": message.chat,
            "from": asdict(message.sender),
            "text": message.text,
            "buttons": message.buttons,
            "photos": [{"url": photo_url(ref)} for ref in message.photos],
            "files": [
                {"url": file_url(f["file"]), "name": f["name"], "size": f["size"]}
                for f in message.files
            ],
            "reply_to": message.reply_to,
            "quote": quote,
            "at": message.at,
            "edited": message.edited,
            "mentions": message.mentions,
        }

    async def _broadcast(
        self, chat_id: str, frame: dict[str, Any], message: LoggedMessage
    ) -> None:
        pages = self.viewers.get(chat_id)
        if not pages:
            return
        text = json.dumps({**frame, "message": self._frame_message(message)}, ensure_ascii=False)
        await asyncio.gather(*(page.push_text(text) for page in pages), return_exceptions=True)

    def _show(self, page: Page, chats: dict[str, str]) -> None:
        """Make `chats` (chat id → kind) the chats `page` shows; none, when it goes away."""
        for chat_id in page.chats:
            showing = self.viewers.get(chat_id)
            if showing is not None:
                showing.discard(page)
                if not showing:
                    del self.viewers[chat_id]
        page.chats = chats
        for chat_id in chats:
            self.viewers.setdefault(chat_id, set()).add(page)

    def _error(self, page: Page, refusal: Refusal) -> dict[str, Any]:
        return {
            "type": "error",
            "code": refusal.code,
            "text": self.catalogues.text(
                page.lang, f"webchat.error.{refusal.code}", **refusal.fields
            ),
        }

    # -- HTTP routes ----------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.FileResponse:
        self.hosts.check(request)
        return web.FileResponse(STATIC_DIR / "index.html")

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        """A photo of a chat, by its unguessable name; served only by the names the page is
        (no DNS rebinding), as the files are."""
        self.hosts.check(request)
        path = self.uploads / request.match_info["name"]
        if not path.is_file():
            raise web.HTTPNotFound()
        response = web.FileResponse(path)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, max-age=86400"
        return response

    async def _file(self, request: web.Request) -> web.StreamResponse:
        """A file a bot message offers, downloaded by its name with its content type; anything
        else is 404. Its unguessable URL reaches only the pages that show its chat, and it is
        served only by the names the page is (no DNS rebinding)."""
        self.hosts.check(request)
        token, name = request.match_info["token"], request.match_info["name"]
        path = self.files / token / name
        if not re.fullmatch(FILE_NAME, name) or not path.is_file():
            raise web.HTTPNotFound()
        kind = FILE_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return web.FileResponse(
            path,
            headers={
                hdrs.CONTENT_TYPE: kind,
                hdrs.CONTENT_DISPOSITION: _disposition(name),
                "X-Content-Type-Options": "nosniff",
                hdrs.CACHE_CONTROL: "private, max-age=86400",
            },
        )

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        # Only the demo's own page drives it: not another site open in the same browser, not a
        # page on a name that resolves here (DNS rebinding), not a script with no Origin.
        self.hosts.check(request, origin=True)
        socket = web.WebSocketResponse(max_msg_size=MAX_FRAME, heartbeat=30)
        await socket.prepare(request)
        page = Page(socket=socket, lang=self.catalogues.default)
        self.pages.add(page)
        try:
            await page.push(await self._welcome())
            async for frame in socket:
                if frame.type is WSMsgType.TEXT:
                    await self._receive(page, frame.data)
                elif frame.type is WSMsgType.BINARY:
                    await page.push(self._error(page, Refusal("bad_json")))
                elif frame.type is WSMsgType.ERROR:
                    log.info("web chat socket closed with %s", socket.exception())
        finally:
            self.pages.discard(page)
            self._show(page, {})
        return socket

    # -- frames from pages ----------------------------------------------------------------------

    async def _receive(self, page: Page, data: str) -> None:
        """Act on one frame from a page, or tell the page why not."""
        ref: object = None
        try:
            try:
                frame = json.loads(data)
            except (ValueError, RecursionError):
                raise Refusal("bad_json") from None
            if not isinstance(frame, dict) or _depth(frame) > MAX_DEPTH:
                raise Refusal("bad_json")
            ref = frame.get("ref")
            kind = frame.get("type")
            act = {
                "pick": self._pick,
                "say": self._say,
                "press": self._press,
                "lang": self._lang,
                "people": self._people,
            }.get(kind if isinstance(kind, str) else "")
            if act is None:
                raise Refusal("unknown_type")
            await act(page, frame)
        except Refusal as refusal:
            log.info("refused a web chat frame (%s) from %s", refusal.code, _who(page))
            error = self._error(page, refusal)
            if isinstance(ref, str | int):
                error["ref"] = ref
            await page.push(error)

    async def _lang(self, page: Page, frame: dict[str, Any]) -> None:
        lang = frame.get("lang")
        if lang not in LANGUAGES:
            raise Refusal("bad_request")
        page.lang = str(lang)
        await page.push({"type": "lang", "lang": page.lang, "ref": frame.get("ref")})

    async def _pick(self, page: Page, frame: dict[str, Any]) -> None:
        role, person_id = frame.get("role"), frame.get("id")
        if role not in ("owner", "staff") or type(person_id) is not int:
            raise Refusal("bad_request")
        # Only the demo estate's people: the demo lets anyone be them, with no login.
        found = await demo_person(role, person_id)
        if found is None:
            raise Refusal("unknown_person")
        person, estate = found
        viewer = Viewer(
            role=role,
            id=person.id,
            name=person.name,
            estate_id=estate.id,
            estate_code=estate.code,
            estate_name=estate.name,
        )
        await self._ensure_chats(estate)
        await self._bind(viewer)
        page.viewer = viewer
        shown = {owners_chat_id(estate.code): "owners"}
        if viewer.is_staff:
            shown[staff_chat_id(estate.code)] = "staff"
        shown[self.private_chat(viewer.user_id).chat_id] = "private"
        self._show(page, shown)
        log.info("a web chat page speaks as %s (%s)", viewer.user_id, viewer.name)
        await page.push(
            {
                "type": "picked",
                "ref": frame.get("ref"),
                "me": {
                    "role": viewer.role,
                    "id": viewer.id,
                    "user_id": viewer.user_id,
                    "name": viewer.name,
                    "estate": {
                        "code": estate.code,
                        "name": estate.name,
                        "timezone": estate.timezone,
                    },
                },
                "chats": [
                    {
                        "id": chat_id,
                        "kind": kind,
                        "messages": [self._frame_message(m) for m in self.log.messages(chat_id)],
                    }
                    for chat_id, kind in page.chats.items()
                ],
            }
        )

    @staticmethod
    async def _bind(viewer: Viewer) -> None:
        """Bind the page's web chat identity to the owner or staff member it picked."""
        await chats.bind_identity(
            Platform.WEBCHAT,
            viewer.user_id,
            viewer.name,
            owner_id=viewer.id if viewer.role == "owner" else None,
            staff_id=viewer.id if viewer.is_staff else None,
        )

    def _chat_of(self, page: Page, frame: dict[str, Any]) -> tuple[Viewer, str, str]:
        """The viewer and the chat a frame is for, refusing what the page may not do there."""
        chat_id = frame.get("chat")
        if not isinstance(chat_id, str):
            raise Refusal("bad_request")
        viewer = page.viewer
        if viewer is None:
            raise Refusal("pick_first")
        if chat_id.startswith("staff-") and not viewer.is_staff:
            raise Refusal("staff_only")
        kind = page.chats.get(chat_id)
        if kind is None:
            raise Refusal("unknown_chat")
        return viewer, chat_id, kind

    async def _say(self, page: Page, frame: dict[str, Any]) -> None:
        viewer, chat_id, kind = self._chat_of(page, frame)
        text, photo = frame.get("text", ""), frame.get("photo")
        reply_to = frame.get("reply_to")
        if not isinstance(text, str) or (photo is not None and not isinstance(photo, str)):
            raise Refusal("bad_request")
        if reply_to is not None and not isinstance(reply_to, str):
            raise Refusal("bad_request")
        replied = self.log.find(chat_id, reply_to) if reply_to else None
        if len(text) > MAX_TEXT:
            raise Refusal("too_long", limit=MAX_TEXT)
        # The boundary: what the page sent, cleaned before anything keeps or shows it.
        text = safe_text(text)
        image = self._decode_photo(photo) if photo else None
        if not text.strip() and image is None:
            raise Refusal("empty")
        attachments: tuple[Attachment, ...] = ()
        if image is not None:
            attachments = (Attachment("photo", PHOTO_PREFIX + await self._save_photo(*image)),)
        now = self.clock.now()
        message_id = f"m-{uuid.uuid4().hex[:16]}"
        incoming = IncomingMessage(
            chat=ChatRef(Platform.WEBCHAT, chat_id, is_group=kind != "private"),
            sender_id=viewer.user_id,
            sender_name=viewer.name,
            text=text,
            message_id=message_id,
            received_at=now,
            attachments=attachments,
            addressed=bool(_MENTION.search(text))
            or (replied is not None and replied.sender == BOT),
            language_hint=page.lang,
            replied_to=replied.id if replied else None,
        )
        # Kept before anyone sees it in the chat: shown means accepted, and accepted is handled
        # even if this process stops now.
        try:
            accepted = await self.router.accept(incoming)
        except Exception:
            log.exception("could not keep a web chat message; it is refused")
            raise Refusal("unavailable") from None
        logged = LoggedMessage(
            id=message_id,
            chat=chat_id,
            sender=Sender(viewer.role, viewer.user_id, viewer.name),
            text=text,
            at=now.isoformat(),
            photos=[a.ref for a in attachments],
            reply_to=replied.id if replied else None,
        )
        self.log.add(logged)
        await self._broadcast(chat_id, {"type": "message", "chat": chat_id}, logged)
        if accepted:
            await self.router.handle(incoming, self, accepted=True)

    async def _press(self, page: Page, frame: dict[str, Any]) -> None:
        viewer, chat_id, kind = self._chat_of(page, frame)
        message_id, payload = frame.get("message"), frame.get("payload")
        if not isinstance(message_id, str) or not isinstance(payload, str):
            raise Refusal("bad_request")
        if payload.split(":", 1)[0] in STAFF_PAYLOADS and not viewer.is_staff:
            raise Refusal("staff_only")
        shown = self.log.find(chat_id, message_id)
        button = shown.has_button(payload) if shown is not None else None
        if button is None:
            # Only a button the bot put in this chat can be pressed: no forged payloads.
            raise Refusal("bad_button")
        incoming = IncomingMessage(
            chat=ChatRef(Platform.WEBCHAT, chat_id, is_group=kind != "private"),
            sender_id=viewer.user_id,
            sender_name=viewer.name,
            text=button["label"],
            message_id=f"p-{uuid.uuid4().hex[:16]}",
            received_at=self.clock.now(),
            payload=payload,
            language_hint=page.lang,
            replied_to=shown.id if shown is not None else None,
        )
        toast = await self.router.handle(incoming, self)
        if toast:
            await page.push({"type": "toast", "text": toast})

    @staticmethod
    def _decode_photo(photo: str) -> tuple[bytes, str]:
        """The bytes and file extension of a base64 photo, or a refusal."""
        if photo.startswith("data:"):
            photo = photo.partition(",")[2]
        if len(photo) > (MAX_PHOTO_BYTES + 2) // 3 * 4 + 4:
            raise Refusal("photo_too_big", limit_mb=MAX_PHOTO_BYTES // (1024 * 1024))
        try:
            data = base64.b64decode(photo, validate=True)
        except (binascii.Error, ValueError):
            raise Refusal("bad_photo") from None
        if len(data) > MAX_PHOTO_BYTES:
            raise Refusal("photo_too_big", limit_mb=MAX_PHOTO_BYTES // (1024 * 1024))
        extension = _image_extension(data)
        if extension is None:
            raise Refusal("bad_photo")
        return data, extension

    async def _save_photo(self, data: bytes, extension: str) -> str:
        name = f"{uuid.uuid4().hex}.{extension}"

        def write() -> None:
            self.uploads.mkdir(parents=True, exist_ok=True)
            (self.uploads / name).write_bytes(data)

        await asyncio.to_thread(write)
        return name

    # -- the picker -----------------------------------------------------------------------------

    async def _welcome(self) -> dict[str, Any]:
        # The demo estate's people only: no directory of anyone else goes to a page that signed
        # in as nobody. And only a page of its owners: an estate of thousands is searched and
        # paged with `people` frames, not sent whole to every page that connects.
        estates = []
        for people in await demo_people():
            estates.append(
                {
                    "code": people.estate.code,
                    "name": people.estate.name,
                    "owners": [asdict(owner) for owner in people.owners],
                    "owners_total": people.total,
                    "owners_page": OWNERS_PAGE,
                    "staff": [
                        {
                            "id": member.id,
                            "name": member.name,
                            "department": str(member.department),
                            "role": str(member.role),
                        }
                        for member in people.staff
                    ],
                }
            )
        return {
            "type": "welcome",
            "estates": estates,
            "texts": {lang: self._page_texts(lang) for lang in LANGUAGES},
            "default_lang": self.catalogues.default,
            "limits": {"text": MAX_TEXT, "photo_bytes": MAX_PHOTO_BYTES},
            "demo": {"estate": DEMO_CODE, "public": self.public},
        }

    async def _people(self, page: Page, frame: dict[str, Any]) -> None:
        """A page of the demo estate's owners matching a search, for the picker."""
        query, offset = frame.get("query", ""), frame.get("offset", 0)
        if not isinstance(query, str) or len(query) > MAX_QUERY:
            raise Refusal("bad_request")
        if type(offset) is not int or offset < 0:
            raise Refusal("bad_request")
        found = await demo_people(query, offset)
        await page.push(
            {
                "type": "people",
                "ref": frame.get("ref"),
                "query": query,
                "offset": offset,
                "owners": [asdict(owner) for person in found for owner in person.owners],
                "total": sum(person.total for person in found),
            }
        )

    def _page_texts(self, lang: str) -> dict[str, str]:
        """The page's words in a language, `{field}` placeholders kept for the page to fill."""
        texts = {}
        prefixes = ("webchat.ui.", "webchat.error.", "webchat.role.", "department.")
        for key in sorted(self.catalogues.keys(lang)):
            if key.startswith(prefixes):
                texts[key.removeprefix("webchat.")] = _template(self.catalogues, lang, key)
        return texts


def _template(catalogues: Catalogues, lang: str, key: str) -> str:
    """A catalogue text with its `{fields}` left in place."""
    fields: dict[str, str] = {}
    for _ in range(10):
        try:
            return catalogues.text(lang, key, **fields)
        except KeyError as exc:
            name = str(exc.args[0])
            fields[name] = "{" + name + "}"
    return catalogues.text(lang, key, **fields)


def _depth(value: object, limit: int = MAX_DEPTH + 1) -> int:
    """How deep a parsed JSON value nests (counted up to `limit`, without recursion)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        deepest = max(deepest, depth)
        if depth >= limit:
            return depth
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _who(page: Page) -> str:
    return page.viewer.user_id if page.viewer else "a page that picked nobody"


def build_webchat(settings: Settings, services: Services, router: Router) -> WebChat:
    """The web chat channel, which always runs: messages to the demo's chats go to it, whether
    or not the demo is served (see `WebChat.mount`)."""
    webchat = WebChat(router, settings.data_dir)
    webchat.unsafe_public = settings.webchat_demo_unsafe_public
    return webchat


__all__ = [
    "MAX_PHOTO_BYTES",
    "MAX_TEXT",
    "ChatLog",
    "WebChat",
    "build_webchat",
    "file_url",
    "owners_chat_id",
    "photo_url",
    "staff_chat_id",
]
