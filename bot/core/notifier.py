"""Every message the bot sends on its own initiative: delivery rows, claims, retries, pacing.

Notices (bills, greetings, announcements, warranty and rating reminders), escalation and
supervisor alerts, auto-close card edits and staff lists all go this one way; only replies to a
message go through the router's outbox.

Every notice to every recipient is a `Delivery` row whose dedup key (kind, recipient, period or
date) is unique. A job first records its notices (`enqueue`: rows that exist already are left
alone), then sends what is due (`deliver`). A row moves like this:

    pending ──claim──► sending ──answered, ok──────────► sent
       ▲                  │ ──answered, refused─────────► pending (backoff) … failed (last try)
       └──────────────────┤ ──answer lost──────────────► unknown ──retried────────► sending …
                          └─ claim lapsed (process died) ► unknown

The claim is a compare-and-set on the row's status and attempt count (`UPDATE … WHERE status=…
AND attempts=…`, which reports how many rows it changed on SQLite and PostgreSQL alike), so two
processes never send the same row; every later change is a compare-and-set on the claimed
version, so a claim that lapsed cannot be overwritten by its old holder. A claim names its
holder (`claimed_by`, the scheduler lease's holder) and has two steps: `claimed` (not handed to
the platform yet) and `sending`. A process that takes the lease over takes back at once the
claims of any other holder: a `claimed` row goes back to pending (nothing went out), a `sending`
one is `unknown`. A send whose answer was lost (a timeout, a reset connection) may or may not
have gone out: it is marked `unknown`, counted, and retried (a delivery ends after
`policy.unknown_sends` such sends, 3: a notice is then lost only when three sends in a row lost
their answers before arriving); a send that was answered is never repeated.

Sending is a pipeline, not batches: due rows are drawn fairly across chats (a few rows per chat
in hand at once, the store asked again for the chats not in hand), each chat sends one message
at a time, and the next send always goes to the chat that is free first, so a paced group, a
slow send or a send waiting out its timeout holds only its own chat. A retry due within
`RETRY_IN_HAND` stays in hand at the head of its chat's line. The pacer spaces sends
evenly per platform (Telegram just under 30 a second) and per chat (Telegram 20 a minute in a
group, one a second in a private chat), makes up slots missed while every chat was busy (never
more than the cap in any one second), and holds the whole platform only when the platform says
the bot as a whole is over its limit. Time comes from the injected clock and waiting from the
injected `sleep`.

A private notice goes only to the private chat the platform's channel names for the user
(`Channel.private_chat`); owner and staff notices go only to chats registered with that kind. A
private notice to an account the platform says cannot be written to (a WeChat owner who
unfollowed: `ChatIdentity.unreachable_at`) is not sent: it fails at once with that reason. Every
notice goes out through the channel's `send_notice` (one attempt, with the notice's kind, fields
and audience: WeChat falls back to a template message outside its 48-hour window); an edit (a
ticket card closed by the scheduler) through `edit`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import os
import socket
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise.expressions import Q

from bot.core.channel import ChannelHub, NoticeMeta, SendError
from bot.core.clock import Clock
from bot.core.context import Remember, remember_sent
from bot.core.types import Button, ChatRef, Mention, OutgoingMessage, Platform, SentMessage
from models import Chat, ChatIdentity, ChatKind, CustomerGroup, Delivery, DeliveryStatus
from models.statements import chunks

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

MAX_KEY = 255
MAX_KIND = 32
MAX_TEXT = 4000
# Rows one query of the due rows fetches at most.
BATCH = 200
# The store is asked for more rows when fewer chats than this have rows in hand, and each chat
# holds at most PER_CHAT rows in hand: a chat with thousands of rows never hides the others.
CHATS_IN_HAND = 200
PER_CHAT = 3
# While rows are in hand, the store is asked again for rows that came due this often (seconds).
REFILL_EVERY = 1.0
# When at least FLOOD_ANSWERS answers within a second came back and most of them were 429s, the
# bot as a whole is over its limit (random 429s on a few chats are not).
FLOOD_ANSWERS = 8
# A group's limit is counted over a minute and this much more (seconds), and a private chat's
# interval is this share longer, so that the platform's own clock, which sees sends arrive a
# little unevenly, never counts one too many.
GROUP_SPREAD = 1.0
PRIVATE_SPREAD = 0.05
# How much missed time the platform's pacer makes up (seconds): slots missed while every chat
# was busy may be used later, at up to twice the rate, never more than the cap in any second.
CATCH_UP = 1.0
# A send may leave this much before its slot (seconds): less than a clock can be relied on for.
EARLY = 0.001
# A retry due this soon (seconds) stays in hand, first in its chat's line, rather than going
# back to the store to be found again: it keeps its place and its chat's order.
RETRY_IN_HAND = 10.0
# A send the channel has not answered after this long (real seconds) is taken as lost: every
# adapter times out well before.
SEND_TIMEOUT = 120.0
# Why a private notice to an account that unfollowed was not sent.
UNREACHABLE = "unreachable: unsubscribed"


class Audience(StrEnum):
    """Who a notice is for, which decides the only kind of chat it may go to."""

    PRIVATE = "private"  # one person, in their private chat with the bot
    OWNERS = "owners"  # an estate's owner group
    STAFF = "staff"  # an estate's staff chat
    # A WeCom 客户群群发 task for a group owner (the recipient: their userid) listing their
    # customer groups (the notice's "chats" field): see bot/core/groupsend.py.
    GROUP_SEND = "groupsend"


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
    # The platform id of a message of the bot's to replace (a ticket card), instead of a send.
    edit: str | None = None
    # What to record of the platform's message once it went out (a ticket card's message id).
    remember: Remember | None = None
    # Who the text's `@name`s are on the notice's platform (an escalation's people), so the
    # channel mentions them for real.
    mentions: tuple[Mention, ...] = ()

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
    # 微信客服 publishes no per-second limit either; its real limit is the owner's reply window
    # (5 messages within 48 hours), which the channel counts (bot/core/windows.py).
    Platform.WECOM_KF: PlatformLimits(per_second=20.0, group_per_minute=20, private_per_second=1),
    # The WeCom AI bot publishes no figures either: paced like the WeCom app and its robots.
    Platform.WECOM_AIBOT: PlatformLimits(
        per_second=20.0, group_per_minute=20, private_per_second=1
    ),
    Platform.WEBCHAT: PlatformLimits(
        per_second=1000.0, group_per_minute=6000, private_per_second=100
    ),
}


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts, the backoff between them, the claim's lifetime."""

    max_attempts: int = 5
    backoff_base: float = 2.0  # seconds before the 2nd attempt; doubled for each next one
    backoff_cap: float = 600.0
    claim_seconds: float = 180.0  # a claim older than this belongs to a process that died
    # Sends of unknown outcome a delivery may have; each retry may duplicate the notice, none
    # leaves it lost, so a few are allowed.
    unknown_sends: int = 3
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


