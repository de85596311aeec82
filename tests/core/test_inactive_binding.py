"""A unit's code binds its owner on the register, not one an update marked inactive."""

from __future__ import annotations

from datetime import datetime

from bot.core.codes import bind_with_code, issue_code
from models import ChatIdentity, CodePurpose, Owner, Platform
from tests.factories import make_estate, make_unit


async def test_a_unit_code_binds_the_active_owner_not_the_one_who_left(
    store: str, now: datetime
) -> None:
    estate = await make_estate()
    unit = await make_unit(estate, "12", None, "1801")
    left = await Owner.create(estate=estate, name="赵六", active=False)
    new = await Owner.create(estate=estate, name="孙八")
    for owner in (left, new):
        await owner.units.add(unit)
    code = await issue_code(estate, CodePurpose.BIND_UNIT, created_by="test", now=now, unit=unit)
    identity = await ChatIdentity.create(platform=Platform.WEBCHAT, user_id="u1")

    bound = await bind_with_code(code, identity)

    assert bound.id == new.id
    assert await Owner.filter(estate=estate).count() == 2
