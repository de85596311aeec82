"""Who is who: binding chat accounts to owners and staff, binding requests, chat registration.

In private, an owner sends the one-time code staff gave them (`/bind CODE`, `绑定 CODE`, or the
bare code) and their account becomes that owner's; or asks with their unit and name
(`申请绑定 3-2-501 李华`, `bind request 3-2-501 John Smith`) and staff approve or refuse the
request from the staff chat. A staff code works the same way and makes the account staff.

A unit code names one owner: `code 3-2-501` when the unit has exactly one owner on record (or
none: the account then becomes a new owner of the unit, named as the account is), and
`code 3-2-501 李华` to choose among several. Codes are told to the staff member privately, never
in the staff chat, since being in that chat grants nothing.

In a group, `/register CODE` makes it the estate's owner group or staff chat.

The staff-chat commands and the request card's buttons are declared in `ROUTES`; the words people
type for all of these are in `bot/core/vocabulary.py`.
"""

from __future__ import annotations

import logging
import re

from tortoise.transactions import in_transaction

from bot.core import vocabulary
from bot.core.codes import (
    ChatTaken,
    RedeemStatus,
    Redemption,
    bind_with_code,
    issue_code,
    looks_like_code,
    normalise,
    redeem_code,
    register_chat,
    void_exposed,
)
from bot.core.context import Context, Outbound
from bot.core.desk import acting_staff, group_ref, staff_chats
from bot.core.nlu.units import parse_unit
from bot.core.types import Button, OutgoingMessage
from handlers.routes import Routes, StaffCommand, Who
from models import (
    BindingRequest,
    ChatIdentity,
    ChatKind,
    CodePurpose,
    Estate,
    OneTimeCode,
    Owner,
    Platform,
    RequestStatus,
    Staff,
    StaffRole,
    Unit,
    unit_label,
)
from models.lifecycle import staff_actor

log = logging.getLogger(__name__)


def _words(words: tuple[str, ...]) -> str:
    """Words as alternatives of a pattern, a space in one matching any space."""
    return "|".join(re.escape(word).replace(r"\ ", r"\s+") for word in words)


_BIND_EN, _BIND_ZH = _words(vocabulary.BIND.en), _words(vocabulary.BIND.zh)
# `/bind CODE`, `bind CODE`, `绑定 CODE`, and `绑定CODE` run together (Chinese needs no space).
_BIND = re.compile(
    rf"^(?:(?:/(?:{_BIND_EN})(?:@\S+)?|{_BIND_EN}|{_BIND_ZH})(?:\s+(?P<code>.*))?"
    rf"|(?:{_BIND_ZH})(?P<joined>[A-Za-z2-9][\w\s-]*))$",
    re.I | re.S,
)
_REQUEST = re.compile(
    rf"^(?:{_words(vocabulary.BIND_REQUEST.zh)}|/?(?:{_words(vocabulary.BIND_REQUEST.en)}))"
    r"\s*(?P<unit>\S+)\s+(?P<name>.+)$",
    re.I | re.S,
)
_REGISTER = re.compile(
    rf"^/(?:{_words(vocabulary.REGISTER.en)})(?:@\S+)?(?:\s+(?P<code>.*))?$", re.I | re.S
)


# --- Finding units and owners -------------------------------------------------------------


async def lookup_unit(estate_id: int, written: str) -> Unit | None:
    """The estate's unit a label or an address names (`3-2-501`, `3栋2单元501`), if it exists."""
    unit = await Unit.get_or_none(estate_id=estate_id, label=written.strip())
    if unit is not None:
        return unit
    parsed = parse_unit(written)
    if parsed is None:
        return None
    unit = await Unit.get_or_none(
        estate_id=estate_id, label=unit_label(parsed.building, parsed.entrance, parsed.room)
    )
    if unit is None and parsed.entrance is None:
        matches = await Unit.filter(
            estate_id=estate_id, building__name=parsed.building, room=parsed.room
        ).limit(2)
        unit = matches[0] if len(matches) == 1 else None
    return unit


async def _unit_anywhere(ctx: Context, written: str) -> Unit | None:
    """The unit in the sender's estate, or the one estate that has such a unit."""
    if ctx.estate is not None:
        return await lookup_unit(ctx.estate.id, written)
    found = [u for e in await Estate.all() if (u := await lookup_unit(e.id, written))]
    return found[0] if len(found) == 1 else None


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


