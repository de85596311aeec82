"""One-time codes: their shape, working once, expiring, and the lockout of whoever guesses."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from bot.core.codes import (
    ALPHABET,
    ChatTaken,
    RedeemStatus,
    issue_code,
    locked_until,
    looks_like_code,
    new_code,
    normalise,
    redeem_code,
    register_chat,
)
from models import Chat, ChatKind, CodeAttempt, CodePurpose, Estate, OneTimeCode, Platform
from tests.factories import make_estate, make_unit

BIND = (CodePurpose.BIND_UNIT, CodePurpose.BIND_STAFF)


async def redeem(typed: str, now: datetime, user: str = "u1", purposes=BIND):
    return await redeem_code(typed, purposes, platform=Platform.WEBCHAT, user_id=user, now=now)


async def unit_code(estate: Estate, now: datetime) -> OneTimeCode:
    unit = await make_unit(estate, "3", "2", "501")
    return await issue_code(estate, CodePurpose.BIND_UNIT, created_by="test", now=now, unit=unit)


def test_codes_are_unambiguous_and_always_hold_a_digit() -> None:
    for _ in range(300):
        code = new_code()
        assert len(code) == 8 and set(code) <= set(ALPHABET)
        assert any(ch.isdigit() for ch in code)
        assert not set(code) & set("01ILO")
    assert normalise(" abcd-2345 ") == "ABCD2345"
    assert normalise("abcd 2345") == "ABCD2345"
    assert normalise("abc") is None and normalise("ABCD23450") is None
    assert looks_like_code("k7m2p9qx")
    # An ordinary eight-letter word is never taken for a code.
    assert not looks_like_code("strength")
    assert not looks_like_code("hello there")


async def test_a_code_works_once_and_for_its_purpose(store: str, now: datetime) -> None:
    estate = await make_estate()
    code = await unit_code(estate, now)
    assert code.expires_at == now + timedelta(hours=24)

    wrong_purpose = await redeem(code.code, now, purposes=(CodePurpose.REGISTER_CHAT,))
    assert wrong_purpose.status is RedeemStatus.WRONG
    good = await redeem(code.code.lower(), now)
    assert good.ok and good.code is not None and good.code.id == code.id
    assert good.code.used_at == now and good.code.used_by == "webchat:u1"
    again = await redeem(code.code, now, user="u2")
    assert again.status is RedeemStatus.USED


async def test_two_accounts_using_one_code_at_once_one_wins(store: str, now: datetime) -> None:
    estate = await make_estate()
    code = await unit_code(estate, now)

    results = await asyncio.gather(redeem(code.code, now, "u1"), redeem(code.code, now, "u2"))

    assert sorted(r.status for r in results) == [RedeemStatus.OK, RedeemStatus.USED]


async def test_a_code_expires_after_24_hours(store: str, now: datetime) -> None:
    estate = await make_estate()
    code = await unit_code(estate, now)

    late = await redeem(code.code, now + timedelta(hours=24))
    assert late.status is RedeemStatus.EXPIRED
    assert (await OneTimeCode.get(id=code.id)).used_at is None


async def test_five_wrong_codes_in_an_hour_lock_out_for_an_hour(store: str, now: datetime) -> None:
    estate = await make_estate()
    code = await unit_code(estate, now)
    moments = [now + timedelta(minutes=m) for m in (0, 10, 20, 30, 50)]

    for index, moment in enumerate(moments):
        refused = await redeem("ZZZZ2222", moment)
        assert refused.status is RedeemStatus.WRONG
        # The fifth wrong code starts the lockout, and says so.
        assert (refused.locked_until is not None) == (index == 4)
    fifth = moments[-1]
    assert await locked_until(Platform.WEBCHAT, "u1", fifth) == fifth + timedelta(hours=1)

    # Locked: even the right code is not looked at, and no attempt is recorded.
    locked = await redeem(code.code, fifth + timedelta(minutes=59))
    assert locked.status is RedeemStatus.LOCKED
    assert locked.locked_until == fifth + timedelta(hours=1)
    assert await CodeAttempt.all().count() == 5
    # Another account is not locked out.
    assert await locked_until(Platform.WEBCHAT, "u2", fifth) is None

    unlocked = await redeem(code.code, fifth + timedelta(hours=1))
    assert unlocked.ok


async def test_wrong_codes_spread_over_more_than_an_hour_do_not_lock(
    store: str, now: datetime
) -> None:
    await make_estate()
    for minutes in (0, 20, 40, 60, 80):
        result = await redeem("ZZZZ2222", now + timedelta(minutes=minutes))
        assert result.status is RedeemStatus.WRONG and result.locked_until is None


async def test_register_chat_applies_a_registration_code(store: str, now: datetime) -> None:
    estate = await make_estate()
    other = await make_estate("other")
    staff_code = await issue_code(
        estate, CodePurpose.REGISTER_CHAT, created_by="cli", now=now, chat_kind=ChatKind.STAFF
    )
    chat = await register_chat(staff_code, Platform.TELEGRAM, "-100", "Staff")
    assert (chat.kind, chat.estate_id, chat.title) == (ChatKind.STAFF, estate.id, "Staff")

    elsewhere = await issue_code(
        other, CodePurpose.REGISTER_CHAT, created_by="cli", now=now, chat_kind=ChatKind.OWNERS
    )
    with pytest.raises(ChatTaken):
        await register_chat(elsewhere, Platform.TELEGRAM, "-100", "")
    assert (await Chat.get(chat_id="-100")).estate_id == estate.id

    with pytest.raises(ValueError, match="owners or staff"):
        await issue_code(estate, CodePurpose.REGISTER_CHAT, created_by="cli", now=now)
