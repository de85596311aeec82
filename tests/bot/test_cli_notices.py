"""`guanjia notices run KIND --at …` and `guanjia notices status`, as a user types them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from bot.config import Settings
from models import Bill, BillItem, ChatIdentity, Delivery, DeliveryStatus, Platform
from models.store import close_store, open_store
from tests.conftest import StoreOpener
from tests.factories import make_estate, make_owner, make_unit


@pytest.fixture
def store_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store_opener: StoreOpener) -> str:
    """A fresh SQLite store file holding an estate with one bound owner and a December bill."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    url = f"sqlite://{tmp_path}/store.sqlite3"
    monkeypatch.setenv("DATABASE_URL", url)

    async def fill() -> None:
        await store_opener.copy_sqlite_store(tmp_path / "store.sqlite3")
        await open_store(url)
        try:
            estate = await make_estate()
            unit = await make_unit(estate, "3", "2", "501")
            owner = await make_owner(estate, "李华", unit)
            await ChatIdentity.create(platform=Platform.WEBCHAT, user_id="u-li", owner=owner)
            await Bill.create(
                unit=unit,
                period="2026-12",
                item=BillItem.PROPERTY_FEE,
                amount_cents=35680,
                due_date=date(2026, 12, 15),
            )
        finally:
            await close_store()

    asyncio.run(fill())
    return url


def guanjia(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the command in its own process, as a user does."""
    environment = {**os.environ, "DATABASE_URL": url, "TIMEZONE": "Asia/Shanghai"}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def rows(url: str) -> list[Delivery]:
    async def read() -> list[Delivery]:
        await open_store(url)
        try:
            return await Delivery.all().order_by("id")
        finally:
            await close_store()

    return asyncio.run(read())


def test_run_queues_the_notices_once_for_the_running_guanjia(store_file: str) -> None:
    first = guanjia(store_file, "notices", "run", "bills", "--at", "2026-12-01T09:00")
    assert first.returncode == 0, first.stderr
    assert "bills as at 2026-12-01T09:00:00+08:00: 1 new notice(s) queued" in first.stdout
    again = guanjia(store_file, "notices", "run", "bills", "--at", "2026-12-01T10:00")
    assert "0 new notice(s) queued" in again.stdout
    (delivery,) = rows(store_file)
    assert delivery.dedup_key.startswith("bill:2026-12:u") and delivery.chat_id == "u-li"
    assert (
        delivery.status is DeliveryStatus.PENDING and "3-2-501 2026-12" in delivery.payload["text"]
    )

    status = guanjia(store_file, "notices", "status").stdout.splitlines()
    assert status[0] == "kind\tsent\tpending\tsending\tfailed\tunknown"
    assert status[1] == "bill\t0\t1\t0\t0\t0"


def test_status_lists_failed_ones_with_their_reason(store_file: str) -> None:
    assert "no notice has been recorded yet" in guanjia(store_file, "notices", "status").stdout
    guanjia(store_file, "notices", "run", "bills", "--at", "2026-12-01T09:00")

    async def fail() -> None:
        await open_store(store_file)
        try:
            await Delivery.all().update(
                status=DeliveryStatus.FAILED, attempts=5, last_error="attempt 5: Forbidden"
            )
        finally:
            await close_store()

    asyncio.run(fail())
    out = guanjia(store_file, "notices", "status").stdout
    assert "bill\t0\t0\t0\t1\t0" in out
    assert "failed (latest 1):" in out and "attempts=5  attempt 5: Forbidden" in out


def test_status_shows_messages_kept_until_their_person_writes_again(store_file: str) -> None:
    from datetime import UTC, datetime

    from bot.core import windows

    async def hold() -> None:
        await open_store(store_file)
        try:
            now = datetime(2026, 12, 1, 9, tzinfo=UTC)
            for chat in ("wk1:wm-a", "wk1:wm-b"):
                await windows.hold(Platform.WECOM_KF, chat, "本月物业费账单…", "bill", now)
            await windows.hold(Platform.WECOM_KF, "wk1:wm-a", "工单 R-0001 已办结", "reply", now)
        finally:
            await close_store()

    asyncio.run(hold())
    out = guanjia(store_file, "notices", "status").stdout
    assert "kept until the person writes again" in out
    assert "  wecom_kf\tbill\t2\n" in out and "  wecom_kf\treply\t1" in out


def test_a_bad_time_or_kind_is_refused(store_file: str) -> None:
    bad_time = guanjia(store_file, "notices", "run", "bills", "--at", "next tuesday")
    assert bad_time.returncode == 2
    assert "--at 'next tuesday' is not an ISO date and time" in bad_time.stderr
    bad_kind = guanjia(store_file, "notices", "run", "fireworks", "--at", "2026-12-01T09:00")
    assert bad_kind.returncode == 2 and "invalid choice: 'fireworks'" in bad_kind.stderr
    assert rows(store_file) == []


def test_the_command_offers_exactly_the_notice_jobs(capsys: pytest.CaptureFixture[str]) -> None:
    """The parser lists the kinds itself (importing the jobs would slow every command down):
    they must be the jobs' kinds, no more and no fewer."""
    from bot.cli import build_parser
    from scheduler.jobs import NOTICE_JOBS

    with pytest.raises(SystemExit):
        build_parser().parse_args(["notices", "run", "--help"])
    usage = capsys.readouterr().out
    offered = usage[usage.index("{") + 1 : usage.index("}")].split(",")
    assert sorted(offered) == sorted(NOTICE_JOBS)
