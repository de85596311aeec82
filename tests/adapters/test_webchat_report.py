"""`报表` on the web chat: the chart is shown in the page as an image (not a broken "[图片]"),
and the text says where to get the workbook, which the page does not offer."""

from __future__ import annotations

from pathlib import Path

from bot.core.types import Attachment, OutgoingMessage
from tests.adapters.test_webchat import WebDesk, web

__all__ = ["web"]  # the fixture, used by name below
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def test_a_supervisor_sees_the_chart_and_is_told_where_the_workbook_is(
    web: WebDesk, tmp_path: Path
) -> None:
    web.webchat.router.services.reports_dir = tmp_path / "reports"
    month = web.clock.now().strftime("%Y-%m")
    page = await web.page()
    await page.pick("staff", web.supervisor.id)
    mine = f"private:staff-{web.supervisor.id}"

    await page.say(mine, f"报表 {month}")

    said = await page.bot_says(mine, "报修与投诉月报")
    [shown] = said["photos"]
    assert shown["url"] and shown["url"].startswith("/webchat/uploads/")
    response = await web.client.get(shown["url"])
    assert response.status == 200 and response.content_type == "image/png"
    chart = await response.read()
    assert chart.startswith(PNG_SIGNATURE)
    written = tmp_path / "reports" / "demo" / month / f"demo-{month}.png"
    assert chart == written.read_bytes()
    assert said["text"].splitlines()[-1].startswith("此渠道无法发送Excel 表。")
    assert (tmp_path / "reports" / "demo" / month / f"demo-{month}.xlsx").is_file()


async def test_a_bot_photo_that_is_not_an_image_file_is_left_out(web: WebDesk) -> None:
    # Only real image files are copied to the uploads; anything else is not shown at all.
    not_image = web.data_dir / "notes.txt"
    not_image.write_text("not a picture")
    page = await web.page()
    await page.pick("staff", web.supervisor.id)
    mine = f"private:staff-{web.supervisor.id}"
    chat = web.webchat.private_chat(f"staff-{web.supervisor.id}")
    assert chat.chat_id == mine

    await web.webchat.send(
        OutgoingMessage(
            chat=chat,
            text="图表",
            photos=(Attachment("photo", str(not_image)), Attachment("photo", "AgAC-telegram")),
        )
    )

    said = await page.bot_says(mine, "图表")
    # Another platform's photo stays as it was (the page says "[图片]" for it, as before).
    assert said["photos"] == [{"url": None}]
    uploads = web.data_dir / "webchat" / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())
