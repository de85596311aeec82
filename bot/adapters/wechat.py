"""The WeChat Official Account (公众号) channel, through wechatpy on the shared aiohttp server.

In: WeChat's callbacks at `WECHAT_CALLBACK_PATH` — the GET that verifies the URL, and POSTs in
plain or safe (AES) mode, each checked against the token's signature and parsed by wechatpy.
The signature covers the timestamp and nonce but, in plain mode, not the body nor the `openid` in
the query: a callback signed more than 5 minutes from now, or whose nonce came within that window
with other contents (a replay), is refused, and in plain mode the query's `openid` must be the
body's sender. Text, photos and recognised voice become `IncomingMessage`s (the openid is the
sender and the private chat); a subscription or a menu click is answered with the welcome; an
unsubscription marks the owner's account unreachable, so notices to it stop until they follow
again.

WeChat waits 5 seconds for an answer and then posts the same callback again (the same nonce,
timestamp and body: a retry, not a replay). Every callback is answered within
`WECHAT_REPLY_WAIT` seconds: with the router's reply itself when it had exactly one for the
sender by then, else with `success`, the answers following through the customer-service API. A
retry of a message being handled answers `success` at once; one handled before (by any process)
is dropped by the router's seen-message record.

Out: customer-service messages (a menu message when there are buttons; a tap comes back as a
text with `bizmsgmenuid`, which becomes the button's payload), and template messages for notices
outside the 48-hour window in which WeChat lets an account write to an owner (`send_notice`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from aiohttp import web
from wechatpy import WeChatClient, parse_message
from wechatpy.client.base import BaseWeChatClient
from wechatpy.crypto import WeChatCrypto
from wechatpy.events import ClickEvent, SubscribeEvent, SubscribeScanEvent, UnsubscribeEvent
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.messages import BaseMessage, ImageMessage, TextMessage, VoiceMessage
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot.adapters.http import HttpServer
from bot.adapters.wxcommon import (
    UNSUBSCRIBED,
    CallbackRunner,
    PlatformError,
    Refusal,
    Sleep,
    WxApi,
    WxCallbackPipeline,
    callback_digest,
    has_dtd,
    prepare_client,
    split_text,
    text_field,
)
from bot.config import Settings
from bot.core import chats
from bot.core.accounts import mark_reachable, mark_unreachable, welcome_once
from bot.core.callbacks import CallbackGuard, StoreTokens
from bot.core.channel import Hearing, NoticeMeta, SendError
from bot.core.context import Services
from bot.core.router import Router
from bot.core.types import (
    Attachment,
    ChatRef,
    IncomingMessage,
    OutgoingMessage,
    Platform,
    SentMessage,
)

log = logging.getLogger("guanjia.wechat")

T = TypeVar("T")

OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# WeChat lets an account message an owner for 48 hours after the owner's last message; an hour
# is kept in hand so a notice is not refused on the edge.
SERVICE_WINDOW = timedelta(hours=47)
# The customer-service window has closed (45015) or its message count is used up (45047).
WINDOW_CLOSED = frozenset({45015, 45047})
PASSIVE_LIMIT = 2000  # bytes; WeChat takes 2048 in a passive text reply
# Template keys whose values WeChat limits (characters), by the key's prefix.
TEMPLATE_LIMITS = {"thing": 20, "character_string": 32, "phrase": 5}


class OfficialAccountClient(WeChatClient):
    """wechatpy's Official Account client, fetching its token from the configured base URL."""

    def fetch_access_token(self) -> dict[str, Any]:
        """Fetch a token (wechatpy's own method always asks api.weixin.qq.com)."""
        return self._fetch_access_token(
            url=f"{self.API_BASE_URL}token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


@dataclass(frozen=True)
class Template:
    """A template message setting: its id, and which notice field fills each template key."""

    template_id: str
    keys: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, value: str) -> Template:
        """`ID` or `ID key=field key=field` (the field `text` is the notice's whole text)."""
        template_id, *pairs = value.split()
        keys = tuple(tuple(pair.split("=", 1)) for pair in pairs if "=" in pair)
        return cls(template_id, keys)  # type: ignore[arg-type]

    def data(self, text: str, fields: Mapping[str, object]) -> dict[str, dict[str, str]]:
        """The template's `data`: mapped fields, or `first` (the text) and the fields as named."""
        if self.keys:
            values = {
                key: text if name == "text" else fields.get(name, "-") for key, name in self.keys
            }
        else:
            values = {"first": text, **fields}
        return {key: {"value": _fit(key, str(value))} for key, value in values.items()}


