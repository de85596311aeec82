"""One-time codes: issuing them, redeeming them once, and locking out whoever guesses.

A code binds an owner's chat account to a unit (BIND_UNIT), a chat account to a staff member
(BIND_STAFF), or registers a group as an estate's owner group or staff chat (REGISTER_CHAT).
Codes are 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L), always with a digit
so that an ordinary word typed in private is never taken for one. A code works once (a
compare-and-set on `used_at`) and expires after 24 hours.

Guessing is bounded twice, by budgets of wrong guesses (`GuessBudget` rows):

- per chat account: `ACCOUNT_GUESSES` (5) wrong codes within `GUESS_WINDOW` (an hour from the
  first of them) lock that account out of codes for `LOCKOUT_TIME` (an hour from the last);
- per estate: `ESTATE_GUESSES` (30) wrong codes within the window, from any accounts, stop code
  redemption for the whole estate for `LOCKOUT_TIME`, since chat accounts cost nothing to make.
  A guess whose estate is not known (a private chat in a deployment of several estates, a group
  not yet registered) counts against one deployment-wide budget (`DEPLOYMENT_KEY`) instead.

A guess is taken from both budgets before the code is even looked up, each by one
compare-and-set UPDATE that only succeeds while the budget has a guess left in its current
window, so a burst of guesses sent at once cannot check more codes than the limit, on SQLite and
PostgreSQL alike. A correct code gives its guesses back: it costs nothing.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models import (
    Chat,
    ChatIdentity,
    ChatKind,
    CodePurpose,
    Estate,
    GuessBudget,
    OneTimeCode,
    Owner,
    Platform,
    Staff,
    Unit,
)

log = logging.getLogger(__name__)

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
DIGITS = frozenset("23456789")
CODE_LENGTH = 8
CODE_LIFETIME = timedelta(hours=24)
# Wrong codes one chat account may send within a window before it is locked out.
ACCOUNT_GUESSES = 5
# Wrong codes all accounts together may send for one estate (or for the deployment, when the
# estate is unknown) within a window before codes are refused there. At 30 an hour, finding one of
# a thousand outstanding codes (31^8 less those without a digit: 7.7e11) takes some 3,000 years,
# while an estate's owners mistyping their codes stay far below it.
ESTATE_GUESSES = 30
GUESS_WINDOW = timedelta(hours=1)
LOCKOUT_TIME = timedelta(hours=1)
# The budget key of guesses whose estate is not known.
DEPLOYMENT_KEY = "estate:unknown"

# A code as typed: its characters, optionally split by spaces or hyphens ("ABCD-2345").
_TYPED = re.compile(r"^[A-Za-z2-9]{4}[\s-]?[A-Za-z2-9]{4}$")


class RedeemStatus(StrEnum):
    """How a redemption went."""

    OK = "ok"
    WRONG = "wrong"  # no such code, or a code for something else
    EXPIRED = "expired"
    USED = "used"
    LOCKED = "locked"  # this chat account guessed too often: the code was not looked at
    ESTATE_LOCKED = "estate_locked"  # too many wrong codes for the estate: not looked at


@dataclass(frozen=True)
class Redemption:
    """The outcome of redeeming a code: the code when OK; the lock's end when LOCKED or
    ESTATE_LOCKED, or when this wrong code is the one that started a lock."""

    status: RedeemStatus
    code: OneTimeCode | None = None
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        """Whether the code was good and is now used."""
        return self.status is RedeemStatus.OK


def new_code() -> str:
    """A fresh random code: 8 unambiguous characters with at least one digit."""
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        if DIGITS.intersection(code):
            return code


def normalise(typed: str) -> str | None:
    """A typed code in its stored form (upper case, no separator), or None if it cannot be one."""
    text = typed.strip()
    if not _TYPED.match(text):
        return None
    return re.sub(r"[\s-]", "", text).upper()


def looks_like_code(text: str) -> bool:
    """Whether a bare message looks like a code (so that it is tried as one)."""
    code = normalise(text)
    return code is not None and bool(DIGITS.intersection(code))


# Anything in a longer text that could be a code: 8 code characters, or two groups of 4.
_EMBEDDED = re.compile(r"(?<![A-Za-z0-9])[A-Za-z2-9]{4}[\s-]?[A-Za-z2-9]{4}(?![A-Za-z0-9])")


def codes_in(text: str) -> list[str]:
    """Everything in a text that could be a code, in its stored form."""
    found = []
    for match in _EMBEDDED.finditer(text[:4000]):
        code = normalise(match.group(0))
        if code is not None and DIGITS.intersection(code) and code not in found:
            found.append(code)
    return found


async def void_exposed(text: str, *, where: str, now: datetime) -> list[OneTimeCode]:
    """Spend at once every unused code that a text shown to others (a group) contains: whoever
    read it could redeem it. Returns the codes voided."""
    candidates = codes_in(text)
    if not candidates:
        return []
    voided = []
    for code in await OneTimeCode.filter(code__in=candidates, used_at__isnull=True):
        spent = await OneTimeCode.filter(id=code.id, used_at__isnull=True).update(
            used_at=now, used_by=f"exposed:{where}"[:160]
        )
        if spent:
            log.warning("a %s code was posted in %s: it is void now", code.purpose, where)
            voided.append(code)
    return voided


async def issue_code(
    estate: Estate,
    purpose: CodePurpose,
    *,
    created_by: str,
    now: datetime,
    unit: Unit | None = None,
    owner: Owner | None = None,
    staff: Staff | None = None,
    chat_kind: ChatKind | None = None,
) -> OneTimeCode:
    """Issue a one-time code for a purpose; it expires 24 hours from `now`."""
    if purpose is CodePurpose.BIND_UNIT and unit is None:
        raise ValueError("a unit binding code needs a unit")
    if purpose is CodePurpose.BIND_STAFF and staff is None:
        raise ValueError("a staff binding code needs a staff member")
    if purpose is CodePurpose.REGISTER_CHAT and chat_kind not in (ChatKind.OWNERS, ChatKind.STAFF):
        raise ValueError("a chat registration code needs the kind owners or staff")
    for _ in range(5):
        try:
            async with in_transaction():
                return await OneTimeCode.create(
                    code=new_code(),
                    purpose=purpose,
                    estate_id=estate.id,
                    unit_id=unit.id if unit else None,
                    owner_id=owner.id if owner else None,
                    staff_id=staff.id if staff else None,
                    chat_kind=chat_kind,
                    created_by=created_by,
                    created_at=now,
                    expires_at=now + CODE_LIFETIME,
                )
        except IntegrityError:
            continue  # the same random code exists: draw again
    raise RuntimeError("could not draw an unused code")


def account_key(platform: Platform, user_id: str) -> str:
    """The guess budget key of a chat account."""
    return f"account:{platform}:{user_id}"


def estate_key(estate_id: int | None) -> str:
    """The guess budget key of an estate, or of the deployment when the estate is unknown."""
    return DEPLOYMENT_KEY if estate_id is None else f"estate:{estate_id}"


async def locked_until(platform: Platform, user_id: str, now: datetime) -> datetime | None:
    """When this chat account's code lockout ends, or None when it is not locked out."""
    return await _lock_end(account_key(platform, user_id), now)


