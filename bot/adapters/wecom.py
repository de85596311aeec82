"""The WeCom (企业微信) channel: a self-built app (自建应用) and owner-group robots (群机器人).

The app, through wechatpy on the shared aiohttp server:

- In: its callback at `WECOM_CALLBACK_PATH`, always encrypted (msg_signature, EncodingAESKey).
  One signed more than 5 minutes from now, or whose nonce came within that window with other
  contents, is refused (WeCom's own retry repeats nonce and contents, and is let through).
  Staff and owners who message the app become `IncomingMessage`s in their private chat (the
  WeCom userid); a subscription or menu click is answered with the welcome, an unsubscription
  marks the account unreachable so notices to it stop until it follows again; a press on a
  template card's button comes back as an `IncomingMessage` whose payload is the button's key,
  in the chat the card was sent for (its task id names it). Answers follow the Official
  Account's rule: within `WECHAT_REPLY_WAIT` seconds, passively when there is exactly one.
- Out: a private chat gets app messages (`message/send`); a group chat is an app group chat
  (`appchat/send`) for text, while a message with buttons (a ticket card) goes as a
  `button_interaction` template card to the group's members, which is updated in place when the
  card is edited and a press has handed us its one-time response code.

The robots: each owner group's robot is a webhook key (`WECOM_ROBOTS`, chat → key); a message to
that chat is posted to its webhook, paced to at most `WECOM_ROBOT_PER_MINUTE` a minute, evenly.
Robots need no app and can run alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from wechatpy.enterprise import WeChatClient as EnterpriseClient
from wechatpy.enterprise import parse_message
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.enterprise.events import ClickEvent, SubscribeEvent, UnsubscribeEvent
from wechatpy.enterprise.messages import ImageMessage, TextMessage, VoiceMessage
from wechatpy.enterprise.replies import TextReply
from wechatpy.messages import BaseMessage, UnknownMessage

from bot.adapters.http import HttpServer
from bot.adapters.wecom_groupsend import GroupSendApi
from bot.adapters.wxcommon import (
    HTTP_TIMEOUT,
    CallbackRunner,
    Sleep,
    WeComEnvelope,
    WxApi,
    WxCallbackPipeline,
    callback_digest,
    prepare_client,
    send_error,
    split_text,
    text_field,
)
from bot.config import Settings
from bot.core import chats, groupsend
from bot.core.accounts import mark_reachable, mark_unreachable, welcome_once
from bot.core.callbacks import CallbackGuard, StoreTokens
from bot.core.channel import Hearing, NoticeMeta, SendError
from bot.core.chats import ChatKind
from bot.core.clock import Clock
from bot.core.context import Services
from bot.core.router import Router
from bot.core.types import (
    Attachment,
    Button,
    ChatRef,
    IncomingMessage,
    OutgoingMessage,
    Platform,
    SentMessage,
)

log = logging.getLogger("guanjia.wecom")

USERID = re.compile(r"[A-Za-z0-9_@.-]{1,64}")
APPCHAT_ID = re.compile(r"[A-Za-z0-9]{1,32}")
MAX_BUTTONS = 6  # a button_interaction card's limit
MEMBERS_TTL = timedelta(minutes=10)
PASSIVE_LIMIT = 2000
RESPONSE_CODES_KEPT = 10_000


class WeComClient(EnterpriseClient):
    """wechatpy's WeCom client, fetching its token from the configured base URL."""

    def fetch_access_token(self) -> dict[str, Any]:
        """Fetch a token (wechatpy's own method always asks qyapi.weixin.qq.com)."""
        return self._fetch_access_token(
            url=f"{self.API_BASE_URL}gettoken",
            params={"corpid": self.corp_id, "corpsecret": self.secret},
        )


