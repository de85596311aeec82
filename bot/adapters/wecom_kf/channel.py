"""The 微信客服 channel: WeCom's callback, `kf/sync_msg` from a kept cursor, `kf/send_msg` within
the owner's reply window, and the welcome on `enter_session`.

In: WeCom posts `kf_msg_or_event` to `WECOM_KF_CALLBACK_PATH` (encrypted as every WeCom
callback, checked by `WxCallbackPipeline`: signature, freshness, size, decryption, replay). It
carries no message, only a token and the 客服 account that has new ones; the channel answers at
once and then reads them with `kf/sync_msg` (the token, and the cursor kept in the store), page
by page. A page's messages are kept in the journal (`Router.accept`) before the cursor moves on,
so a stop between two pages loses nothing and repeats nothing: the next read starts after the
last page kept, and a message read again (a stop before the cursor moved) is known to the
journal by its `msgid`. On start, a channel that read before catches up from its cursor.

A WeChat user's message becomes an `IncomingMessage` of their private chat with the 客服 account
(`open_kfid:external_userid`), registered to the account's estate (or the estate the contact
link named, `scene`); a press on a menu message's item comes back as a text with its `menu_id`,
which is the button's payload. `enter_session` with a `welcome_code` is answered with the welcome
(`kf/send_msg_on_event`).

Out: `kf/send_msg`, text or a menu message (`msgmenu`) for buttons. WeCom lets the company write
at most 5 messages within 48 hours of the user's last message: each send takes a place in that
window (`bot/core/windows.py`); the last one says that more waits until they write again, and a
message beyond the window is kept and sent when they do. A notice beyond it goes to the same
owner's Official Account instead when the WeChat channel runs and the owner is bound there too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import xmltodict
from aiohttp import web
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.messages import BaseMessage

from bot.adapters.http import HttpServer
from bot.adapters.wecom import WeComClient
from bot.adapters.wecom_kf.config import KfConfig
from bot.adapters.wecom_kf.messages import (
    KF_ID,
    MENU_HEAD_BYTES,
    SessionEntered,
    menu,
    read_item,
    split_chat,
)
from bot.adapters.wxcommon import (
    PlatformError,
    Sleep,
    WeComEnvelope,
    WxApi,
    WxCallbackPipeline,
    callback_digest,
    prepare_client,
    split_text,
)
from bot.config import Settings
from bot.core import chats, cursors, windows
from bot.core.callbacks import CallbackGuard, StoreTokens
from bot.core.channel import Hearing, NoticeMeta, SendError
from bot.core.chats import ChatKind
from bot.core.context import Services
from bot.core.router import Router
from bot.core.types import ChatRef, IncomingMessage, OutgoingMessage, Platform, SentMessage

log = logging.getLogger("guanjia.wecom_kf")

PLATFORM = Platform.WECOM_KF
KF_EVENT = "kf_msg_or_event"
# WeCom's refusals of a send beyond the window: 5 messages used (95001), 48 hours past (95002).
WINDOW_REFUSALS = frozenset({95001, 95002})
MAX_TOKEN = 128
TEXT_BYTES = 2000  # a text message takes at most 2048 bytes
# On a stream's first read, what is older than a callback token's life was not for Guanjia.
FIRST_READ_SPAN = timedelta(minutes=10)
ESTATE_CODE = re.compile(r"[0-9A-Za-z_-]{1,32}")


class KfEvent(BaseMessage):
    """The callback's event: which 客服 account (`OpenKfId`) has new messages, and the token to
    read them with. It names no user: the account stands as its sender."""

    type = "event"

    @property
    def source(self) -> str | None:  # type: ignore[override]
        """The 客服 account with new messages."""
        value = self._data.get("OpenKfId")
        return value if isinstance(value, str) else None

    @property
    def target(self) -> str | None:  # type: ignore[override]
        """The corp the callback is for."""
        value = self._data.get("ToUserName")
        return value if isinstance(value, str) else None

    @property
    def event(self) -> str:
        """The event's name (`kf_msg_or_event`)."""
        value = self._data.get("Event")
        return value if isinstance(value, str) else ""

    @property
    def token(self) -> str:
        """The token `sync_msg` is to be called with (valid 10 minutes)."""
        value = self._data.get("Token")
        if value is None:
            return ""
        if not isinstance(value, str) or len(value) > MAX_TOKEN:
            raise ValueError("Token is not a token")
        return value


