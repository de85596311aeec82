"""What the staff desk keeps: one-time codes, binding requests, ticket cards and escalations."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.enums import ChatKind, Platform


class CodePurpose(StrEnum):
    """What a one-time code does when it is used."""

    BIND_UNIT = "bind_unit"  # an owner's chat account → a unit's owners
    BIND_STAFF = "bind_staff"  # a chat account → a staff member
    REGISTER_CHAT = "register_chat"  # a group → an estate's owner group or staff chat


class RequestStatus(StrEnum):
    """Where a binding request stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


class OneTimeCode(Model):
    """A code staff hand out, which works once and expires (binding and chat registration)."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    purpose = fields.CharEnumField(CodePurpose, max_length=16)
    estate: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Estate", related_name="codes", on_delete=fields.CASCADE
    )
    unit: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Unit", related_name="codes", null=True, on_delete=fields.CASCADE
    )
    owner: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Owner", related_name="codes", null=True, on_delete=fields.CASCADE
    )
    staff: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Staff", related_name="codes", null=True, on_delete=fields.CASCADE
    )
    chat_kind = fields.CharEnumField(ChatKind, max_length=16, null=True)
    created_by = fields.CharField(max_length=160)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    used_by = fields.CharField(max_length=160, default="")

    class Meta:
        table = "one_time_code"


class CodeAttempt(Model):
    """A wrong code sent by a chat account, for locking out guessing."""

    id = fields.IntField(primary_key=True)
    platform = fields.CharEnumField(Platform, max_length=16)
    user_id = fields.CharField(max_length=128)
    at = fields.DatetimeField()

    class Meta:
        table = "code_attempt"


class GuessBudget(Model):
    """Wrong code guesses counted in a window, per chat account and per estate: the lockout is
    decided by one compare-and-set on this row, so a burst cannot exceed the limit."""

    id = fields.IntField(primary_key=True)
    # "account:<platform>:<user id>" or "estate:<id>".
    key = fields.CharField(max_length=200, unique=True)
    window_start = fields.DatetimeField()
    count = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)

    class Meta:
        table = "guess_budget"


class LoginToken(Model):
    """A one-time sign-in link to the staff console, sent to a staff member's bound chat."""

    id = fields.IntField(primary_key=True)
    # Only a hash is kept: the store never holds a usable link.
    token_hash = fields.CharField(max_length=64, unique=True)
    staff: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Staff", related_name="login_tokens", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "login_token"


class BindingRequest(Model):
    """An owner's request to be bound to a unit, for staff to approve or refuse."""

    id = fields.IntField(primary_key=True)
    estate: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Estate", related_name="binding_requests", on_delete=fields.CASCADE
    )
    platform = fields.CharEnumField(Platform, max_length=16)
    user_id = fields.CharField(max_length=128)
    unit: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Unit", related_name="binding_requests", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=64)
    status = fields.CharEnumField(RequestStatus, max_length=16, default=RequestStatus.PENDING)
    created_at = fields.DatetimeField()
    decided_by = fields.CharField(max_length=160, default="")
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "binding_request"


class TicketCard(Model):
    """A ticket's card as posted in a staff chat, so it can be edited as the ticket changes."""

    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Ticket", related_name="cards", on_delete=fields.CASCADE
    )
    platform = fields.CharEnumField(Platform, max_length=16)
    chat_id = fields.CharField(max_length=128)
    message_id = fields.CharField(max_length=128)

    class Meta:
        table = "ticket_card"
        unique_together = (("ticket", "platform", "chat_id"),)


class Escalation(Model):
    """One alert for one breach of a promised time at one level: unique, so never sent twice."""

    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Ticket", related_name="escalations", on_delete=fields.CASCADE
    )
    # "response" or "resolve", and the deadline it breached (a reopen sets new deadlines).
    breach = fields.CharField(max_length=16)
    deadline = fields.DatetimeField()
    level = fields.IntField()
    at = fields.DatetimeField()

    class Meta:
        table = "escalation"
        unique_together = (("ticket", "breach", "deadline", "level"),)