@dataclass(frozen=True)
class WeComConfig:
    """What the WeCom channel needs from the settings; an empty corp id means robots only."""

    corp_id: str = ""
    agent_id: int = 0
    secret: str = ""
    token: str = ""
    aes_key: str = ""
    callback_path: str = "/wecom/callback"
    api_base_url: str = "https://qyapi.weixin.qq.com/cgi-bin/"
    reply_wait: float = 0.8
    # Estate code → the app group chat that is its staff chat.
    staff_chats: Mapping[str, str] = field(default_factory=dict)
    # Chat id (ESTATE_CODE/GROUP) → the webhook key of the group's robot.
    robots: Mapping[str, str] = field(default_factory=dict)
    robot_per_minute: int = 20
    # 客户群群发: the 客户联系 secret (empty: the app's own secret, when the app is listed under
    # 客户联系 → API → 可调用应用), and how long a group owner has to confirm a task before
    # they are reminded.
    contact_secret: str = ""
    groupsend_remind_after: timedelta = timedelta(hours=2)

    @property
    def has_app(self) -> bool:
        """Whether the app (not only robots) is configured."""
        return bool(self.corp_id)

    @classmethod
    def from_settings(cls, settings: Settings) -> WeComConfig:
        """The config from the settings."""
        return cls(
            corp_id=settings.wecom_corp_id,
            agent_id=settings.wecom_agent_id or 0,
            secret=settings.wecom_secret,
            token=settings.wecom_token,
            aes_key=settings.wecom_encoding_aes_key,
            callback_path=settings.wecom_callback_path,
            api_base_url=settings.wecom_api_base_url,
            reply_wait=settings.wechat_reply_wait,
            staff_chats=settings.wecom_staff_chat_ids,
            robots=settings.wecom_robot_keys,
            robot_per_minute=settings.wecom_robot_per_minute,
            contact_secret=settings.wecom_contact_secret,
            groupsend_remind_after=timedelta(minutes=settings.wecom_groupsend_remind_minutes),
        )


class RobotPacer:
    """Spaces each robot's messages evenly, one every 60/per_minute seconds: never a burst."""

    def __init__(self, per_minute: int, clock: Clock, sleep: Sleep = asyncio.sleep) -> None:
        self.interval = timedelta(seconds=60.0 / per_minute)
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, datetime] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait_turn(self, key: str) -> None:
        """Wait until this robot may send again, and take that turn."""
        async with self._locks.setdefault(key, asyncio.Lock()):
            now = self._clock.now()
            turn = self._next.get(key, now)
            if turn > now:
                await self._sleep((turn - now).total_seconds())
            self._next[key] = max(turn, now) + self.interval

    def hold(self, key: str, seconds: float) -> None:
        """Let this robot send nothing for `seconds` (the platform said it is over its limit)."""
        until = self._clock.now() + timedelta(seconds=seconds)
        self._next[key] = max(self._next.get(key, until), until)


def _passive_ok(message: OutgoingMessage) -> bool:
    """Whether a reply can be the passive reply: plain text that fits, to a private chat."""
    return (
        not message.chat.is_group
        and not message.buttons
        and not message.photos
        and not getattr(message, "attachments", ())
        and 0 < len(message.text.encode()) <= PASSIVE_LIMIT
    )


def _card(message: OutgoingMessage, task_id: str) -> dict[str, Any]:
    """A button_interaction template card holding the message's text and buttons."""
    lines = [line for line in message.text.strip().splitlines() if line.strip()] or ["-"]
    buttons = [button for row in message.buttons for button in row]
    if len(buttons) > MAX_BUTTONS:
        log.warning(
            "a WeCom card takes %d buttons: dropped %s", MAX_BUTTONS, buttons[MAX_BUTTONS:]
        )
    card: dict[str, Any] = {
        "card_type": "button_interaction",
        "main_title": {"title": lines[0][:36]},
        "task_id": task_id,
        "button_list": [_button(button) for button in buttons[:MAX_BUTTONS]],
    }
    if len(lines) > 1:
        card["sub_title_text"] = "\n".join(lines[1:])[:500]
    return card


def _short_hash(*parts: str) -> str:
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]


def _button(button: Button) -> dict[str, Any]:
    return {"text": button.label[:10], "style": 1, "key": button.payload}


