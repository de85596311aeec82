"""November 2026 of one estate, built by hand through the ticket lifecycle for the report's tests.

Every time is written in Shanghai time (the estate's zone) and stored in UTC. The service standard
is the default one: on site 15 minutes (urgent 5), repairs done in 24 hours, complaints answered
and settled in 24 hours. The figures this month gives are worked out in tests/core/test_reports.py.

    ticket  opened        dept       what happens
    R-0001  10-31 23:30   eng        (October: outside the month)
    R-0002  11-01 00:10   eng        claimed 00:20, resolved 11-01 09:00, rated 5
    C-0001  11-02 10:00   cust.serv  claimed 11:00, resolved 16:00, rated 4
    R-0003  11-03 09:00   cleaning   claimed 09:30 (late), resolved 11:00, rated 2 → reopened,
                                     claimed 15:10, resolved 16:00, rated 4
    Q-0001  11-04 10:00   cust.serv  an enquiry, left open (workbook only)
    R-0004  11-05 08:00   eng urgent claimed 08:03, resolved 10:00, rated 3
    R-0005  11-10 14:00   eng        transferred to cleaning 14:05, claimed 14:12,
                                     resolved 11-12 10:00 (late), not rated yet
    C-0002  11-15 21:00   security   claimed 11-17 09:00 (late), resolved 10:00 (late), rated 3
    R-0006  11-20 09:00   eng        resolved without a claim 09:10, rated 1 → reopened, open
    C-0003  11-21 08:00   cleaning   nobody has touched it
    R-0007  11-22 20:00   eng        claimed 20:30 (late), not done yet
    R-0008  11-23 09:50   security   nobody has claimed it yet (not late at 10:00)

and one ticket of another estate on 11-05. The report is taken at 11-23 10:00 (AS_OF).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from models import (
    Department,
    Estate,
    Owner,
    Platform,
    Rating,
    Staff,
    StaffRole,
    Ticket,
    TicketKind,
    Unit,
)
from models.lifecycle import (
    claim_ticket,
    open_ticket,
    rate_ticket,
    resolve_ticket,
    staff_actor,
    transfer_ticket,
)
from tests.factories import make_estate, make_owner, make_staff, make_unit

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONTH = "2026-11"
# The `now` fixture's moment: Monday 2026-11-23 10:00 in Shanghai.
AS_OF = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
PHONES = ("13900000001", "13900000002", "13900000003")


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of 2026 written in Shanghai time, as the store keeps it (UTC)."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


@dataclass
class Month:
    """The tickets of the month by number, and the people in it."""

    estate: Estate
    tickets: dict[str, Ticket]
    owners: dict[str, Owner]
    staff: dict[str, Staff]


async def _unit(estate: Estate, building: str, entrance: str, room: str) -> Unit:
    found = await Unit.get_or_none(estate_id=estate.id, label=f"{building}-{entrance}-{room}")
    return found or await make_unit(estate, building, entrance, room)


async def _owner(estate: Estate, name: str, phone: str, *units: Unit) -> Owner:
    # The desk fixture has these owners already (with their own phone numbers).
    found = await Owner.get_or_none(estate_id=estate.id, name=name)
    return found or await make_owner(estate, name, *units, phone=phone)


async def _staff(estate: Estate, name: str, role: StaffRole, department: Department) -> Staff:
    found = await Staff.get_or_none(estate_id=estate.id, name=name)
    return found or await make_staff(estate, name, role, department)


async def build_month(estate: Estate) -> Month:
    """Open and work the month's tickets in `estate` (see the module's table)."""
    units = {
        "3-2-501": await _unit(estate, "3", "2", "501"),
        "3-1-501": await _unit(estate, "3", "1", "501"),
        "5-1-1202": await _unit(estate, "5", "1", "1202"),
        "7-1-302": await _unit(estate, "7", "1", "302"),
    }
    owners = {
        "li": await _owner(estate, "李华", PHONES[0], units["3-2-501"]),
        "wang": await _owner(estate, "王芳", PHONES[1], units["5-1-1202"], units["7-1-302"]),
        "smith": await _owner(estate, "John Smith", PHONES[2], units["3-1-501"]),
    }
    staff = {
        "zhang": await _staff(estate, "张工", StaffRole.ENGINEER, Department.ENGINEERING),
        "liu": await _staff(estate, "刘师傅", StaffRole.CLEANER, Department.CLEANING),
        "zhao": await _staff(estate, "赵保安", StaffRole.GUARD, Department.SECURITY),
        "sun": await _staff(estate, "孙客服", StaffRole.CLERK, Department.CUSTOMER_SERVICE),
        "chen": await _staff(estate, "陈主管", StaffRole.SUPERVISOR, Department.CUSTOMER_SERVICE),
    }
    ids = itertools.count(1)
    tickets: dict[str, Ticket] = {}

    async def report(
        kind: TicketKind,
        department: Department,
        text: str,
        when: datetime,
        owner: str | None,
        unit: str | None,
        urgent: bool = False,
    ) -> Ticket:
        person = owners[owner] if owner else None
        ticket = await open_ticket(
            estate=estate,
            kind=kind,
            department=department,
            text=text,
            platform=Platform.WEBCHAT,
            chat_id="owners",
            message_id=f"month-{next(ids)}",
            reporter_id=f"u-{owner or 'guest'}",
            reporter_name="3栋业主" if person is None else person.name,
            now=when,
            urgent=urgent,
            owner=person,
            unit=units[unit] if unit else None,
        )
        tickets[ticket.number] = ticket
        return ticket

    def rater(ticket: Ticket) -> str:
        return f"owner:{ticket.owner_id}" if ticket.owner_id else "webchat:u-guest"

    eng, cleaning = Department.ENGINEERING, Department.CLEANING
    repair, complaint = TicketKind.REPAIR, TicketKind.COMPLAINT

    await report(repair, eng, "5栋车库入口灯不亮", at(10, 31, 23, 30), "wang", "5-1-1202")

    r = await report(repair, eng, "厨房水管漏水", at(11, 1, 0, 10), "li", "3-2-501")
    await claim_ticket(r.id, staff["zhang"], at(11, 1, 0, 20))
    await resolve_ticket(r.id, staff["zhang"], "更换水管接头", at(11, 1, 9))
    await rate_ticket(r.id, Rating.VERY_SATISFIED, rater(r), at(11, 1, 12))

    c = await report(
        complaint,
        Department.CUSTOMER_SERVICE,
        "楼上装修噪音太大，晚上十点还在施工",
        at(11, 2, 10),
        "li",
        "3-2-501",
    )
    await claim_ticket(c.id, staff["sun"], at(11, 2, 11))
    await resolve_ticket(c.id, staff["sun"], "已联系楼上业主，约定施工时间", at(11, 2, 16))
    await rate_ticket(c.id, Rating.SATISFIED, rater(c), at(11, 2, 18))

    r = await report(repair, cleaning, "电梯厅地面油污", at(11, 3, 9), "wang", "5-1-1202")
    await claim_ticket(r.id, staff["liu"], at(11, 3, 9, 30))
    await resolve_ticket(r.id, staff["liu"], "已清洁", at(11, 3, 11))
    await rate_ticket(r.id, Rating.DISSATISFIED, rater(r), at(11, 3, 15))
    await claim_ticket(r.id, staff["liu"], at(11, 3, 15, 10))
    await resolve_ticket(r.id, staff["liu"], "重新清洗并打蜡", at(11, 3, 16))
    await rate_ticket(r.id, Rating.SATISFIED, rater(r), at(11, 3, 18))

    await report(
        TicketKind.ENQUIRY,
        Department.CUSTOMER_SERVICE,
        "=1+1 物业费怎么算",
        at(11, 4, 10),
        "wang",
        None,
    )

    r = await report(repair, eng, "电梯困人", at(11, 5, 8), "wang", "7-1-302", urgent=True)
    await claim_ticket(r.id, staff["zhang"], at(11, 5, 8, 3))
    await resolve_ticket(r.id, staff["zhang"], "已救出，电梯恢复运行", at(11, 5, 10))
    await rate_ticket(r.id, Rating.NEUTRAL, rater(r), at(11, 5, 12))

    r = await report(repair, eng, "Bathroom drain blocked", at(11, 10, 14), "smith", "3-1-501")
    await transfer_ticket(r.id, cleaning, staff_actor(staff["chen"]), at(11, 10, 14, 5))
    await claim_ticket(r.id, staff["liu"], at(11, 10, 14, 12))
    await resolve_ticket(r.id, staff["liu"], "疏通下水道", at(11, 12, 10))

    c = await report(
        complaint,
        Department.SECURITY,
        "The guard at the north gate was rude to my wife",
        at(11, 15, 21),
        "smith",
        "3-1-501",
    )
    await claim_ticket(c.id, staff["zhao"], at(11, 17, 9))
    await resolve_ticket(c.id, staff["zhao"], "已约谈当班保安并致歉", at(11, 17, 10))
    await rate_ticket(c.id, Rating.NEUTRAL, rater(c), at(11, 17, 12))

    r = await report(repair, eng, "3栋大堂灯不亮", at(11, 20, 9), None, None)
    await resolve_ticket(r.id, staff["zhang"], "更换灯管", at(11, 20, 9, 10))
    await rate_ticket(r.id, Rating.VERY_DISSATISFIED, rater(r), at(11, 20, 12))

    await report(
        complaint, cleaning, "垃圾两天没清运，味道很大", at(11, 21, 8), "wang", "5-1-1202"
    )

    r = await report(repair, eng, "卫生间天花板渗水", at(11, 22, 20), "li", "3-2-501")
    await claim_ticket(r.id, staff["zhang"], at(11, 22, 20, 30))

    await report(repair, Department.SECURITY, "门禁卡刷不开", at(11, 23, 9, 50), "li", "3-2-501")

    other = await make_estate("other")
    await open_ticket(
        estate=other,
        kind=repair,
        department=eng,
        text="别的小区的报修",
        platform=Platform.WEBCHAT,
        chat_id="other-owners",
        message_id="other-1",
        reporter_id="u-other",
        now=at(11, 5, 9),
    )
    for number, ticket in tickets.items():
        tickets[number] = await Ticket.get(id=ticket.id)
    return Month(estate, tickets, owners, staff)
