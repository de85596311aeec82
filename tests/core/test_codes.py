"""One-time codes: their shape, working once, expiring, and the lockout of whoever guesses."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta

import pytest
from tortoise.connection import get_connection
from tortoise.transactions import in_transaction

from bot.core.codes import (
    ACCOUNT_GUESSES,
    ALPHABET,
    DEPLOYMENT_KEY,
    ESTATE_GUESSES,
    LOCKOUT_TIME,
    ChatTaken,
    RedeemStatus,
    Redemption,
    account_key,
    estate_key,
    estate_locked_until,
    issue_code,
    locked_until,
    looks_like_code,
    new_code,
    normalise,
    redeem_code,
    register_chat,
)
from models import Chat, ChatKind, CodePurpose, Estate, GuessBudget, OneTimeCode, Platform
from tests.factories import make_estate, make_unit

BIND = (CodePurpose.BIND_UNIT, CodePurpose.BIND_STAFF)
WRONG = "ZZZZ2222"
# What a guess refused unseen says: any other status means the code was looked up.
UNSEEN = (RedeemStatus.LOCKED, RedeemStatus.ESTATE_LOCKED)


async def redeem(
    typed: str,
    now: datetime,
    user: str = "u1",
    purposes=BIND,
    estate: Estate | None = None,
) -> Redemption:
    return await redeem_code(
        typed,
        purposes,
        platform=Platform.WEBCHAT,
        user_id=user,
        now=now,
        estate_id=estate.id if estate else None,
    )


def checked(results: list[Redemption]) -> list[Redemption]:
    """The redemptions whose code was looked up."""
    return [r for r in results if r.status not in UNSEEN]


async def budget(key: str) -> int:
    """The guesses a budget holds in its current window (0 for one never used)."""
    row = await GuessBudget.get_or_none(key=key)
    return row.count if row else 0


async def unit_code(estate: Estate, now: datetime, room: str = "501") -> OneTimeCode:
    unit = await make_unit(estate, "3", "2", room)
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
    assert await budget(account_key(Platform.WEBCHAT, "u1")) == 5
    assert await budget(DEPLOYMENT_KEY) == 5
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


async def test_a_right_code_costs_no_guess_and_waits_for_the_lock_to_end(
    store: str, now: datetime
) -> None:
    estate = await make_estate()
    first = await unit_code(estate, now, "501")
    second = await unit_code(estate, now, "502")
    for minute in range(ACCOUNT_GUESSES - 1):
        wrong = await redeem(WRONG, now + timedelta(minutes=minute), estate=estate)
        assert wrong.status is RedeemStatus.WRONG and wrong.locked_until is None

    # Under the limit, the right code works, and gives back the guess it took.
    good = await redeem(first.code, now + timedelta(minutes=10), estate=estate)
    assert good.ok
    assert await budget(account_key(Platform.WEBCHAT, "u1")) == ACCOUNT_GUESSES - 1
    assert await budget(estate_key(estate.id)) == ACCOUNT_GUESSES - 1

    # So the fifth wrong code is still to come, and it is the one that locks.
    fifth = now + timedelta(minutes=20)
    last = await redeem(WRONG, fifth, estate=estate)
    assert last.status is RedeemStatus.WRONG and last.locked_until == fifth + LOCKOUT_TIME

    # Locked: the right code is refused unseen, with the lock's end, and stays unused.
    refused = await redeem(second.code, fifth + LOCKOUT_TIME - timedelta(seconds=1), estate=estate)
    assert refused.status is RedeemStatus.LOCKED
    assert refused.locked_until == fifth + LOCKOUT_TIME
    assert (await OneTimeCode.get(id=second.id)).used_at is None

    # The lock ends when its hour is over, and the account starts a new window.
    after = await redeem(second.code, fifth + LOCKOUT_TIME, estate=estate)
    assert after.ok
    assert await locked_until(Platform.WEBCHAT, "u1", fifth + LOCKOUT_TIME) is None
    assert await budget(account_key(Platform.WEBCHAT, "u1")) == 0


async def test_forty_accounts_cannot_each_guess_five_codes(store: str, now: datetime) -> None:
    estate = await make_estate()
    other = await make_estate("other")
    code = await unit_code(estate, now)
    results = []
    for account in range(40):
        for guess in range(ACCOUNT_GUESSES):
            moment = now + timedelta(seconds=account * ACCOUNT_GUESSES + guess)
            results.append(await redeem(WRONG, moment, user=f"a{account}", estate=estate))

    # Only the estate's 30 were looked up: the first six accounts' guesses.
    assert len(checked(results)) == ESTATE_GUESSES == 30
    assert results[:ESTATE_GUESSES] == checked(results)
    thirtieth = now + timedelta(seconds=ESTATE_GUESSES - 1)
    assert results[ESTATE_GUESSES - 1].locked_until == thirtieth + LOCKOUT_TIME
    refused = results[ESTATE_GUESSES:]
    assert {r.status for r in refused} == {RedeemStatus.ESTATE_LOCKED}
    assert {r.locked_until for r in refused} == {thirtieth + LOCKOUT_TIME}
    assert await estate_locked_until(estate.id, thirtieth) == thirtieth + LOCKOUT_TIME
    # A guess refused by the estate's lock costs the account nothing.
    assert await budget(account_key(Platform.WEBCHAT, "a39")) == 0
    assert await budget(estate_key(estate.id)) == ESTATE_GUESSES

    # While the estate is locked even a right code from a new account waits, unseen.
    late = thirtieth + timedelta(minutes=30)
    waiting = await redeem(code.code, late, user="newcomer", estate=estate)
    assert waiting.status is RedeemStatus.ESTATE_LOCKED
    assert (await OneTimeCode.get(id=code.id)).used_at is None
    # Other estates, and guesses of no known estate, have budgets of their own.
    assert (await redeem(WRONG, late, user="b1", estate=other)).status is RedeemStatus.WRONG
    assert (await redeem(WRONG, late, user="b2")).status is RedeemStatus.WRONG

    after = await redeem(code.code, thirtieth + LOCKOUT_TIME, user="newcomer", estate=estate)
    assert after.ok


async def test_guesses_of_no_known_estate_share_one_budget(store: str, now: datetime) -> None:
    await make_estate()
    results = [
        await redeem(WRONG, now + timedelta(seconds=n), user=f"a{n // ACCOUNT_GUESSES}")
        for n in range(ESTATE_GUESSES + 10)
    ]

    assert len(checked(results)) == ESTATE_GUESSES
    assert {r.status for r in results[ESTATE_GUESSES:]} == {RedeemStatus.ESTATE_LOCKED}
    assert await budget(DEPLOYMENT_KEY) == ESTATE_GUESSES


async def test_a_right_code_as_the_estates_last_guess_leaves_it_open(
    store: str, now: datetime
) -> None:
    estate = await make_estate()
    code = await unit_code(estate, now)
    for n in range(ESTATE_GUESSES - 1):
        wrong = await redeem(WRONG, now, user=f"a{n // ACCOUNT_GUESSES}", estate=estate)
        assert wrong.status is RedeemStatus.WRONG

    assert (await redeem(code.code, now, user="owner", estate=estate)).ok
    assert await estate_locked_until(estate.id, now) is None
    # The thirtieth wrong one locks it.
    last = await redeem(WRONG, now, user="owner", estate=estate)
    assert last.status is RedeemStatus.WRONG and last.locked_until == now + LOCKOUT_TIME
    again = await redeem(WRONG, now, user="owner", estate=estate)
    assert again.status is RedeemStatus.ESTATE_LOCKED


async def test_fifty_wrong_codes_at_once_from_one_account_check_five(
    store: str, now: datetime
) -> None:
    estate = await make_estate()

    results = await asyncio.gather(*(redeem(WRONG, now, estate=estate) for _ in range(50)))

    statuses = Counter(r.status for r in results)
    assert statuses == {RedeemStatus.WRONG: ACCOUNT_GUESSES, RedeemStatus.LOCKED: 45}
    assert {r.locked_until for r in results if r.status is RedeemStatus.LOCKED} == {
        now + LOCKOUT_TIME
    }
    assert await budget(account_key(Platform.WEBCHAT, "u1")) == ACCOUNT_GUESSES
    assert await budget(estate_key(estate.id)) == ACCOUNT_GUESSES


async def test_forty_accounts_guessing_at_once_check_thirty(store: str, now: datetime) -> None:
    estate = await make_estate()

    results = await asyncio.gather(
        *(
            redeem(WRONG, now, user=f"a{n % 40}", estate=estate)
            for n in range(40 * ACCOUNT_GUESSES)
        )
    )

    assert len(checked(results)) == ESTATE_GUESSES
    assert Counter(r.status for r in results)[RedeemStatus.ESTATE_LOCKED] == 170
    assert await budget(estate_key(estate.id)) == ESTATE_GUESSES


@pytest.mark.server_store
async def test_fifty_wrong_codes_at_once_in_their_own_transactions_check_five(
    store: str, now: datetime
) -> None:
    """As the router handles them: each guess in its own transaction on its own connection of
    the pool, the first ones held open together so that they race to create the budget rows and
    then wait on each other's row locks."""
    assert store == "postgres"
    estate = await make_estate()
    parties = min(5, getattr(get_connection("default"), "pool_maxsize", 5))
    inside = 0
    all_inside = asyncio.Event()

    async def guess(user: str) -> Redemption:
        nonlocal inside
        async with in_transaction():
            await Estate.get(id=estate.id)  # holds its pool connection from here on
            inside += 1
            if inside >= parties:
                all_inside.set()
            await asyncio.wait_for(all_inside.wait(), 60)
            return await redeem(WRONG, now, user=user, estate=estate)

    one_account = await asyncio.gather(*(guess("u1") for _ in range(50)))
    assert Counter(r.status for r in one_account) == {
        RedeemStatus.WRONG: ACCOUNT_GUESSES,
        RedeemStatus.LOCKED: 45,
    }
    assert await budget(account_key(Platform.WEBCHAT, "u1")) == ACCOUNT_GUESSES

    # And the estate's budget under many accounts at once: 25 more are looked up, no more.
    many = await asyncio.gather(*(guess(f"a{n % 40}") for n in range(40 * ACCOUNT_GUESSES)))
    assert len(checked(many)) == ESTATE_GUESSES - ACCOUNT_GUESSES
    assert await budget(estate_key(estate.id)) == ESTATE_GUESSES
