"""An owner an updated register marks inactive (moved out) still has their chat account and
their tickets, but the bot no longer acts for them as an owner of the units they left: no bills
of those units, no repair placed in them, and a new approval makes a new owner."""

from __future__ import annotations

from bot.core.demo import demo_people, demo_person
from models import BindingRequest, ChatIdentity, Owner, Platform, Ticket
from tests.desk import STAFF, Desk, bind
from tests.staffdesk import bind_staff


async def moved_out(owner: Owner) -> None:
    await Owner.filter(id=owner.id).update(active=False)


async def test_an_owner_who_moved_out_is_shown_no_bills_of_the_units_they_left(
    desk: Desk,
) -> None:
    await bind("u-wang", desk.owners["wang"])
    await moved_out(desk.owners["wang"])

    await desk.say("我的物业费欠多少", "u-wang", desk.private("u-wang"))

    [reply] = desk.channel.texts(desk.private("u-wang").chat_id)
    assert reply == (
        "物业的业主档案中已没有您名下的房屋，无法查询账单。"
        "如您仍住在本小区，请联系物业前台更新档案或重新绑定。"
    )
    assert "5-1-1202" not in reply and "¥" not in reply


async def test_a_repair_from_an_owner_who_moved_out_is_not_placed_in_their_old_home(
    desk: Desk,
) -> None:
    await bind("u-li", desk.owners["li"])
    await moved_out(desk.owners["li"])

    await desk.say("卫生间地漏堵了，水下不去", "u-li", desk.private("u-li"))

    old_home = desk.units["3-2-501"].id
    assert not await Ticket.filter(unit_id=old_home).exists()
    assert not await Ticket.filter(reporter_unit_id=old_home).exists()


async def test_an_approved_request_from_an_owner_who_moved_out_makes_a_new_owner(
    desk: Desk,
) -> None:
    # 王芳 moved out of her two units and bought 3-1-501; her account asks to be bound to it.
    wang = desk.owners["wang"]
    await bind("u-wang", wang)
    await moved_out(wang)
    await bind_staff("u-zhang", desk.staff["zhang"])
    await desk.say("申请绑定 3-1-501 王芳", "u-wang", desk.private("u-wang"))
    request = await BindingRequest.get(user_id="u-wang")

    await desk.say(f"approve {request.id}", "u-zhang", STAFF)

    identity = await ChatIdentity.get(platform=Platform.WEBCHAT, user_id="u-wang")
    owner = await Owner.get(id=identity.owner_id)
    assert owner.id != wang.id and owner.name == "王芳" and owner.active
    assert [unit.label for unit in await owner.units.all()] == ["3-1-501"]
    # The record of her old homes stays as it was: inactive, with their history.
    old = await Owner.get(id=wang.id)
    assert not old.active
    assert sorted(unit.label for unit in await old.units.all()) == ["5-1-1202", "7-1-302"]


async def test_the_web_chat_demo_lets_nobody_speak_as_an_owner_who_moved_out(
    desk: Desk,
) -> None:
    wang = desk.owners["wang"]
    await moved_out(wang)

    [people] = await demo_people()

    assert [owner.name for owner in people.owners] == ["John Smith", "李华"]
    assert people.total == 2
    assert await demo_person("owner", wang.id) is None
    assert await demo_person("owner", desk.owners["li"].id) is not None
