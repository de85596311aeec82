"""One-time codes: issuing them, redeeming them once, and locking out whoever guesses.

A code binds an owner's chat account to a unit (BIND_UNIT), a chat account to a staff member
(BIND_STAFF), or registers a group as an estate's owner group or staff chat (REGISTER_CHAT).
Codes are 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L), always with a digit
so that an ordinary word typed in private is never taken for one. A code works once (a
compare-and-set on `used_at`) and expires after 24 hours. Five wrong codes from one chat account
within an hour lock that account out of codes for an hour.
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
from tortoise.transactions import in_transaction

from models import (
    Chat,
    ChatIdentity,
    ChatKind,
    CodeAttempt,
    CodePurpose,
    Estate,
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
LOCKOUT_ATTEMPTS = 5
LOCKOUT_WINDOW = timedelta(hours=1)
LOCKOUT_TIME = timedelta(hours=1)

# A code as typed: its characters, optionally split by spaces or hyphens ("ABCD-2345").
_TYPED = re.compile(r"^[A-Za-z2-9]{4}[\s-]?[A-Za-z2-9]{4}$")


class RedeemStatus(StrEnum):
    """How a redemption went."""

    OK = "ok"
    WRONG = "wrong"  # no such code, or a code for something else
    EXPIRED = "expired"
    USED = "used"
    LOCKED = "locked"


@dataclass(frozen=True)
class Redemption:
    """The outcome of redeeming a code: the code when OK, the lock's end when LOCKED."""

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


async def locked_until(platform: Platform, user_id: str, now: datetime) -> datetime | None:
    """When this chat account's code lockout ends, or None when it is not locked out."""
    attempts = [
        a.at
        for a in await CodeAttempt.filter(
            platform=platform, user_id=user_id, at__gt=now - LOCKOUT_WINDOW - LOCKOUT_TIME
        ).order_by("at")
    ]
    # A lockout starts at the attempt that is the fifth wrong one within an hour.
    for index in range(LOCKOUT_ATTEMPTS - 1, len(attempts)):
        start = attempts[index]
        if start - attempts[index - LOCKOUT_ATTEMPTS + 1] <= LOCKOUT_WINDOW:
            until = start + LOCKOUT_TIME
            if until > now:
                return until
    return None


async def redeem_code(
    typed: str,
    purposes: Iterable[CodePurpose],
    *,
    platform: Platform,
    user_id: str,
    now: datetime,
) -> Redemption:
    """Use a code for one of `purposes`, once; every failure counts towards the lockout."""
    until = await locked_until(platform, user_id, now)
    if until is not None:
        return Redemption(RedeemStatus.LOCKED, locked_until=until)
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
            return Redemption(RedeemStatus.OK, code=await OneTimeCode.get(id=code.id))
        status = RedeemStatus.USED  # someone else used it a moment ago
    await _record_failure(platform, user_id, now)
    log.info("code refused for %s:%s: %s", platform, user_id, status)
    return Redemption(status, locked_until=await locked_until(platform, user_id, now))


async def _record_failure(platform: Platform, user_id: str, now: datetime) -> None:
    await CodeAttempt.create(platform=platform, user_id=user_id, at=now)


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
        owners = await unit.owners.all().order_by("id")
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
