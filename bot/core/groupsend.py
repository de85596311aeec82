"""客户群群发: notices to an estate's WeCom customer groups (客户群), which no bot can post in.

A customer group with ordinary WeChat users has no group robot and never reaches an app: the one
official way in is a mass-send task (`externalcontact/add_msg_template`, chat_type group) that
WeCom puts in the group owner's (群主's) WeCom, and that is sent when they confirm it. So:

- An estate's customer groups are registered to it (`register_group`, from `guanjia wecom groups`):
  each is an owner-group `Chat` of the estate (its name is the chat's title, so `announce @名称 …`
  can name it) and a `CustomerGroup` row naming its owner's userid.
- A notice to the estate's owner groups (announcements, festival greetings) becomes, for the
  customer groups among them, one delivery per group owner listing that owner's groups
  (`group_send_notices`, audience `groupsend`). The WeCom channel's `send_notice` records the
  task just before asking WeCom (`begin_task`), then the msgid WeCom returned (`task_created`);
  a resend of the same delivery finds the msgid (`task_for`) and creates nothing. A refused call
  leaves nothing behind (`task_refused`); one whose answer was lost leaves the task without a
  msgid, and the retry first looks for it among WeCom's group-send records.
- The scheduler polls each open task (`poll_tasks`, through a `GroupSendPort` the channel gives):
  whether the owner confirmed it, and what became of each group; an owner who has not confirmed
  within the port's `remind_after` is reminded once. A task never confirmed stays on the list as
  such; after `POLL_FOR` it is closed, shown as never confirmed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from tortoise.transactions import in_transaction

from bot.core.channel import SendError
from bot.core.notifier import Audience, Notice
from models import Chat, ChatKind, CustomerGroup, Estate, GroupSendTask, Platform

log = logging.getLogger(__name__)

# The audience of a delivery that is a 客户群群发 task: its recipient is the owner's userid.
AUDIENCE = Audience.GROUP_SEND
# WeCom takes at most this many groups in one task's chat_id_list.
MAX_GROUPS = 2000
# How long a task is polled; one still unconfirmed then is closed as never confirmed.
POLL_FOR = timedelta(days=7)
# WeCom's send status of one group in a task (get_groupmsg_send_result).
UNSENT, SENT = 0, 1
STATUS_NAMES = {0: "not sent", 1: "sent", 2: "not delivered", 3: "not delivered (limit reached)"}
# Notice fields the channel reads: the groups (comma-separated), the task's key, attachments.
FIELD_CHATS = "chats"
FIELD_TASK = "task"


class GroupRefused(ValueError):
    """A customer group that cannot be registered: it says why, nothing was written."""


@dataclass(frozen=True)
class GroupInfo:
    """A customer group as WeCom describes it (groupchat/get)."""

    chat_id: str
    name: str
    owner: str


@dataclass(frozen=True)
class TaskStatus:
    """What WeCom says of a task: whether its sender confirmed it (and when), and each group's
    send status and time."""

    confirmed: bool
    confirmed_at: datetime | None = None
    groups: Mapping[str, tuple[int, datetime | None]] = field(default_factory=dict)


@runtime_checkable
class GroupSendPort(Protocol):
    """What polling needs of WeCom (the WeCom channel gives it); a refusal raises SendError."""

    remind_after: timedelta

    async def task_status(self, msgid: str, sender: str) -> TaskStatus:
        """The task's state (get_groupmsg_task, then get_groupmsg_send_result)."""
        ...

    async def remind(self, msgid: str) -> None:
        """Remind the sender to confirm the task (remind_groupmsg_send)."""
        ...


# Registering ----------------------------------------------------------------------------------


async def register_group(estate_code: str, group: GroupInfo, now: datetime) -> tuple[Chat, bool]:
    """Register a customer group as an owner group of the estate; the chat, and whether it was
    registered now. A group registered already has its name and owner brought up to date."""
    estate = await Estate.get_or_none(code=estate_code)
    if estate is None:
        raise GroupRefused(f"no estate {estate_code!r}")
    if not group.chat_id or not group.owner:
        raise GroupRefused(f"WeCom named no id or owner for the group {group.name!r}")
    async with in_transaction():  # the chat and its owner, or neither
        chat = await Chat.get_or_none(platform=Platform.WECOM, chat_id=group.chat_id)
        if chat is not None and (chat.kind is not ChatKind.OWNERS or chat.estate_id != estate.id):
            raise GroupRefused(
                f"{group.chat_id} is already the {chat.kind} chat of another estate or kind"
            )
        created = chat is None
        if chat is None:
            chat = await Chat.create(
                platform=Platform.WECOM,
                chat_id=group.chat_id,
                kind=ChatKind.OWNERS,
                estate_id=estate.id,
                title=group.name[:128],
            )
        elif group.name and chat.title != group.name[:128]:
            chat.title = group.name[:128]
            await chat.save(update_fields=["title"])
        known = await CustomerGroup.get_or_none(chat_id=chat.id)
        if known is None:
            await CustomerGroup.create(chat=chat, owner_userid=group.owner, registered_at=now)
        elif known.owner_userid != group.owner:
            log.info(
                "customer group %s: owner %s → %s", group.chat_id, known.owner_userid, group.owner
            )
            known.owner_userid = group.owner
            await known.save(update_fields=["owner_userid"])
    return chat, created