async def estate_locked_until(estate_id: int | None, now: datetime) -> datetime | None:
    """When the estate's (or, for None, the deployment's) code lockout ends, if it is on."""
    return await _lock_end(estate_key(estate_id), now)


async def _lock_end(key: str, now: datetime) -> datetime | None:
    budget = await GuessBudget.get_or_none(key=key)
    if budget is None or budget.locked_until is None or budget.locked_until <= now:
        return None
    return budget.locked_until


async def redeem_code(
    typed: str,
    purposes: Iterable[CodePurpose],
    *,
    platform: Platform,
    user_id: str,
    now: datetime,
    estate_id: int | None = None,
) -> Redemption:
    """Use a code for one of `purposes`, once; a wrong one costs a guess from the account's and
    the estate's budgets (`estate_id` None: the deployment's), and none is looked at without."""
    account = await _reserve(account_key(platform, user_id), ACCOUNT_GUESSES, now)
    if isinstance(account, _Refused):
        return Redemption(RedeemStatus.LOCKED, locked_until=account.until)
    estate = await _reserve(estate_key(estate_id), ESTATE_GUESSES, now)
    if isinstance(estate, _Refused):
        # Not looked at, so not the account's guess either.
        await _give_back(account)
        log.warning("code refused for %s:%s: %s is locked", platform, user_id, estate.key)
        return Redemption(RedeemStatus.ESTATE_LOCKED, locked_until=estate.until)
    wanted = list(purposes)
    text = normalise(typed)
    code = await OneTimeCode.get_or_none(code=text) if text else None
    if code is None or code.purpose not in wanted:
        status = RedeemStatus.WRONG
    elif code.used_at is not None:
        status = RedeemStatus.USED
    elif code.expires_at <= now:
        status = RedeemStatus.EXPIRED
    else:
        used = await OneTimeCode.filter(id=code.id, used_at__isnull=True).update(
            used_at=now, used_by=f"{platform}:{user_id}"[:160]
        )
        if used:
            # A right code costs nothing: whoever holds one may have mistyped it before.
            await _give_back(estate)
            await _give_back(account)
            return Redemption(RedeemStatus.OK, code=await OneTimeCode.get(id=code.id))
        status = RedeemStatus.USED  # someone else used it a moment ago
    log.info("code refused for %s:%s: %s", platform, user_id, status)
    started = [r.locks_until for r in (account, estate) if r.locks_until is not None]
    if estate.locks_until is not None:
        log.warning("too many wrong codes: %s is locked until %s", estate.key, estate.locks_until)
    return Redemption(status, locked_until=max(started, default=None))


