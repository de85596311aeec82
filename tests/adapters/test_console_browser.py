"""The staff console in a real browser: Debian's headless Chromium, driven by Playwright (as the
web chat's browser test drives it).

The desk's estate is served by the real `HttpServer` on a loopback port with the real store. A
supervisor signs in by the one-time link `/login` brings, on a phone (390×844): the board's
tickets are cards, not a wide table, and nothing scrolls sideways; the history is searched and
its list exported, and the downloaded workbook read back; a ticket's page is its timeline. On a
desktop the same list is a table. Screenshots are saved in `test-output/console/`. The test
fails, never skips, when Chromium is missing.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.async_api import Page, async_playwright, expect

from bot.adapters.console import Console
from bot.adapters.http import HttpServer
from bot.core.console import ConsoleConfig, session_key
from models import Rating
from tests.adapters.test_console import closed, login_link, opened_at
from tests.adapters.test_webchat_browser import CHROMIUM, CHROMIUM_ARGS, WAIT_MS
from tests.desk import Desk, bind
from tests.staffdesk import bind_staff, report

OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "console"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def console_url(desk: Desk) -> AsyncIterator[str]:
    """The desk's console on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = HttpServer(host="127.0.0.1", port=port)
    key = await session_key("", desk.clock.now())
    Console(desk.services, ConsoleConfig(public_url=f"http://127.0.0.1:{port}"), key).mount_on(
        server
    )
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()


async def sign_in(page: Page, desk: Desk, url: str) -> None:
    """The supervisor asks for a link in private, opens it and presses the button."""
    await bind_staff("u-chen", desk.staff["chen"])
    token = await login_link(desk, "u-chen")
    await page.goto(f"{url}/console/login?token={token}")
    await page.click("#sign-in")
    await expect(page.locator("#tab-open")).to_be_visible()


async def test_the_board_on_a_phone_searches_and_exports_in_chromium(
    desk: Desk, console_url: str, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=WAIT_MS)
    await bind("u-li", desk.owners["li"])
    now = desk.clock.now()
    leak = await opened_at(desk, now - timedelta(days=2), "3栋2单元501 厨房水管漏水了")
    await closed(desk, leak, "已更换水管接头", Rating.SATISFIED)
    open_ones = [
        await report(desk, "5栋1单元1202 卫生间马桶堵了，一直冲不下去", "u-wang"),
        await report(desk, "7栋1单元302 楼道灯不亮了，晚上看不见路", "u-wang"),
    ]
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            phone = await browser.new_context(
                viewport=PHONE, device_scale_factor=2, is_mobile=True, accept_downloads=True
            )
            page = await phone.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await sign_in(page, desk, console_url)

            # The open tickets are cards: no table header, each card within the screen, and
            # nothing to scroll sideways.
            cards = page.locator("tr.ticket")
            await expect(cards).to_have_count(len(open_ones))
            await expect(page.locator(".list thead")).to_be_hidden()
            assert await cards.first.evaluate("e => getComputedStyle(e).display") == "block"
            for index in range(len(open_ones)):
                box = await cards.nth(index).bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
            wide = await page.evaluate("document.documentElement.scrollWidth")
            assert wide <= PHONE["width"], wide
            # Each field is labelled on the card.
            first = cards.filter(has_text=open_ones[0].number)
            label = await first.locator("td.col-unit").evaluate(
                "e => getComputedStyle(e, '::before').content"
            )
            assert "房号" in label
            await expect(first).to_contain_text("5-1-1202")
            await page.screenshot(path=str(OUTPUT / "board-phone.png"), full_page=True)

            # The history has the closed one too; a search finds it alone.
            await page.click("#tab-history")
            await expect(page.locator("tr.ticket")).to_have_count(3)
            await page.fill("#q", "水管")
            await page.click("#apply")
            await expect(page.locator("tr.ticket")).to_have_count(1)
            found = page.locator(f'tr.ticket[data-ticket="{leak.number}"]')
            await expect(found).to_contain_text("已关闭")
            await expect(found).to_contain_text("满意")
            await expect(page.locator("#q")).to_have_value("水管")
            await page.screenshot(path=str(OUTPUT / "history-phone.png"), full_page=True)

            # The export downloads what the page lists.
            async with page.expect_download() as downloading:
                await page.click("#export")
            download = await downloading.value
            assert download.suggested_filename.endswith(".xlsx")
            saved = tmp_path / download.suggested_filename
            await download.save_as(saved)
            rows = list(load_workbook(saved).active.iter_rows(values_only=True))
            assert rows[0][:4] == ("编号", "类型", "部门", "状态")
            assert [row[0] for row in rows[1:]] == [leak.number]
            assert rows[1][6] == leak.text and rows[1][10] == "满意"

            # The ticket's page tells its story in words, in order, with who and when.
            await found.locator("a").first.click()
            entries = page.locator("#timeline li")
            await expect(entries).to_have_count(5)
            kinds = await entries.evaluate_all("items => items.map(e => e.dataset.event)")
            assert kinds == ["opened", "claimed", "resolved", "rated", "closed"]
            await expect(entries.nth(0)).to_contain_text("2026-11-21 10:00")
            await expect(entries.nth(0)).to_contain_text("李华")
            await expect(entries.nth(2)).to_contain_text("已更换水管接头")
            await expect(entries.nth(3)).to_contain_text("满意")
            await page.screenshot(path=str(OUTPUT / "ticket-phone.png"), full_page=True)

            # On a desktop the same list is a table.
            desktop = await browser.new_context(viewport={"width": 1200, "height": 800})
            wide_page = await desktop.new_page()
            await wide_page.context.add_cookies(await phone.cookies())
            await wide_page.goto(f"{console_url}/console/")
            await expect(wide_page.locator(".list thead")).to_be_visible()
            row = wide_page.locator("tr.ticket").first
            assert await row.evaluate("e => getComputedStyle(e).display") == "table-row"
            await wide_page.screenshot(path=str(OUTPUT / "board-desktop.png"), full_page=True)
        finally:
            await browser.close()
    assert errors == []
    sizes = {p.name: p.stat().st_size for p in OUTPUT.glob("*.png")}
    assert len(sizes) == 4 and all(size > 10_000 for size in sizes.values()), sizes
