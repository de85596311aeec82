"""The scheduler: APScheduler's AsyncIOScheduler in the deployment's time zone, run by the one
process of the deployment that holds the `scheduler` lease in the store.

Every process keeps trying to take the lease (`take_lease`, a compare-and-set) every
`renew_every` seconds (10); the one that has it starts the jobs, renews it as often, and stops
the jobs if it ever loses it. When the holder dies, its lease expires after `lease_ttl` seconds
(30) and another process takes over within `lease_ttl + renew_every` (40 s): it first takes back
the deliveries the dead holder had claimed (`Notifier.reclaim_others`: nothing is left waiting
for a claim to lapse) and runs the deliveries job at once, so what the dead process was sending
goes out within a minute of its death.

A job due while no process ran it (a restart, a takeover) still runs once when the scheduler
starts: each job's first run is set to the last fire time within its `misfire_grace_time`
before now, and `coalesce` folds several missed runs into one. That is safe because every job is
idempotent: its notices' dedup keys make a second run send nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from bot.core.clock import Clock
from bot.core.notifier import Notifier, Sleep
from models.lease import release_lease, take_lease
from scheduler import jobs

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
MINUTE_GRACE = 60


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: what runs, when, and how late a missed run may still start."""

    name: str
    job: jobs.Job
    trigger: BaseTrigger
    grace_seconds: int
    # Run it as soon as the jobs start here (the deliveries: a takeover sends what was left).
    at_start: bool = False


@dataclass(frozen=True)
class ScheduleTimes:
    """When the daily and monthly jobs run, in the deployment's time zone."""

    timezone: str = "Asia/Shanghai"
    bill_day: int = 1
    bill_hour: int = 9
    notice_hour: int = 9
    revisit_hour: int = 10
    grace_hours: float = 6.0


def job_specs(times: ScheduleTimes) -> list[JobSpec]:
    """Every job of the deployment with its trigger."""
    tz = ZoneInfo(times.timezone)
    grace = int(times.grace_hours * 3600)
    hour = times.notice_hour

    def every_minute(second: int = 0) -> CronTrigger:
        return CronTrigger(minute="*", second=second, timezone=tz)

    return [
        JobSpec(
            "bills",
            jobs.push_bills,
            CronTrigger(day=times.bill_day, hour=times.bill_hour, minute=0, timezone=tz),
            grace,
        ),
        JobSpec(
            "greetings", jobs.send_greetings, CronTrigger(hour=hour, minute=0, timezone=tz), grace
        ),
        JobSpec(
            "arrears", jobs.remind_arrears, CronTrigger(hour=hour, minute=5, timezone=tz), grace
        ),
        JobSpec(
            "warranty",
            jobs.warn_warranty_expiry,
            CronTrigger(hour=hour, minute=10, timezone=tz),
            grace,
        ),
        JobSpec("announcements", jobs.send_announcements, every_minute(), MINUTE_GRACE),
        JobSpec("escalation", jobs.escalate, every_minute(15), MINUTE_GRACE),
        JobSpec(
            "appointments",
            jobs.remind_appointments,
            CronTrigger(minute="*/5", second=20, timezone=tz),
            MINUTE_GRACE,
        ),
        JobSpec(
            "revisits",
            jobs.revisit,
            CronTrigger(hour=times.revisit_hour, minute=0, timezone=tz),
            grace,
        ),
        JobSpec("deliveries", jobs.deliver_due, every_minute(30), MINUTE_GRACE, at_start=True),
        JobSpec(
            "group-sends",
            jobs.poll_group_sends,
            CronTrigger(minute="*/5", second=45, timezone=tz),
            MINUTE_GRACE,
        ),
    ]


def catch_up_time(trigger: BaseTrigger, now: datetime, grace_seconds: int) -> datetime | None:
    """The first fire time within `grace_seconds` before `now`, if one was missed."""
    fire = trigger.get_next_fire_time(None, now - timedelta(seconds=grace_seconds))
    return fire if fire is not None and fire <= now else None