def _fit(key: str, value: str) -> str:
    for prefix, limit in TEMPLATE_LIMITS.items():
        if key.startswith(prefix) and len(value) > limit:
            return value[: limit - 1] + "…"
    return value


@dataclass(frozen=True)
class WeChatConfig:
    """What the Official Account channel needs from the settings."""

    app_id: str
    app_secret: str
    token: str
    aes_key: str = ""
    callback_path: str = "/wechat/callback"
    api_base_url: str = "https://api.weixin.qq.com/cgi-bin/"
    reply_wait: float = 0.8
    templates: Mapping[str, Template] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> WeChatConfig:
        """The config from the settings."""
        return cls(
            app_id=settings.wechat_app_id,
            app_secret=settings.wechat_app_secret,
            token=settings.wechat_token,
            aes_key=settings.wechat_encoding_aes_key,
            callback_path=settings.wechat_callback_path,
            api_base_url=settings.wechat_api_base_url,
            reply_wait=settings.wechat_reply_wait,
            templates={k: Template.parse(v) for k, v in settings.wechat_templates.items()},
        )


def _passive_ok(message: OutgoingMessage) -> bool:
    """Whether a reply can be WeChat's passive reply: plain text that fits."""
    return (
        not message.buttons
        and not message.photos
        and not getattr(message, "attachments", ())
        and 0 < len(message.text.encode()) <= PASSIVE_LIMIT
    )


class _AccountCallbacks:
    """What is the Official Account's own in its callbacks (`WxCallbacks`): the token's
    signature on the query, plain or safe mode, and the openid as the sender."""

    empty_answer = "success"

    def __init__(self, channel: WeChatChannel) -> None:
        self.channel = channel
        self.token = channel.config.token
        self.crypto = channel.crypto

    def _signed(self, query: Mapping[str, str]) -> bool:
        try:
            check_signature(
                self.token,
                query.get("signature", ""),
                query.get("timestamp", ""),
                query.get("nonce", ""),
            )
        except InvalidSignatureException:
            return False
        return True

    def echo(self, query: Mapping[str, str]) -> str:
        """`echostr`, when the query is signed with the token."""
        self.check_signature(query)
        return query.get("echostr", "")

    def echo_digest(self, query: Mapping[str, str]) -> str:
        """The digest of the URL check's `echostr`."""
        return callback_digest("GET", query.get("echostr", ""))

    def check_signature(self, query: Mapping[str, str]) -> None:
        """Refuse a query that is not signed with the token."""
        if not self._signed(query):
            raise Refusal(403, "bad signature")

    def open(self, query: Mapping[str, str], body: bytes) -> str:
        """The body as text, decrypted in safe mode; the mode must be the account's."""
        safe = query.get("encrypt_type", "raw") == "aes"
        if safe != bool(self.crypto):
            want = "safe (AES)" if self.crypto else "plain"
            raise Refusal(400, f"this account takes {want} callbacks")
        try:
            xml = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Refusal(400, "callback is not UTF-8") from exc
        if has_dtd(xml):
            raise Refusal(400, "XML with a DTD")
        if self.crypto is None:
            return xml
        try:
            return self.crypto.decrypt_message(
                xml, query.get("msg_signature", ""), query["timestamp"], query["nonce"]
            )
        except InvalidSignatureException as exc:
            raise Refusal(403, "bad msg_signature") from exc
        except Exception as exc:  # wechatpy raises whatever the bad payload trips on
            raise Refusal(400, f"undecryptable payload ({type(exc).__name__})") from exc

    def parse(self, xml: str) -> BaseMessage:
        """wechatpy's Official Account message or event."""
        return parse_message(xml)

    def check_sender(
        self, query: Mapping[str, str], message: BaseMessage, sender: str
    ) -> web.Response | None:
        """In plain mode nothing signs the body: a query naming another sender is forged."""
        if self.crypto is None and query.get("openid") != sender:
            raise Refusal(403, "the query's openid is not the body's FromUserName")
        return None

    def digest(self, query: Mapping[str, str], body: bytes) -> str:
        """The digest of the unsigned query values and the body."""
        return callback_digest(
            "POST",
            query.get("openid", ""),
            query.get("encrypt_type", ""),
            query.get("msg_signature", ""),
            body,
        )

    async def dispatch(self, message: BaseMessage, sender: str) -> str | None:
        """The channel's dispatch."""
        return await self.channel._dispatch(message, sender)

    def reply(self, query: Mapping[str, str], source: str, sender: str, text: str) -> str:
        """A passive text reply, encrypted in safe mode."""
        answer = TextReply(source=source, target=sender, content=text, time=int(time.time()))
        rendered = answer.render()
        if self.crypto is not None:
            rendered = self.crypto.encrypt_message(rendered, query["nonce"], query["timestamp"])
        return rendered


