"""WeCom's far end for 客户群群发, at the HTTP level, written from WeCom's own API pages:

- `GET /cgi-bin/gettoken?corpid=…&corpsecret=…` → `{"access_token", "expires_in": 7200}`;
  a wrong secret is `40001`, an unknown or revoked token on any call `42001`.
- `POST externalcontact/groupchat/list` (客户群列表): `{"status_filter", "owner_filter":
  {"userid_list"}, "cursor", "limit" (1-1000)}` → `{"group_chat_list": [{"chat_id",
  "status"}], "next_cursor"}`.
- `POST externalcontact/groupchat/get` (客户群详情): `{"chat_id", "need_name"}` →
  `{"group_chat": {"chat_id", "name", "owner", "create_time", "member_list", "admin_list"}}`.
- `POST externalcontact/add_msg_template` (创建企业群发): with `"chat_type": "group"` the
  `sender` is required and `chat_id_list` names the groups; `text.content` and/or up to 9
  `attachments` (image by media_id or pic_url, link with title and url); answers `{"msgid",
  "fail_list"}`. Nothing is sent until the sender confirms the task in WeCom (`confirm` here).
- `POST externalcontact/get_groupmsg_task` (获取群发成员发送任务列表): `{"msgid", "limit",
  "cursor"}` → `{"task_list": [{"userid", "status" (0 not sent, 1 sent), "send_time"}],
  "next_cursor"}`.
- `POST externalcontact/get_groupmsg_send_result` (获取企业群发成员执行结果): `{"msgid",
  "userid", "limit", "cursor"}` → `{"send_list": [{"external_userid", "chat_id", "userid",
  "status" (0 not sent, 1 sent, 2 not a friend, 3 over the receiving limit), "send_time"}],
  "next_cursor"}`.
- `POST externalcontact/remind_groupmsg_send` (提醒成员群发): `{"msgid"}`; at most three
  reminders of one task within 24 hours.
- `POST externalcontact/get_groupmsg_list_v2` (获取群发记录列表): `{"chat_type", "start_time",
  "end_time" (at most a month apart), "creator", "filter_type" (0 企业发表, 1 个人发表, 2 all),
  "limit" (≤100), "cursor"}` → `{"group_msg_list": [{"msgid", "creator", "create_time",
  "create_type", "text", "attachments"}], "next_cursor"}`.

`script(path, answer…)` makes the next calls of a path answer with an error; `lose_answer(path)`
makes the next call of a path do its work and then drop the connection unanswered; `calls`
records every call as it arrived.
"""

from __future__ import annotations

import itertools
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from bot.core.clock import FixedClock

CORP_ID = "ww0123456789abcdef"
APP_SECRET = "corp-secret"
CONTACT_SECRET = "contact-secret"
MAX_ATTACHMENTS = 9
REMINDERS_PER_DAY = 3


@dataclass
class Call:
    """One API call as WeCom received it."""

    path: str
    body: dict[str, Any]
    token: str


@dataclass
class Group:
    """A customer group of the corp."""

    chat_id: str
    name: str
    owner: str
    created: int = 1_700_000_000


@dataclass
class Task:
    """A group-send task waiting for (or confirmed by) its sender."""

    msgid: str
    sender: str
    chat_ids: list[str]
    body: dict[str, Any]
    send_time: int = 0  # 0 until the sender confirms it
    # chat id → status once confirmed (1 sent; 2, 3 not delivered).
    status: dict[str, int] = field(default_factory=dict)
    reminders: list[datetime] = field(default_factory=list)
    created: int = 0