class _AppCallbacks(WeComEnvelope):
    """What is the WeCom app's own in its callbacks (`WxCallbacks`): always encrypted, signed
    with the encrypted body (msg_signature), the userid as the sender, and the agent checked."""

    empty_answer = ""

    def __init__(self, channel: WeComChannel, crypto: WeChatCrypto) -> None:
        self.channel = channel
        self.crypto = crypto
        self.agent_id = channel.config.agent_id

    def parse(self, xml: str) -> BaseMessage:
        """wechatpy's WeCom message or event."""
        return parse_message(xml)

    def check_sender(
        self, query: Mapping[str, str], message: BaseMessage, sender: str
    ) -> web.Response | None:
        """A callback for another agent of the corp is answered with nothing and dropped."""
        agent = message._data.get("AgentID")
        if agent is not None and str(agent) != str(self.agent_id):
            log.warning("a WeCom callback for agent %s, not ours (%s)", agent, self.agent_id)
            return web.Response(text="")
        return None

    def digest(self, query: Mapping[str, str], body: bytes) -> str:
        """The digest of the signature and the body."""
        return callback_digest("POST", query.get("msg_signature", ""), body)

    async def dispatch(self, message: BaseMessage, sender: str) -> str | None:
        """The channel's dispatch."""
        return await self.channel._dispatch(message, sender)

    def reply(self, query: Mapping[str, str], source: str, sender: str, text: str) -> str:
        """A passive text reply, encrypted."""
        answer = TextReply(
            source=source, target=sender, content=text, time=int(time.time()), agent=self.agent_id
        ).render()
        return self.crypto.encrypt_message(
            answer, query.get("nonce", ""), query.get("timestamp", "")
        )


