"""The duty roster through the router: `值班`, `换班`, and urgent tickets paging whoever is on
duty for their department, a change taking effect at once."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core import roster
from bot.core.types import Mention
from models import Department, DutyShift, OneTimeCode, Staff, StaffRole
from tests.desk import STAFF, Desk
from tests.factories import make_staff
from tests.staffdesk import bind_staff, report, staff_texts

SHANGHAI = ZoneInfo("Asia/Shanghai")
EMERGENCY = "救命！电梯困人了，5栋的电梯卡在8楼，里面有老人"


async def shift(
    desk: Desk, member: Staff, start: datetime, hours: int, department: Department
) -> DutyShift:
    return await DutyShift.create(
        estate=desk.estate,
        department=department,
        staff=member,
        starts_at=start,
        ends_at=start + timedelta(hours=hours),
    )


async def engineers(desk: Desk) -> tuple[Staff, Staff]:
    """刘师傅 on the engineering roster today from 08:00 to 20:00, 赵阿姨 on cleaning; 张工
    (engineering) is not rostered today."""
    liu = await make_staff(desk.estate, "刘师傅", StaffRole.ENGINEER, Department.ENGINEERING)
    zhao = await make_staff(desk.estate, "赵阿姨", StaffRole.CLEANER, Department.CLEANING)
    day = desk.clock.now().astimezone(SHANGHAI).date()
    eight = datetime(day.year, day.month, day.day, 8, tzinfo=SHANGHAI)
    await shift(desk, liu, eight, 12, Department.ENGINEERING)
    await shift(desk, zhao, eight, 12, Department.CLEANING)
    return liu, zhao


def urgent_cards(desk: Desk, number: str) -> list[str]:
    return [text for text in staff_texts(desk) if f"【{number}】" in text and "【紧急】" in text]


async def test_an_urgent_ticket_pages_the_departments_people_on_duty_by_user_id(
    desk: Desk,
) -> None:
    liu, _ = await engineers(desk)
    await bind_staff("u-liu", liu)

    await report(desk, EMERGENCY)

    [card] = [m for m in desk.channel.to(STAFF.chat_id) if "R-0001" in m.text]
    assert card.text.splitlines()[0] == "【紧急】请值班人员立即处理：@刘师傅"
    assert "张工" not in card.text and "赵阿姨" not in card.text and "陈主管" not in card.text
    assert card.mentions == (Mention("@刘师傅", "u-liu"),)


async def test_a_swap_in_the_staff_chat_takes_effect_at_once(desk: Desk) -> None:
    await engineers(desk)
    zhang = desk.staff["zhang"]
    await bind_staff("u-chen", desk.staff["chen"])
    await bind_staff("u-zhang", zhang)
    today = desk.clock.now().astimezone(SHANGHAI).date()

    await desk.say("值班 今天", "u-chen", STAFF)
    roster_text = staff_texts(desk)[-1]
    assert roster_text.splitlines() == [
        f"{today:%m-%d} 值班表：",
        "工程部 08:00–20:00 刘师傅",
        "保洁部 08:00–20:00 赵阿姨",
    ]

    # The supervisor gives 刘师傅's shift today to 张工: the next urgent ticket pages 张工.
    await desk.say(f"换班 刘师傅 张工 {today:%m-%d}", "u-chen", STAFF)
    assert staff_texts(desk)[-1] == (
        f"已换班：{today:%m-%d} 刘师傅 的 1 个班次改由 张工 值班，即时生效。"
    )
    assert [
        m.name for m in await roster.on_duty_at(desk.estate.id, "engineering", desk.clock.now())
    ] == ["张工"]
    await report(desk, EMERGENCY)
    [card] = [m for m in desk.channel.to(STAFF.chat_id) if "R-0001" in m.text and "紧急" in m.text]
    assert card.text.splitlines()[0] == "【紧急】请值班人员立即处理：@张工"
    assert card.mentions == (Mention("@张工", "u-zhang"),)

    # One of the two swaps it back himself (张工 has today's shift, 刘师傅 none now).
    await desk.say("换班 张工 刘师傅", "u-zhang", STAFF)
    assert "张工 的 1 个班次改由 刘师傅 值班" in staff_texts(desk)[-1]
    assert [
        m.name for m in await roster.on_duty_at(desk.estate.id, "engineering", desk.clock.now())
    ] == ["刘师傅"]


async def test_a_swap_by_someone_else_or_of_nothing_changes_nothing(desk: Desk) -> None:
    _, zhao = await engineers(desk)
    await bind_staff("u-zhao", zhao)
    await bind_staff("u-chen", desk.staff["chen"])
    before = sorted(await DutyShift.all().values_list("id", "staff_id"))

    await desk.say("换班 刘师傅 张工", "u-zhao", STAFF)  # a cleaner swapping two engineers
    assert staff_texts(desk)[-1] == "只有主管、项目经理或换班的本人可以换班。"
    await desk.say("换班 刘师傅 孙悟空", "u-chen", STAFF)
    assert staff_texts(desk)[-1] == "本小区没有叫“孙悟空”的员工。"
    await desk.say("换班 张工 刘师傅", "u-chen", STAFF)  # 张工 has no shift today
    assert staff_texts(desk)[-1].startswith("张工 ") and "没有班次可换" in staff_texts(desk)[-1]
    await desk.say("换班 刘师傅 刘师傅", "u-chen", STAFF)
    assert staff_texts(desk)[-1] == "换班需要两位不同的员工。"
    await desk.say("换班 刘师傅 张工 13-45", "u-chen", STAFF)
    assert staff_texts(desk)[-1].startswith("用法：换班")
    await desk.say("值班 后年", "u-chen", STAFF)
    assert staff_texts(desk)[-1].startswith("用法：值班")

    assert sorted(await DutyShift.all().values_list("id", "staff_id")) == before


async def test_a_day_without_shifts_says_who_is_paged_instead(desk: Desk) -> None:
    await bind_staff("u-chen", desk.staff["chen"])
    await desk.say("duty tomorrow", "u-chen", STAFF)
    tomorrow = desk.clock.now().astimezone(SHANGHAI).date() + timedelta(days=1)
    assert staff_texts(desk)[-1].startswith(f"{tomorrow:%m-%d} 没有排班。")


async def test_a_night_shift_covers_the_small_hours_and_ends_in_the_morning(desk: Desk) -> None:
    await engineers(desk)
    day = desk.clock.now().astimezone(SHANGHAI).date()
    night = await shift(
        desk,
        desk.staff["zhang"],
        datetime(day.year, day.month, day.day, 20, tzinfo=SHANGHAI),
        12,
        Department.ENGINEERING,
    )
    at_three = night.starts_at + timedelta(hours=7)
    on = await roster.on_duty_at(desk.estate.id, Department.ENGINEERING, at_three)
    assert [m.name for m in on] == ["张工"]
    after = night.ends_at + timedelta(minutes=1)
    # Nobody is rostered after 08:00 next day: the engineering staff marked on duty.
    paged = await roster.paged(desk.estate.id, Department.ENGINEERING, after)
    assert sorted(m.name for m in paged) == ["刘师傅", "张工"]
    # A department with nobody at all: the supervisors.
    paged = await roster.paged(desk.estate.id, Department.GREENING, after)
    assert [m.name for m in paged] == ["陈主管"]


def test_days_are_read_as_staff_write_them() -> None:
    today = datetime(2027, 1, 3).date()
    assert roster.parse_day("今天", today) == today
    assert roster.parse_day("明天", today) == datetime(2027, 1, 4).date()
    assert roster.parse_day("12-30", today) == datetime(2026, 12, 30).date()  # the nearest
    assert roster.parse_day("1月8日", today) == datetime(2027, 1, 8).date()
    assert roster.parse_day("2027-02-01", today) == datetime(2027, 2, 1).date()
    assert roster.parse_day("02-30", today) is None
    assert roster.parse_day("后年", today) is None


async def test_the_estate_manager_may_use_the_supervisors_commands(desk: Desk) -> None:
    manager = await make_staff(
        desk.estate, "孙经理", StaffRole.MANAGER, Department.CUSTOMER_SERVICE
    )
    await bind_staff("u-sun", manager)
    await bind_staff("u-zhang", desk.staff["zhang"])

    await desk.say("员工码 张工", "u-zhang", STAFF)
    assert staff_texts(desk)[-1] == "只有主管或项目经理可以这样操作，没有任何改动。"
    await desk.say("员工码 张工", "u-sun", STAFF)

    assert await OneTimeCode.filter(staff_id=desk.staff["zhang"].id).count() == 1
