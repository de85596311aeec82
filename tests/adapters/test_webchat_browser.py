"""The web chat in a real browser: Debian's headless Chromium, driven by Playwright.

The demo estate is served by the real `HttpServer` on a loopback port, with the real router, staff
desk, NLU and store. One browser context is an owner on a phone-sized screen, another a staff
member on a desktop; they go through a repair from report to rating by clicking and typing as
people do; the staff member reaches the staff console as staff do anywhere, by the one-time link
`/login` brings in their private chat (the page's 工单看板 button sends it). Screenshots of both
chats and of the console's board are saved in `test-output/webchat/`. The test fails, never
skips, when Chromium is missing: `.ci/run` installs it.
"""

from __future__ import annotations

import io
import re
import socket
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from playwright.async_api import Page, async_playwright, expect

from bot.adapters.console import Console
from bot.adapters.http import HttpServer
from bot.adapters.webchat import WebChat, photo_url
from bot.core.channel import ChannelHub
from bot.core.clock import FixedClock
from bot.core.console import ConsoleConfig, session_key
from bot.core.context import Services
from bot.core.demo import OWNERS_PAGE, demo_people, load_demo
from bot.core.i18n import Catalogues
from bot.core.reference import EstateCache
from bot.core.router import Router
from handlers import build_handlers
from models import EventKind, Owner, Staff, Ticket, TicketEvent, TicketStatus, Unit

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "webchat"
REPORT = "3栋2单元502 厨房水管漏水了"  # as the README walks through it
RESULT = "已更换厨房水管接头，试水无渗漏"
WAIT_MS = 20_000
SCREENSHOTS = ("owner.png", "owner-group.png", "staff.png", "console.png")


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A small, valid PNG of one colour."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PHOTO = png(160, 120, (70, 130, 180))


@dataclass
class Served:
    """The demo estate served on loopback."""

    url: str
    owner: Owner
    owner_unit: str
    engineer: Staff
    supervisor: Staff


@pytest.fixture
async def served(store: str, nlu, now: datetime, tmp_path: Path) -> AsyncIterator[Served]:
    """The demo estate behind the web chat on a free loopback port."""
    estate = await load_demo(now.date())
    # The README's walkthrough: the owner of 3-2-502 reports a leak in her own kitchen.
    unit = await Unit.get(estate_id=estate.id, label="3-2-502")
    owner = await Owner.filter(units__id=unit.id).order_by("id").first()
    engineer = await Staff.get(estate_id=estate.id, name="张师傅")
    supervisor = await Staff.get(estate_id=estate.id, name="陈建国")
    assert owner is not None
    clock = FixedClock(now)
    services = Services(
        nlu=nlu,
        catalogues=Catalogues(),
        clock=clock,
        hub=ChannelHub(),
        cache=EstateCache(clock),
        reports_dir=tmp_path / "reports",
    )
    # The port is chosen first: the console's sign-in links name it.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = ConsoleConfig(public_url=f"http://127.0.0.1:{port}")
    handlers = build_handlers(config)
    services.ticket_opened.extend(handlers.ticket_opened)
    webchat = WebChat(Router(services, handlers), tmp_path)
    await webchat.register_chats()
    server = HttpServer(host="127.0.0.1", port=port)
    webchat.mount_on(server)
    services.hub.add(webchat)
    key = await session_key("", now)
    Console(services, config, key, photo_url=photo_url).mount_on(server)
    await server.start()
    try:
        yield Served(server.url, owner, unit.label, engineer, supervisor)
    finally:
        await webchat.stop()
        await server.stop()


async def open_chat(page: Page, chat_id: str) -> None:
    """Open a chat from the chat list, as a person would (going back first on a phone)."""
    if await page.locator(f'.thread[data-chat="{chat_id}"]').is_visible():
        return
    if await page.locator("#back").is_visible():
        await page.click("#back")
    await page.click(f'.chat-item[data-chat="{chat_id}"]')
    await expect(page.locator(f'.thread[data-chat="{chat_id}"]')).to_be_visible()


async def chat_of(page: Page, selector: str) -> str:
    """The chat id of the thread an element is in."""
    return await page.locator(selector).first.evaluate("e => e.closest('.thread').dataset.chat")