async def registered_groups() -> dict[str, tuple[str, str]]:
    """Every registered customer group: chat id → (estate code, owner userid)."""
    found: dict[str, tuple[str, str]] = {}
    for group in await CustomerGroup.all().prefetch_related("chat__estate"):
        found[group.chat.chat_id] = (group.chat.estate.code, group.owner_userid)
    return found


async def update_owner(chat_id: str, owner: str) -> bool:
    """Bring a registered group's owner up to date (groups change owners when staff leave);
    whether it changed."""
    group = await CustomerGroup.get_or_none(chat__platform=Platform.WECOM, chat__chat_id=chat_id)
    if group is None or group.owner_userid == owner:
        return False
    group.owner_userid = owner
    await group.save(update_fields=["owner_userid"])
    return True


# Notices --------------------------------------------------------------------------------------


async def group_send_notices(
    chats: Sequence[Chat], key_base: str, kind: str, text: str
) -> tuple[list[Notice], list[Chat]]:
    """Split an estate's owner groups: the customer groups become one task notice per group
    owner (key `{key_base}:groupsend:{owner}`, listing that owner's groups); the other chats
    are returned for the usual notices."""
    ids = [chat.id for chat in chats]
    owners = {
        group.chat_id: group.owner_userid for group in await CustomerGroup.filter(chat_id__in=ids)
    }
    others = [chat for chat in chats if chat.id not in owners]
    by_owner: dict[str, list[str]] = {}
    for chat in chats:
        if chat.id in owners:
            by_owner.setdefault(owners[chat.id], []).append(chat.chat_id)
    notices: list[Notice] = []
    for owner, chat_ids in sorted(by_owner.items()):
        parts = [chat_ids[i : i + MAX_GROUPS] for i in range(0, len(chat_ids), MAX_GROUPS)]
        for number, part in enumerate(parts, 1):
            key = f"{key_base}:groupsend:{owner}" + (f":{number}" if len(parts) > 1 else "")
            notices.append(
                Notice(
                    key=key,
                    kind=kind,
                    audience=AUDIENCE,
                    platform=Platform.WECOM,
                    to=owner,
                    text=text,
                    fields={FIELD_CHATS: ",".join(part), FIELD_TASK: key},
                )
            )
    return notices, others


# Tasks ----------------------------------------------------------------------------------------


async def task_for(key: str) -> GroupSendTask | None:
    """The task of a delivery, if one was begun."""
    return await GroupSendTask.get_or_none(dedup_key=key)


async def begin_task(
    key: str, kind: str, sender: str, chat_ids: Sequence[str], now: datetime
) -> GroupSendTask:
    """Record, just before WeCom is asked, that the delivery's task is being created: if the
    answer is lost, the next attempt knows a task may exist."""
    task, _ = await GroupSendTask.get_or_create(
        dedup_key=key,
        defaults={
            "kind": kind,
            "sender": sender,
            "chat_ids": list(chat_ids),
            "results": {chat_id: [UNSENT, None] for chat_id in chat_ids},
            "created_at": now,
        },
    )
    return task


async def task_created(task: GroupSendTask, msgid: str, refused: Sequence[str]) -> None:
    """WeCom created the task: keep its msgid, and the groups it would not take."""
    results = {c: v for c, v in task.results.items() if c not in refused}
    await GroupSendTask.filter(id=task.id).update(
        msgid=msgid, refused=list(refused), results=results, last_error=""
    )
    task.msgid, task.refused, task.results = msgid, list(refused), results


async def task_refused(task: GroupSendTask) -> None:
    """WeCom answered that it created nothing: forget the attempt (nothing is half-written)."""
    await GroupSendTask.filter(id=task.id, msgid="").delete()


