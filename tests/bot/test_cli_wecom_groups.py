"""`guanjia wecom groups` and the 客户群群发 part of `guanjia notices status`, as a user types
them, with WeCom's 客户联系 API faked on loopback."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Settings
from bot.core.clock import FixedClock
from models import Chat, ChatKind, CustomerGroup, GroupSendTask, Platform
from models.store import close_store, open_store
from tests.adapters.wecom_groupsend_fake import APP_SECRET, CORP_ID, FakeGroupSend
from tests.adapters.wx_fake import AES_KEY, TOKEN, serve
from tests.conftest import StoreOpener
from tests.factories import make_estate

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture
async def setup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store_opener: StoreOpener
) -> AsyncIterator[tuple[str, FakeGroupSend, dict[str, str]]]:
    """A store file with the estate `demo`, the fake WeCom, and the environment naming both."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    url = await store_opener.copy_sqlite_store(tmp_path / "store.sqlite3")
    await open_store(url)
    await make_estate()
    await make_estate("other")
    await close_store()
    wecom = FakeGroupSend(clock=FixedClock(NOW))
    wecom.add_group("wrGroupA", "3号楼业主群", "wangjing")
    wecom.add_group("wrGroupB", "5号楼业主群", "lina")
    server = await serve(wecom.app())
    environment = {
        **os.environ,
        "DATABASE_URL": url,
        "TIMEZONE": "Asia/Shanghai",
        "WECOM_CORP_ID": CORP_ID,
        "WECOM_AGENT_ID": "1000002",
        "WECOM_SECRET": APP_SECRET,
        "WECOM_TOKEN": TOKEN,
        "WECOM_ENCODING_AES_KEY": AES_KEY,
        "WECOM_API_BASE_URL": f"http://127.0.0.1:{server.port}/cgi-bin/",
    }
    try:
        yield url, wecom, environment
    finally:
        await server.close()


async def guanjia(environment: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run the command in its own process (the fake keeps answering meanwhile)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


async def test_groups_are_listed_then_registered_by_name(
    setup: tuple[str, FakeGroupSend, dict[str, str]],
) -> None:
    url, _, environment = setup
    code, out, err = await guanjia(environment, "wecom", "groups", "--estate", "demo")
    assert code == 0, err
    assert "wrGroupA\t3号楼业主群\twangjing\t-" in out.splitlines()

    code, out, err = await guanjia(
        environment, "wecom", "groups", "--estate", "demo", "--register", "3号楼业主群"
    )
    assert code == 0, err
    assert "registered: wrGroupA" in out
    assert "wrGroupA\t3号楼业主群\twangjing\tdemo" in out.splitlines()

    code, out, err = await guanjia(
        environment, "wecom", "groups", "--estate", "other", "--register", "wrGroupA", "nosuch"
    )
    assert code == 1 and "not customer groups of the corp: nosuch" in err

    code, out, err = await guanjia(
        environment, "wecom", "groups", "--estate", "other", "--register", "wrGroupA"
    )
    assert code == 1 and "already the owners chat of another estate" in err

    await open_store(url)
    try:
        chat = await Chat.get(platform=Platform.WECOM, chat_id="wrGroupA").prefetch_related(
            "estate"
        )
        assert chat.kind is ChatKind.OWNERS and chat.estate.code == "demo"
        assert (await CustomerGroup.get(chat_id=chat.id)).owner_userid == "wangjing"
        assert await CustomerGroup.all().count() == 1
    finally:
        await close_store()


async def test_a_refusal_of_wecom_is_told(
    setup: tuple[str, FakeGroupSend, dict[str, str]],
) -> None:
    _, wecom, environment = setup
    wecom.script("externalcontact/groupchat/list", {"errcode": 48002, "errmsg": "api forbidden"})
    code, _, err = await guanjia(environment, "wecom", "groups", "--estate", "demo")
    assert code == 1
    assert "48002" in err and "可调用应用" in err and "WECOM_CONTACT_SECRET" in err


async def test_status_shows_each_task_and_its_groups(
    setup: tuple[str, FakeGroupSend, dict[str, str]],
) -> None:
    url, _, environment = setup
    await open_store(url)
    try:
        for chat_id, name in (("wrGroupA", "3号楼业主群"), ("wrGroupB", "5号楼业主群")):
            await Chat.create(
                platform=Platform.WECOM, chat_id=chat_id, kind=ChatKind.OWNERS, title=name
            )
        await GroupSendTask.create(
            dedup_key="announcement:1:groupsend:wangjing",
            kind="announcement",
            sender="wangjing",
            chat_ids=["wrGroupA"],
            msgid="msgGCAAA000001",
            results={"wrGroupA": [1, NOW.isoformat()]},
            created_at=NOW,
            confirmed_at=NOW,
            closed=True,
        )
        await GroupSendTask.create(
            dedup_key="announcement:1:groupsend:lina",
            kind="announcement",
            sender="lina",
            chat_ids=["wrGroupB"],
            msgid="msgGCAAA000002",
            results={"wrGroupB": [0, None]},
            created_at=NOW,
            reminded_at=NOW,
            last_error="poll: WeCom group-send task msgGCAAA000002: error 60011 no privilege",
        )
    finally:
        await close_store()

    code, out, err = await guanjia(environment, "notices", "status")
    assert code == 0, err
    assert "WeCom customer-group tasks (客户群群发), latest 2:" in out
    assert (
        "sender=wangjing  msgid=msgGCAAA000001" in out and "confirmed at 2026-11-23 10:00" in out
    )
    assert "3号楼业主群 (wrGroupA): sent" in out
    assert "sender=lina" in out and "not confirmed yet (reminded)" in out
    assert "last error: poll: WeCom group-send task msgGCAAA000002: error 60011" in out
    assert "5号楼业主群 (wrGroupB): not sent" in out
