"""The estate cache (`bot/core/reference.py`): what a message reads of an estate's rarely
changing rows is kept, and a change made through Guanjia's own code is seen by the next message
(an import of targets or of the calendar, a staff chat registered, an outage announced); a
change made behind its back (another process) is seen once `CACHE_TTL` has passed."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from bot.core.estate_import import import_estate
from bot.core.reference import CACHE_TTL
from bot.core.types import ChatRef, Platform
from models import ChatKind, ServiceTarget, Ticket, TicketKind
from models.querycount import count_queries
from tests.core.test_calendar_import import workbook
from tests.desk import OWNERS, STAFF, Desk
from tests.staffdesk import bind_staff, register_code

# Reports of faults at different places: each opens its own ticket.
REPORTS = ("3号楼电梯坏了，停在5楼不动", "5号楼门禁坏了，刷卡没反应", "7号楼楼道灯不亮了")


async def _opened(desk: Desk, text: str, sender: str) -> Ticket:
    """The ticket the sender's report opened."""
    await desk.say(text, sender)
    return await Ticket.get(reporter_id=sender)


async def test_a_second_repair_reads_no_estate_rows_again(desk: Desk) -> None:
    await desk.say(REPORTS[0], "u-a")
    with count_queries() as counted:
        await desk.say(REPORTS[1], "u-b")
    read = " ".join(counted.texts)
    for table in ("service_target", "office_hours", "closed_day", "building", "chat", "estate"):
        assert f'FROM "{table}"' not in read, table


async def test_imported_targets_are_seen_by_the_next_message(desk: Desk, tmp_path: Path) -> None:
    first = await _opened(desk, REPORTS[0], "u-a")
    # The service standard's on-site time (the estate's default): not 30 minutes.
    assert first.due_response_at - first.created_at != timedelta(minutes=30)
    sheets = {
        "targets": [
            ["kind", "urgent", "respond_minutes", "resolve_minutes"],
            ["repair", "no", 30, 600],
        ]
    }
    await import_estate(
        workbook(tmp_path / "targets.xlsx", sheets), desk.estate.code, cache=desk.services.cache
    )

    second = await _opened(desk, REPORTS[1], "u-b")  # the clock has not moved
    assert second.due_response_at - second.created_at == timedelta(minutes=30)
    assert second.due_resolve_at - second.created_at == timedelta(minutes=600)


async def test_an_imported_closed_day_is_seen_by_the_next_message(
    desk: Desk, tmp_path: Path
) -> None:
    # Monday 23 November 2026, 10:00 in Shanghai: repairs are counted on office time.
    sheets = {
        "targets": [
            ["kind", "urgent", "respond_minutes", "resolve_minutes", "office_time"],
            ["repair", "no", 15, 480, "yes"],
        ]
    }
    await import_estate(
        workbook(tmp_path / "one.xlsx", sheets), desk.estate.code, cache=desk.services.cache
    )
    first = await _opened(desk, REPORTS[0], "u-a")
    assert first.office_time
    assert first.due_response_at == first.created_at + timedelta(minutes=15)

    closed = {"closed_days": [["day", "reason"], [date(2026, 11, 23), "培训"]]}
    await import_estate(
        workbook(tmp_path / "two.xlsx", closed), desk.estate.code, cache=desk.services.cache
    )
    desk.channel.clear()
    second = await _opened(desk, REPORTS[1], "u-b")
    # Closed today: the 15 minutes run from Tuesday's opening, 08:30 (00:30 UTC).
    assert second.due_response_at.date() == date(2026, 11, 24)
    assert (second.due_response_at.hour, second.due_response_at.minute) == (0, 45)
    assert "非办公时间" in desk.channel.texts("owners")[0]


async def test_a_change_behind_guanjias_back_is_seen_within_the_ttl(desk: Desk) -> None:
    await _opened(desk, REPORTS[0], "u-a")
    # As another process would: straight into the store, this process's cache not told.
    await ServiceTarget.create(
        estate=desk.estate,
        kind=TicketKind.REPAIR,
        urgent=False,
        respond_minutes=45,
        resolve_minutes=300,
    )
    kept = await _opened(desk, REPORTS[1], "u-b")
    assert kept.due_response_at - kept.created_at != timedelta(minutes=45)

    desk.clock.advance(seconds=CACHE_TTL.total_seconds())
    seen = await _opened(desk, REPORTS[2], "u-c")
    assert seen.due_response_at - seen.created_at == timedelta(minutes=45)


async def test_a_staff_chat_registered_gets_the_next_card(desk: Desk) -> None:
    await desk.say(REPORTS[0], "u-a")  # the staff chats are read, and kept
    code = await register_code(desk.estate, ChatKind.STAFF, desk.clock.now())
    room = ChatRef(Platform.WEBCHAT, "new-staff-room", is_group=True)
    await desk.say(f"/register {code}", "u-boss", room)

    await desk.say(REPORTS[1], "u-b")
    number = (await Ticket.get(reporter_id="u-b")).number
    assert any(number in text for text in desk.channel.texts("new-staff-room"))


async def test_an_outage_announced_answers_the_next_report(desk: Desk) -> None:
    await desk.say("3号楼停水了，怎么回事", "u-a")  # no outage yet: a ticket
    assert await Ticket.filter(reporter_id="u-a").count() == 1
    await bind_staff("s-chen", desk.staff["chen"])
    # Monday 10:00 in Shanghai; sent at 10:05, the outage from 10:00 to 12:00 today.
    await desk.say("公告 2026-11-23 10:05 3号楼今天10点至12点停水", "s-chen", chat=STAFF)
    desk.channel.clear()

    await desk.say("3号楼停水了吗？", "u-b")
    assert await Ticket.filter(reporter_id="u-b").count() == 0
    [answer] = desk.channel.texts(OWNERS.chat_id)
    assert "停水" in answer and "12:00" in answer
