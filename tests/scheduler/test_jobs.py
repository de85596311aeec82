"""Each job called with an injected clock across a year: who hears what, in which language, how
often, and never anything private in a group."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from bot.core.i18n import Catalogues
from bot.core.notifier import Notifier
from models import (
    Announcement,
    Bill,
    Chat,
    ChatIdentity,
    Delivery,
    DeliveryStatus,
    Escalation,
    EstateGreeting,
    Platform,
    Rating,
    Ticket,
    TicketReporter,
    TicketStatus,
)
from models.lifecycle import rate_ticket, resolve_ticket
from scheduler import jobs
from tests.factories import make_owner, make_staff, make_ticket, make_unit
from tests.notice_fakes import ProcessKilled
from tests.scheduler.conftest import GROUPS, SHANGHAI, STAFF_CHAT, Estate4Jobs, at, days

MONEY = "¥356.80"


def private_ids(e: Estate4Jobs) -> set[str]:
    return {m.chat.chat_id for m in e.privately()}


def assert_no_private_in_groups(e: Estate4Jobs) -> None:
    """Nothing went to a group as if private, and groups got no money or unit of an owner."""
    for message in e.channel.sent:
        if message.chat.chat_id in (*GROUPS, STAFF_CHAT):
            assert message.chat.is_group
        else:
            assert not message.chat.is_group
        if message.chat.chat_id in GROUPS:
            assert "¥" not in message.text and "1-1-101" not in message.text


async def test_bills_each_month_to_each_bound_owner_in_their_language(
    jobs_estate: Estate4Jobs,
) -> None:
    e = jobs_estate
    for month in range(1, 13):
        period = f"2026-{month:02d}"
        for label in ("1-1-101", "1-1-102", "2-1-201", "2-1-202"):
            await e.bill(label, period)
    # Wang paid March before the bills went out: no March notice for Wang.
    await _pay("2-1-201", "2026-03", e)
    for month in range(1, 13):
        moment = at(date(2026, month, 1))
        e.time.set(moment)
        await jobs.push_bills(moment, e.services, e.notifier)
        await jobs.push_bills(moment, e.services, e.notifier)  # run twice: nothing twice
    received = Counter(m.chat.chat_id for m in e.channel.sent)
    assert received == {"u-li": 12, "u-smith": 12, "u-wang": 11}  # 赵强 is not bound
    li = [m.text for m in e.to("u-li")]
    assert "【阳光花园】您的房屋 1-1-101 2026-01 账单" in li[0]
    assert f"物业费 {MONEY}，2026-01-15 前缴" in li[0] and "阳光花园物业”小程序缴费" in li[0]
    smith = e.to("u-smith")[11].text
    assert smith.startswith("阳光花园: your bill for 1-1-102, 2026-12")
    assert "property fee CN¥356.80, due 2026-12-15" in smith and "mini-program" in smith
    assert not any("2026-03" in m.text for m in e.to("u-wang"))
    assert_no_private_in_groups(e)
    assert await Delivery.filter(kind="bill", status=DeliveryStatus.SENT).count() == 35


async def _pay(label: str, period: str, e: Estate4Jobs) -> None:
    await Bill.filter(unit_id=e.units[label].id, period=period).update(paid_at=e.time.now())


async def test_arrears_every_fourteen_days_until_paid_and_a_monthly_staff_list(
    jobs_estate: Estate4Jobs,
) -> None:
    e = jobs_estate
    li_bill = await e.bill("1-1-101", "2026-01")  # due Jan 15, paid May 1
    await e.bill("1-1-102", "2026-06")  # due Jun 15, never paid
    await e.bill("2-1-201", "2026-11", paid=None)  # due Nov 15: overdue only from Dec 16
    for day in days(2026):
        moment = at(day, 9, 5)
        e.time.set(moment)
        if day == date(2026, 5, 1):
            li_bill.paid_at = at(day, 8)
            await li_bill.save()
        await jobs.remind_arrears(moment, e.services, e.notifier)
        if day.day == 10:
            await jobs.remind_arrears(moment, e.services, e.notifier)  # a second run that day

    def sent_on(user: str) -> list[date]:
        return [
            t.astimezone(SHANGHAI).date()
            for m, t in zip(e.channel.sent, e.channel.times, strict=True)
            if m.chat.chat_id == user
        ]

    # More than 30 days overdue from Feb 15; every 14 days; paid May 1.
    assert sent_on("u-li") == [
        date(2026, 2, 15),
        date(2026, 3, 1),
        date(2026, 3, 15),
        date(2026, 3, 29),
        date(2026, 4, 12),
        date(2026, 4, 26),
    ]
    first = date(2026, 7, 16)
    assert sent_on("u-smith") == [first + timedelta(days=14 * n) for n in range(13)]
    assert sent_on("u-wang") == [date(2026, 12, 16), date(2026, 12, 30)]
    li = e.to("u-li")[0].text
    assert "【阳光花园】温馨提醒：您的房屋 1-1-101 有逾期未缴的费用" in li
    assert f"2026-01 物业费 {MONEY}（应于 2026-01-15 前缴，已逾期 31 天）" in li
    smith = e.to("u-smith")[0].text
    assert "a reminder that 1-1-102 has overdue bills" in smith and "31 days overdue" in smith
    # The staff chat: the month's list, once a month while anything is in arrears.
    lists = [m.text for m in e.to(STAFF_CHAT)]
    months = [text.split(" ")[0] for text in lists]
    assert months == ["2026-02", "2026-03", "2026-04"] + [f"2026-{m:02d}" for m in range(7, 13)]
    assert "1-1-101：¥356.80，1 笔，最早应于 2026-01-15 前缴（逾期 31 天）" in lists[0]
    # The list is the month's as its first run sees it: Wang's arrears (from Dec 16) are not in
    # December's.
    assert "共 1 户" in lists[-1] and "1-1-102" in lists[-1] and "2-1-201" not in lists[-1]
    assert not any(m.chat.chat_id in GROUPS for m in e.channel.sent)
    assert_no_private_in_groups(e)


async def test_arrears_cadence_follows_the_last_reminder_when_runs_are_missed(
    jobs_estate: Estate4Jobs,
) -> None:
    e = jobs_estate
    await e.bill("1-1-101", "2026-01")
    # The scheduler was down from Feb 10 to Feb 20, and on Mar 6.
    for day in (date(2026, 2, 9), date(2026, 2, 21), date(2026, 3, 6), date(2026, 3, 7)):
        moment = at(day, 9, 5)
        e.time.set(moment)
        await jobs.remind_arrears(moment, e.services, e.notifier)
    assert [m.chat.chat_id for m in e.privately()] == ["u-li", "u-li"]
    keys = await Delivery.filter(kind="arrears").order_by("id").values_list("dedup_key", flat=True)
    assert [key.rsplit(":", 1)[1] for key in keys] == ["2026-02-21", "2026-03-07"]


async def test_festival_greetings_in_every_owner_group_over_a_year(
    jobs_estate: Estate4Jobs,
) -> None:
    e = jobs_estate
    await EstateGreeting.create(
        estate=e.estate, month=6, day=18, text_zh="阳光花园交付十周年，感谢各位业主！", text_en="x"
    )
    greeted: dict[date, list[str]] = {}
    for day in days(2026):
        moment = at(day)
        e.time.set(moment)
        before = len(e.channel.sent)
        await jobs.send_greetings(moment, e.services, e.notifier)
        await jobs.send_greetings(at(day, 15), e.services, e.notifier)  # again that afternoon
        if len(e.channel.sent) > before:
            greeted[day] = [m.chat.chat_id for m in e.channel.sent[before:]]
    assert sorted(greeted) == [
        date(2026, 1, 1),
        date(2026, 2, 17),
        date(2026, 3, 3),
        date(2026, 5, 1),
        date(2026, 6, 18),
        date(2026, 6, 19),
        date(2026, 9, 25),
        date(2026, 10, 1),
    ]
    assert all(sorted(chats) == sorted(GROUPS) for chats in greeted.values())
    texts = [m.text for m in e.to("owners")]
    assert texts[1].startswith("【阳光花园】新春快乐！") and "中秋快乐" in texts[6]
    assert texts[4] == "阳光花园交付十周年，感谢各位业主！"
    assert e.privately() == [] and e.to(STAFF_CHAT) == []


async def test_greetings_in_the_default_language(jobs_estate: Estate4Jobs) -> None:
    e = jobs_estate
    e.services.catalogues = Catalogues(default="en")
    moment = at(date(2027, 9, 15))
    e.time.set(moment)
    assert await jobs.send_greetings(moment, e.services, e.notifier) == 2
    assert e.to("owners")[0].text == (
        "阳光花园: Happy Mid-Autumn Festival! May the full moon bring your family together."
    )


async def test_warranty_expiry_thirty_days_ahead_privately_and_a_staff_list(
    jobs_estate: Estate4Jobs,
) -> None:
    e = jobs_estate
    for label, end in (
        ("1-1-101", date(2026, 8, 20)),
        ("1-1-102", date(2026, 8, 20)),
        ("2-1-202", date(2026, 8, 20)),  # its owner is not bound: staff still hear of it
        ("2-1-201", date(2027, 3, 1)),
    ):
        e.units[label].warranty_end = end
        await e.units[label].save()
    for day in days(2026):
        moment = at(day, 9, 10)
        e.time.set(moment)
        await jobs.warn_warranty_expiry(moment, e.services, e.notifier)
    sent = [
        (m.chat.chat_id, t.astimezone(SHANGHAI).date())
        for m, t in zip(e.channel.sent, e.channel.times, strict=True)
    ]
    # Each chat once, all on the day (the Notifier promises no order across chats).
    assert sorted(sent) == sorted(
        [
            ("u-li", date(2026, 7, 21)),
            ("u-smith", date(2026, 7, 21)),
            (STAFF_CHAT, date(2026, 7, 21)),
        ]
    )
    [li], [smith], [staff] = (
        [m.text for m in e.channel.sent if m.chat.chat_id == chat]
        for chat in ("u-li", "u-smith", STAFF_CHAT)
    )
    assert "您的房屋 1-1-101 的保修期将于 2026-08-20 到期（还有 30 天）" in li
    assert "卫生间渗水" in li and "防水渗漏" in li
    assert "the warranty of your unit 1-1-102 ends on 2026-08-20" in smith
    assert staff.startswith("以下 3 户的保修期将于 2026-08-20 到期")
    assert staff.endswith("1-1-101\n1-1-102\n2-1-202")
    assert_no_private_in_groups(e)


async def test_warranty_notice_catches_up_after_missed_days(jobs_estate: Estate4Jobs) -> None:
    e = jobs_estate
    e.units["1-1-101"].warranty_end = date(2026, 8, 20)
    await e.units["1-1-101"].save()
    moment = at(date(2026, 8, 5), 9, 10)  # first run 15 days before the end
    e.time.set(moment)
    assert await jobs.warn_warranty_expiry(moment, e.services, e.notifier) == 2
    assert "还有 15 天" in e.to("u-li")[0].text
    assert await jobs.warn_warranty_expiry(moment, e.services, e.notifier) == 0


async def test_announcements_go_once_to_their_groups_at_their_time(
    jobs_estate: Estate4Jobs,
) -> None:
    e = jobs_estate
    nine = at(date(2026, 12, 3), 9)
    second_group = await Chat.get(chat_id="owners-2")
    everyone = await Announcement.create(
        estate=e.estate,
        text="3号楼明天9点至12点停水",
        send_at=nine,
        created_by="staff:1",
        created_at=nine - timedelta(days=1),
    )
    await Announcement.create(
        estate=e.estate,
        text="2号楼电梯保养",
        send_at=nine,
        chat=second_group,
        created_by="staff:1",
        created_at=nine - timedelta(days=1),
    )
    await Announcement.create(
        estate=e.estate,
        text="取消了",
        send_at=nine,
        created_by="staff:1",
        created_at=nine - timedelta(days=1),
        cancelled_at=nine - timedelta(hours=1),
    )
    await Announcement.create(
        estate=e.estate,
        text="太旧了",
        send_at=nine - timedelta(hours=7),
        created_by="staff:1",
        created_at=nine - timedelta(days=1),
    )
    for minute in range(-2, 4):
        moment = nine + timedelta(minutes=minute)
        e.time.set(moment)
        await jobs.send_announcements(moment, e.services, e.notifier)
    assert [m.text for m in e.to("owners")] == ["【阳光花园公告】\n3号楼明天9点至12点停水"]
    assert sorted(m.text for m in e.to("owners-2")) == [
        "【阳光花园公告】\n2号楼电梯保养",
        "【阳光花园公告】\n3号楼明天9点至12点停水",
    ]
    assert all(t >= nine for t in e.channel.times)
    assert e.privately() == [] and e.to(STAFF_CHAT) == []
    assert await Delivery.filter(dedup_key__startswith=f"announcement:{everyone.id}:").count() == 2


async def test_a_bill_broadcast_killed_half_way_serves_everyone_once(
    jobs_estate: Estate4Jobs,
) -> None:
    e = jobs_estate
    users = []
    for n in range(30):
        unit = await make_unit(e.estate, "9", "1", f"{100 + n}")
        owner = await make_owner(e.estate, f"业主{n}", unit)
        await ChatIdentity.create(platform=Platform.WEBCHAT, user_id=f"o{n}", owner_id=owner.id)
        users.append(f"o{n}")
        e.units[unit.label] = unit
        await e.bill(unit.label, "2026-12")
    moment = at(date(2026, 12, 1))
    e.time.set(moment)
    e.channel.kill_after = 12
    dying = Notifier(hub=e.notifier.hub, clock=e.time, sleep=e.time.sleep, concurrency=1)
    with pytest.raises(BaseExceptionGroup) as killed:
        await jobs.push_bills(moment, e.services, dying)
    assert killed.group_contains(ProcessKilled)
    assert len(e.channel.sent) == 12
    e.channel.kill_after = None
    # The process comes back and the scheduler runs the job again (catch-up), then later the
    # every-minute deliveries job sends what the dead process had claimed.
    e.time.advance(minutes=2)
    await jobs.push_bills(e.time.now(), e.services, e.notifier)
    e.time.advance(minutes=6)
    await jobs.deliver_due(e.time.now(), e.services, e.notifier)
    assert Counter(m.chat.chat_id for m in e.privately()) == {user: 1 for user in users}
    assert await Delivery.filter(kind="bill", status=DeliveryStatus.SENT).count() == 30


async def test_the_staff_desk_jobs_run_through_the_scheduler(jobs_estate: Estate4Jobs) -> None:
    e = jobs_estate
    opened = at(date(2026, 11, 23), 10)
    ticket = await make_ticket(e.estate, opened)
    e.services.hub = e.notifier.hub
    later = opened + timedelta(hours=2)  # 15 minutes to be on site: long missed
    assert await jobs.escalate(later, e.services, e.notifier) >= 1
    assert await jobs.escalate(later, e.services, e.notifier) == 0  # raised once
    assert await Escalation.filter(ticket_id=ticket.id).exists()
    assert await jobs.close_unrated(later, e.services, e.notifier) == 0


async def test_owners_are_reminded_once_to_rate_a_day_after_and_unrated_tickets_close_later(
    jobs_estate: Estate4Jobs,
) -> None:
    e = jobs_estate
    e.services.hub = e.notifier.hub
    opened = at(date(2026, 11, 20), 8)
    leak = await make_ticket(e.estate, opened)  # reported by u1 in the owner group
    # Li reported the same leak privately, in English.
    await TicketReporter.create(
        ticket_id=leak.id,
        platform=Platform.WEBCHAT,
        chat_id="u-li",
        user_id="u-li",
        message_id="p1",
        language="en",
        at=opened,
    )
    rated = await make_ticket(e.estate, opened, message_id="m2")
    fixer = await make_staff(e.estate, "张师傅")
    resolved = at(date(2026, 11, 20), 10, 30)
    await resolve_ticket(leak.id, fixer, "换了水管", resolved)
    await resolve_ticket(rated.id, fixer, "疏通了", resolved)
    await rate_ticket(rated.id, Rating.SATISFIED, "u1", resolved + timedelta(hours=2))

    reminders: dict[date, list[str]] = {}
    for day in (21, 22, 22, 23, 24):  # the 22nd twice: nothing twice
        moment = at(date(2026, 11, day), 10)
        e.time.set(moment)
        before = len(e.channel.sent)
        await jobs.revisit(moment, e.services, e.notifier)
        new = [m for m in e.channel.sent[before:] if m.chat.chat_id != STAFF_CHAT]
        # The Notifier promises no order across chats: sorted.
        reminders.setdefault(date(2026, 11, day), []).extend(sorted(m.chat.chat_id for m in new))

    # A day after it was dealt with (not 23.5 hours), once per reporter, where each reported.
    assert reminders == {
        date(2026, 11, 21): [],
        date(2026, 11, 22): ["owners", "u-li"],
        date(2026, 11, 23): [],
        date(2026, 11, 24): [],
    }
    group = e.to("owners")[0]
    assert group.chat.is_group and f"您的工单 {leak.number} 已处理完毕" in group.text
    assert "评价" in group.text and "3 天" in group.text
    assert [row[0].payload for row in group.buttons] == [
        f"rate:{leak.id}:{r}" for r in range(5, 0, -1)
    ]
    private = e.to("u-li")[0]
    assert not private.chat.is_group and f"Your ticket {leak.number}" in private.text
    assert private.buttons and all(
        row[0].payload.startswith(f"rate:{leak.id}:") for row in private.buttons
    )
    assert not any(
        str(rated.number) in m.text for m in e.channel.sent if m.chat.chat_id != STAFF_CHAT
    )
    # Unrated for 3 days: closed on the 24th's run (95.5 hours), not on the 23rd's (71.5).
    leak = await Ticket.get(id=leak.id)
    assert leak.status is TicketStatus.CLOSED and leak.closed_at == at(date(2026, 11, 24), 10)
    assert await Delivery.filter(kind="rating", status=DeliveryStatus.SENT).count() == 2