async def _unit_owners(unit: Unit) -> list[Owner]:
    """The unit's owners on the register (not those an update marked inactive)."""
    return await unit.owners.filter(active=True).order_by("id")


# --- In private: codes and requests --------------------------------------------------------


async def bind_command(ctx: Context) -> bool:
    """`/bind CODE`, `绑定 CODE` or a bare code in private; returns whether it was one."""
    text = ctx.message.text.strip()
    if _REQUEST.match(text):
        return False
    match = _BIND.match(text)
    if match is not None:
        typed = (match.group("code") or match.group("joined") or "").strip()
        if normalise(typed) is None:
            # Not shaped like a code, so not a guess: explain rather than count it.
            ctx.reply("binding.usage")
            return True
    elif looks_like_code(text):
        typed = text
    else:
        return False
    redemption = await redeem_code(
        typed,
        (CodePurpose.BIND_UNIT, CodePurpose.BIND_STAFF),
        platform=ctx.message.chat.platform,
        user_id=ctx.message.sender_id,
        now=ctx.now,
        estate_id=ctx.estate.id if ctx.estate else None,
    )
    if not redemption.ok:
        _refuse_code(ctx, redemption)
        return True
    assert redemption.code is not None
    who = await bind_with_code(redemption.code, ctx.identity)
    if isinstance(who, Staff):
        estate = await Estate.get(id=who.estate_id)
        log.info("%s is now staff %s", ctx.identity.user_id, who.name)
        ctx.reply("binding.bound_staff", name=who.name, estate=estate.name)
    else:
        units = ", ".join(u.label for u in sorted(await who.units.all(), key=lambda u: u.label))
        log.info("%s is now owner %s", ctx.identity.user_id, who.id)
        ctx.reply("binding.bound_owner", name=who.name, units=units)
    return True


def _refuse_code(ctx: Context, redemption: Redemption) -> None:
    # An estate-wide lock (too many wrong codes from any accounts) says the same for now: codes
    # are refused until then, whoever sends them.
    if redemption.status in (RedeemStatus.LOCKED, RedeemStatus.ESTATE_LOCKED):
        assert redemption.locked_until is not None
        until = redemption.locked_until.astimezone(ctx.estate_tz).strftime("%H:%M")
        ctx.reply("binding.locked", until=until)
    elif redemption.locked_until is not None:
        until = redemption.locked_until.astimezone(ctx.estate_tz).strftime("%H:%M")
        ctx.reply("binding.now_locked", until=until)
    else:
        ctx.reply(f"binding.code_{redemption.status}")


async def request_command(ctx: Context) -> bool:
    """`申请绑定 3-2-501 李华` in private: a request staff approve or refuse in the staff chat."""
    match = _REQUEST.match(ctx.message.text.strip())
    if match is None:
        return False
    name = " ".join(match.group("name").split())[:64]
    unit = await _unit_anywhere(ctx, match.group("unit"))
    if unit is None:
        ctx.reply("binding.request_unknown_unit", unit=match.group("unit"))
        return True
    platform, user_id = ctx.message.chat.platform, ctx.message.sender_id
    if await BindingRequest.exists(
        platform=platform, user_id=user_id, unit_id=unit.id, status=RequestStatus.PENDING
    ):
        ctx.reply("binding.request_pending", unit=unit.label)
        return True
    request = await BindingRequest.create(
        estate_id=unit.estate_id,
        platform=platform,
        user_id=user_id,
        unit_id=unit.id,
        name=name,
        created_at=ctx.now,
    )
    lang = ctx.services.catalogues.default
    catalogues = ctx.services.catalogues
    text = catalogues.text(
        lang,
        "binding.request_card",
        id=request.id,
        unit=unit.label,
        name=name,
        account=ctx.identity.display_name or user_id,
        platform=platform,
    )
    buttons = (
        (
            Button(catalogues.text(lang, "binding.button_approve"), f"approve:{request.id}"),
            Button(catalogues.text(lang, "binding.button_refuse"), f"refuse:{request.id}"),
        ),
    )
    for chat in await staff_chats(unit.estate_id, ctx.services.cache):
        message = OutgoingMessage(chat=group_ref(chat), text=text, buttons=buttons)
        ctx.outbox.append(Outbound(message))
    ctx.reply("binding.request_sent", unit=unit.label)
    return True


# --- Deciding requests (staff) -------------------------------------------------------------


