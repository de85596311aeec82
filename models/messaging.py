"""What must be remembered about messages: deliveries of notices and messages already seen."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.enums import DeliveryStatus, Platform


class Delivery(Model):
    """One notice to one recipient, recorded once: its dedup key is unique."""

    id = fields.IntField(primary_key=True)
    # kind:recipient:period, e.g. "bill:telegram:12345:2026-11:unit-17".
    dedup_key = fields.CharField(max_length=255, unique=True)
    kind = fields.CharField(max_length=32)
    platform = fields.CharEnumField(Platform, max_length=16)
    chat_id = fields.CharField(max_length=128)
    payload = fields.JSONField(default=dict)
    status = fields.CharEnumField(DeliveryStatus, max_length=16, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    # Sends whose answer was lost (a timeout, a reset, a process that stopped mid-send): nobody
    # knows whether they went out, so such a delivery is retried at most once.
    unknown_sends = fields.IntField(default=0)
    last_error = fields.TextField(default="")
    next_attempt_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "delivery"


class SeenMessage(Model):
    """A platform message already handled, so a redelivery of it does nothing."""

    id = fields.IntField(primary_key=True)
    platform = fields.CharEnumField(Platform, max_length=16)
    chat_id = fields.CharField(max_length=128)
    message_id = fields.CharField(max_length=128)
    at = fields.DatetimeField()

    class Meta:
        table = "seen_message"
        unique_together = (("platform", "chat_id", "message_id"),)


class Dialog(Model):
    """An open conversation step with one person in one chat (a question awaiting an answer)."""

    id = fields.IntField(primary_key=True)
    platform = fields.CharEnumField(Platform, max_length=16)
    chat_id = fields.CharField(max_length=128)
    user_id = fields.CharField(max_length=128)
    kind = fields.CharField(max_length=32)
    data = fields.JSONField(default=dict)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "dialog"
        unique_together = (("platform", "chat_id", "user_id"),)