class WeComChannel:
    """The WeCom app's callback routes and a Channel for app chats and robot groups."""

    platform = Platform.WECOM
    after_server = False
    stops_before_server = False  # the server stops first: no callback arrives while it drains

    def __init__(
        self,
        config: WeComConfig,
        router: Router,
        services: Services,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config
        self.services = services
        self.clock = services.clock
        self.pacer = RobotPacer(config.robot_per_minute, services.clock, sleep)
        self._http: aiohttp.ClientSession | None = None
        self._members: dict[str, tuple[list[str], datetime]] = {}
        # A card's latest unused response code, by task id: updating the card spends it.
        self._response_codes: OrderedDict[str, str] = OrderedDict()
        self.crypto: WeChatCrypto | None = None
        self.api: WxApi | None = None
        # 客户群群发 (bot/adapters/wecom_groupsend.py); the poll job finds it here.
        self.group_sends: GroupSendApi | None = None
        if config.has_app:
            self.crypto = WeChatCrypto(config.token, config.aes_key, config.corp_id)
            self._token_client = prepare_client(
                WeComClient(config.corp_id, config.secret), config.api_base_url
            )
            self.tokens = StoreTokens(
                f"wecom:{config.corp_id}:{config.agent_id}",
                self._fetch_token,
                services.clock,
                sleep=sleep,
            )
            self.api = WxApi(
                prepare_client(WeComClient(config.corp_id, config.secret), config.api_base_url),
                self.tokens,
                sleep=sleep,
            )
            if config.contact_secret:
                self.group_sends = build_group_send_api(
                    config.corp_id,
                    config.contact_secret,
                    config.api_base_url,
                    services.clock,
                    remind_after=config.groupsend_remind_after,
                    sleep=sleep,
                )
            else:
                self.group_sends = GroupSendApi(
                    self.api, services.clock, config.groupsend_remind_after
                )
        self.runner = CallbackRunner(
            router, self, self._send_now, wait=config.reply_wait, passive=_passive_ok
        )
        self.guard = CallbackGuard(f"wecom:{config.corp_id}:{config.agent_id}", services.clock)
        self.callbacks: WxCallbackPipeline | None = None
        if self.crypto is not None:
            self.callbacks = WxCallbackPipeline(
                "WeCom",
                _AppCallbacks(self, self.crypto),
                self.guard,
                sender=USERID,
                logger=log,
            )

    async def _fetch_token(self) -> tuple[str, int]:
        result = await asyncio.to_thread(self._token_client.fetch_access_token)
        return str(result["access_token"]), int(result.get("expires_in", 7200))

    def _app(self) -> WxApi:
        if self.api is None:
            raise SendError("the WeCom app is not configured (WECOM_CORP_ID)")
        return self.api

    # Wiring ------------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """The app's callback routes (none with robots only)."""
        if not self.config.has_app:
            return []
        path = self.config.callback_path
        return [web.get(path, self.verify), web.post(path, self.receive)]

    def mount_on(self, server: HttpServer) -> None:
        """Mount the app's callback routes on the shared server (before it starts)."""
        server.add_routes(self.routes())

    async def start(self) -> None:
        """Register the configured staff chats and robot groups with their estates."""
        for code, chat_id in self.config.staff_chats.items():
            await self._register(chat_id, code, ChatKind.STAFF)
        for chat_id in self.config.robots:
            await self._register(chat_id, chat_id.split("/", 1)[0], ChatKind.OWNERS)
        log.info(
            "WeCom: app %s, %d robot group(s)",
            self.config.callback_path if self.config.has_app else "not configured",
            len(self.config.robots),
        )

    async def _register(self, chat_id: str, estate_code: str, kind: ChatKind) -> None:
        estate = await chats.estate_by_code(estate_code)
        if estate is None:
            log.warning("WeCom chat %s: estate %s is not in the store", chat_id, estate_code)
            return
        chat, created = await chats.register_chat(Platform.WECOM, chat_id, estate, kind, chat_id)
        if created:
            log.info("registered WeCom chat %s as %s chat of %s", chat_id, kind, estate.code)
        elif chat.kind is not kind or chat.estate_id != estate.id:
            log.warning("WeCom chat %s is already registered otherwise: left as it is", chat_id)

    async def stop(self) -> None:
        """Let running work finish, then close the robots' HTTP session."""
        await self.runner.stop()
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def drain(self) -> None:
        """Wait for every handling and late answer (tests)."""
        await self.runner.drain()

    # Callbacks ---------------------------------------------------------------------------

    async def verify(self, request: web.Request) -> web.Response:
        """WeCom's URL check: decrypt `echostr` when its signature is right, and answer it."""
        assert self.callbacks is not None
        return await self.callbacks.verify(request)

    async def receive(self, request: web.Request) -> web.Response:
        """A message or event from the app's users; answered within the reply wait."""
        assert self.callbacks is not None
        return await self.callbacks.receive(request)

    async def _dispatch(self, message: BaseMessage, userid: str) -> str | None:
        created = int(message.time or 0)
        if isinstance(message, UnsubscribeEvent):
            await mark_unreachable(Platform.WECOM, userid, self.clock.now(), "unsubscribed")
            return None
        if isinstance(message, SubscribeEvent | ClickEvent):
            if isinstance(message, SubscribeEvent):
                await mark_reachable(Platform.WECOM, userid)
            return await welcome_once(
                Platform.WECOM,
                userid,
                created,
                message.event,
                self.services,
                self.clock.now(),
                event_key=text_field(message._data.get("EventKey"), "EventKey"),
            )
        if isinstance(message, UnknownMessage) and message._data.get("Event") == (
            "template_card_event"
        ):
            await self._press(message._data, userid, created)
            return None
        incoming = self._incoming(message, userid)
        if incoming is None:
            log.info("ignored a %s callback from %s", message.type, userid)
            return None
        reply = await self.runner.run(f"msg:{incoming.message_id}", incoming)
        return reply.text if reply is not None else None

    def _incoming(self, message: BaseMessage, userid: str) -> IncomingMessage | None:
        text = ""
        attachments: tuple[Attachment, ...] = ()
        if isinstance(message, TextMessage):
            text = text_field(message.content, "Content")
        elif isinstance(message, ImageMessage):
            attachments = (Attachment("photo", text_field(message.media_id, "MediaId")),)
        elif isinstance(message, VoiceMessage):
            text = text_field(message.recognition, "Recognition")
            attachments = (Attachment("voice", text_field(message.media_id, "MediaId")),)
        else:
            return None
        message_id = str(message.id) if message.id else f"{userid}:{int(message.time or 0)}"
        return IncomingMessage(
            chat=self.private_chat(userid),
            sender_id=userid,
            sender_name=userid,
            text=text,
            message_id=message_id,
            received_at=self.clock.now(),
            attachments=attachments,
            raw=message,
        )

    async def _press(self, data: Mapping[str, Any], userid: str, created: int) -> None:
        """A button on a template card: the button's key is the payload."""
        task_id = text_field(data.get("TaskId"), "TaskId")
        key = text_field(data.get("EventKey"), "EventKey")
        code = text_field(data.get("ResponseCode"), "ResponseCode")
        if code:
            self._keep_code(task_id, str(code))
        kind, _, rest = task_id.partition("-")
        group = rest.rsplit("-", 1)[0] if kind == "g" else ""
        if kind == "g" and APPCHAT_ID.fullmatch(group):
            chat = ChatRef(Platform.WECOM, group, is_group=True)
        elif kind == "p":
            chat = self.private_chat(userid)
        else:
            log.warning("a card press with an unknown task id %r from %s", task_id, userid)
            return
        incoming = IncomingMessage(
            chat=chat,
            sender_id=userid,
            sender_name=userid,
            text="",
            # The sender and CreateTime name the event; the card and button keep two presses
            # in one second apart (a retry repeats all of them).
            message_id=f"event:{userid}:{created}:{_short_hash(task_id, key)}",
            received_at=self.clock.now(),
            payload=key,
            raw=dict(data),
        )
        await self.runner.run(incoming.message_id, incoming)

    def _keep_code(self, task_id: str, code: str) -> None:
        self._response_codes[task_id] = code
        self._response_codes.move_to_end(task_id)
        while len(self._response_codes) > RESPONSE_CODES_KEPT:
            self._response_codes.popitem(last=False)

    # Channel -----------------------------------------------------------------------------

    def private_chat(self, user_id: str) -> ChatRef:
        """A person's chat with the app: their WeCom userid."""
        return ChatRef(Platform.WECOM, user_id, is_group=False)

    def hears(self, chat: ChatRef) -> Hearing:
        """Everything a person writes to the app; nothing of a group: members' messages in an
        app group chat (`appchat`) are never delivered to the app, and a robot only posts."""
        return Hearing.NOTHING if chat.is_group else Hearing.EVERYTHING

    def sends_local(self, chat: ChatRef, kind: str) -> bool:
        """The app uploads a local image or file as media and sends it to a person or an app
        group chat (`_send_files`); a group robot posts text only."""
        return kind in ("photo", "file") and chat.chat_id not in self.config.robots

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """Send to a robot group, an app group chat or a person."""
        captured = await self.runner.intercept(message)
        if captured is not None:
            return captured
        return await self._send_now(message)

    async def send_notice(self, message: OutgoingMessage, notice: NoticeMeta) -> SentMessage:
        """A notice: WeCom has no service window, so it is sent as any message (robots and
        the app's API are called once; the notifier retries). A notice to customer groups is
        a 客户群群发 task for their owner, created once per delivery."""
        if notice.audience == groupsend.AUDIENCE:
            if self.group_sends is None:
                raise SendError("客户群群发 needs the WeCom app (WECOM_CORP_ID, WECOM_SECRET)")
            return await self.group_sends.send_task(message, notice)
        return await self._send_now(message)

    async def edit(self, sent: SentMessage, message: OutgoingMessage) -> SentMessage:
        """Update a template card in place when we hold its response code; else send anew."""
        task_id = sent.message_id
        code = self._response_codes.pop(task_id, None)
        if code is None or not task_id.startswith(("g-", "p-")):
            return await self.send(message)
        body: dict[str, Any] = {
            "atall": 1,
            "agentid": self.config.agent_id,
            "response_code": code,
        }
        if message.buttons:
            body["template_card"] = _card(message, task_id)
        else:
            first = message.text.strip().splitlines()[0] if message.text.strip() else "-"
            body["button"] = {"replace_name": first[:20]}
        await self._app().call(
            "WeCom card update",
            lambda c: c.post("message/update_template_card", data=body),
        )
        return SentMessage(chat=message.chat, message_id=task_id)

    async def _send_now(self, message: OutgoingMessage) -> SentMessage:
        chat = message.chat
        if chat.platform is not Platform.WECOM:
            raise SendError(f"not a WeCom chat: {chat}")
        robot = self.config.robots.get(chat.chat_id)
        if robot is not None:
            return await self._robot_send(robot, message)
        if chat.is_group:
            sent = await self._group_send(message)
        else:
            sent = await self._private_send(message)
        await self._send_files(message)
        return sent

    async def _send_files(self, message: OutgoingMessage) -> None:
        """Send the photos and files that are files here (a report's chart and workbook) after
        the text; a photo known only by another platform's id cannot be sent, and is not."""
        wanted = [("image", a.ref) for a in message.photos if a.kind == "photo"]
        wanted += [("file", a.ref) for a in message.attachments if a.kind == "file"]
        chat = message.chat
        agent = self.config.agent_id
        for media_type, ref in wanted:
            path = Path(ref)
            if not await asyncio.to_thread(path.is_file):
                log.debug("not a local file, not sent to WeCom: %s", ref)
                continue
            media_id = await self._upload(media_type, path)
            if chat.is_group:
                await self._app().call(
                    f"WeCom app group {media_type}",
                    lambda c, t=media_type, m=media_id: c.appchat.send(
                        chat.chat_id, t, media_id=m
                    ),
                )
            else:
                body = {"msgtype": media_type, media_type: {"media_id": media_id}}
                await self._app().call(
                    f"WeCom app {media_type}",
                    lambda c, b=body: c.message.send(agent, chat.chat_id, msg=b),
                )

    async def _upload(self, media_type: str, path: Path) -> str:
        """Upload a file as temporary media (kept by WeCom for 3 days); its media id."""

        def upload(client: Any) -> dict[str, Any]:
            with path.open("rb") as handle:
                return client.media.upload(media_type, handle)

        result = await self._app().call(f"WeCom upload of {path.name}", upload)
        return str(result["media_id"])

    async def _private_send(self, message: OutgoingMessage) -> SentMessage:
        userid = message.chat.chat_id
        agent = self.config.agent_id
        api = self._app()
        if message.buttons:
            task_id = f"p-{secrets.token_hex(12)}"
            await self._send_card([userid], message, task_id)
            return SentMessage(chat=message.chat, message_id=task_id)
        result: dict[str, Any] = {}
        for piece in split_text(message.text):
            result = await api.call(
                "WeCom app message",
                lambda c, p=piece: c.message.send_text(agent, userid, p),
            )
        return SentMessage(chat=message.chat, message_id=str(result.get("msgid", "")))

    async def _group_send(self, message: OutgoingMessage) -> SentMessage:
        chat_id = message.chat.chat_id
        if not APPCHAT_ID.fullmatch(chat_id):
            raise SendError(f"{chat_id!r} is not an app group chat id")
        if message.buttons:
            # An app group chat takes no buttons: the card goes to each of its members.
            members = await self._group_members(chat_id)
            task_id = f"g-{chat_id}-{secrets.token_hex(8)}"
            await self._send_card(members, message, task_id)
            return SentMessage(chat=message.chat, message_id=task_id)
        for piece in split_text(message.text):
            await self._app().call(
                "WeCom app group message",
                lambda c, p=piece: c.appchat.send_text(chat_id, p),
            )
        return SentMessage(chat=message.chat, message_id=f"appchat-{uuid.uuid4().hex}")

    async def _send_card(self, userids: list[str], message: OutgoingMessage, task_id: str) -> None:
        card = _card(message, task_id)
        agent = self.config.agent_id
        result = await self._app().call(
            "WeCom template card",
            lambda c: c.message.send(
                agent, userids, msg={"msgtype": "template_card", "template_card": card}
            ),
        )
        if result.get("invaliduser"):
            log.warning("WeCom card %s not delivered to: %s", task_id, result["invaliduser"])
        if result.get("response_code"):
            self._keep_code(task_id, str(result["response_code"]))

    async def _group_members(self, chat_id: str) -> list[str]:
        """The app group chat's members (asked at most every 10 minutes)."""
        known = self._members.get(chat_id)
        now = self.clock.now()
        if known is not None and now - known[1] < MEMBERS_TTL:
            return known[0]
        info = await self._app().call("WeCom app group", lambda c: c.appchat.get(chat_id))
        members = [str(userid) for userid in info.get("userlist", [])]
        if not members:
            raise SendError(f"the app group chat {chat_id} has no members")
        self._members[chat_id] = (members, now)
        return members

    # Robots ------------------------------------------------------------------------------

    async def _robot_send(self, key: str, message: OutgoingMessage) -> SentMessage:
        if message.buttons:
            log.debug("a group robot cannot show buttons: sent the text only")
        # The robot's text notifies whom `mentioned_list` names (an `@name` in it is only text).
        mentioned = [mention.user_id for mention in message.mentions]
        for piece in split_text(message.text):
            text: dict[str, Any] = {"content": piece}
            if mentioned:
                text["mentioned_list"] = mentioned
                mentioned = []  # once is enough: the first piece carries the mentions
            await self.pacer.wait_turn(key)
            await self._robot_post(key, {"msgtype": "text", "text": text})
        return SentMessage(chat=message.chat, message_id=f"robot-{uuid.uuid4().hex}")

    async def _robot_post(self, key: str, body: dict[str, Any]) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT))
        url = f"{self.config.api_base_url}webhook/send"
        what = f"WeCom robot {key[:6]}…"
        try:
            async with self._http.post(url, params={"key": key}, json=body) as response:
                if response.status >= 400:
                    raise send_error(what, None, f"HTTP {response.status}")
                result = await response.json(content_type=None)
        except aiohttp.ClientConnectorError as exc:
            log.warning("%s: cannot connect: %s", what, exc)
            raise SendError(f"{what}: cannot connect", retry_after=5) from exc
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            log.warning("%s: answer lost: %r", what, exc)
            raise SendError(f"{what}: answer lost", retry_after=5, answered=False) from exc
        code = int(result.get("errcode", -1)) if isinstance(result, dict) else -1
        if code != 0:
            error = send_error(
                what, code, result.get("errmsg") if isinstance(result, dict) else ""
            )
            if error.retry_after is not None:
                self.pacer.hold(key, error.retry_after)
            raise error


def build_group_send_api(
    corp_id: str,
    secret: str,
    api_base_url: str,
    clock: Clock,
    *,
    remind_after: timedelta = timedelta(hours=2),
    sleep: Sleep = asyncio.sleep,
) -> GroupSendApi:
    """The 客户群群发 calls with a token of their own secret (the 客户联系 secret), shared
    through the store."""
    token_client = prepare_client(WeComClient(corp_id, secret), api_base_url)

    async def fetch() -> tuple[str, int]:
        result = await asyncio.to_thread(token_client.fetch_access_token)
        return str(result["access_token"]), int(result.get("expires_in", 7200))

    tokens = StoreTokens(f"wecom:{corp_id}:contact", fetch, clock, sleep=sleep)
    client = prepare_client(WeComClient(corp_id, secret), api_base_url)
    return GroupSendApi(WxApi(client, tokens, sleep=sleep), clock, remind_after)


def build_wecom(settings: Settings, services: Services, router: Router) -> WeComChannel | None:
    """The WeCom channel, or None when neither the app nor a robot is configured."""
    if not settings.wecom_enabled and not settings.wecom_robot_keys:
        return None
    return WeComChannel(WeComConfig.from_settings(settings), router, services)