async def approve_pressed(ctx: Context) -> None:
    """The approve button of a binding request."""
    await _decide_pressed(ctx, approve=True)


async def refuse_pressed(ctx: Context) -> None:
    """The refuse button of a binding request."""
    await _decide_pressed(ctx, approve=False)


async def _decide_pressed(ctx: Context, *, approve: bool) -> None:
    _, _, raw = (ctx.message.payload or "").partition(":")
    if not raw.isdigit():
        ctx.reply("input.bad_button")
        return
    await decide(ctx, int(raw), approve=approve)


async def approve_command(ctx: Context, rest: str) -> None:
    """`approve N` in the staff chat."""
    await _decide_typed(ctx, rest, approve=True)


async def refuse_command(ctx: Context, rest: str) -> None:
    """`refuse N` in the staff chat."""
    await _decide_typed(ctx, rest, approve=False)


async def _decide_typed(ctx: Context, rest: str, *, approve: bool) -> None:
    raw = rest.strip().lstrip("#")
    if not raw.isdigit():
        ctx.reply("binding.decide_usage")
        return
    await decide(ctx, int(raw), approve=approve)


async def decide(ctx: Context, request_id: int, *, approve: bool) -> None:
    """Approve or refuse a pending binding request, once; only the estate's staff may."""
    if ctx.staff is None:
        acting_staff(ctx)  # refuses
        return
    request = await BindingRequest.get_or_none(id=request_id)
    if request is None:
        ctx.reply("binding.no_request", id=request_id)
        return
    staff = acting_staff(ctx, request.estate_id)
    if staff is None:
        return
    status = RequestStatus.APPROVED if approve else RequestStatus.REFUSED
    decided = await BindingRequest.filter(id=request.id, status=RequestStatus.PENDING).update(
        status=status, decided_by=staff_actor(staff), decided_at=ctx.now
    )
    if not decided:
        current = await BindingRequest.get(id=request.id)
        ctx.reply(
            "binding.already_decided",
            id=request.id,
            status=ctx.text(f"binding.status_{current.status}"),
        )
        return
    unit = await Unit.get(id=request.unit_id)
    platform = Platform(request.platform)
    identity, _ = await ChatIdentity.get_or_create(platform=platform, user_id=request.user_id)
    if approve:
        owner = await _owner_for_request(request, unit, identity)
        identity.owner_id = owner.id
        await identity.save(update_fields=["owner_id"])
    channel = ctx.services.hub.get(platform)
    if channel is not None:
        lang = ctx.services.catalogues.language(identity.language)
        key = "binding.approved_owner" if approve else "binding.refused_owner"
        text = ctx.text(key, lang=lang, unit=unit.label)
        ctx.send(channel.private_chat(request.user_id), text)
    key = "binding.approved" if approve else "binding.refused"
    fields = {"id": request.id, "unit": unit.label, "name": request.name, "staff": staff.name}
    if ctx.pressed:
        # The request card says what became of it, and its buttons go.
        ctx.replace_pressed(ctx.text(key, **fields))
    ctx.reply(key, **fields)


async def _owner_for_request(request: BindingRequest, unit: Unit, identity: ChatIdentity) -> Owner:
    """The owner the approved request makes the account: the unit's owner of that name, the
    account's own owner of that name (who gets the unit too), or a new owner of the unit."""
    for owner in await _unit_owners(unit):
        if _same_name(owner.name, request.name):
            return owner
    if identity.owner_id is not None:
        current = await Owner.get_or_none(id=identity.owner_id)
        if (
            current
            and current.active
            and current.estate_id == unit.estate_id
            and _same_name(current.name, request.name)
        ):
            await current.units.add(unit)
            return current
    owner = await Owner.create(
        estate_id=unit.estate_id, name=request.name, language=identity.language or "zh"
    )
    await owner.units.add(unit)
    return owner


# --- Staff-chat commands: codes, bindings, unbinding ---------------------------------------


def _expires(ctx: Context, code: OneTimeCode) -> str:
    return code.expires_at.astimezone(ctx.estate_tz).strftime("%m-%d %H:%M")


