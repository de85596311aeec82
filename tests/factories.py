"""Small builders for store rows that many tests need."""

from __future__ import annotations

from datetime import datetime

from models import (
    Building,
    Department,
    Entrance,
    Estate,
    Owner,
    Platform,
    Staff,
    StaffRole,
    Ticket,
    TicketKind,
    Unit,
    unit_label,
)
from models.lifecycle import open_ticket


async def make_estate(code: str = "demo") -> Estate:
    """An estate with the default service standard."""
    return await Estate.create(code=code, name=f"Estate {code}")


async def make_unit(estate: Estate, building: str, entrance: str | None, room: str) -> Unit:
    """A unit, creating its building and entrance when needed."""
    block, _ = await Building.get_or_create(estate_id=estate.id, name=building)
    door = None
    if entrance is not None:
        door, _ = await Entrance.get_or_create(building_id=block.id, name=entrance)
    return await Unit.create(
        estate_id=estate.id,
        building_id=block.id,
        entrance_id=door.id if door else None,
        room=room,
        label=unit_label(building, entrance, room),
    )


async def make_owner(estate: Estate, name: str, *units: Unit, phone: str = "") -> Owner:
    """An owner of the given units."""
    owner = await Owner.create(estate_id=estate.id, name=name, phone=phone)
    if units:
        await owner.units.add(*units)
    return owner


async def make_staff(
    estate: Estate,
    name: str,
    role: StaffRole = StaffRole.ENGINEER,
    department: Department = Department.ENGINEERING,
) -> Staff:
    """A staff member."""
    return await Staff.create(estate_id=estate.id, name=name, role=role, department=department)


async def make_ticket(
    estate: Estate,
    now: datetime,
    kind: TicketKind = TicketKind.REPAIR,
    department: Department = Department.ENGINEERING,
    urgent: bool = False,
    message_id: str = "m1",
) -> Ticket:
    """A ticket opened from the web chat's owner group."""
    return await open_ticket(
        estate=estate,
        kind=kind,
        department=department,
        urgent=urgent,
        text="厨房水管漏水了",
        platform=Platform.WEBCHAT,
        chat_id="owners",
        message_id=message_id,
        reporter_id="u1",
        now=now,
    )