# A reserved slot: when its chat was free before, and when it was taken.
Slot = tuple[float, float]


class Pacer:
    """Spaces sends per platform and per chat on a float clock.

    Per platform, sends follow a theoretical schedule one interval apart (GCRA): a send may go
    half an interval early, and slots missed while nothing could go (up to `CATCH_UP` seconds'
    worth) are made up at up to twice the rate; whatever the schedule, no one-second window
    holds more than the platform's cap. Per chat, sends are at least the private interval apart
    (one a second, spread a little), and a group gets no more than its limit (20) in any minute
    (spread a little): a greeting to a quiet group goes at once, a long announcement series runs
    at the limit. A 429's retry_after holds its chat; it holds the whole platform only when the
    platform says so (`whole_bot`) or when most answers within a second were 429s. A send the
    platform refused (nothing went out) gives its chat's slot back (`unreserve`).
    """

    def __init__(self, limits: Mapping[Platform, PlatformLimits]) -> None:
        self.limits = dict(limits)
        self._schedule: dict[Platform, float] = {}  # the next theoretical slot
        self._last: dict[Platform, float] = {}
        self._window: dict[Platform, deque[float]] = {}  # sends within the last second
        self._held: dict[Platform, float] = {}
        self._chat_next: dict[tuple[Platform, str], float] = {}
        # Per group: when its sends within the last minute (and GROUP_SPREAD) left.
        self._group_sent: dict[tuple[Platform, str], deque[float]] = {}
        self._answers: dict[Platform, deque[tuple[float, bool]]] = {}

    def _limits(self, platform: Platform) -> PlatformLimits:
        return self.limits.get(platform) or DEFAULT_LIMITS[platform]

    def cap(self, platform: Platform) -> int:
        """The most sends any one second may hold."""
        return max(1, math.floor(self._limits(platform).per_second))

    def platform_ready_at(self, platform: Platform) -> float:
        """The earliest time anything may go to the platform."""
        interval = 1.0 / self._limits(platform).per_second
        ready = max(
            self._schedule.get(platform, 0.0) - interval / 2,
            self._last.get(platform, -1.0) + interval / 2,
            self._held.get(platform, 0.0),
        )
        window = self._window.get(platform)
        cap = self.cap(platform)
        if window is not None and len(window) >= cap:
            ready = max(ready, window[-cap] + 1.0)
        return ready

    def ready_at(self, platform: Platform, chat: str) -> float:
        """The earliest time a message to `chat` may go."""
        key = (platform, chat)
        ready = max(self.platform_ready_at(platform), self._chat_next.get(key, 0.0))
        sent = self._group_sent.get(key)
        if sent:
            per_minute = max(1, math.floor(self._limits(platform).group_per_minute))
            if len(sent) >= per_minute:
                ready = max(ready, sent[-per_minute] + 60.0 + GROUP_SPREAD)
        return ready

    def reserve(self, platform: Platform, chat: str, is_group: bool, at: float) -> Slot:
        """Take the slot at `at` (not before `ready_at`) for one message to `chat`; returns the
        slot, to give back (`unreserve`) if nothing went out."""
        key = (platform, chat)
        before = self._chat_next.get(key, 0.0)
        limits = self._limits(platform)
        interval = 1.0 / limits.per_second
        # Missed slots are made up, but no more than CATCH_UP seconds of them.
        scheduled = max(self._schedule.get(platform, at), at - CATCH_UP)
        self._schedule[platform] = scheduled + interval
        self._last[platform] = at
        window = self._window.setdefault(platform, deque())
        window.append(at)
        while window and window[0] <= at - 1.0:
            window.popleft()
        self._chat_next[key] = at + (1.0 + PRIVATE_SPREAD) / limits.private_per_second
        if is_group:
            sent = self._group_sent.setdefault(key, deque())
            sent.append(at)
            while sent and sent[0] <= at - 60.0 - GROUP_SPREAD:
                sent.popleft()
        if len(self._chat_next) > 50_000:
            self._forget_before(at)
        return (before, at)

    def unreserve(self, platform: Platform, chat: str, slot: Slot) -> None:
        """Give a chat's slot back: the platform answered that nothing went out (a refusal, a
        429), so the message counts against no limit of the chat. The platform-wide slot stays
        taken: the call was made."""
        before, at = slot
        key = (platform, chat)
        self._chat_next[key] = before
        sent = self._group_sent.get(key)
        if sent and at in sent:
            sent.remove(at)

    def resume(self, now: float) -> None:
        """Start a run of sends: time nothing was waiting to go is not made up."""
        for platform, scheduled in self._schedule.items():
            self._schedule[platform] = max(scheduled, now)

    def answered(self, platform: Platform, now: float, limited: bool) -> None:
        """Count an answer of the platform (`limited`: a 429), for telling a flood apart."""
        answers = self._answers.setdefault(platform, deque())
        answers.append((now, limited))
        while answers and answers[0][0] <= now - 1.0:
            answers.popleft()

    def hold(
        self, platform: Platform, chat: str, until: float, now: float, *, whole_bot: bool = False
    ) -> None:
        """Send nothing to `chat` before `until` (a 429's retry_after); nothing at all to the
        platform when it said the bot as a whole is over its limit, or most answers were 429s."""
        key = (platform, chat)
        self._chat_next[key] = max(self._chat_next.get(key, 0.0), until)
        answers = self._answers.get(platform, deque())
        limited = sum(1 for _, was_429 in answers if was_429)
        flood = len(answers) >= FLOOD_ANSWERS and limited * 2 > len(answers)
        if whole_bot or flood:
            log.warning(
                "%s: the bot as a whole is over its limit: pausing all sends for %.1f s",
                platform,
                until - now,
            )
            self._held[platform] = max(self._held.get(platform, 0.0), until)
            answers.clear()

    def _forget_before(self, moment: float) -> None:
        for key in [k for k, v in self._chat_next.items() if v <= moment]:
            del self._chat_next[key]
        for key in [k for k, v in self._group_sent.items() if not v or v[-1] <= moment - 61]:
            del self._group_sent[key]


