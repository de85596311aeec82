"""Notices delivered exactly once: delivery rows, claims, retries with backoff, and pacing.

Every notice to every recipient is a `Delivery` row whose dedup key (kind, recipient, period or
date) is unique. A job first records its notices (`enqueue`: rows that exist already are left
alone), then sends what is due (`deliver`). A row moves like this:

    pending ──claim──► sending ──answered, ok──────────► sent
       ▲                  │ ──answered, refused─────────► pending (backoff) … failed (last try)
       └──────────────────┤ ──answer lost──────────────► unknown ──retried once──► sending …
                          └─ claim lapsed (process died) ► unknown

The claim is a compare-and-set on the row's status and attempt count (`UPDATE … WHERE status=…
AND attempts=…`, which reports how many rows it changed on SQLite and PostgreSQL alike), so two
processes never send the same row; every later change is a compare-and-set on the claimed
version, so a claim that lapsed cannot be overwritten by its old holder. A send whose answer was
lost (a timeout, a reset connection) may or may not have gone out: it is marked `unknown`,
retried at most once and counted, never more; a send that was answered is never repeated.

Sends are paced per platform, evenly rather than in bursts (a GCRA whose only slack is half an
interval, to make up for a send that left late): a rate over all chats (Telegram just under 30 a
second) and a minimum interval per chat (Telegram 20 a minute in a group; WeCom robots 20 a
minute). A chat that must wait does not hold up the others: the next send goes to whichever chat
is free first, and a slow send holds one of several workers. A row is claimed before its slot is
waited for, so the send leaves at its slot. Time comes from the injected clock and waiting from
the injected `sleep`.

A private notice goes only to the private chat the platform's channel names for the user
(`Channel.private_chat`); owner and staff notices go only to chats registered with that kind. A
private notice to an account the platform says cannot be written to (a WeChat owner who
unfollowed: `ChatIdentity.unreachable_at`) is not sent: it fails at once with that reason. A
channel with a `send_notice(message, kind, fields)` method (WeChat: a template message outside
its 48-hour window) gets private notices that way, with the notice's kind and named fields.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise.expressions import Q

from bot.core.channel import ChannelHub, SendError
from bot.core.clock import Clock
from bot.core.types import Button, ChatRef, OutgoingMessage, Platform
from models import Chat, ChatIdentity, ChatKind, Delivery, DeliveryStatus

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

MAX_KEY = 255
MAX_KIND = 32
MAX_TEXT = 4000
BATCH = 200
# 429s from this many different chats within a second mean the whole bot is over its limit.
FLOOD_CHATS = 4
# Why a private notice to an account that unfollowed was not sent.
UNREACHABLE = "unreachable: unsubscribed"


class Audience(StrEnum):
    """Who a notice is for, which decides the only kind of chat it may go to."""

    PRIVATE = "private"  # one person, in their private chat with the bot
    OWNERS = "owners"  # an estate's owner group
    STAFF = "staff"  # an estate's staff chat


GROUP_KINDS = {Audience.OWNERS: ChatKind.OWNERS, Audience.STAFF: ChatKind.STAFF}


class NoticeRefused(ValueError):
    """A notice that must not be recorded: it says what is wrong, nothing was written."""


@dataclass(frozen=True)
class Notice:
    """One notice to one recipient; `to` is a user id (private) or a chat id (a group)."""

    key: str
    kind: str
    audience: Audience
    platform: Platform
    to: str
    text: str
    # Named values of the notice (unit, period, total, due …) for a channel that sends notices
    # as structured messages: WeChat's template messages outside its 48-hour window.
    fields: Mapping[str, str] = field(default_factory=dict)
    # Buttons under the text (a rating reminder's five steps), in rows.
    buttons: tuple[tuple[Button, ...], ...] = ()

    def check(self) -> None:
        """Raise NoticeRefused when the notice cannot be recorded."""
        if not self.key or len(self.key) > MAX_KEY:
            raise NoticeRefused(f"a notice key must be 1-{MAX_KEY} characters: {self.key!r}")
        if not self.kind or len(self.kind) > MAX_KIND:
            raise NoticeRefused(f"a notice kind must be 1-{MAX_KIND} characters: {self.kind!r}")
        if not self.to:
            raise NoticeRefused(f"notice {self.key} has no recipient")
        if not self.text.strip() or len(self.text) > MAX_TEXT:
            raise NoticeRefused(f"notice {self.key} needs a text of 1-{MAX_TEXT} characters")


@dataclass(frozen=True)
class PlatformLimits:
    """How fast one platform may be sent to: overall, and per chat."""

    per_second: float  # every chat together
    group_per_minute: float  # one group chat
    private_per_second: float  # one private chat


# Telegram: about 30 messages a second overall, 20 a minute in one group, about one a second in a
# private chat; we aim just under the overall cap so sends land inside it. WeCom group robots
# take 20 a minute. WeChat's customer-service messages have no published per-second limit: 20/s
# keeps well inside its daily quotas' pace. The web chat is local.
DEFAULT_LIMITS: dict[Platform, PlatformLimits] = {
    Platform.TELEGRAM: PlatformLimits(per_second=29.0, group_per_minute=20, private_per_second=1),
    Platform.WECOM: PlatformLimits(per_second=20.0, group_per_minute=20, private_per_second=1),
    Platform.WECHAT: PlatformLimits(per_second=20.0, group_per_minute=20, private_per_second=1),
    Platform.WEBCHAT: PlatformLimits(
        per_second=1000.0, group_per_minute=6000, private_per_second=100
    ),
}


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts, the backoff between them, the claim's lifetime."""

    max_attempts: int = 5
    backoff_base: float = 5.0  # seconds before the 2nd attempt; doubled for each next one
    backoff_cap: float = 600.0
    claim_seconds: float = 300.0  # a claim older than this belongs to a process that died
    max_wait: float = 120.0  # `deliver` waits in-run for retries due this soon; later ones wait
    # for the next `deliver` (the scheduler runs one every minute)

    def backoff(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds before the next attempt after `failures` failed ones (the platform's
        retry_after when it gave one)."""
        if retry_after is not None and retry_after >= 0:
            return float(retry_after)
        return min(self.backoff_cap, self.backoff_base * 2 ** max(failures - 1, 0))


@dataclass
class DeliveryRun:
    """What one `deliver` call did."""

    sent: int = 0
    retried: int = 0  # answered failures that will be tried again
    failed: int = 0  # gave up, reason kept
    unknown: int = 0  # answers lost (incl. claims that lapsed): may or may not have gone out
    refused: int = 0  # would have gone to the wrong kind of chat: not sent
    lost_race: int = 0  # another notifier claimed the row first

    def add(self, other: DeliveryRun) -> None:
        """Add another run's counts to these."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class Pacer:
    """Spaces sends evenly per platform and per chat (GCRA, no bursts) on a float clock.

    `ready_at` says when a chat could be sent to next; `reserve` takes that slot. A 429's
    retry_after holds one chat, or the whole platform when many chats get 429s at once.
    """

    def __init__(self, limits: Mapping[Platform, PlatformLimits]) -> None:
        self.limits = dict(limits)
        self._platform_next: dict[Platform, float] = {}
        self._chat_next: dict[tuple[Platform, str], float] = {}
        self._recent_429: dict[Platform, deque[tuple[float, str]]] = {}

    def _limits(self, platform: Platform) -> PlatformLimits:
        return self.limits.get(platform) or DEFAULT_LIMITS[platform]

    def ready_at(self, platform: Platform, chat: str) -> float:
        """The earliest time a message to `chat` may go."""
        # The platform's slot may be taken up to half an interval early, so that a send that
        # left a little late (a long sleep, a slow claim) is made up for rather than lost; no
        # one-second window ever holds more than per_second + 1 sends.
        tolerance = 0.5 / self._limits(platform).per_second
        return max(
            self._platform_next.get(platform, 0.0) - tolerance,
            self._chat_next.get((platform, chat), 0.0),
        )

    def reserve(self, platform: Platform, chat: str, is_group: bool, at: float) -> None:
        """Take the slot at `at` (not before `ready_at`) for one message to `chat`."""
        limits = self._limits(platform)
        # GCRA: the next theoretical slot follows this one's, or `at` when we are late.
        theoretical = max(self._platform_next.get(platform, 0.0), at)
        self._platform_next[platform] = theoretical + 1.0 / limits.per_second
        interval = 60.0 / limits.group_per_minute if is_group else 1.0 / limits.private_per_second
        self._chat_next[(platform, chat)] = at + interval
        if len(self._chat_next) > 50_000:
            self._forget_before(at)

    def hold(self, platform: Platform, chat: str, until: float, now: float) -> None:
        """Send nothing to `chat` before `until` (a 429's retry_after)."""
        key = (platform, chat)
        self._chat_next[key] = max(self._chat_next.get(key, 0.0), until)
        recent = self._recent_429.setdefault(platform, deque())
        recent.append((now, chat))
        while recent and recent[0][0] < now - 1.0:
            recent.popleft()
        if len({c for _, c in recent}) >= FLOOD_CHATS:
            log.warning(
                "%s: 429s from %d chats within a second: pausing all sends", platform, FLOOD_CHATS
            )
            tolerance = 0.5 / self._limits(platform).per_second
            self._platform_next[platform] = max(
                self._platform_next.get(platform, 0.0), until + tolerance
            )
            recent.clear()

    def _forget_before(self, moment: float) -> None:
        for key in [k for k, v in self._chat_next.items() if v <= moment]:
            del self._chat_next[key]


@dataclass
class _Job:
    """A claimable row on its way through the dispatcher."""

    row: Delivery
    audience: Audience
    text: str
    fields: dict[str, str]
    buttons: tuple[tuple[Button, ...], ...] = ()


def _buttons(stored: Any) -> tuple[tuple[Button, ...], ...]:
    """Buttons as a delivery row keeps them (rows of [label, payload]); unreadable ones dropped."""
    if not isinstance(stored, list):
        return ()
    rows = []
    for row in stored:
        if not isinstance(row, list):
            continue
        buttons = tuple(
            Button(str(pair[0]), str(pair[1]))
            for pair in row
            if isinstance(pair, list) and len(pair) == 2
        )
        if buttons:
            rows.append(buttons)
    return tuple(rows)


@dataclass
class Notifier:
    """Records notices and sends them exactly once (bar `unknown` sends), within limits.

    `queue_only` records without sending (the `guanjia notices run` command: the running
    Guanjia, which holds the channels, sends them).
    """

    hub: ChannelHub
    clock: Clock
    sleep: Sleep = asyncio.sleep
    limits: Mapping[Platform, PlatformLimits] = field(default_factory=lambda: DEFAULT_LIMITS)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 8
    queue_only: bool = False
    pacer: Pacer = field(init=False)
    _slots: asyncio.Semaphore = field(init=False)
    _order: itertools.count = field(init=False, default_factory=itertools.count)
    # Rows some `deliver` of this process has queued, so a concurrent one does not pace them too.
    _queued: set[int] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.pacer = Pacer(self.limits)
        self._slots = asyncio.Semaphore(self.concurrency)

    # Recording ---------------------------------------------------------------------------

    async def enqueue(self, notices: Iterable[Notice], now: datetime | None = None) -> int:
        """Record the notices not recorded yet (by dedup key); returns how many are new."""
        notices = list(notices)
        for notice in notices:
            notice.check()
        await self._check_group_chats(notices)
        created_at = now or self.clock.now()
        by_key = {notice.key: notice for notice in notices}
        keys = list(by_key)
        existing: set[str] = set()
        for chunk in _chunks(keys, 500):
            existing.update(
                await Delivery.filter(dedup_key__in=chunk).values_list("dedup_key", flat=True)
            )
        fresh = [by_key[key] for key in keys if key not in existing]
        if fresh:
            # A second process may record the same keys at the same moment: conflicts are
            # skipped (ON CONFLICT DO NOTHING / INSERT OR IGNORE), the unique key decides.
            await Delivery.bulk_create(
                [
                    Delivery(
                        dedup_key=notice.key,
                        kind=notice.kind,
                        platform=notice.platform,
                        chat_id=notice.to,
                        payload={
                            "text": notice.text,
                            "audience": str(notice.audience),
                            "fields": dict(notice.fields),
                            "buttons": [
                                [[button.label, button.payload] for button in row]
                                for row in notice.buttons
                            ],
                        },
                        status=DeliveryStatus.PENDING,
                        created_at=created_at,
                    )
                    for notice in fresh
                ],
                batch_size=500,
                ignore_conflicts=True,
            )
        return len(fresh)

    async def _check_group_chats(self, notices: Sequence[Notice]) -> None:
        """Refuse a group notice whose chat is not registered with the audience's kind."""
        wanted = {(n.platform, n.to, n.audience) for n in notices if n.audience in GROUP_KINDS}
        for platform, chat_id, audience in wanted:
            chat = await Chat.get_or_none(platform=platform, chat_id=chat_id)
            if chat is None or chat.kind is not GROUP_KINDS[audience]:
                raise NoticeRefused(
                    f"{audience} notice to {platform}:{chat_id}, which is not a registered "
                    f"{GROUP_KINDS[audience]} chat"
                )

    async def notify(self, notices: Iterable[Notice], now: datetime | None = None) -> int:
        """Record the notices, then send what is due of their kinds; returns how many were
        sent now (recorded, when queue-only)."""
        notices = list(notices)
        created = await self.enqueue(notices, now)
        if self.queue_only:
            return created
        run = await self.deliver(kinds={notice.kind for notice in notices})
        return run.sent

    # Sending -----------------------------------------------------------------------------

    async def deliver(self, kinds: Collection[str] | None = None) -> DeliveryRun:
        """Send every due delivery (of `kinds`, or all), waiting for retries due within
        `policy.max_wait`; returns what was done."""
        total = DeliveryRun()
        if not kinds and kinds is not None:
            return total
        while True:
            now = self.clock.now()
            total.unknown += await self._recover_lapsed(now, kinds)
            due = await self._due(now, kinds)
            if due:
                total.add(await self._send_all(due))
                continue
            upcoming = await self._next_due_at(kinds)
            if upcoming is None:
                return total
            before = self.clock.now()
            wait = (upcoming - before).total_seconds()
            if wait > self.policy.max_wait:
                return total
            await self.sleep(max(wait, 0.0) + 0.001)
            if self.clock.now() <= before:
                return total  # a clock that does not move (a FixedClock): nothing comes due

    def _scope(self, kinds: Collection[str] | None) -> Q:
        return Q(kind__in=list(kinds)) if kinds is not None else Q()

    async def _due(self, now: datetime, kinds: Collection[str] | None) -> list[Delivery]:
        pending = Q(status=DeliveryStatus.PENDING) & (
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
        )
        # An unknown row with a next attempt is owed its one retry; without one it is final.
        retry_unknown = Q(status=DeliveryStatus.UNKNOWN, next_attempt_at__lte=now)
        return (
            await Delivery.filter(self._scope(kinds) & (pending | retry_unknown))
            .order_by("id")
            .limit(BATCH)
        )

    async def _next_due_at(self, kinds: Collection[str] | None) -> datetime | None:
        open_statuses = [DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN]
        row = (
            await Delivery.filter(
                self._scope(kinds), status__in=open_statuses, next_attempt_at__isnull=False
            )
            .order_by("next_attempt_at")
            .first()
        )
        return row.next_attempt_at if row is not None else None

    async def _recover_lapsed(self, now: datetime, kinds: Collection[str] | None) -> int:
        """Claims whose holder died mid-send: nobody knows whether they went out."""
        lapsed = await Delivery.filter(
            self._scope(kinds), status=DeliveryStatus.SENDING, next_attempt_at__lte=now
        ).limit(BATCH)
        count = 0
        for row in lapsed:
            if await self._lost(
                row, row.attempts, "the sending process stopped before the answer"
            ):
                count += 1
        return count

    async def _send_all(self, rows: Sequence[Delivery]) -> DeliveryRun:
        """Send rows, each chat when the pacer lets it, with up to `concurrency` sends at once."""
        run = DeliveryRun()
        queue: list[tuple[float, int, _Job]] = []
        for row in rows:
            if row.id in self._queued:
                continue  # another `deliver` of this process has it in hand
            self._queued.add(row.id)
            payload: dict[str, Any] = row.payload if isinstance(row.payload, dict) else {}
            try:
                audience = Audience(payload.get("audience", ""))
            except ValueError:
                audience = Audience.PRIVATE  # unreadable: the strictest treatment
            fields = payload.get("fields")
            job = _Job(
                row,
                audience,
                str(payload.get("text", "")),
                {str(k): str(v) for k, v in fields.items()} if isinstance(fields, dict) else {},
                _buttons(payload.get("buttons")),
            )
            ready = self.pacer.ready_at(row.platform, row.chat_id)
            heapq.heappush(queue, (ready, next(self._order), job))
        try:
            async with asyncio.TaskGroup() as tasks:
                while queue:
                    ready, order, job = heapq.heappop(queue)
                    row = job.row
                    current = self.pacer.ready_at(row.platform, row.chat_id)
                    if current > ready:
                        # Its chat got busier since it was queued: let a freer chat go first.
                        heapq.heappush(queue, (current, order, job))
                        continue
                    await self._slots.acquire()
                    try:
                        chat = await self._claim(job, run)
                        if chat is None:
                            self._slots.release()
                            continue
                        # The claim is made before the wait, so the send leaves at its slot.
                        await self._wait_for_slot(row)
                    except BaseException:
                        self._slots.release()
                        raise
                    self.pacer.reserve(
                        row.platform,
                        row.chat_id,
                        job.audience is not Audience.PRIVATE,
                        self.clock.now().timestamp(),
                    )
                    tasks.create_task(self._send_one(job, chat, run))
        finally:
            self._queued.difference_update(row.id for row in rows)
        return run

    async def _wait_for_slot(self, row: Delivery) -> None:
        """Wait (injected sleep) until the pacer lets a message go to the row's chat."""
        while True:
            before = self.clock.now().timestamp()
            wait = self.pacer.ready_at(row.platform, row.chat_id) - before
            if wait <= 0:
                return
            await self.sleep(wait)
            if self.clock.now().timestamp() <= before:
                return  # a clock that does not move (a FixedClock) cannot pace: send

    async def _claim(self, job: _Job, run: DeliveryRun) -> ChatRef | None:
        """Claim a row (compare-and-set) and find its chat; None when it is not ours to send."""
        row = job.row
        attempt = row.attempts + 1
        claimed = await Delivery.filter(
            id=row.id, status=row.status, attempts=row.attempts
        ).update(
            status=DeliveryStatus.SENDING,
            attempts=attempt,
            next_attempt_at=self.clock.now() + timedelta(seconds=self.policy.claim_seconds),
        )
        if not claimed:
            run.lost_race += 1
            return None
        try:
            chat = await self._chat(job)
        except NoticeRefused as refused:
            log.error("delivery %s refused: %s", row.dedup_key, refused)
            await self._finish(row, attempt, status=DeliveryStatus.FAILED, last_error=str(refused))
            run.refused += 1
            return None
        if job.audience is Audience.PRIVATE and await self._unreachable(row):
            # The platform would refuse it every time: an expected end, not an error to retry.
            log.info("delivery %s not sent: %s", row.dedup_key, UNREACHABLE)
            await self._finish(
                row,
                attempt,
                status=DeliveryStatus.FAILED,
                last_error=UNREACHABLE,
                next_attempt_at=None,
            )
            run.failed += 1
            return None
        return chat

    async def _unreachable(self, row: Delivery) -> bool:
        """Whether the platform said the row's recipient cannot be written to (unfollowed)."""
        return await ChatIdentity.filter(
            platform=row.platform, user_id=row.chat_id, unreachable_at__isnull=False
        ).exists()

    async def _send_one(self, job: _Job, chat: ChatRef, run: DeliveryRun) -> None:
        """Send one claimed row and record the outcome (the slot is released at the end)."""
        try:
            await self._send_claimed(job, chat, run)
        finally:
            self._slots.release()

    async def _send_claimed(self, job: _Job, chat: ChatRef, run: DeliveryRun) -> None:
        row = job.row
        attempt = row.attempts + 1
        try:
            channel = self.hub.for_chat(chat)
            message = OutgoingMessage(chat=chat, text=job.text, buttons=job.buttons)
            send_notice = getattr(channel, "send_notice", None)
            if send_notice is not None and job.audience is Audience.PRIVATE:
                # A channel with a notice path (WeChat: a template message when the owner has
                # not written within 48 hours) gets the notice's kind and fields.
                await send_notice(message, row.kind, job.fields)
            else:
                await channel.send(message)
        except SendError as error:
            if error.answered:
                await self._answered_failure(row, attempt, error, run)
            else:
                run.unknown += 1
                await self._lost(row, attempt, f"answer lost: {error}")
            return
        except Exception as error:  # a channel that did not say what happened: assume the worst
            log.exception("delivery %s: the channel raised", row.dedup_key)
            run.unknown += 1
            await self._lost(row, attempt, f"answer lost: {type(error).__name__}: {error}")
            return
        done = await self._finish(
            row,
            attempt,
            status=DeliveryStatus.SENT,
            sent_at=self.clock.now(),
            next_attempt_at=None,
        )
        if done:
            run.sent += 1

    async def _chat(self, job: _Job) -> ChatRef:
        """The chat a row goes to: the user's private chat, or a group of the right kind."""
        row = job.row
        if job.audience is Audience.PRIVATE:
            channel = self.hub.get(row.platform)
            if channel is None:
                # Not refused: the channel may run again; the retries and their end say so.
                return ChatRef(row.platform, row.chat_id, is_group=False)
            chat = channel.private_chat(row.chat_id)
            if chat.is_group:
                raise NoticeRefused(f"the private chat of {row.chat_id} is a group")
            known = await Chat.get_or_none(platform=row.platform, chat_id=chat.chat_id)
            if known is not None and known.kind is not ChatKind.PRIVATE:
                raise NoticeRefused(f"{chat.chat_id} is a registered {known.kind} chat")
            return chat
        known = await Chat.get_or_none(platform=row.platform, chat_id=row.chat_id)
        if known is None or known.kind is not GROUP_KINDS[job.audience]:
            raise NoticeRefused(
                f"{row.chat_id} is not a registered {GROUP_KINDS[job.audience]} chat"
            )
        return ChatRef(row.platform, row.chat_id, is_group=True)

    async def _answered_failure(
        self, row: Delivery, attempt: int, error: SendError, run: DeliveryRun
    ) -> None:
        now = self.clock.now()
        reason = f"attempt {attempt}: {error}"
        if error.retry_after is not None:
            self.pacer.hold(
                row.platform,
                row.chat_id,
                now.timestamp() + error.retry_after,
                now.timestamp(),
            )
        if attempt >= self.policy.max_attempts:
            log.warning("delivery %s failed after %d attempts: %s", row.dedup_key, attempt, error)
            await self._finish(
                row, attempt, status=DeliveryStatus.FAILED, last_error=reason, next_attempt_at=None
            )
            run.failed += 1
            return
        delay = self.policy.backoff(attempt, error.retry_after)
        await self._finish(
            row,
            attempt,
            status=DeliveryStatus.PENDING,
            last_error=reason,
            next_attempt_at=now + timedelta(seconds=delay),
        )
        run.retried += 1

    async def _lost(self, row: Delivery, attempt: int, reason: str) -> bool:
        """Mark a send of unknown outcome: retried once (when tries remain), then final."""
        # `row` is the snapshot the claim matched, so its unknown_sends is the row's.
        unknown_sends = row.unknown_sends + 1
        retry = unknown_sends <= 1 and attempt < self.policy.max_attempts
        now = self.clock.now()
        log.warning("delivery %s: %s (unknown send %d)", row.dedup_key, reason, unknown_sends)
        return await self._finish(
            row,
            attempt,
            status=DeliveryStatus.UNKNOWN,
            unknown_sends=unknown_sends,
            last_error=reason,
            next_attempt_at=now + timedelta(seconds=self.policy.backoff(attempt))
            if retry
            else None,
        )

    async def _finish(self, row: Delivery, attempt: int, **values: Any) -> bool:
        """Change a row we claimed (compare-and-set on the claim), or say we no longer hold it."""
        changed = await Delivery.filter(
            id=row.id, status=DeliveryStatus.SENDING, attempts=attempt
        ).update(**values)
        if not changed:
            log.warning(
                "delivery %s changed hands before its outcome (%s) was recorded",
                row.dedup_key,
                values.get("status"),
            )
        return bool(changed)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class DeliverySummary:
    """What `guanjia notices status` shows."""

    counts: dict[tuple[str, str], int]  # (kind, status) → rows
    failed: list[Delivery]
    unknown: list[Delivery]
    answer_lost: int  # rows with at least one send whose answer was lost


async def delivery_summary(limit: int = 20) -> DeliverySummary:
    """Counts of deliveries by kind and status, and the latest failed and unknown ones."""
    counts: dict[tuple[str, str], int] = {}
    rows = await Delivery.all().values_list("kind", "status")
    for kind, status in rows:
        key = (str(kind), str(DeliveryStatus(status)))
        counts[key] = counts.get(key, 0) + 1
    failed = await Delivery.filter(status=DeliveryStatus.FAILED).order_by("-id").limit(limit)
    unknown = await Delivery.filter(status=DeliveryStatus.UNKNOWN).order_by("-id").limit(limit)
    answer_lost = await Delivery.filter(unknown_sends__gt=0).count()
    return DeliverySummary(counts, failed, unknown, answer_lost)