class _KfCallbacks(WeComEnvelope):
    """What is 微信客服's own in its callbacks (`WxCallbacks`): encrypted and signed as every
    WeCom callback, an event with no user in it, answered at once."""

    empty_answer = "success"

    def __init__(self, channel: KfChannel, crypto: WeChatCrypto) -> None:
        self.channel = channel
        self.crypto = crypto

    def parse(self, xml: str) -> BaseMessage:
        """The event the XML carries."""
        data = xmltodict.parse(xml)["xml"]
        if not isinstance(data, dict):
            raise ValueError("no fields")
        return KfEvent(data)

    def check_sender(
        self, query: Mapping[str, str], message: BaseMessage, sender: str
    ) -> web.Response | None:
        """An event for a 客服 account Guanjia does not serve is answered and dropped."""
        if sender not in self.channel.config.open_kfids:
            log.warning("a 微信客服 callback for account %s, which no estate uses", sender)
            return web.Response(text=self.empty_answer)
        return None

    def digest(self, query: Mapping[str, str], body: bytes) -> str:
        """The digest of the signature and the body."""
        return callback_digest("POST", query.get("msg_signature", ""), body)

    async def dispatch(self, message: BaseMessage, sender: str) -> str | None:
        """Read the account's new messages once the callback is answered."""
        assert isinstance(message, KfEvent)
        if message.event != KF_EVENT:
            log.info("ignored a 微信客服 %r event", message.event)
            return None
        self.channel.pull(sender, message.token)
        return None

    def reply(self, query: Mapping[str, str], source: str, sender: str, text: str) -> str:
        """Never called: 微信客服's callbacks take no passive reply."""
        return ""