ChatKey = tuple[Platform, str]


@dataclass
class _Job:
    """A claimable row on its way through the dispatcher."""

    row: Delivery
    audience: Audience
    text: str
    fields: dict[str, str]
    buttons: tuple[tuple[Button, ...], ...] = ()
    edit: str | None = None
    remember: Remember | None = None
    mentions: tuple[Mention, ...] = ()
    # The chat's slot this send took (to give back on a refusal).
    slot: Slot = (0.0, 0.0)

    @classmethod
    def of(cls, row: Delivery) -> _Job:
        """The job of a stored row; unreadable parts of its payload are dropped."""
        payload: dict[str, Any] = row.payload if isinstance(row.payload, dict) else {}
        try:
            audience = Audience(payload.get("audience", ""))
        except ValueError:
            audience = Audience.PRIVATE  # unreadable: the strictest treatment
        fields = payload.get("fields")
        edit = payload.get("edit")
        remember = payload.get("remember")
        return cls(
            row,
            audience,
            str(payload.get("text", "")),
            {str(k): str(v) for k, v in fields.items()} if isinstance(fields, dict) else {},
            _buttons(payload.get("buttons")),
            edit=str(edit) if isinstance(edit, str | int) and str(edit) else None,
            remember=(
                Remember(str(remember["kind"]), dict(remember.get("data") or {}))
                if isinstance(remember, dict) and "kind" in remember
                else None
            ),
            mentions=_mentions(payload.get("mentions")),
        )