@dataclass
class FakeGroupSend:
    """The 客户联系 API of one corp, in memory."""

    clock: FixedClock
    secrets: tuple[str, ...] = (APP_SECRET, CONTACT_SECRET)
    groups: dict[str, Group] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    token_fetches: int = 0
    # The secret each token was fetched with.
    token_secrets: dict[str, str] = field(default_factory=dict)
    # How many a page holds at most (WeCom's own cap for groupchat/list is 1000).
    page_size: int = 1000
    _scripted: dict[str, deque[dict[str, Any]]] = field(default_factory=lambda: defaultdict(deque))
    _valid: set[str] = field(default_factory=set)
    _lose: set[str] = field(default_factory=set)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    # What a test does --------------------------------------------------------------------

    def add_group(self, chat_id: str, name: str, owner: str) -> None:
        """A customer group owned by the staff member `owner`."""
        self.groups[chat_id] = Group(chat_id, name, owner)

    def script(self, path: str, *answers: dict[str, Any]) -> None:
        """Answer the next calls of `path` (e.g. `externalcontact/add_msg_template`) so."""
        self._scripted[path].extend(answers)

    def lose_answer(self, path: str) -> None:
        """The next call of `path` is carried out, but its answer never reaches the caller."""
        self._lose.add(path)

    def to(self, path: str) -> list[Call]:
        """The calls of one path."""
        return [call for call in self.calls if call.path == path]

    def task_of(self, sender: str) -> Task:
        """The one task of a sender."""
        [task] = [task for task in self.tasks.values() if task.sender == sender]
        return task

    def confirm(self, sender: str, undelivered: dict[str, int] | None = None) -> None:
        """The sender opens WeCom and confirms their task: it goes to its groups now (a group
        in `undelivered` gets that status instead of 1)."""
        task = self.task_of(sender)
        task.send_time = int(self.clock.now().timestamp())
        for chat_id in task.chat_ids:
            task.status[chat_id] = (undelivered or {}).get(chat_id, 1)

    # The HTTP side ---------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application that answers."""
        app = web.Application()
        app.router.add_get("/cgi-bin/gettoken", self._token)
        app.router.add_post("/cgi-bin/{path:.+}", self._api)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        if request.query.get("corpid") != CORP_ID or (
            request.query.get("corpsecret") not in self.secrets
        ):
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        self.token_fetches += 1
        token = f"TOKEN-{self.token_fetches}"
        self._valid.add(token)
        self.token_secrets[token] = request.query["corpsecret"]
        return web.json_response({"errcode": 0, "access_token": token, "expires_in": 7200})

    async def _api(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        try:
            body = await request.json()
        except ValueError:
            return _error(47001, "data format error")
        token = request.query.get("access_token", "")
        self.calls.append(Call(path, body if isinstance(body, dict) else {}, token))
        if token not in self._valid:
            return _error(42001, "access_token expired")
        if self._scripted[path]:
            return web.json_response(self._scripted[path].popleft())
        handler = {
            "externalcontact/groupchat/list": self._list,
            "externalcontact/groupchat/get": self._get,
            "externalcontact/add_msg_template": self._add,
            "externalcontact/get_groupmsg_task": self._task,
            "externalcontact/get_groupmsg_send_result": self._result,
            "externalcontact/remind_groupmsg_send": self._remind,
            "externalcontact/get_groupmsg_list_v2": self._records,
        }.get(path)
        if handler is None or not isinstance(body, dict):
            return _error(40058, "invalid parameter")
        answer = handler(body)
        if path in self._lose:
            self._lose.discard(path)
            assert request.transport is not None
            request.transport.close()  # done, but the caller never hears of it
        return answer

    def _page(self, items: list[Any], body: dict[str, Any]) -> tuple[list[Any], str]:
        limit = min(int(body.get("limit") or self.page_size), self.page_size)
        start = int(body.get("cursor") or 0)
        end = start + limit
        return items[start:end], str(end) if end < len(items) else ""

    def _list(self, body: dict[str, Any]) -> web.Response:
        limit = body.get("limit")
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            return _error(40058, "limit must be 1-1000")
        owners = (body.get("owner_filter") or {}).get("userid_list") or []
        groups = [g for g in self.groups.values() if not owners or g.owner in owners]
        page, cursor = self._page(groups, body)
        return _ok(
            group_chat_list=[{"chat_id": g.chat_id, "status": 0} for g in page],
            next_cursor=cursor,
        )

    def _get(self, body: dict[str, Any]) -> web.Response:
        group = self.groups.get(str(body.get("chat_id")))
        if group is None:
            return _error(40050, "chatid not found")
        return _ok(
            group_chat={
                "chat_id": group.chat_id,
                "name": group.name,
                "owner": group.owner,
                "create_time": group.created,
                "member_list": [],
                "admin_list": [],
            }
        )

    def _add(self, body: dict[str, Any]) -> web.Response:
        if body.get("chat_type") != "group":
            return _error(40058, "this fake knows only chat_type group")
        sender = body.get("sender")
        if not sender:
            return _error(40058, "sender is required for chat_type group")
        if sender not in {g.owner for g in self.groups.values()}:
            return _error(60111, "invalid string value `userid`")
        content = (body.get("text") or {}).get("content")
        attachments = body.get("attachments") or []
        if not content and not attachments:
            return _error(44004, "empty content")
        if len(attachments) > MAX_ATTACHMENTS:
            return _error(40058, "at most 9 attachments")
        for attachment in attachments:
            kind = attachment.get("msgtype")
            if kind not in attachment or (
                kind == "link"
                and not (attachment["link"].get("title") and attachment["link"].get("url"))
            ):
                return _error(40058, "an attachment must match its msgtype")
        chat_ids = [str(c) for c in body.get("chat_id_list") or []]
        fail = [c for c in chat_ids if c not in self.groups or self.groups[c].owner != sender]
        ok = [c for c in chat_ids if c not in fail]
        msgid = f"msgGCAAA{next(self._ids):06d}"
        created = int(self.clock.now().timestamp())
        self.tasks[msgid] = Task(msgid, str(sender), ok, body, created=created)
        return _ok(fail_list=fail, msgid=msgid)

    def _task(self, body: dict[str, Any]) -> web.Response:
        task = self.tasks.get(str(body.get("msgid")))
        if task is None:
            return _error(40058, "invalid msgid")
        status = 1 if task.send_time else 0
        entries = [{"userid": task.sender, "status": status, "send_time": task.send_time}]
        page, cursor = self._page(entries, body)
        return _ok(task_list=page, next_cursor=cursor)

    def _result(self, body: dict[str, Any]) -> web.Response:
        task = self.tasks.get(str(body.get("msgid")))
        if task is None or body.get("userid") != task.sender:
            return _error(40058, "invalid msgid or userid")
        entries = [
            {
                "external_userid": "",
                "chat_id": chat_id,
                "userid": task.sender,
                "status": task.status.get(chat_id, 0),
                "send_time": task.send_time if task.status.get(chat_id) == 1 else 0,
            }
            for chat_id in task.chat_ids
        ]
        page, cursor = self._page(entries, body)
        return _ok(send_list=page, next_cursor=cursor)

    def _records(self, body: dict[str, Any]) -> web.Response:
        start, end = body.get("start_time"), body.get("end_time")
        if (
            not isinstance(start, int)
            or not isinstance(end, int)
            or not 0 <= end - start <= 31 * 86400
        ):
            return _error(40058, "start_time and end_time must be at most a month apart")
        if body.get("chat_type", "single") != "group" or body.get("filter_type", 2) not in (0, 2):
            return _error(40058, "this fake keeps only enterprise tasks to groups")
        limit = body.get("limit", 50)
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            limit = 50
        tasks = [t for t in self.tasks.values() if start <= t.created <= end]
        page, cursor = self._page(tasks, {"limit": limit, "cursor": body.get("cursor")})
        return _ok(
            group_msg_list=[
                {
                    "msgid": t.msgid,
                    "creator": "",
                    "create_time": str(t.created),
                    "create_type": 0,
                    "text": t.body.get("text") or {},
                    "attachments": t.body.get("attachments") or [],
                }
                for t in page
            ],
            next_cursor=cursor,
        )

    def _remind(self, body: dict[str, Any]) -> web.Response:
        task = self.tasks.get(str(body.get("msgid")))
        if task is None:
            return _error(40058, "invalid msgid")
        now = self.clock.now()
        recent = [at for at in task.reminders if now - at < timedelta(hours=24)]
        if len(recent) >= REMINDERS_PER_DAY:
            return _error(45009, "api freq out of limit")
        task.reminders.append(now)
        return _ok()


def _ok(**values: Any) -> web.Response:
    return web.json_response({"errcode": 0, "errmsg": "ok", **values})


def _error(code: int, message: str) -> web.Response:
    return web.json_response({"errcode": code, "errmsg": message})
