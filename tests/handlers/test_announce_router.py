"""`公告 …` typed in the staff chat goes through the real router and staff desk to the
announcement handler."""

from __future__ import annotations

from datetime import UTC, datetime

from models import Announcement
from tests.desk import STAFF, Desk
from tests.staffdesk import bind_staff


async def test_a_staff_member_schedules_an_announcement_from_the_staff_chat(desk: Desk) -> None:
    await bind_staff("s-chen", desk.staff["chen"])
    await desk.say("公告 2026-12-03 09:00 3号楼明天9点至12点停水", sender="s-chen", chat=STAFF)
    announcement = await Announcement.get()
    assert announcement.send_at == datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    assert announcement.text == "3号楼明天9点至12点停水" and announcement.chat_id is None
    [answer] = desk.channel.texts("staff")
    assert answer.startswith(
        f"公告 #{announcement.id} 已安排：2026-12-03 09:00 发到全部 1 个业主群。"
    )
    # An owner cannot: in the owner group it is not a command, and nothing is scheduled.
    await desk.say("公告 2026-12-04 09:00 明天停电", sender="u-li", addressed=True)
    assert await Announcement.all().count() == 1