class KfChannel:
    """The 微信客服 callback route and a Channel for WeChat users' chats with 客服 accounts."""

    platform = PLATFORM
    after_server = False
    stops_before_server = False  # the server stops first: no callback arrives while it drains

    def __init__(
        self,
        config: KfConfig,
        router: Router,
        services: Services,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config
        self.router = router
        self.services = services
        self.clock = services.clock
        self.crypto = WeChatCrypto(config.token, config.aes_key, config.corp_id)
        self._token_client = prepare_client(
            WeComClient(config.corp_id, config.secret), config.api_base_url
        )
        self.tokens = StoreTokens(
            f"wecom_kf:{config.corp_id}", self._fetch_token, services.clock, sleep=sleep
        )
        self.api = WxApi(
            prepare_client(WeComClient(config.corp_id, config.secret), config.api_base_url),
            self.tokens,
            sleep=sleep,
        )
        self.guard = CallbackGuard(f"wecom_kf:{config.corp_id}", services.clock)
        self.callbacks = WxCallbackPipeline(
            "微信客服", _KfCallbacks(self, self.crypto), self.guard, sender=KF_ID, logger=log
        )
        self._locks: dict[str, asyncio.Lock] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._registered: set[str] = set()

    async def _fetch_token(self) -> tuple[str, int]:
        result = await asyncio.to_thread(self._token_client.fetch_access_token)
        return str(result["access_token"]), int(result.get("expires_in", 7200))

    # Wiring ------------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """The callback routes: WeCom's URL check (GET) and its events (POST)."""
        path = self.config.callback_path
        return [web.get(path, self.callbacks.verify), web.post(path, self.callbacks.receive)]

    def mount(self, app: web.Application) -> None:
        """Mount the callback routes on an aiohttp application."""
        app.add_routes(self.routes())

    def mount_on(self, server: HttpServer) -> None:
        """Mount the callback routes on the shared server (before it starts)."""
        server.add_routes(self.routes())

    async def start(self) -> None:
        """Catch up, from the kept cursor, on what came while Guanjia was not running (an
        account never read is not read from its start: its old messages were never ours)."""
        for open_kfid in sorted(self.config.open_kfids):
            if await cursors.get_cursor(self._stream(open_kfid)):
                self.pull(open_kfid, "")
        log.info(
            "微信客服: %s, account(s) %s",
            self.config.callback_path,
            ", ".join(f"{code}={kfid}" for code, kfid in sorted(self.config.accounts.items())),
        )

    async def drain(self) -> None:
        """Wait until every read and handling has finished."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def stop(self, patience: float = 10.0) -> None:
        """Let running reads finish for up to `patience` seconds, then cancel what is left."""
        try:
            await asyncio.wait_for(self.drain(), patience)
        except TimeoutError:
            log.warning("微信客服: stopped with reads in flight; the cursor resumes them")
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*list(self._background), return_exceptions=True)

    # Reading -----------------------------------------------------------------------------

    def _stream(self, open_kfid: str) -> str:
        return f"wecom_kf:{self.config.corp_id}:{open_kfid}"

    def pull(self, open_kfid: str, token: str) -> asyncio.Task[None]:
        """Read an account's new messages in the background (one read per account at a time)."""
        task = asyncio.create_task(self.sync(open_kfid, token))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def sync(self, open_kfid: str, token: str) -> None:
        """Read and handle every new message of an account, page by page from the cursor."""
        async with self._locks.setdefault(open_kfid, asyncio.Lock()):
            stream = self._stream(open_kfid)
            while True:
                cursor = await cursors.get_cursor(stream)
                body: dict[str, Any] = {
                    "cursor": cursor,
                    "limit": self.config.page_size,
                    "open_kfid": open_kfid,
                }
                if token:
                    body["token"] = token
                try:
                    page = await self.api.call(
                        "微信客服 sync_msg", lambda c, b=body: c.post("kf/sync_msg", data=b)
                    )
                except SendError as exc:
                    log.warning(
                        "微信客服: reading %s stopped (%s); the next callback resumes from the "
                        "kept cursor",
                        open_kfid,
                        exc,
                    )
                    return
                # A stream never read starts 3 days back (WeCom keeps that long): what came
                # before the token's 10 minutes was not for Guanjia, and is passed over.
                since = self.clock.now() - FIRST_READ_SPAN if not cursor else None
                taken = await self._take(page.get("msg_list"), open_kfid, since)
                next_cursor = page.get("next_cursor")
                if isinstance(next_cursor, str) and next_cursor and next_cursor != cursor:
                    await cursors.advance_cursor(stream, cursor, next_cursor, self.clock.now())
                for item in taken:
                    await self._act(item)
                if not page.get("has_more") or not next_cursor or next_cursor == cursor:
                    return

    async def _take(
        self, items: object, open_kfid: str, since: datetime | None
    ) -> list[IncomingMessage | SessionEntered]:
        """Keep a page's messages in the journal (and its sessions as seen); what is new.
        Items sent before `since` are passed over."""
        if not isinstance(items, list):
            log.warning("微信客服: a sync_msg page without msg_list")
            return []
        taken: list[IncomingMessage | SessionEntered] = []
        now = self.clock.now()
        passed = 0
        for item in items:
            try:
                if not isinstance(item, Mapping):
                    raise ValueError("not an object")
                sent = item.get("send_time")
                if since is not None and isinstance(sent, int) and sent < since.timestamp():
                    passed += 1
                    continue
                got = read_item(item, now)
            except ValueError as exc:
                log.warning(
                    "微信客服: skipped an item of %s that is not WeCom's: %s", open_kfid, exc
                )
                continue
            if got is None:
                continue
            if isinstance(got, SessionEntered):
                if got.open_kfid != open_kfid:
                    log.warning("微信客服: a session of %s in %s's page", got.open_kfid, open_kfid)
                    continue
                chat = f"{got.open_kfid}:{got.external_userid}"
                if await windows.once(PLATFORM, chat, f"event:{got.msgid}", now):
                    taken.append(got)
                continue
            if split_chat(got.chat.chat_id)[0] != open_kfid:
                log.warning("微信客服: a message for another account in %s's page", open_kfid)
                continue
            if await self.router.accept(got):
                taken.append(got)
            else:
                log.info(
                    "微信客服: message %s was taken before: not handled again", got.message_id
                )
        if passed:
            log.info("微信客服: first read of %s passed over %d older item(s)", open_kfid, passed)
        return taken

    async def _act(self, item: IncomingMessage | SessionEntered) -> None:
        try:
            if isinstance(item, SessionEntered):
                await self._welcome(item)
            else:
                await self._handle(item)
        except Exception:  # one message's failure must not stop the read of the others
            log.exception("微信客服: handling %s failed", item)

    async def _handle(self, message: IncomingMessage) -> None:
        await self._register(message.chat.chat_id, "")
        # The owner wrote: their window opens, and what was kept for them goes first.
        await chats.saw(PLATFORM, message.chat.chat_id, message.received_at)
        await self._send_held(message.chat)
        toast = await self.router.handle(message, self, accepted=True)
        if toast:
            # WeChat shows no toast: what became of a press is said in the chat.
            try:
                await self.send(OutgoingMessage(chat=message.chat, text=toast))
            except SendError as exc:
                log.warning("微信客服: could not say what became of a press: %s", exc)

    async def _register(self, chat_id: str, scene: str) -> None:
        """Register a chat with its estate: the contact link's (scene), else its account's."""
        if chat_id in self._registered:
            return
        open_kfid = chat_id.split(":", 1)[0]
        served = self.config.estates_of(open_kfid)
        code = scene if scene in served else (served[0] if len(served) == 1 else "")
        if scene and scene not in served:
            log.warning(
                "微信客服: a contact link names estate %r, not served by %s", scene, open_kfid
            )
        if not code:
            return  # the router asks the owner to bind, or knows them already
        if await chats.find_chat(PLATFORM, chat_id) is None:
            estate = await chats.estate_by_code(code)
            if estate is None:
                log.warning("微信客服: estate %s is not in the store", code)
                return
            await chats.register_chat(PLATFORM, chat_id, estate, ChatKind.PRIVATE, chat_id)
        self._registered.add(chat_id)

    async def _welcome(self, event: SessionEntered) -> None:
        chat_id = f"{event.open_kfid}:{event.external_userid}"
        scene = event.scene if ESTATE_CODE.fullmatch(event.scene) else ""
        await self._register(chat_id, scene)
        if not event.welcome_code:
            log.info("微信客服: %s came back to the chat (no welcome code): no welcome", chat_id)
            return
        lang = self.services.catalogues.language(await windows.language_of(PLATFORM, chat_id))
        text = self.services.catalogues.text(lang, "kf.welcome")
        body = {"code": event.welcome_code, "msgtype": "text", "text": {"content": text}}
        try:
            await self.api.call(
                "微信客服 welcome", lambda c: c.post("kf/send_msg_on_event", data=body)
            )
        except SendError as exc:
            log.warning("微信客服: could not welcome %s: %s", chat_id, exc)

    # Channel -----------------------------------------------------------------------------

    def private_chat(self, user_id: str) -> ChatRef:
        """A WeChat user's chat with a 客服 account: their user id names both."""
        return ChatRef(PLATFORM, user_id, is_group=False)

    def hears(self, chat: ChatRef) -> Hearing:
        """Everything an owner writes to the 客服 account; 微信客服 has no groups."""
        return Hearing.NOTHING if chat.is_group else Hearing.EVERYTHING

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """Send within the owner's window; beyond it, keep the message for when they write."""
        return await self._send(message, "reply")

    async def send_notice(self, message: OutgoingMessage, notice: NoticeMeta) -> SentMessage:
        """A notice within the owner's window; beyond it, through the owner's Official Account
        when they are bound there too and the WeChat channel runs, else kept for when they
        write again."""
        chat = message.chat
        if not await windows.has_slot(
            PLATFORM, chat.chat_id, self.clock.now(), self.config.window
        ):
            wechat = self.services.hub.get(Platform.WECHAT)
            openid = await windows.account_on(PLATFORM, chat.chat_id, Platform.WECHAT)
            if wechat is not None and openid is not None:
                log.info(
                    "微信客服: %s's window is closed: the %s notice goes to the Official Account",
                    chat.chat_id,
                    notice.kind,
                )
                moved = dataclasses.replace(message, chat=wechat.private_chat(openid))
                return await wechat.send_notice(moved, notice)
        return await self._send(message, notice.kind)

    async def edit(self, sent: SentMessage, message: OutgoingMessage) -> SentMessage:
        """微信客服 cannot edit a message. A new version with buttons (a new choice) is sent anew;
        one without (a pressed menu's settled form) is not: the press's own answer follows, and
        the window holds only 5 messages."""
        if not message.buttons:
            log.debug("微信客服: the edit of %s is not resent (no buttons)", sent.message_id)
            return sent
        return await self.send(message)

    async def _send(self, message: OutgoingMessage, kind: str) -> SentMessage:
        chat = message.chat
        if chat.platform is not PLATFORM or chat.is_group:
            raise SendError(f"not a 微信客服 chat: {chat}")
        try:
            open_kfid, user = split_chat(chat.chat_id)
        except ValueError as exc:
            raise SendError(str(exc)) from exc
        if message.photos or message.attachments:
            log.info("微信客服: photos and files are not sent; the text is")
        bodies = self._bodies(message)
        sent_id = ""
        for index, (_text, body) in enumerate(bodies):
            now = self.clock.now()
            slot = await windows.take_slot(PLATFORM, chat.chat_id, now, self.config.window)
            if not slot.granted:
                return await self._hold(chat, [t for t, _ in bodies[index:]], kind, slot.why)
            if slot.last and index == len(bodies) - 1:
                body = self._with_last_note(chat, body, await self._last_note(chat))
            payload = {"touser": user, "open_kfid": open_kfid, **body}
            try:
                result = await self.api.call(
                    "微信客服 send_msg", lambda c, p=payload: c.post("kf/send_msg", data=p)
                )
            except PlatformError as exc:
                if exc.code not in WINDOW_REFUSALS:
                    raise
                # WeCom counted otherwise (a servicer wrote from WeCom): its word stands.
                await windows.use_up(PLATFORM, chat.chat_id, self.config.window)
                return await self._hold(chat, [t for t, _ in bodies[index:]], kind, str(exc))
            sent_id = str(result.get("msgid", "")) or sent_id
        return SentMessage(chat=chat, message_id=sent_id or f"kf-{uuid.uuid4().hex}")

    @staticmethod
    def _bodies(message: OutgoingMessage) -> list[tuple[str, dict[str, Any]]]:
        """Each message to send, with its text (what is kept if it cannot be sent)."""
        if not message.buttons:
            return [
                (piece, {"msgtype": "text", "text": {"content": piece}})
                for piece in split_text(message.text, TEXT_BYTES)
            ]
        pieces = split_text(message.text, MENU_HEAD_BYTES)
        head = pieces.pop()
        bodies = [(piece, {"msgtype": "text", "text": {"content": piece}}) for piece in pieces]
        bodies.append((head, {"msgtype": "msgmenu", "msgmenu": menu(head, message.buttons)}))
        return bodies

    @staticmethod
    def _with_last_note(chat: ChatRef, body: dict[str, Any], note: str) -> dict[str, Any]:
        if body["msgtype"] == "msgmenu":
            return {**body, "msgmenu": {**body["msgmenu"], "tail_content": note}}
        return {**body, "text": {"content": f"{body['text']['content']}\n\n{note}"}}

    async def _last_note(self, chat: ChatRef) -> str:
        lang = self.services.catalogues.language(await windows.language_of(PLATFORM, chat.chat_id))
        return self.services.catalogues.text(lang, "kf.window_last")

    async def _hold(self, chat: ChatRef, texts: list[str], kind: str, why: str) -> SentMessage:
        text = "\n".join(texts)
        held = await windows.hold(PLATFORM, chat.chat_id, text, kind, self.clock.now())
        log.warning(
            "微信客服: cannot write to %s now (%s): the %s is kept and sent when they write again",
            chat.chat_id,
            why,
            kind,
        )
        return SentMessage(chat=chat, message_id=f"held-{held}")

    async def _send_held(self, chat: ChatRef) -> None:
        texts = await windows.release_held(PLATFORM, chat.chat_id)
        if not texts:
            return
        lang = self.services.catalogues.language(await windows.language_of(PLATFORM, chat.chat_id))
        intro = self.services.catalogues.text(lang, "kf.held_intro")
        text = "\n\n".join([intro, *texts])
        try:
            await self._send(OutgoingMessage(chat=chat, text=text), "held")
        except SendError as exc:
            log.warning("微信客服: the kept messages to %s could not go: %s", chat.chat_id, exc)
            for each in texts:
                await windows.hold(PLATFORM, chat.chat_id, each, "held", self.clock.now())


def build_wecom_kf(settings: Settings, services: Services, router: Router) -> KfChannel | None:
    """The 微信客服 channel, or None when its settings are absent."""
    if not settings.wecom_kf_enabled:
        return None
    return KfChannel(KfConfig.from_settings(settings), router, services)
