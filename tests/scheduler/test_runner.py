"""The scheduler: its jobs' times in the estate's zone, one process per deployment through the
store's lease (with takeover when the holder dies), and a job missed during a restart run once
when the scheduler comes back."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from bot.core.channel import ChannelHub
from bot.core.clock import SystemClock
from bot.core.notifier import Audience, Notice, Notifier
from bot.core.types import Platform
from models import Delivery, DeliveryStatus
from models.lease import lease_holder, release_lease, take_lease
from scheduler import jobs
from scheduler.runner import (
    LEASE_NAME,
    JobSpec,
    NoticeScheduler,
    ScheduleTimes,
    catch_up_time,
    job_specs,
)
from tests.notice_fakes import FakeTime, ScriptedChannel
from tests.scheduler.conftest import SHANGHAI

TTL = timedelta(seconds=60)


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)  # type: ignore[misc]


def test_jobs_fire_at_their_local_times(now: datetime) -> None:
    specs = {spec.name: spec for spec in job_specs(ScheduleTimes())}
    assert set(specs) == {
        "bills",
        "greetings",
        "arrears",
        "warranty",
        "announcements",
        "escalation",
        "appointments",
        "revisits",
        "deliveries",
        "group-sends",
    }

    def next_fire(name: str, after: datetime = now + timedelta(seconds=1)) -> datetime:
        return specs[name].trigger.get_next_fire_time(None, after)

    # Just after Monday 2026-11-23 10:00 in Shanghai.
    assert next_fire("bills") == local(2026, 12, 1, 9, 0)
    assert next_fire("greetings") == local(2026, 11, 24, 9, 0)
    assert next_fire("arrears") == local(2026, 11, 24, 9, 5)
    assert next_fire("warranty") == local(2026, 11, 24, 9, 10)
    assert next_fire("revisits") == local(2026, 11, 24, 10, 0)
    assert next_fire("announcements") == local(2026, 11, 23, 10, 1)
    assert next_fire("group-sends") == local(2026, 11, 23, 10, 0, 45)
    assert next_fire("appointments") == local(2026, 11, 23, 10, 0, 20)
    assert specs["bills"].grace_seconds == 6 * 3600
    assert specs["announcements"].grace_seconds == 60
    other = {s.name: s for s in job_specs(ScheduleTimes(bill_day=5, bill_hour=18))}
    assert other["bills"].trigger.get_next_fire_time(None, now) == local(2026, 12, 5, 18, 0)


def test_a_run_missed_within_the_grace_time_is_caught_up() -> None:
    daily = CronTrigger(hour=9, minute=0, timezone=SHANGHAI)
    six_hours = 6 * 3600
    assert catch_up_time(daily, local(2026, 12, 1, 9, 30), six_hours) == local(2026, 12, 1, 9, 0)
    assert catch_up_time(daily, local(2026, 12, 1, 14, 59), six_hours) == local(2026, 12, 1, 9)
    assert catch_up_time(daily, local(2026, 12, 1, 15, 1), six_hours) is None
    assert catch_up_time(daily, local(2026, 12, 1, 8, 59), six_hours) is None
    minutely = CronTrigger(minute="*", second=0, timezone=SHANGHAI)
    assert catch_up_time(minutely, local(2026, 12, 1, 9, 0, 30), 60) == local(2026, 12, 1, 9)


async def test_the_lease_is_held_by_one_process_and_taken_over_when_it_expires(
    store: str, now: datetime
) -> None:
    assert await take_lease(LEASE_NAME, "a", now, TTL)
    assert not await take_lease(LEASE_NAME, "b", now, TTL)
    assert await take_lease(LEASE_NAME, "a", now + timedelta(seconds=30), TTL)  # renewed
    assert not await take_lease(LEASE_NAME, "b", now + timedelta(seconds=89), TTL)
    assert await lease_holder(LEASE_NAME, now + timedelta(seconds=89)) == "a"
    # "a" died: 60 s after its last renewal, "b" takes over, and "a" cannot renew.
    assert await take_lease(LEASE_NAME, "b", now + timedelta(seconds=90), TTL)
    assert not await take_lease(LEASE_NAME, "a", now + timedelta(seconds=91), TTL)
    # A clean stop gives it up at once.
    assert await release_lease(LEASE_NAME, "b", now + timedelta(seconds=95))
    assert await lease_holder(LEASE_NAME, now + timedelta(seconds=95)) is None
    assert await take_lease(LEASE_NAME, "a", now + timedelta(seconds=95), TTL)


async def test_lease_takers_racing_at_once_get_one_holder(store: str, now: datetime) -> None:
    results = await asyncio.gather(*(take_lease(LEASE_NAME, f"p{n}", now, TTL) for n in range(6)))
    assert sum(results) == 1


async def _never(now: datetime, services: object, notifier: Notifier) -> int:
    return 0


def far_future_spec() -> JobSpec:
    return JobSpec("later", _never, CronTrigger(year=2999, timezone=SHANGHAI), 60)


async def test_one_scheduler_runs_the_jobs_and_another_takes_over(
    store: str, now: datetime
) -> None:
    time = FakeTime(now)
    notifier = Notifier(hub=ChannelHub(), clock=time)

    def process(name: str) -> NoticeScheduler:
        return NoticeScheduler(
            [far_future_spec()], None, notifier, timezone="Asia/Shanghai", clock=time, holder=name
        )

    first, second = process("first"), process("second")
    try:
        assert await first.tick() and first.running_jobs
        assert not await second.tick() and not second.running_jobs
        time.advance(seconds=20)
        assert await first.tick()
        # "first" stops renewing (it hangs or dies); its lease runs out.
        time.advance(seconds=61)
        assert not first.holds_lease()
        assert await second.tick() and second.running_jobs
        assert not await first.tick() and not first.running_jobs
    finally:
        await first.stop()
        await second.stop()
    assert await lease_holder(LEASE_NAME, time.now()) is None


async def test_a_job_due_during_a_restart_runs_once_when_it_comes_back(store: str) -> None:
    # APScheduler reads the wall clock, so this test uses it (and waits on events, not time).
    clock = SystemClock()
    wall = clock.now().astimezone(SHANGHAI)
    runs: list[str] = []
    ran = asyncio.Event()

    def daily_at(moment: datetime) -> CronTrigger:
        return CronTrigger(
            hour=moment.hour, minute=moment.minute, second=moment.second, timezone=SHANGHAI
        )

    async def recent(now: datetime, services: object, notifier: Notifier) -> int:
        runs.append("recent")
        ran.set()
        return 1

    async def stale(now: datetime, services: object, notifier: Notifier) -> int:
        runs.append("stale")
        return 1

    specs = [
        # Due 5 minutes ago, while the process was down: within its hour of grace.
        JobSpec("recent", recent, daily_at(wall - timedelta(minutes=5)), 3600),
        # Due 2 hours ago: beyond its grace, it waits for tomorrow.
        JobSpec("stale", stale, daily_at(wall - timedelta(hours=2)), 3600),
    ]
    notifier = Notifier(hub=ChannelHub(), clock=clock)
    scheduler = NoticeScheduler(specs, None, notifier, timezone="Asia/Shanghai", clock=clock)
    await scheduler.start()
    try:
        await asyncio.wait_for(ran.wait(), timeout=30)
        for _ in range(20):
            await asyncio.sleep(0)
        assert runs == ["recent"]
        assert scheduler.scheduler is not None
        for job in scheduler.scheduler.get_jobs():
            assert job.next_run_time > clock.now()  # next: tomorrow, not again now
    finally:
        await scheduler.stop()


async def test_stopping_ends_a_running_job_and_gives_the_lease_up(store: str) -> None:
    clock = SystemClock()
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[bool] = []

    async def long_job(now: datetime, services: object, notifier: Notifier) -> int:
        started.set()
        await release.wait()
        finished.append(True)
        return 1

    wall = clock.now().astimezone(SHANGHAI) - timedelta(seconds=5)
    trigger = CronTrigger(
        hour=wall.hour, minute=wall.minute, second=wall.second, timezone=SHANGHAI
    )
    notifier = Notifier(hub=ChannelHub(), clock=clock)
    scheduler = NoticeScheduler(
        [JobSpec("long", long_job, trigger, 60)],
        None,
        notifier,
        timezone="Asia/Shanghai",
        clock=clock,
    )
    await scheduler.start()
    await asyncio.wait_for(started.wait(), timeout=30)
    await scheduler.stop()
    assert finished == [] and not scheduler.running_jobs
    assert await lease_holder(LEASE_NAME, clock.now()) is None


async def test_a_dead_leaders_deliveries_go_out_from_its_successor_within_a_minute(
    store: str, now: datetime
) -> None:
    time = FakeTime(now)
    channel = ScriptedChannel(time=time)
    hub = ChannelHub()
    hub.add(channel)
    [deliveries] = [spec for spec in job_specs(ScheduleTimes()) if spec.name == "deliveries"]
    assert deliveries.at_start
    # The deliveries job's flag on a job that does nothing: APScheduler runs its jobs on the
    # wall clock, so the deliveries are run below on the test's clock instead.
    at_start = [replace(far_future_spec(), at_start=True)]

    def process(name: str) -> NoticeScheduler:
        notifier = Notifier(hub=hub, clock=time, sleep=time.sleep, holder=name)
        return NoticeScheduler(
            at_start, None, notifier, timezone="Asia/Shanghai", clock=time, holder=name
        )

    first, second = process("first"), process("second")
    users = ["1000", "1001", "1002"]
    try:
        assert await first.tick()
        await first.notifier.enqueue(
            Notice(f"bill:{u}", "bill", Audience.PRIVATE, Platform.TELEGRAM, u, "账单")
            for u in users
        )
        # "first" claims two rows and dies: one not yet handed to the platform, one handed
        # whose answer never came. Their claims would lapse only in 3 minutes.
        claim = now + timedelta(seconds=180)
        for key, status in (("bill:1000", DeliveryStatus.CLAIMED), ("bill:1001", "sending")):
            await Delivery.filter(dedup_key=key).update(
                status=status, attempts=1, claimed_by="first", next_attempt_at=claim
            )
        died = time.now()
        # "second" tries for the lease every renew_every seconds, as its background task does.
        while not await second.tick():
            time.advance(seconds=second.renew_every)
        assert time.now() - died <= timedelta(seconds=40)
        assert second.scheduler is not None
        job = second.scheduler.get_job("later")
        assert job is not None and job.next_run_time <= time.now()  # at once, not when due
        # What the deliveries job does when it runs at once.
        await jobs.deliver_due(time.now(), None, second.notifier)
    finally:
        await first.stop()
        await second.stop()

    assert channel.received() == Counter({u: 1 for u in users})
    rows = {row.dedup_key: row for row in await Delivery.all()}
    assert all(row.status is DeliveryStatus.SENT for row in rows.values())
    assert all(row.sent_at - died < timedelta(minutes=1) for row in rows.values())
    assert rows["bill:1000"].unknown_sends == 0  # nothing had gone out: no unknown send
    assert rows["bill:1001"].unknown_sends == 1