# --- Guess budgets -------------------------------------------------------------------------
#
# A budget row holds the guesses taken in its current window (`count`) and, once the last one is
# taken, the end of the lock (`locked_until`): `locked_until` is set exactly while `count` is at
# the limit. Every change is a compare-and-set UPDATE, so the limit holds however many guesses
# arrive at once: on PostgreSQL a second UPDATE of the row waits for the first's transaction and
# then re-checks its WHERE against the committed row; on SQLite writes are serialised anyway.

# How often a reservation re-reads a budget that changed under it before giving up.
_RESERVE_TRIES = 10


@dataclass(frozen=True)
class _Reserved:
    """One guess taken from a budget, to keep (a wrong code) or give back (a right one)."""

    key: str
    budget_id: int
    window_start: datetime
    # The end of the lock this guess started by taking the budget's last one.
    locks_until: datetime | None


@dataclass(frozen=True)
class _Refused:
    """The budget had no guess left: it is locked until `until`."""

    key: str
    until: datetime


async def _reserve(key: str, limit: int, now: datetime) -> _Reserved | _Refused:
    """Take one guess from the budget `key` allows `limit` of per window, atomically."""
    for _ in range(_RESERVE_TRIES):
        budget = await GuessBudget.get_or_none(key=key)
        if budget is None:
            await _open_budget(key, now)
            continue
        window, lock = budget.window_start, budget.locked_until
        if lock is not None and lock > now:
            # A refusal may rest on a read: it can only err towards refusing.
            return _Refused(key, lock)
        if lock is not None or window <= now - GUESS_WINDOW:
            await _new_window(budget, now)
            continue
        # The read only chooses the statement; what allows the guess is the statement's WHERE,
        # checked against the row as it is when the UPDATE runs.
        open_window = GuessBudget.filter(
            id=budget.id, window_start=window, locked_until__isnull=True
        )
        if await open_window.filter(count__lt=limit - 1).update(count=F("count") + 1):
            return _Reserved(key, budget.id, window, None)
        # The last guess of the window locks the budget in the same statement. (`gte`: a row
        # counted under a higher limit than today's still has this one guess left.)
        until = now + LOCKOUT_TIME
        if await open_window.filter(count__gte=limit - 1).update(count=limit, locked_until=until):
            return _Reserved(key, budget.id, window, until)
        # The budget changed in between (filled up, gave a guess back, or began a new window).
    raise RuntimeError(f"could not take a guess from the budget {key}")


