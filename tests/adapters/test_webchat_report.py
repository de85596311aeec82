"""`报表` on the web chat: the chart is shown in the page as an image (not a broken "[图片]"),
and the workbook is offered as a download link, served by the web chat's own route."""

from __future__ import annotations

import io
import logging
import os
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import openpyxl
import pytest

from bot.adapters.webchat import FILE_COPY_GRACE, HISTORY_LIMIT, WebChat, file_url
from bot.core.types import Attachment, ChatRef, OutgoingMessage, Platform
from tests.adapters.test_webchat import WebDesk, web

__all__ = ["web"]  # the fixture, used by name below
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def shown(web: WebDesk, text: str, kind: str, *refs: str) -> dict[str, Any]:
    """The bot's message with these photos or files (`kind`), sent to the supervisor's private
    chat, as a page of that chat receives it."""
    page = await web.page()
    await page.pick("staff", web.supervisor.id)
    chat = web.webchat.private_chat(f"staff-{web.supervisor.id}")
    assert chat.chat_id == f"private:staff-{web.supervisor.id}"
    attached = tuple(Attachment(kind, ref) for ref in refs)
    field = "photos" if kind == "photo" else "attachments"
    await web.webchat.send(OutgoingMessage(chat=chat, text=text, **{field: attached}))
    return await page.bot_says(chat.chat_id, text)


async def test_a_supervisor_gets_the_chart_and_the_workbook_in_the_staff_chat(
    web: WebDesk, tmp_path: Path
) -> None:
    web.webchat.router.services.reports_dir = tmp_path / "reports"
    month = web.clock.now().strftime("%Y-%m")
    written = tmp_path / "reports" / "demo" / month / f"demo-{month}"
    page = await web.page()
    await page.pick("staff", web.supervisor.id)

    await page.say("staff-demo", f"报表 {month}")

    said = await page.bot_says("staff-demo", "报修与投诉月报")
    # Nothing is missing, so the text no longer says where else to get the files.
    assert "此渠道" not in said["text"]
    [shown] = said["photos"]
    assert shown["url"] and shown["url"].startswith("/webchat/uploads/")
    response = await web.client.get(shown["url"])
    assert response.status == 200 and response.content_type == "image/png"
    chart = await response.read()
    assert chart.startswith(PNG_SIGNATURE) and chart == written.with_suffix(".png").read_bytes()

    # The workbook is a download link in the message.
    workbook = written.with_suffix(".xlsx")
    [offered] = said["files"]
    assert offered["name"] == workbook.name
    assert offered["size"] == workbook.stat().st_size
    assert re.fullmatch(rf"/webchat/files/[0-9a-f]{{32}}/demo-{month}\.xlsx", offered["url"])
    response = await web.client.get(offered["url"])
    assert response.status == 200
    assert response.headers["Content-Type"] == XLSX
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=\"{workbook.name}\"; filename*=UTF-8''{workbook.name}"
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    data = await response.read()
    assert data == workbook.read_bytes()
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["汇总", "投诉月度汇总表", "工单明细"]
    summary = book["汇总"]
    assert [summary.cell(2, column).value for column in (3, 4, 5, 6)] == [
        "月份",
        month,
        "编制",
        web.supervisor.name,
    ]

    # A page opened later shows it from the chat's history, and so does one after a restart.
    later = await web.page()
    picked = await later.pick("staff", web.supervisor.id)
    staff_chat = next(chat for chat in picked["chats"] if chat["id"] == "staff-demo")
    assert staff_chat["messages"][-1]["files"] == [offered]
    restarted = WebChat(web.webchat.router, web.data_dir)
    [kept] = [m for m in restarted.log.messages("staff-demo") if m.id == said["id"]]
    assert [(file_url(f["file"]), f["name"], f["size"]) for f in kept.files] == [
        (offered["url"], offered["name"], offered["size"])
    ]
    # Every other message has none.
    assert all(m["files"] == [] for m in staff_chat["messages"][:-1])


