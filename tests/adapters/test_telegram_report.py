"""`报表` in a Telegram staff group, through the real send path: the handler's message goes
through the hub to the Telegram channel, PTB uploads the chart with `sendPhoto` and the workbook
with `sendDocument` over loopback HTTP to a fake Bot API server (the far end of the network)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import telegram.ext._aioratelimiter as aioratelimiter
from openpyxl import load_workbook

from bot.adapters.telegram import TelegramChannel
from bot.core.types import ChatRef, IncomingMessage, Platform
from models import Chat, ChatIdentity, ChatKind, Staff
from tests.adapters.fake_bot_api import FakeBotApi, bot_api_on_loopback
from tests.adapters.test_telegram import InstantAsyncio, loopback_channel
from tests.desk import Desk
from tests.month import build_month

STAFF_ID = -1001500000002
SUPERVISOR_ID, ENGINEER_ID = 4242, 4343
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def telegram(
    desk: Desk, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[tuple[TelegramChannel, FakeBotApi]]:
    """The desk's month, a Telegram staff group, and the channel talking HTTP to the fake."""
    monkeypatch.setattr(aioratelimiter, "asyncio", InstantAsyncio())
    desk.services.reports_dir = tmp_path / "reports"
    await build_month(desk.estate)
    await Chat.create(
        platform=Platform.TELEGRAM, chat_id=str(STAFF_ID), kind=ChatKind.STAFF, estate=desk.estate
    )
    for user, name in ((SUPERVISOR_ID, "陈主管"), (ENGINEER_ID, "张工")):
        staff = await Staff.get(estate_id=desk.estate.id, name=name)
        await ChatIdentity.create(platform=Platform.TELEGRAM, user_id=str(user), staff=staff)
    api = FakeBotApi(desk.clock.now())
    runner, port = await bot_api_on_loopback(api)
    # Webhook mode: nothing polls; the updates are handed to the router below.
    channel = loopback_channel(desk, port)
    desk.services.hub.add(channel)
    await channel.start()
    try:
        yield channel, api
    finally:
        await channel.stop()
        await runner.cleanup()


async def say(desk: Desk, channel: TelegramChannel, user: int, text: str) -> None:
    message = IncomingMessage(
        chat=ChatRef(Platform.TELEGRAM, str(STAFF_ID), is_group=True),
        sender_id=str(user),
        sender_name=str(user),
        text=text,
        message_id="301",
        received_at=desk.clock.now(),
    )
    await desk.router.handle(message, channel)


async def test_a_supervisor_gets_the_chart_and_the_workbook_in_telegram(
    desk: Desk, telegram: tuple[TelegramChannel, FakeBotApi]
) -> None:
    channel, api = telegram

    await say(desk, channel, SUPERVISOR_ID, "报表 2026-11")

    text, photo, document = api.sent_to(STAFF_ID)
    assert text["text"].startswith("【Estate demo】2026-11 报修与投诉月报")
    assert "无法发送" not in text["text"]
    # Uploaded over HTTP as multipart files: the PNG chart as a photo, the workbook a document.
    assert photo["photo"][0]["file_id"] == "uploaded:demo-2026-11.png"
    assert document["document"]["file_id"] == "uploaded:demo-2026-11.xlsx"
    assert all(call.url.startswith("http://127.0.0.1:") for call in api.calls)
    assert api.uploads["demo-2026-11.png"].startswith(PNG_SIGNATURE)
    book = load_workbook(io.BytesIO(api.uploads["demo-2026-11.xlsx"]))
    assert book.sheetnames == ["汇总", "投诉月度汇总表", "工单明细"]
    assert book["汇总"]["F2"].value == "陈主管"


async def test_an_engineer_is_refused_in_telegram(
    desk: Desk, telegram: tuple[TelegramChannel, FakeBotApi]
) -> None:
    channel, api = telegram

    await say(desk, channel, ENGINEER_ID, "报表 2026-11")

    [reply] = api.sent_to(STAFF_ID)
    assert reply["text"] == desk.services.catalogues.text("zh", "report.supervisors_only")
    assert api.of("sendPhoto") == [] and api.of("sendDocument") == [] and api.uploads == {}