async def code_command(ctx: Context, rest: str) -> None:
    """`code 3-2-501 [name]`: a unit binding code, told to the staff member privately."""
    assert ctx.staff is not None
    written, _, name = rest.strip().partition(" ")
    unit = await lookup_unit(ctx.staff.estate_id, written) if written else None
    if unit is None:
        ctx.reply("binding.code_usage" if not written else "binding.unknown_unit", unit=written)
        return
    owners = await _unit_owners(unit)
    owner: Owner | None = None
    names = "、".join(o.name for o in owners)
    if name.strip():
        owner = next((o for o in owners if _same_name(o.name, name)), None)
        if owner is None:
            ctx.reply("binding.owner_unknown", unit=unit.label, name=name.strip(), names=names)
            return
    elif len(owners) > 1:
        ctx.reply("binding.owner_needed", unit=unit.label, names=names)
        return
    elif owners:
        owner = owners[0]
    estate = await Estate.get(id=ctx.staff.estate_id)
    code = await issue_code(
        estate,
        CodePurpose.BIND_UNIT,
        created_by=staff_actor(ctx.staff),
        now=ctx.now,
        unit=unit,
        owner=owner,
    )
    ctx.tell_private(
        ctx.text(
            "binding.code_issued",
            code=code.code,
            unit=unit.label,
            name=owner.name if owner else ctx.text("binding.new_owner"),
            expires=_expires(ctx, code),
        )
    )
    if ctx.in_group:
        ctx.reply("binding.code_sent_privately")


async def staffcode_command(ctx: Context, rest: str) -> None:
    """`staffcode NAME`: a staff binding code, told privately (the route is supervisors'
    only, and the staff desk checks that before it gets here)."""
    assert ctx.staff is not None
    name = rest.strip()
    member = await Staff.get_or_none(estate_id=ctx.staff.estate_id, name=name) if name else None
    if member is None:
        ctx.reply("binding.staffcode_usage" if not name else "binding.staff_unknown", name=name)
        return
    estate = await Estate.get(id=ctx.staff.estate_id)
    code = await issue_code(
        estate,
        CodePurpose.BIND_STAFF,
        created_by=staff_actor(ctx.staff),
        now=ctx.now,
        staff=member,
    )
    ctx.tell_private(
        ctx.text(
            "binding.staffcode_issued",
            code=code.code,
            name=member.name,
            expires=_expires(ctx, code),
        )
    )
    if ctx.in_group:
        ctx.reply("binding.code_sent_privately")


async def bindings_command(ctx: Context, rest: str) -> None:
    """`bindings 3-2-501` (or a staff name): the chat accounts bound to it, with their numbers."""
    assert ctx.staff is not None
    written = rest.strip()
    if not written:
        ctx.reply("binding.bindings_usage")
        return
    estate_id = ctx.staff.estate_id
    member = await Staff.get_or_none(estate_id=estate_id, name=written)
    if member is not None:
        identities = await ChatIdentity.filter(staff_id=member.id).order_by("id")
        names = {member.id: member.name}
        label = member.name
        lines = [_identity_line(ctx, i, names[member.id]) for i in identities]
    else:
        unit = await lookup_unit(estate_id, written)
        if unit is None:
            ctx.reply("binding.unknown_unit", unit=written)
            return
        owners = {o.id: o.name for o in await _unit_owners(unit)}
        identities = await ChatIdentity.filter(owner_id__in=list(owners)).order_by("id")
        label = unit.label
        lines = [_identity_line(ctx, i, owners[i.owner_id]) for i in identities]
    if not lines:
        ctx.reply("binding.bindings_none", target=label)
        return
    ctx.reply("binding.bindings", target=label, lines="\n".join(lines))


def _identity_line(ctx: Context, identity: ChatIdentity, name: str) -> str:
    return ctx.text(
        "binding.bindings_line",
        id=identity.id,
        name=name,
        platform=identity.platform,
        account=identity.display_name or identity.user_id,
    )