async def task_answer_lost(task: GroupSendTask, reason: str) -> None:
    """WeCom's answer was lost: the task may or may not exist; the next attempt looks."""
    await GroupSendTask.filter(id=task.id, msgid="").update(last_error=f"create: {reason}")


async def known_msgids() -> set[str]:
    """The msgids of every recorded task (a lost task is never matched to another's)."""
    return set(await GroupSendTask.exclude(msgid="").values_list("msgid", flat=True))


@dataclass
class PollRun:
    """What one `poll_tasks` did."""

    polled: int = 0
    confirmed: int = 0  # tasks found confirmed in this run
    reminded: int = 0
    closed: int = 0
    errors: int = 0


async def poll_tasks(port: GroupSendPort, now: datetime) -> PollRun:
    """Ask WeCom about every open task; remind once an owner who has not confirmed in time;
    close the tasks whose groups all have their final status, or that stayed open too long."""
    run = PollRun()
    open_tasks = GroupSendTask.filter(closed=False).exclude(msgid="")
    for task in await open_tasks.order_by("created_at", "id"):
        run.polled += 1
        try:
            status = await port.task_status(task.msgid, task.sender)
        except SendError as error:
            run.errors += 1
            log.warning(
                "group-send task %s (%s): poll failed: %s", task.dedup_key, task.msgid, error
            )
            await GroupSendTask.filter(id=task.id).update(
                polled_at=now, last_error=f"poll: {error}"
            )
            continue
        results = dict(task.results)
        for chat_id, (code, sent_at) in status.groups.items():
            if chat_id in results:
                results[chat_id] = [code, sent_at.isoformat() if sent_at else None]
        values: dict[str, object] = {"polled_at": now, "results": results, "last_error": ""}
        if status.confirmed and task.confirmed_at is None:
            values["confirmed_at"] = status.confirmed_at or now
            run.confirmed += 1
            log.info("group-send task %s confirmed by %s", task.dedup_key, task.sender)
        final = all(code != UNSENT for code, _ in results.values())
        if status.confirmed and final:
            values["closed"] = True
            run.closed += 1
        elif now - task.created_at >= POLL_FOR:
            values["closed"] = True
            run.closed += 1
            log.warning(
                "group-send task %s: %s did not %s within %s; no longer polled",
                task.dedup_key,
                task.sender,
                "send to every group" if status.confirmed else "confirm it",
                POLL_FOR,
            )
        elif (
            not status.confirmed
            and task.reminded_at is None
            and now - task.created_at >= port.remind_after
        ):
            try:
                await port.remind(task.msgid)
            except SendError as error:
                run.errors += 1
                log.warning("group-send task %s: reminder failed: %s", task.dedup_key, error)
                values["last_error"] = f"remind: {error}"
            else:
                values["reminded_at"] = now
                run.reminded += 1
                log.info(
                    "group-send task %s: reminded %s to confirm it", task.dedup_key, task.sender
                )
        await GroupSendTask.filter(id=task.id).update(**values)
    return run


@dataclass(frozen=True)
class TaskLine:
    """One task as `guanjia notices status` shows it."""

    task: GroupSendTask
    state: str  # confirmed / not confirmed / never confirmed
    groups: list[tuple[str, str, str]]  # (chat id, group name, status)


async def task_lines(limit: int = 50) -> list[TaskLine]:
    """The latest tasks, each with its state and its groups' statuses."""
    tasks = await GroupSendTask.all().order_by("-created_at", "-id").limit(limit)
    ids = {chat_id for task in tasks for chat_id in task.chat_ids}
    names = dict(
        await Chat.filter(platform=Platform.WECOM, chat_id__in=list(ids)).values_list(
            "chat_id", "title"
        )
    )
    lines = []
    for task in tasks:
        if not task.msgid:
            state = "creation unknown: WeCom's answer was lost (the delivery's retry looks again)"
        elif task.confirmed_at is not None:
            state = "confirmed"
        elif task.closed:
            state = "never confirmed"
        else:
            state = "not confirmed yet" + (" (reminded)" if task.reminded_at else "")
        groups = []
        for chat_id in task.chat_ids:
            if chat_id in task.refused:
                status = "refused by WeCom"
            else:
                code = (task.results.get(chat_id) or [UNSENT])[0]
                status = STATUS_NAMES.get(int(code), f"status {code}")
            groups.append((chat_id, str(names.get(chat_id) or ""), status))
        lines.append(TaskLine(task, state, groups))
    return lines