async def test_only_a_file_offered_is_downloaded_and_only_by_its_own_url(
    web: WebDesk, tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # A file with a name no header could hold as it is, inside the data folder.
    named = web.data_dir / "exports" / "投诉 汇总 (11月).xlsx"
    named.parent.mkdir()
    sheet = openpyxl.Workbook()
    sheet.active["A1"] = "投诉"
    sheet.save(named)
    # Files that must never be offered: outside the data and reports folders, not local.
    outside = tmp_path_factory.mktemp("elsewhere") / "secret.xlsx"
    outside.write_bytes(named.read_bytes())
    with caplog.at_level(logging.WARNING, logger="guanjia.webchat"):
        said = await shown(
            web,
            "文件",
            "file",
            str(named),
            str(outside),
            str(web.data_dir / "missing.xlsx"),
            "BQACAgIAAxkBAAIB-telegram",
        )
    [offered] = said["files"]
    assert offered["name"] == "投诉_汇总__11月_.xlsx"
    token = offered["url"].split("/")[3]
    assert offered["url"] == f"/webchat/files/{token}/{quote(offered['name'])}"
    response = await web.client.get(offered["url"])
    assert response.status == 200 and await response.read() == named.read_bytes()
    assert response.headers["Content-Type"] == XLSX
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"_______11__.xlsx\"; filename*=UTF-8''"
        + quote("投诉_汇总__11月_.xlsx")
    )
    # What was left out is said in the log, and nothing of it was copied.
    logged = [r.getMessage() for r in caplog.records]
    assert any(str(outside) in line for line in logged)
    assert any("missing.xlsx" in line for line in logged)
    assert any("BQACAgIAAxkBAAIB-telegram" in line for line in logged)
    copied = list((web.data_dir / "webchat" / "files").rglob("*.*"))
    assert [path.name for path in copied] == [offered["name"]]

    # Any other token or name is 404: guessed, the file's own name under another token,
    # another name under its token, a path out of the folder.
    guessed = [
        f"/webchat/files/{'0' * 32}/{quote(offered['name'])}",
        f"/webchat/files/{token[::-1]}/{quote(offered['name'])}",
        f"/webchat/files/{token}/other.xlsx",
        f"/webchat/files/{token}/..",
        f"/webchat/files/{token}/.%2E",
        f"/webchat/files/{token}/..%2F..%2Fhistory%2Fstaff-demo.jsonl",
        f"/webchat/files/{token}/%2E%2E%2F%2E%2E%2Fguanjia.sqlite3",
        f"/webchat/files/{token.upper()}/{quote(offered['name'])}",
        f"/webchat/files/{token}",
        "/webchat/files/",
    ]
    for url in guessed:
        response = await web.client.get(url)
        assert response.status == 404, url
    # A name that resolves here (DNS rebinding) is not a name of the page.
    port = web.client.port
    response = await web.client.get(offered["url"], headers={"Host": f"evil.example:{port}"})
    assert response.status == 403


async def test_a_bot_photo_that_is_not_an_image_file_is_left_out(
    web: WebDesk, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Only real image files of the data or reports folders are copied to the uploads; anything
    # else is not shown at all.
    not_image = web.data_dir / "notes.txt"
    not_image.write_text("not a picture")
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "chart.png"
    elsewhere.write_bytes(PNG_SIGNATURE + b"\x00" * 64)
    said = await shown(web, "图表", "photo", str(not_image), str(elsewhere), "AgAC-telegram")
    # Another platform's photo stays as it was (the page says "[图片]" for it, as before).
    assert said["photos"] == [{"url": None}]
    assert said["files"] == []
    uploads = web.data_dir / "webchat" / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


async def test_file_copies_no_kept_message_offers_are_removed_at_start(web: WebDesk) -> None:
    workbook = web.data_dir / "report.xlsx"
    workbook.write_bytes(b"PK\x03\x04 a workbook")
    staff = ChatRef(Platform.WEBCHAT, "staff-demo", is_group=True)
    await web.webchat.send(
        OutgoingMessage(chat=staff, text="月报", attachments=(Attachment("file", str(workbook)),))
    )
    [offered] = web.webchat.log.messages("staff-demo")[-1].files
    token = offered["file"].split("/")[0]
    files = web.webchat.files
    orphan, fresh = files / ("ab" * 16), files / ("cd" * 16)
    for folder in (orphan, fresh):
        folder.mkdir()
        (folder / "a.xlsx").write_bytes(b"a copy")
    (files / "notes").mkdir()  # not a token: not the web chat's to remove
    # Copies made before the grace; `fresh` is being sent now (its message not kept yet).
    past = time.time() - FILE_COPY_GRACE.total_seconds() - 60
    for folder in (files / token, orphan):
        os.utime(folder, (past, past))

    await web.webchat.start()
    assert sorted(p.name for p in files.iterdir()) == sorted([token, fresh.name, "notes"])
    assert (await web.client.get(file_url(offered["file"]))).status == 200

    # Once its message has left the chat's history, a restarted server removes its copy.
    for n in range(2 * HISTORY_LIMIT + 1):
        await web.webchat.send(OutgoingMessage(chat=staff, text=f"消息{n}"))
    restarted = WebChat(web.webchat.router, web.data_dir)
    assert restarted.prune_files() == 1
    assert sorted(p.name for p in files.iterdir()) == sorted([fresh.name, "notes"])
    assert (await web.client.get(file_url(offered["file"]))).status == 404