async def unbind_command(ctx: Context, rest: str) -> None:
    """`unbind N` (an account number from `bindings`) or `unbind NAME` (a staff member, by a
    supervisor): the account(s) lose their binding at once."""
    assert ctx.staff is not None
    target = rest.strip().lstrip("#")
    estate_id = ctx.staff.estate_id
    if not target:
        ctx.reply("binding.unbind_usage")
        return
    supervisor = StaffRole(ctx.staff.role).supervises
    if target.isdigit():
        identity = await ChatIdentity.get_or_none(id=int(target))
        owner = (
            await Owner.get_or_none(id=identity.owner_id)
            if identity and identity.owner_id
            else None
        )
        member = (
            await Staff.get_or_none(id=identity.staff_id)
            if identity and identity.staff_id
            else None
        )
        if identity is not None and owner is not None and owner.estate_id == estate_id:
            identity.owner_id = None
            await identity.save(update_fields=["owner_id"])
            ctx.reply("binding.unbound_owner", id=identity.id, name=owner.name)
            return
        if identity is not None and member is not None and member.estate_id == estate_id:
            if not supervisor:
                ctx.reply("binding.supervisor_only")
                return
            identity.staff_id = None
            await identity.save(update_fields=["staff_id"])
            ctx.reply("binding.unbound_staff", name=member.name, count=1)
            return
        ctx.reply("binding.unbind_unknown", target=target)
        return
    member = await Staff.get_or_none(estate_id=estate_id, name=target)
    if member is None:
        ctx.reply("binding.unbind_unknown", target=target)
        return
    if not supervisor:
        ctx.reply("binding.supervisor_only")
        return
    count = await ChatIdentity.filter(staff_id=member.id).update(staff_id=None)
    log.info("staff %s unbound from %d chat account(s) by %s", member.name, count, ctx.staff.name)
    ctx.reply("binding.unbound_staff", name=member.name, count=count)


# --- In an owner group: codes are never redeemed there -------------------------------------


async def group_code(ctx: Context) -> bool:
    """A code (or a binding command) in an owner group: a real code is spent at once, since the
    whole group saw it, and the group is told to ask for a new one privately; True when the
    message was one of these."""
    text = ctx.message.text.strip()
    voided = await void_exposed(
        text, where=f"{ctx.message.chat.platform}:{ctx.message.chat.chat_id}", now=ctx.now
    )
    if voided:
        ctx.reply("binding.code_exposed")
        return True
    if _BIND.match(text) or _REQUEST.match(text) or looks_like_code(text):
        ctx.reply("binding.bind_privately")
        return True
    return False


# --- In a group: registering it ------------------------------------------------------------


async def register_command(ctx: Context) -> bool:
    """`/register CODE` in a group: it becomes the estate's owner group or staff chat."""
    match = _REGISTER.match(ctx.message.text.strip())
    if match is None:
        return False
    typed = (match.group("code") or "").strip()
    if not typed:
        ctx.reply("binding.register_usage")
        return True
    chat_ref = ctx.message.chat
    try:
        # One savepoint: a group that belongs to another estate leaves the code unused.
        async with in_transaction():
            redemption = await redeem_code(
                typed,
                (CodePurpose.REGISTER_CHAT,),
                platform=chat_ref.platform,
                user_id=ctx.message.sender_id,
                now=ctx.now,
                estate_id=ctx.estate.id if ctx.estate else None,
            )
            if redemption.ok:
                assert redemption.code is not None
                chat = await register_chat(
                    redemption.code, chat_ref.platform, chat_ref.chat_id, ""
                )
    except ChatTaken:
        log.info("refused to register %s: it belongs to another estate", chat_ref)
        ctx.reply("binding.chat_taken")
        return True
    if not redemption.ok:
        _refuse_code(ctx, redemption)
        return True
    ctx.reference_changed()  # the chat may have moved from one estate or kind to another
    estate = await Estate.get(id=chat.estate_id)
    log.info("registered %s as the %s chat of %s", chat_ref, chat.kind, estate.code)
    key = (
        "binding.registered_staff" if chat.kind is ChatKind.STAFF else "binding.registered_owners"
    )
    ctx.reply(key, estate=estate.name)
    return True


# --- What this module answers ------------------------------------------------------------------

ROUTES = Routes(
    commands=(
        StaffCommand(
            vocabulary.CODE,
            code_command,
            help="binding.help_code",
            elsewhere="binding.codes_come_from_staff",
        ),
        StaffCommand(
            vocabulary.STAFFCODE,
            staffcode_command,
            help="binding.help_staffcode",
            who=Who.SUPERVISOR,
            elsewhere="binding.codes_come_from_staff",
        ),
        StaffCommand(vocabulary.BINDINGS, bindings_command, help="binding.help_bindings"),
        StaffCommand(vocabulary.UNBIND, unbind_command, help="binding.help_unbind"),
        StaffCommand(vocabulary.APPROVE, approve_command, help="binding.help_approve"),
        StaffCommand(vocabulary.REFUSE, refuse_command, help="binding.help_refuse"),
    ),
    buttons={"approve": approve_pressed, "refuse": refuse_pressed},
)