class NoticeScheduler:
    """Holds (or waits for) the scheduler lease and runs the jobs while it holds it."""

    def __init__(
        self,
        specs: list[JobSpec],
        services: Any,
        notifier: Notifier,
        *,
        timezone: str,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        holder: str | None = None,
        lease_ttl: float = 30.0,
        renew_every: float = 10.0,
    ) -> None:
        self.specs = specs
        self.services = services
        self.notifier = notifier
        self.timezone = ZoneInfo(timezone)
        self.clock = clock
        self.sleep = sleep
        self.holder = holder or notifier.holder
        self.lease_ttl = timedelta(seconds=lease_ttl)
        self.renew_every = renew_every
        self.scheduler: AsyncIOScheduler | None = None
        self._held_until: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[Any]] = set()

    @property
    def running_jobs(self) -> bool:
        """Whether this process runs the jobs now."""
        return self.scheduler is not None

    def holds_lease(self) -> bool:
        """Whether this process's lease is current."""
        return self._held_until is not None and self.clock.now() < self._held_until

    async def start(self) -> None:
        """Start competing for the lease in the background."""
        self._task = asyncio.create_task(self._keep_lease(), name="scheduler-lease")

    async def stop(self) -> None:
        """Stop the jobs and give the lease up."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._stop_jobs()
        if self._held_until is not None:
            try:
                await release_lease(LEASE_NAME, self.holder, self.clock.now())
            except Exception:
                log.exception("could not release the scheduler lease")
            self._held_until = None

    async def _keep_lease(self) -> None:
        while True:
            await self.tick()
            await self.sleep(self.renew_every)

    async def tick(self) -> bool:
        """Take or renew the lease, starting or stopping the jobs to match; True when held."""
        now = self.clock.now()
        try:
            held = await take_lease(LEASE_NAME, self.holder, now, self.lease_ttl)
        except Exception:
            log.exception("the scheduler lease could not be renewed")
            # Keep running while the lease we had is still ours; stop once it may not be.
            held = self.holds_lease()
        else:
            self._held_until = now + self.lease_ttl if held else None
        if held and self.scheduler is None:
            log.info("scheduler lease taken by %s: the jobs run here", self.holder)
            try:
                # The previous holder is gone: its claimed deliveries are ours to send now.
                await self.notifier.reclaim_others()
            except Exception:
                log.exception("could not take back the previous holder's deliveries")
            self._start_jobs(now)
        elif not held and self.scheduler is not None:
            log.warning("scheduler lease lost by %s: the jobs stop here", self.holder)
            await self._stop_jobs()
        return held

    def _start_jobs(self, now: datetime) -> None:
        scheduler = AsyncIOScheduler(timezone=self.timezone)
        for spec in self.specs:
            options: dict[str, Any] = {}
            missed = catch_up_time(spec.trigger, now, spec.grace_seconds)
            if spec.at_start:
                options["next_run_time"] = now
            elif missed is not None:
                log.info("job %s was due at %s: it runs now", spec.name, missed.isoformat())
                options["next_run_time"] = missed
            scheduler.add_job(
                self._run,
                spec.trigger,
                args=[spec],
                id=spec.name,
                name=spec.name,
                misfire_grace_time=spec.grace_seconds,
                coalesce=True,
                max_instances=1,
                **options,
            )
        scheduler.start()
        self.scheduler = scheduler

    async def _stop_jobs(self) -> None:
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is None:
            return
        if scheduler.running:
            scheduler.pause()  # submits nothing more from now on
            scheduler.shutdown(wait=False)
        # A job stopped mid-broadcast leaves its rows claimed or pending: the next run (here or in
        # the process that takes the lease over) continues it.
        running = [task for task in self._running if not task.done()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def _run(self, spec: JobSpec) -> None:
        """Run one job, if this process still holds the lease; a failure is logged."""
        if not self.holds_lease():
            log.warning("job %s skipped: this process no longer holds the lease", spec.name)
            return
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            count = await spec.job(self.clock.now(), self.services, self.notifier)
        except asyncio.CancelledError:
            # Stopping (or losing the lease): the job ends here and its next run continues it.
            log.info("job %s stopped before it finished", spec.name)
            return
        except Exception:
            log.exception("job %s failed", spec.name)
            return
        finally:
            if task is not None:
                self._running.discard(task)
        if count:
            log.info("job %s: %d", spec.name, count)


def build_scheduler(
    times: ScheduleTimes, services: Any, notifier: Notifier, clock: Clock
) -> NoticeScheduler:
    """Build the deployment's scheduler (start it with `await scheduler.start()`)."""
    return NoticeScheduler(
        job_specs(times), services, notifier, timezone=times.timezone, clock=clock
    )
