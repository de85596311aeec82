"""WeCom's 客户联系 API for 客户群群发: the customer groups (客户群) of the corp, group-send tasks
for their owners, the tasks' results, and reminders (bot/core/groupsend.py says why and how).

The calls need an access token of the 客户联系 secret (WECOM_CONTACT_SECRET), or, when that is
not set, of the app's own secret, which works only once the app is listed under 客户联系 → API →
可调用应用 in the admin console. The token is shared through the store like the app's.

- `list_groups`: `externalcontact/groupchat/list` (paged by cursor) and `groupchat/get` for
  each group's name and owner.
- `create_task`: `externalcontact/add_msg_template` with chat_type `group`, the owner as
  `sender` and their groups as `chat_id_list`: text, and an image or a link when given.
- `task_status`: `externalcontact/get_groupmsg_task` (did the sender confirm?) and, once they
  did, `externalcontact/get_groupmsg_send_result` for each group's status.
- `remind`: `externalcontact/remind_groupmsg_send` (WeCom allows three in 24 hours; we send one).
- A creation whose answer was lost is looked for before it is tried again:
  `externalcontact/get_groupmsg_list_v2` (企业发表, around the first attempt) for a task with the
  same text not recorded for another delivery, whose `get_groupmsg_task` names the sender.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.adapters.wxcommon import PlatformError, WxApi
from bot.core import groupsend
from bot.core.channel import NoticeMeta, SendError
from bot.core.clock import Clock
from bot.core.groupsend import GroupInfo, TaskStatus
from bot.core.types import OutgoingMessage, SentMessage

log = logging.getLogger("guanjia.wecom.groupsend")

PAGE = 1000  # groupchat/list takes at most 1000 a page
RESULTS_PAGE = 1000
# How far around a lost creation WeCom's records are searched (seconds).
LOOK_BACK = 120
# What an error code of these calls means for the one who set Guanjia up.
HINTS: Mapping[int, str] = {
    48002: "the API is not allowed for this secret: list the app under 客户联系 → API → "
    "可调用应用, or set WECOM_CONTACT_SECRET",
    60011: "no privilege: the group owner must be in the app's visible range (可见范围)",
    60111: "the userid does not exist in WeCom",
    41050: "the member has no 客户联系 licence or is not configured for 客户联系",
}


def _hint(error: SendError) -> SendError:
    """The error with what its code means, when we know."""
    code = getattr(error, "code", None)
    hint = HINTS.get(code) if isinstance(code, int) else None
    if hint is None:
        return error
    log.error("%s: %s", error, hint)
    return PlatformError(f"{error}: {hint}", code, retry_after=error.retry_after)


def _when(value: object) -> datetime | None:
    """A WeCom send_time (Unix seconds; 0 or missing when not sent)."""
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return None


class GroupSendApi:
    """The 客户联系 calls of one corp (a `GroupSendPort` for the poll job)."""

    def __init__(self, api: WxApi, clock: Clock, remind_after: timedelta) -> None:
        self.api = api
        self.clock = clock
        self.remind_after = remind_after

    async def _post(self, what: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            result = await self.api.call(what, lambda c: c.post(path, data=body))
        except SendError as error:
            raise _hint(error) from error
        return result if isinstance(result, dict) else {}

    # Groups ------------------------------------------------------------------------------

    async def list_groups(self, owners: list[str] | None = None) -> list[GroupInfo]:
        """Every customer group of the corp (or of these owners), with its name and owner."""
        chat_ids: list[str] = []
        cursor = ""
        while True:
            body: dict[str, Any] = {"status_filter": 0, "limit": PAGE}
            if owners:
                body["owner_filter"] = {"userid_list": owners}
            if cursor:
                body["cursor"] = cursor
            page = await self._post(
                "WeCom customer groups", "externalcontact/groupchat/list", body
            )
            chat_ids += [
                str(item["chat_id"])
                for item in page.get("group_chat_list") or []
                if isinstance(item, dict) and item.get("chat_id")
            ]
            cursor = str(page.get("next_cursor") or "")
            if not cursor:
                break
        groups = []
        for chat_id in chat_ids:
            info = await self._post(
                f"WeCom customer group {chat_id}",
                "externalcontact/groupchat/get",
                {"chat_id": chat_id, "need_name": 0},
            )
            chat = info.get("group_chat") or {}
            groups.append(
                GroupInfo(chat_id, str(chat.get("name") or ""), str(chat.get("owner") or ""))
            )
        return groups

    # Tasks -------------------------------------------------------------------------------

    async def send_task(self, message: OutgoingMessage, notice: NoticeMeta) -> SentMessage:
        """Create the delivery's group-send task, once: a task created already answers with its
        msgid; one whose creation lost its answer is first looked for among WeCom's records."""
        key = notice.fields.get(groupsend.FIELD_TASK, "")
        chat_ids = [c for c in notice.fields.get(groupsend.FIELD_CHATS, "").split(",") if c]
        sender = message.chat.chat_id
        if not key or not chat_ids:
            raise SendError(f"a group-send notice to {sender} without its task key or groups")
        task = await groupsend.task_for(key)
        if task is not None and task.msgid:
            log.info("group-send task %s exists (msgid %s): not created again", key, task.msgid)
            return SentMessage(chat=message.chat, message_id=task.msgid)
        if task is not None:
            found = await self._find_lost(task.created_at, sender, message.text)
            if found is not None:
                log.warning("group-send task %s: its lost creation was found: %s", key, found)
                await groupsend.task_created(task, found, [])
                return SentMessage(chat=message.chat, message_id=found)
        else:
            task = await groupsend.begin_task(key, notice.kind, sender, chat_ids, self.clock.now())
        body: dict[str, Any] = {
            "chat_type": "group",
            "sender": sender,
            "chat_id_list": chat_ids,
            "text": {"content": message.text},
        }
        attachments = _attachments(notice.fields)
        if attachments:
            body["attachments"] = attachments
        try:
            result = await self._post(
                f"WeCom 客户群群发 for {sender}", "externalcontact/add_msg_template", body
            )
        except SendError as error:
            if error.answered:
                await groupsend.task_refused(task)
            else:
                await groupsend.task_answer_lost(task, str(error))
            raise
        msgid = str(result.get("msgid") or "")
        if not msgid:
            await groupsend.task_answer_lost(task, "no msgid in WeCom's answer")
            raise SendError(
                f"WeCom 客户群群发 for {sender}: no msgid in the answer", answered=False
            )
        refused = [str(chat_id) for chat_id in result.get("fail_list") or []]
        if refused:
            log.warning("group-send task %s: WeCom refused groups %s", key, refused)
        await groupsend.task_created(task, msgid, refused)
        log.info("group-send task %s created for %s: msgid %s", key, sender, msgid)
        return SentMessage(chat=message.chat, message_id=msgid)

    async def _find_lost(self, since: datetime, sender: str, text: str) -> str | None:
        """The msgid of a group-send task with this text for this sender created since `since`
        and not recorded for another delivery (get_groupmsg_list_v2, then get_groupmsg_task)."""
        known = await groupsend.known_msgids()
        candidates: list[str] = []
        cursor = ""
        while True:
            body: dict[str, Any] = {
                "chat_type": "group",
                "start_time": int(since.timestamp()) - LOOK_BACK,
                "end_time": int(self.clock.now().timestamp()) + LOOK_BACK,
                "filter_type": 0,  # 企业发表: the ones made through the API
                "limit": 100,
            }
            if cursor:
                body["cursor"] = cursor
            page = await self._post(
                "WeCom group-send records", "externalcontact/get_groupmsg_list_v2", body
            )
            for item in page.get("group_msg_list") or []:
                if not isinstance(item, dict):
                    continue
                msgid = str(item.get("msgid") or "")
                content = (item.get("text") or {}).get("content")
                if msgid and msgid not in known and content == text:
                    candidates.append(msgid)
            cursor = str(page.get("next_cursor") or "")
            if not cursor:
                break
        for msgid in candidates:
            page = await self._post(
                f"WeCom group-send task {msgid}",
                "externalcontact/get_groupmsg_task",
                {"msgid": msgid, "limit": RESULTS_PAGE},
            )
            if any(
                isinstance(item, dict) and item.get("userid") == sender
                for item in page.get("task_list") or []
            ):
                return msgid
        return None

    async def task_status(self, msgid: str, sender: str) -> TaskStatus:
        """Whether the sender confirmed the task, and each group's status once they did."""
        confirmed, confirmed_at = False, None
        cursor = ""
        while True:
            body: dict[str, Any] = {"msgid": msgid, "limit": RESULTS_PAGE}
            if cursor:
                body["cursor"] = cursor
            page = await self._post(
                f"WeCom group-send task {msgid}", "externalcontact/get_groupmsg_task", body
            )
            for item in page.get("task_list") or []:
                if isinstance(item, dict) and item.get("userid") == sender:
                    confirmed = item.get("status") == 1
                    confirmed_at = _when(item.get("send_time"))
            cursor = str(page.get("next_cursor") or "")
            if not cursor:
                break
        if not confirmed:
            return TaskStatus(confirmed=False)
        groups: dict[str, tuple[int, datetime | None]] = {}
        cursor = ""
        while True:
            body = {"msgid": msgid, "userid": sender, "limit": RESULTS_PAGE}
            if cursor:
                body["cursor"] = cursor
            page = await self._post(
                f"WeCom group-send result {msgid}",
                "externalcontact/get_groupmsg_send_result",
                body,
            )
            for item in page.get("send_list") or []:
                if isinstance(item, dict) and item.get("chat_id"):
                    status = item.get("status")
                    groups[str(item["chat_id"])] = (
                        int(status) if isinstance(status, int) else 0,
                        _when(item.get("send_time")),
                    )
            cursor = str(page.get("next_cursor") or "")
            if not cursor:
                break
        return TaskStatus(confirmed=True, confirmed_at=confirmed_at, groups=groups)

    async def remind(self, msgid: str) -> None:
        """Remind the task's sender to confirm it."""
        await self._post(
            f"WeCom group-send reminder {msgid}",
            "externalcontact/remind_groupmsg_send",
            {"msgid": msgid},
        )


def _attachments(fields: Mapping[str, str]) -> list[dict[str, Any]]:
    """An image (`image_url`) and a link (`link_url`, `link_title`, `link_desc`) of a notice."""
    found: list[dict[str, Any]] = []
    if fields.get("image_url"):
        found.append({"msgtype": "image", "image": {"pic_url": fields["image_url"]}})
    if fields.get("link_url"):
        link = {"title": fields.get("link_title") or fields["link_url"], "url": fields["link_url"]}
        if fields.get("link_desc"):
            link["desc"] = fields["link_desc"]
        found.append({"msgtype": "link", "link": link})
    return found