class WeChatChannel:
    """The Official Account: its callback routes, and a Channel that sends to owners."""

    platform = Platform.WECHAT
    after_server = False
    stops_before_server = False  # the server stops first: no callback arrives while it drains

    def __init__(
        self,
        config: WeChatConfig,
        router: Router,
        services: Services,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config
        self.services = services
        self.clock = services.clock
        self.crypto = (
            WeChatCrypto(config.token, config.aes_key, config.app_id) if config.aes_key else None
        )
        self._token_client = prepare_client(
            OfficialAccountClient(config.app_id, config.app_secret), config.api_base_url
        )
        self.tokens = StoreTokens(
            f"wechat:{config.app_id}", self._fetch_token, services.clock, sleep=sleep
        )
        self.api = WxApi(
            prepare_client(
                OfficialAccountClient(config.app_id, config.app_secret), config.api_base_url
            ),
            self.tokens,
            sleep=sleep,
        )
        self.runner = CallbackRunner(
            router, self, self._send_now, wait=config.reply_wait, passive=_passive_ok
        )
        self.guard = CallbackGuard(f"wechat:{config.app_id}", services.clock)
        self.callbacks = WxCallbackPipeline(
            "WeChat", _AccountCallbacks(self), self.guard, sender=OPENID, logger=log
        )

    async def _fetch_token(self) -> tuple[str, int]:
        result = await asyncio.to_thread(self._token_client.fetch_access_token)
        return str(result["access_token"]), int(result.get("expires_in", 7200))

    # Wiring ------------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """The callback routes, to mount on the shared aiohttp application."""
        path = self.config.callback_path
        return [web.get(path, self.verify), web.post(path, self.receive)]

    def mount_on(self, server: HttpServer) -> None:
        """Mount the callback routes on the shared server (before it starts)."""
        server.add_routes(self.routes())

    async def start(self) -> None:
        """Nothing to start: WeChat calls us."""
        mode = "safe (AES)" if self.crypto else "plain"
        log.info("WeChat Official Account at %s, %s mode", self.config.callback_path, mode)

    async def stop(self) -> None:
        """Let running handlings and late answers finish."""
        await self.runner.stop()

    async def drain(self) -> None:
        """Wait for every handling and late answer (tests)."""
        await self.runner.drain()

    # Callbacks ---------------------------------------------------------------------------

    async def verify(self, request: web.Request) -> web.Response:
        """WeChat's URL check: echo `echostr` when the signature is the token's."""
        return await self.callbacks.verify(request)

    async def receive(self, request: web.Request) -> web.Response:
        """A message or event from WeChat; answered within the reply wait."""
        return await self.callbacks.receive(request)

    async def _dispatch(self, message: BaseMessage, openid: str) -> str | None:
        """Hand a message to the router, or answer an event; the passive reply text, if any."""
        created = int(message.time or 0)
        if isinstance(message, UnsubscribeEvent):
            await mark_unreachable(Platform.WECHAT, openid, self.clock.now(), "unsubscribed")
            return None
        if isinstance(message, SubscribeEvent | SubscribeScanEvent | ClickEvent):
            if not isinstance(message, ClickEvent):
                await mark_reachable(Platform.WECHAT, openid)
            return await welcome_once(
                Platform.WECHAT,
                openid,
                created,
                message.event,
                self.services,
                self.clock.now(),
                event_key=text_field(message._data.get("EventKey"), "EventKey"),
            )
        incoming = self._incoming(message, openid)
        if incoming is None:
            log.info("ignored a %s callback from %s", message.type, openid)
            return None
        key = f"msg:{incoming.message_id}"
        reply = await self.runner.run(key, incoming)
        return reply.text if reply is not None else None

    def _incoming(self, message: BaseMessage, openid: str) -> IncomingMessage | None:
        text = ""
        payload: str | None = None
        attachments: tuple[Attachment, ...] = ()
        if isinstance(message, TextMessage):
            text = text_field(message.content, "Content")
            # A tap on a menu message's item comes back as its text with the item's id.
            menu_id = text_field(message._data.get("bizmsgmenuid"), "bizmsgmenuid")
            payload = menu_id or None
        elif isinstance(message, ImageMessage):
            attachments = (Attachment("photo", text_field(message.media_id, "MediaId")),)
        elif isinstance(message, VoiceMessage):
            text = text_field(message.recognition, "Recognition")
            attachments = (Attachment("voice", text_field(message.media_id, "MediaId")),)
        else:
            return None
        message_id = str(message.id) if message.id else f"{openid}:{int(message.time or 0)}"
        return IncomingMessage(
            chat=self.private_chat(openid),
            sender_id=openid,
            sender_name=openid,
            text=text,
            message_id=message_id,
            received_at=self.clock.now(),
            payload=payload,
            attachments=attachments,
            raw=message,
        )

    # Channel -----------------------------------------------------------------------------

    def private_chat(self, user_id: str) -> ChatRef:
        """An owner's chat with the account: their openid."""
        return ChatRef(Platform.WECHAT, user_id, is_group=False)

    def hears(self, chat: ChatRef) -> Hearing:
        """Everything in an owner's chat with the account; an Official Account is in no group."""
        return Hearing.NOTHING if chat.is_group else Hearing.EVERYTHING

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """Send to an owner (the passive reply when the owner's callback is still waiting)."""
        captured = await self.runner.intercept(message)
        if captured is not None:
            return captured
        try:
            return await self._send_now(message)
        except PlatformError as exc:
            # Outside the 48-hour window only a template message gets through.
            if exc.code in WINDOW_CLOSED and "notice" in (self.config.templates or {}):
                return await self.send_template(message, "notice")
            raise

    async def edit(self, sent: SentMessage, message: OutgoingMessage) -> SentMessage:
        """WeChat cannot edit a message: send the new one."""
        return await self.send(message)

    async def _send_now(self, message: OutgoingMessage) -> SentMessage:
        chat = message.chat
        if chat.is_group or chat.platform is not Platform.WECHAT:
            raise SendError(f"an Official Account reaches only its owners' private chats: {chat}")
        openid = chat.chat_id
        buttons = [button for row in message.buttons for button in row]
        pieces = split_text(message.text)
        for index, piece in enumerate(pieces):
            if buttons and index == len(pieces) - 1:
                menu = {
                    "head_content": piece,
                    "list": [{"id": b.payload, "content": b.label} for b in buttons],
                    "tail_content": "",
                }
                await self._call(
                    openid,
                    "WeChat menu message",
                    lambda c, m=menu: c.message.send_msg_menu(openid, m),
                )
            else:
                await self._call(
                    openid,
                    "WeChat customer-service message",
                    lambda c, p=piece: c.message.send_text(openid, p),
                )
        if message.photos:
            log.debug("photos are not sent to WeChat owners: %s", message.photos)
        return SentMessage(chat=chat, message_id=f"cs-{uuid.uuid4().hex}")

    async def _call(self, openid: str, what: str, call: Callable[[BaseWeChatClient], T]) -> T:
        """An API call writing to an owner; one who unfollowed (43004) is marked unreachable."""
        try:
            return await self.api.call(what, call)
        except PlatformError as exc:
            if exc.code == UNSUBSCRIBED:
                await mark_unreachable(Platform.WECHAT, openid, self.clock.now(), "43004")
            raise

    async def in_window(self, openid: str) -> bool:
        """Whether the owner wrote (or subscribed, or clicked) within the service window."""
        last = await chats.last_seen(Platform.WECHAT, openid)
        return last is not None and last >= self.clock.now() - SERVICE_WINDOW

    async def send_notice(self, message: OutgoingMessage, notice: NoticeMeta) -> SentMessage:
        """Send a notice to an owner: a message inside the 48-hour window, else a template."""
        if await self.in_window(message.chat.chat_id):
            try:
                return await self._send_now(message)
            except PlatformError as exc:
                if exc.code not in WINDOW_CLOSED:
                    raise
        return await self.send_template(message, notice.kind, notice.fields)

    async def send_template(
        self, message: OutgoingMessage, kind: str, fields: Mapping[str, object] | None = None
    ) -> SentMessage:
        """Send a notice as the template message configured for its kind."""
        templates = self.config.templates or {}
        template = (
            templates.get(kind)
            or (templates.get("bill") if kind == "arrears" else None)
            or templates.get("notice")
        )
        if template is None:
            log.error("no template message for %s notices: set WECHAT_TEMPLATE_%s", kind, kind)
            raise SendError(f"no WeChat template message configured for {kind} notices")
        openid = message.chat.chat_id
        data = template.data(message.text, fields or {})
        result = await self._call(
            openid,
            f"WeChat template message ({kind})",
            lambda c: c.message.send_template(openid, template.template_id, data),
        )
        return SentMessage(chat=message.chat, message_id=str(result.get("msgid", "")))


def build_wechat(settings: Settings, services: Services, router: Router) -> WeChatChannel | None:
    """The Official Account channel, or None when its settings are absent."""
    if not settings.wechat_enabled:
        return None
    return WeChatChannel(WeChatConfig.from_settings(settings), router, services)