@pytest.fixture
def chromium() -> str:
    """Debian's Chromium; a machine without it fails the test (it must not pass by skipping)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return str(CHROMIUM)


async def test_a_repair_from_report_to_rating_in_chromium(served: Served, chromium: str) -> None:
    expect.set_options(timeout=WAIT_MS)
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            phone = await browser.new_context(
                viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
            )
            desktop = await browser.new_context(viewport={"width": 1200, "height": 800})
            owner = await phone.new_page()
            staff = await desktop.new_page()
            for page in (owner, staff):
                page.on("pageerror", lambda exc: errors.append(str(exc)))

            # The owner picks who they are, by unit, and writes in the owner group.
            await owner.goto(served.url)
            await owner.fill("#search", served.owner_unit)
            await owner.click(f'#people button[data-role="owner"][data-id="{served.owner.id}"]')
            group = owner.locator('.thread[data-chat="owners-demo"]')
            await expect(group).to_be_visible()
            await expect(owner.locator("#conversation-title")).to_contain_text("业主群")
            await owner.set_input_files(
                "#file", files=[{"name": "leak.png", "mimeType": "image/png", "buffer": PHOTO}]
            )
            await expect(owner.locator("#preview")).to_be_visible()
            await owner.fill("#input", REPORT)
            await owner.press("#input", "Enter")
            await expect(group.locator(".msg.mine .text")).to_have_text(REPORT)
            await expect(owner.locator("#preview")).to_be_hidden()
            sent_photo = group.locator(".msg.mine .photos img")
            await expect(sent_photo).to_have_count(1)
            await sent_photo.evaluate("img => img.decode()")  # it is a real, loaded image
            reply = group.locator(".msg.bot").filter(has_text=re.compile(r"R-\d{4}"))
            await expect(reply).to_have_count(1)
            ticket = await Ticket.get(reporter_id=f"owner-{served.owner.id}")
            await expect(reply).to_contain_text(ticket.number)
            await expect(reply).to_contain_text("位置：3-2-502")
            await expect(reply).to_contain_text("15分钟 内响应")

            # A staff member picks themselves and finds the card in the staff chat.
            await staff.goto(served.url)
            await staff.click("#tab-staff")
            await staff.click(f'#people button[data-role="staff"][data-id="{served.engineer.id}"]')
            desk = staff.locator('.thread[data-chat="staff-demo"]')
            await expect(desk).to_be_visible()
            card = desk.locator(".msg.bot").filter(has_text=ticket.number).first
            await expect(card).to_contain_text(REPORT)
            claim = card.locator(f'button[data-payload="claim:{ticket.id}"]')
            await claim.click()
            await expect(card).to_contain_text(served.engineer.name)
            await expect(claim).to_have_count(0)
            # The photo the owner attached is on the card.
            await expect(card.locator(".photos img")).to_have_count(1)

            # The owner is told that someone has it.
            told = owner.locator(".msg.bot").filter(has_text=ticket.number)
            await expect(told).to_have_count(2)
            assert (await Ticket.get(id=ticket.id)).status is TicketStatus.CLAIMED

            # The ticket board: 工单看板 sends /login in the staff member's private chat, the
            # bot answers with a one-time link, the link opens the sign-in page, its button
            # signs in, and the board lists the ticket.
            await staff.click("#console")
            mine = staff.locator(f'.thread[data-chat="private:staff-{served.engineer.id}"]')
            await expect(mine).to_be_visible()
            link = mine.locator('.msg.bot a[href*="/console/login?token="]')
            await expect(link).to_have_count(1)
            async with desktop.expect_page() as opened:
                await link.click()
            board = await opened.value
            await expect(board.locator("#sign-in")).to_be_visible()
            await board.click("#sign-in")
            row = board.locator(f'tr[data-ticket="{ticket.number}"]')
            await expect(row).to_be_visible()
            await expect(row).to_contain_text(served.engineer.name)
            await board.screenshot(path=str(OUTPUT / "console.png"), full_page=True)
            # The ticket's own page, with its history and what can be done.
            await row.locator("a").first.click()
            await expect(board.locator('#timeline [data-event="claimed"]')).to_be_visible()
            await expect(board.locator("#close")).to_be_visible()
            await board.close()
            await open_chat(staff, "staff-demo")

            # Staff close it with a result: a reply to the prompt the close button posts.
            await card.locator(f'button[data-payload="close:{ticket.id}"]').click()
            prompt = desk.locator(".msg.bot").filter(has_text="请回复本条消息").last
            await expect(prompt).to_contain_text(ticket.number)
            await expect(staff.locator("#toast")).to_contain_text(ticket.number)
            await prompt.locator(".meta .reply").click()
            await expect(staff.locator("#replying")).to_be_visible()
            await staff.fill("#input", RESULT)
            await staff.click("#send")
            await expect(desk.locator(".msg.mine .text").last).to_have_text(RESULT)
            await expect(staff.locator("#replying")).to_be_hidden()

            # The owner rates it 满意.
            satisfied = owner.locator(f'button[data-payload="rate:{ticket.id}:4"]')
            await expect(satisfied).to_have_count(1)
            await expect(satisfied).to_have_text("满意")
            await open_chat(owner, await chat_of(owner, f'[data-payload="rate:{ticket.id}:4"]'))
            await satisfied.click()
            # Told privately (a toast), and the rating message loses its buttons.
            await expect(owner.locator("#toast")).to_contain_text("感谢")
            await expect(satisfied).to_have_count(0)
            rated = owner.locator(".msg.bot").filter(has_text="您的评价为“满意”")
            await expect(rated).to_have_count(1)

            await owner.screenshot(path=str(OUTPUT / "owner.png"))
            await open_chat(owner, "owners-demo")
            await owner.screenshot(path=str(OUTPUT / "owner-group.png"))
            await staff.screenshot(path=str(OUTPUT / "staff.png"))

            # The page speaks English at the press of a button.
            await owner.click("#lang")
            await expect(owner.locator("#send")).to_have_text("Send")
            await expect(owner.locator("#conversation-title")).to_contain_text("owners")
        finally:
            await browser.close()

    done = await Ticket.get(id=ticket.id)
    assert done.rating == 4 and done.result == RESULT
    assert len(done.photos) == 1 and done.photos[0].startswith("webchat:")
    kinds = [e.kind for e in await TicketEvent.filter(ticket_id=ticket.id).order_by("id")]
    assert kinds[:4] == [EventKind.OPENED, EventKind.CLAIMED, EventKind.RESOLVED, EventKind.RATED]
    assert errors == []
    sizes = {name: (OUTPUT / name).stat().st_size for name in SCREENSHOTS}
    assert all(size > 10_000 for size in sizes.values()), sizes


async def test_the_picker_pages_and_searches_owners_through_the_server_in_chromium(
    served: Served, chromium: str
) -> None:
    expect.set_options(timeout=WAIT_MS)
    errors: list[str] = []
    # The demo's last owner by unit is beyond the welcome frame's first page.
    people = await demo_people()
    [everyone] = await demo_people(limit=people[0].total)
    last = everyone.owners[-1]
    assert people[0].total > OWNERS_PAGE and last.id not in {o.id for o in people[0].owners}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(served.url)
            owners = page.locator('#people button[data-role="owner"]')
            more = page.locator("#people button.more")
            await expect(owners).to_have_count(OWNERS_PAGE)
            await expect(more).to_contain_text(str(people[0].total - OWNERS_PAGE))
            # "More" brings the next page from the server.
            await more.click()
            await expect(owners).to_have_count(min(2 * OWNERS_PAGE, people[0].total))
            # A search by unit asks the server, which finds who is on no page shown yet.
            await page.fill("#search", last.units[0])
            target = page.locator(f'#people button[data-role="owner"][data-id="{last.id}"]')
            await expect(target).to_have_count(1)
            await expect(owners).to_have_count(1)
            await target.click()
            await expect(page.locator("#me")).to_have_text(last.name)
        finally:
            await browser.close()
    assert errors == []


async def test_a_supervisor_downloads_the_month_report_from_the_staff_chat_in_chromium(
    served: Served, chromium: str, now: datetime
) -> None:
    expect.set_options(timeout=WAIT_MS)
    errors: list[str] = []
    month = now.strftime("%Y-%m")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(accept_downloads=True)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(served.url)
            await page.click("#tab-staff")
            await page.click(
                f'#people button[data-role="staff"][data-id="{served.supervisor.id}"]'
            )
            desk = page.locator('.thread[data-chat="staff-demo"]')
            await expect(desk).to_be_visible()
            await page.fill("#input", f"报表 {month}")
            await page.press("#input", "Enter")
            report = desk.locator(".msg.bot").filter(has_text="报修与投诉月报").last
            await expect(report.locator(".photos img")).to_have_count(1)
            link = report.locator(".files a.file")
            await expect(link).to_have_count(1)
            await expect(link).to_contain_text(f"demo-{month}.xlsx")
            await expect(link).to_have_attribute("download", f"demo-{month}.xlsx")
            async with page.expect_download() as started:
                await link.click()
            download = await started.value
            assert download.suggested_filename == f"demo-{month}.xlsx"
            # Read before the browser closes: its downloads go with it.
            book = openpyxl.load_workbook(io.BytesIO((await download.path()).read_bytes()))
            await page.screenshot(path=str(OUTPUT / "report.png"))
        finally:
            await browser.close()
    assert book.sheetnames == ["汇总", "投诉月度汇总表", "工单明细"]
    assert book["汇总"].cell(2, 4).value == month
    assert errors == []
