"""`guanjia notices run KIND --at …` and `guanjia notices status`, as a user types them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.config import Settings
from models import Bill, BillItem, ChatIdentity, Delivery, DeliveryStatus, Estate, Platform
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


def add_unbound_owners(url: str, count: int) -> None:
    """`count` owners of the estate with no chat account bound, in 1-1-101, 1-1-102, …"""

    async def add() -> None:
        await open_store(url)
        try:
            estate = await Estate.get(code="demo")
            for k in range(count):
                unit = await make_unit(estate, "1", "1", f"1{k + 1:02d}")
                await make_owner(estate, f"业主{k + 1}", unit, phone=f"1380000{k:04d}")
        finally:
            await close_store()

    asyncio.run(add())


def test_a_bill_run_says_who_will_not_hear_and_the_export_lists_them(
    store_file: str, tmp_path: Path
) -> None:
    add_unbound_owners(store_file, 12)
    run = guanjia(store_file, "notices", "run", "bills", "--at", "2026-12-01T09:00")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    at = lines.index(
        "Estate demo：13 位业主中有 12 位未绑定聊天账号，收不到账单、催缴和保修等私信通知："
    )
    assert lines[at + 1 : at + 4] == ["  1-1-101 业主1", "  1-1-102 业主2", "  1-1-103 业主3"]
    assert lines[at + 10] == "  1-1-110 业主10"
    assert lines[at + 11] == "  ……另有 2 位"
    assert "guanjia owners unbound --estate demo --out" in lines[at + 12]
    assert "李华" not in run.stdout  # bound: she hears

    # Group notices reach the groups: no list.
    greetings = guanjia(store_file, "notices", "run", "greetings", "--at", "2026-12-01T09:00")
    assert greetings.returncode == 0 and "未绑定" not in greetings.stdout

    out = tmp_path / "unbound.xlsx"
    export = guanjia(store_file, "owners", "unbound", "--estate", "demo", "--out", str(out))
    assert export.returncode == 0, export.stderr
    assert export.stdout.strip() == f"已将 12 位未绑定业主写入 {out}"
    sheet = load_workbook(out).active
    assert sheet is not None
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0] == ["房号", "业主姓名", "联系电话"] and len(values) == 13
    assert values[1] == ["1-1-101", "业主1", "13800000000"]
    assert values[12] == ["1-1-112", "业主12", "13800000011"]

    listing = guanjia(store_file, "owners", "unbound", "--estate", "demo", "--lang", "en")
    assert listing.stdout.splitlines()[0] == (
        "Estate demo: 12 of 13 owners have no chat account bound and get no private notice "
        "(bills, arrears, warranty):"
    )
    assert "  1-1-112 业主12" in listing.stdout  # all of them, without --out

    missing = guanjia(store_file, "owners", "unbound", "--estate", "nowhere", "--out", str(out))
    assert missing.returncode == 1 and "no estate 'nowhere'" in missing.stderr


def test_a_run_when_everyone_is_bound_says_so(store_file: str) -> None:
    async def add_empty_estate() -> None:
        await open_store(store_file)
        try:
            await make_estate("moon")
        finally:
            await close_store()

    asyncio.run(add_empty_estate())
    run = guanjia(store_file, "notices", "run", "arrears", "--at", "2026-12-01T09:00")
    assert run.returncode == 0, run.stderr
    assert "Estate demo：1 位业主都已绑定聊天账号。" in run.stdout
    assert "Estate moon" not in run.stdout  # no owner yet: nobody to miss