async def _open_budget(key: str, now: datetime) -> None:
    """Create a budget's row; another guess creating it at the same moment is as good."""
    try:
        async with in_transaction():
            await GuessBudget.create(key=key, window_start=now, count=0)
    except IntegrityError:
        pass


async def _new_window(budget: GuessBudget, now: datetime) -> None:
    """Start a budget's window afresh, if it is still exactly as read (a compare-and-set on
    every column), so a guess taken meanwhile is never wiped out; losing the race is fine."""
    locked = (
        {"locked_until__isnull": True}
        if budget.locked_until is None
        else {"locked_until": budget.locked_until}
    )
    await GuessBudget.filter(
        id=budget.id, window_start=budget.window_start, count=budget.count, **locked
    ).update(window_start=now, count=0, locked_until=None)


async def _give_back(reserved: _Reserved) -> None:
    """Return a guess to its budget; below the limit again, the budget is not locked. A window
    that has started afresh since holds no guess of ours, and is left alone."""
    await GuessBudget.filter(
        id=reserved.budget_id, window_start=reserved.window_start, count__gt=0
    ).update(count=F("count") - 1, locked_until=None)


async def bind_with_code(code: OneTimeCode, identity: ChatIdentity) -> Owner | Staff:
    """Apply a used BIND_UNIT or BIND_STAFF code to a chat account; returns who it now is.

    A unit code names the owner it was issued for; a code issued for a unit with no owner on
    record creates one, named as the chat account is, so the account has someone to be.
    """
    if code.purpose is CodePurpose.BIND_STAFF:
        staff = await Staff.get(id=code.staff_id)
        identity.staff_id = staff.id
        await identity.save(update_fields=["staff_id"])
        return staff
    if code.purpose is not CodePurpose.BIND_UNIT:
        raise ValueError(f"a {code.purpose} code binds no chat account")
    owner = await Owner.get_or_none(id=code.owner_id) if code.owner_id else None
    if owner is None:
        unit = await Unit.get(id=code.unit_id)
        owners = await unit.owners.filter(active=True).order_by("id")
        if len(owners) == 1:
            owner = owners[0]
        else:
            # No owner on record (several would have needed a named code): a new one.
            owner = await Owner.create(
                estate_id=code.estate_id,
                name=(identity.display_name or identity.user_id)[:64],
                language=identity.language or "zh",
            )
            await owner.units.add(unit)
    identity.owner_id = owner.id
    await identity.save(update_fields=["owner_id"])
    return owner


class ChatTaken(Exception):
    """The group is already registered to another estate."""


async def register_chat(code: OneTimeCode, platform: Platform, chat_id: str, title: str) -> Chat:
    """Apply a used REGISTER_CHAT code: the group becomes an owner group or a staff chat."""
    if code.purpose is not CodePurpose.REGISTER_CHAT or code.chat_kind is None:
        raise ValueError(f"a {code.purpose} code registers no chat")
    chat = await Chat.get_or_none(platform=platform, chat_id=chat_id)
    if chat is None:
        return await Chat.create(
            platform=platform,
            chat_id=chat_id,
            kind=code.chat_kind,
            title=title[:128],
            estate_id=code.estate_id,
        )
    if chat.estate_id is not None and chat.estate_id != code.estate_id:
        raise ChatTaken(f"{platform}:{chat_id} belongs to estate {chat.estate_id}")
    chat.kind = code.chat_kind
    chat.estate_id = code.estate_id
    if title:
        chat.title = title[:128]
    await chat.save()
    return chat