def _mentions(stored: Any) -> tuple[Mention, ...]:
    """Mentions as a delivery row keeps them ([name, user id] pairs); unreadable ones dropped."""
    if not isinstance(stored, list):
        return ()
    return tuple(
        Mention(str(pair[0]), str(pair[1]))
        for pair in stored
        if isinstance(pair, list) and len(pair) == 2 and pair[1]
    )


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


def holder_id() -> str:
    """A process's name on claims and leases: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:96]


@dataclass
class _Pipe:
    """One `deliver` pass in flight: the rows in hand by chat, the chats ready to send, and the
    sends under way."""

    kinds: Collection[str] | None
    run: DeliveryRun = field(default_factory=DeliveryRun)
    queues: dict[ChatKey, deque[_Job]] = field(default_factory=dict)
    ready: list[tuple[float, int, ChatKey]] = field(default_factory=list)
    sending: dict[asyncio.Task[None], ChatKey] = field(default_factory=dict)
    exhausted: bool = False  # the last look at the store found nothing new
    last_refill: float = -math.inf
    took: int = 0  # rows claimed in this pass


@dataclass
class Notifier:
    """Records notices and sends them exactly once (bar `unknown` sends), within limits.

    `queue_only` records without sending (the `guanjia notices run` command: the running
    Guanjia, which holds the channels, sends them). `holder` names this process on its claims.
    """

    hub: ChannelHub
    clock: Clock
    sleep: Sleep = asyncio.sleep
    limits: Mapping[Platform, PlatformLimits] = field(default_factory=lambda: DEFAULT_LIMITS)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 16
    queue_only: bool = False
    holder: str = field(default_factory=holder_id)
    pacer: Pacer = field(init=False)
    _order: itertools.count = field(init=False, default_factory=itertools.count)
    # Chats some `deliver` of this process has rows of in hand: a concurrent one leaves them be.
    _in_hand: set[ChatKey] = field(init=False, default_factory=set)
    # Set once a sleep did not move the clock (a FixedClock): pacing is then not possible.
    _frozen: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.pacer = Pacer(self.limits)

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
        for chunk in chunks(keys):
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
                            "edit": notice.edit,
                            "remember": (
                                {"kind": notice.remember.kind, "data": notice.remember.data}
                                if notice.remember is not None
                                else None
                            ),
                            "mentions": [[m.name, m.user_id] for m in notice.mentions],
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
        """Refuse a group notice whose chat is not registered with the audience's kind, and a
        group-send task naming a group that is not a registered customer group of its owner."""
        for notice in notices:
            if notice.audience is Audience.GROUP_SEND:
                await _check_group_send(notice.to, notice.fields.get("chats", ""))
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
            pipe = _Pipe(kinds)
            await self._pump(pipe)
            total.add(pipe.run)
            upcoming = await self._next_due_at(kinds)
            if upcoming is None:
                return total
            before = self.clock.now()
            wait = (upcoming - before).total_seconds()
            if wait > self.policy.max_wait:
                return total
            if wait <= 0 and pipe.took:
                continue  # came due while this pass ended
            # Due later, or due now but in hand elsewhere in this process: look again shortly.
            await self.sleep(max(wait, REFILL_EVERY if wait <= 0 else 0.0) + 0.001)
            if self.clock.now() <= before:
                return total  # a clock that does not move (a FixedClock): nothing comes due

    def _scope(self, kinds: Collection[str] | None) -> Q:
        return Q(kind__in=list(kinds)) if kinds is not None else Q()

    def _due(self, now: datetime) -> Q:
        # Pending with no next attempt, or pending or unknown with one that has come: an
        # unknown row with a next attempt is owed its one retry, without one it is final. The
        # statuses lead, so the (status, next_attempt_at) index is read, not every sent row.
        return Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.UNKNOWN]) & (
            Q(status=DeliveryStatus.PENDING, next_attempt_at__isnull=True)
            | Q(next_attempt_at__lte=now)
        )

    async def _next_due_at(self, kinds: Collection[str] | None) -> datetime | None:
        open_statuses = [
            DeliveryStatus.PENDING,
            DeliveryStatus.CLAIMED,
            DeliveryStatus.SENDING,
            DeliveryStatus.UNKNOWN,
        ]
        row = (
            await Delivery.filter(
                self._scope(kinds), status__in=open_statuses, next_attempt_at__isnull=False
            )
            .order_by("next_attempt_at")
            .first()
        )
        if row is not None:
            return row.next_attempt_at
        # A pending row with no next attempt is due now (one in hand elsewhere in this process).
        if await Delivery.filter(
            self._scope(kinds), status=DeliveryStatus.PENDING, next_attempt_at__isnull=True
        ).exists():
            return self.clock.now()
        return None

    async def _recover_lapsed(self, now: datetime, kinds: Collection[str] | None) -> int:
        """Claims whose holder died: a `claimed` row goes back to pending (nothing went out), a
        `sending` one is unknown (it may have). Returns how many became unknown."""
        lapsed = await Delivery.filter(
            self._scope(kinds),
            status__in=[DeliveryStatus.CLAIMED, DeliveryStatus.SENDING],
            next_attempt_at__lte=now,
        ).limit(BATCH)
        return await self._take_back(lapsed, "its claim lapsed")

    async def reclaim_others(self) -> int:
        """Take back at once every claim not this notifier's (called by the process that just
        took the scheduler lease over: the claims' holder is gone). Returns how many rows."""
        others = await Delivery.filter(
            Q(status__in=[DeliveryStatus.CLAIMED, DeliveryStatus.SENDING])
            & (Q(claimed_by__isnull=True) | ~Q(claimed_by=self.holder))
        )
        await self._take_back(others, "its holder gave up the lease")
        if others:
            log.info("took back %d deliveries claimed by a previous holder", len(others))
        return len(others)

    async def _take_back(self, rows: Sequence[Delivery], why: str) -> int:
        unknown = 0
        for row in rows:
            if row.status is DeliveryStatus.CLAIMED:
                back = await Delivery.filter(
                    id=row.id, status=DeliveryStatus.CLAIMED, attempts=row.attempts
                ).update(status=DeliveryStatus.PENDING, next_attempt_at=None, claimed_by=None)
                if back:
                    log.info("delivery %s back to pending: %s unsent", row.dedup_key, why)
            elif await self._lost(row, row.attempts, f"the sending process stopped ({why})"):
                unknown += 1
        return unknown

    # The pipeline ------------------------------------------------------------------------

    async def _pump(self, pipe: _Pipe) -> None:
        """Send what is due until nothing is left in hand or in the store: always the chat
        that is free first, one send at a time per chat, up to `concurrency` at once."""
        self.pacer.resume(self.clock.now().timestamp())
        try:
            async with asyncio.TaskGroup() as tasks:
                while True:
                    self._reap(pipe)
                    now = self.clock.now().timestamp()
                    if len(pipe.queues) < CHATS_IN_HAND // 2 and (
                        not pipe.exhausted or now - pipe.last_refill >= REFILL_EVERY
                    ):
                        await self._refill(pipe, now)
                    if not pipe.ready and not pipe.sending:
                        if pipe.exhausted:
                            return
                        continue
                    chosen = self._first_free(pipe)
                    if chosen is None or len(pipe.sending) >= self.concurrency:
                        await self._wait(pipe, None)
                        continue
                    ready, key = chosen
                    delay = ready - self.clock.now().timestamp()
                    if delay > EARLY and not self._frozen:
                        # Nothing may go yet: wait for its slot, a send to end, or new rows.
                        await self._wait(pipe, min(delay, REFILL_EVERY))
                        continue
                    heapq.heappop(pipe.ready)
                    job = pipe.queues[key].popleft()
                    due = job.row.next_attempt_at
                    if self._frozen and due is not None and due > self.clock.now():
                        # A clock that does not move never brings a retry's time: the store
                        # keeps it for a later run.
                        self._requeue(pipe, key)
                        continue
                    chat = await self._claim(job, pipe.run)
                    if chat is None:
                        self._requeue(pipe, key)
                        continue
                    pipe.took += 1
                    job.slot = self.pacer.reserve(
                        job.row.platform,
                        job.row.chat_id,
                        job.audience is not Audience.PRIVATE,
                        self.clock.now().timestamp(),
                    )
                    task = tasks.create_task(self._send_claimed(job, chat, pipe))
                    pipe.sending[task] = key
        finally:
            self._in_hand.difference_update(pipe.queues)
            self._in_hand.difference_update(pipe.sending.values())

    def _first_free(self, pipe: _Pipe) -> tuple[float, ChatKey] | None:
        """The chat in hand (not sending) that may be sent to first, and when."""
        while pipe.ready:
            ready, order, key = pipe.ready[0]
            current = self._chat_ready(pipe, key)
            if current > ready + 1e-9:
                # Its chat got busier since it was queued: look at it again then.
                heapq.heapreplace(pipe.ready, (current, order, key))
                continue
            return ready, key
        return None

    def _chat_ready(self, pipe: _Pipe, key: ChatKey) -> float:
        """When the chat's next row may go: its pacing, and a retry's own time."""
        ready = self.pacer.ready_at(*key)
        queue = pipe.queues.get(key)
        if queue:
            due = queue[0].row.next_attempt_at
            if due is not None:
                ready = max(ready, due.timestamp())
        return ready

    def _requeue(self, pipe: _Pipe, key: ChatKey) -> None:
        """Put a chat back among the ready ones when it has rows left, else let it go."""
        if pipe.queues.get(key):
            heapq.heappush(pipe.ready, (self._chat_ready(pipe, key), next(self._order), key))
        else:
            pipe.queues.pop(key, None)
            self._in_hand.discard(key)

    def _reap(self, pipe: _Pipe) -> None:
        """Free the chats whose send has ended."""
        for task in [t for t in pipe.sending if t.done()]:
            self._requeue(pipe, pipe.sending.pop(task))

    async def _wait(self, pipe: _Pipe, delay: float | None) -> None:
        """Wait `delay` seconds (the injected sleep), or until a send ends if sooner."""
        waiters: set[asyncio.Future[Any]] = set(pipe.sending)
        sleeper: asyncio.Task[None] | None = None
        before = self.clock.now()
        if delay is not None:
            sleeper = asyncio.ensure_future(self.sleep(delay))
            waiters.add(sleeper)
        if not waiters:
            return
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if sleeper is not None and not sleeper.done():
                sleeper.cancel()
        if sleeper is not None and sleeper.done() and self.clock.now() <= before:
            self._frozen = True  # a clock that does not move cannot pace: send

    async def _refill(self, pipe: _Pipe, now: float) -> None:
        """Take due rows of chats not in hand, a few per chat, fairly across chats."""
        pipe.last_refill = now
        added = 0
        for _ in range(5):
            excluded = Q()
            by_platform: dict[Platform, list[str]] = {}
            for platform, chat_id in self._in_hand:
                by_platform.setdefault(platform, []).append(chat_id)
            for platform, chat_ids in by_platform.items():
                excluded &= ~Q(platform=platform, chat_id__in=chat_ids)
            rows = (
                await Delivery.filter(
                    self._scope(pipe.kinds) & self._due(self.clock.now()) & excluded
                )
                .order_by("id")
                .limit(BATCH)
            )
            fresh: set[ChatKey] = set()
            for row in rows:
                key = (row.platform, row.chat_id)
                if key in self._in_hand and key not in fresh:
                    continue  # taken in hand by another pass since the query
                queue = pipe.queues.setdefault(key, deque())
                if len(queue) >= PER_CHAT:
                    continue
                queue.append(_Job.of(row))
                added += 1
                if key not in fresh:
                    fresh.add(key)
                    self._in_hand.add(key)
                    self._requeue(pipe, key)
            if len(rows) < BATCH or len(pipe.queues) >= CHATS_IN_HAND:
                break
        pipe.exhausted = added == 0

    async def _claim(self, job: _Job, run: DeliveryRun) -> ChatRef | None:
        """Claim a row (compare-and-set) and find its chat; None when it is not ours to send."""
        row = job.row
        attempt = row.attempts + 1
        claimed = await Delivery.filter(
            id=row.id, status=row.status, attempts=row.attempts
        ).update(
            status=DeliveryStatus.CLAIMED,
            attempts=attempt,
            claimed_by=self.holder,
            next_attempt_at=self.clock.now() + timedelta(seconds=self.policy.claim_seconds),
        )
        if not claimed:
            run.lost_race += 1
            return None
        try:
            chat = await self._chat(job)
        except NoticeRefused as refused:
            log.error("delivery %s refused: %s", row.dedup_key, refused)
            await self._finish(
                row,
                attempt,
                status=DeliveryStatus.FAILED,
                last_error=str(refused),
                next_attempt_at=None,
                claimed=DeliveryStatus.CLAIMED,
            )
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
                claimed=DeliveryStatus.CLAIMED,
            )
            run.failed += 1
            return None
        return chat

    async def _unreachable(self, row: Delivery) -> bool:
        """Whether the platform said the row's recipient cannot be written to (unfollowed)."""
        return await ChatIdentity.filter(
            platform=row.platform, user_id=row.chat_id, unreachable_at__isnull=False
        ).exists()

    async def _send_claimed(self, job: _Job, chat: ChatRef, pipe: _Pipe) -> None:
        """Hand one claimed row to its channel and record the outcome; a retry due soon stays
        in hand, first in its chat's line."""
        await self._send_and_record(job, chat, pipe.run)
        row = job.row
        if row.status in (DeliveryStatus.PENDING, DeliveryStatus.UNKNOWN) and (
            row.next_attempt_at is not None
            and (row.next_attempt_at - self.clock.now()).total_seconds() <= RETRY_IN_HAND
        ):
            pipe.queues.setdefault((row.platform, row.chat_id), deque()).appendleft(job)

    async def _send_and_record(self, job: _Job, chat: ChatRef, run: DeliveryRun) -> None:
        row = job.row
        attempt = row.attempts + 1
        # From here on it may go out: a holder that dies now leaves it unknown, not pending.
        handed = await Delivery.filter(
            id=row.id, status=DeliveryStatus.CLAIMED, attempts=attempt
        ).update(
            status=DeliveryStatus.SENDING,
            next_attempt_at=self.clock.now() + timedelta(seconds=self.policy.claim_seconds),
        )
        if not handed:
            log.warning("delivery %s was taken back before it was sent", row.dedup_key)
            run.lost_race += 1
            return
        try:
            channel = self.hub.for_chat(chat)
            message = OutgoingMessage(
                chat=chat, text=job.text, buttons=job.buttons, mentions=job.mentions
            )
            async with asyncio.timeout(SEND_TIMEOUT):
                if job.edit is not None:
                    sent = await channel.edit(SentMessage(chat, job.edit), message)
                else:
                    notice = NoticeMeta(row.kind, job.fields, str(job.audience))
                    sent = await channel.send_notice(message, notice)
        except SendError as error:
            now = self.clock.now().timestamp()
            if error.answered:
                self.pacer.answered(row.platform, now, error.retry_after is not None)
                self.pacer.unreserve(row.platform, row.chat_id, job.slot)
                await self._answered_failure(row, attempt, error, run)
            else:
                run.unknown += 1
                await self._lost(row, attempt, f"answer lost: {error}")
            return
        except TimeoutError:
            run.unknown += 1
            await self._lost(row, attempt, f"no answer within {SEND_TIMEOUT:.0f} s")
            return
        except Exception as error:  # a channel that did not say what happened: assume the worst
            log.exception("delivery %s: the channel raised", row.dedup_key)
            run.unknown += 1
            await self._lost(row, attempt, f"answer lost: {type(error).__name__}: {error}")
            return
        self.pacer.answered(row.platform, self.clock.now().timestamp(), False)
        done = await self._finish(
            row,
            attempt,
            status=DeliveryStatus.SENT,
            sent_at=self.clock.now(),
            next_attempt_at=None,
        )
        if done:
            run.sent += 1
        if job.remember is not None:
            try:
                await remember_sent(job.remember, sent)
            except Exception:  # it went out; losing its bookkeeping must not stop the rest
                log.exception("delivery %s: could not record what was sent", row.dedup_key)

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
        if job.audience is Audience.GROUP_SEND:
            await _check_group_send(row.chat_id, job.fields.get("chats", ""))
            return ChatRef(row.platform, row.chat_id, is_group=False)
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
                whole_bot=error.whole_bot,
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
        """Mark a send of unknown outcome: retried while the policy allows, then final."""
        # `row` is the snapshot the claim matched, so its unknown_sends is the row's.
        unknown_sends = row.unknown_sends + 1
        retry = unknown_sends < self.policy.unknown_sends and attempt < self.policy.max_attempts
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

    async def _finish(
        self,
        row: Delivery,
        attempt: int,
        *,
        claimed: DeliveryStatus = DeliveryStatus.SENDING,
        **values: Any,
    ) -> bool:
        """Change a row we claimed (compare-and-set on the claim), or say we no longer hold it;
        the snapshot `row` follows the change."""
        changed = await Delivery.filter(id=row.id, status=claimed, attempts=attempt).update(
            **values
        )
        if changed:
            row.attempts = attempt
            for name, value in values.items():
                setattr(row, name, value)
        else:
            log.warning(
                "delivery %s changed hands before its outcome (%s) was recorded",
                row.dedup_key,
                values.get("status"),
            )
        return bool(changed)


async def _check_group_send(owner: str, chats: str) -> None:
    """Refuse a group-send task unless each group it names is a registered customer group of
    its owner (a group registered to nobody, or owned by someone else, gets nothing)."""
    wanted = {chat_id for chat_id in chats.split(",") if chat_id}
    if not wanted:
        raise NoticeRefused(f"the group-send task for {owner} names no group")
    owned = set(
        await CustomerGroup.filter(
            owner_userid=owner, chat__platform=Platform.WECOM, chat__chat_id__in=sorted(wanted)
        ).values_list("chat__chat_id", flat=True)
    )
    if owned != wanted:
        missing = ", ".join(sorted(wanted - owned))
        raise NoticeRefused(f"not registered customer groups of {owner}: {missing}")


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
