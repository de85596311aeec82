"""What the scheduler keeps: announcements, an estate's own greeting dates, the job lease."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Announcement(Model):
    """A notice staff scheduled for an estate's owner groups (all of them, or one)."""

    id = fields.IntField(primary_key=True)
    estate: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Estate", related_name="announcements", on_delete=fields.CASCADE
    )
    text = fields.TextField()
    send_at = fields.DatetimeField()
    # Null means every owner group of the estate.
    chat: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Chat", related_name="announcements", null=True, on_delete=fields.CASCADE
    )
    created_by = fields.CharField(max_length=160)
    created_at = fields.DatetimeField()
    cancelled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "announcement"


class EstateGreeting(Model):
    """A greeting date an estate adds to the festivals (its anniversary, say), every year."""

    id = fields.IntField(primary_key=True)
    estate: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Estate", related_name="greetings", on_delete=fields.CASCADE
    )
    month = fields.IntField()
    day = fields.IntField()
    text_zh = fields.TextField()
    text_en = fields.TextField(default="")

    class Meta:
        table = "estate_greeting"


class Lease(Model):
    """Who holds a named lease (the scheduler, a token refresh) until when."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    holder = fields.CharField(max_length=128)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "lease"


class ApiToken(Model):
    """A platform access token shared by every process (WeChat's, WeCom's)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    token = fields.TextField()
    expires_at = fields.DatetimeField()

    class Meta:
        table = "api_token"


class Incident(Model):
    """A planned outage an announcement told the owners of (water, power, a lift, gas).

    Reports of it while it lasts are answered with the announced times instead of opening
    tickets, and counted for staff.
    """

    id = fields.IntField(primary_key=True)
    estate: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Estate", related_name="incidents", on_delete=fields.CASCADE
    )
    announcement: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Announcement", related_name="incidents", null=True, on_delete=fields.CASCADE
    )
    # water, power, lift or gas.
    kind = fields.CharField(max_length=16)
    # The building as owners write it (3, B), or None for the whole estate.
    building = fields.CharField(max_length=16, null=True)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    text = fields.TextField(default="")
    cancelled_at = fields.DatetimeField(null=True)
    # The staff chats' message that counts the owners who asked: {"platform:chat id": message id}.
    cards = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()

    class Meta:
        table = "incident"


class IncidentReport(Model):
    """An owner who asked about an incident (once per owner's chat account)."""

    id = fields.IntField(primary_key=True)
    incident: fields.ForeignKeyRelation[Incident] = fields.ForeignKeyField(
        "models.Incident", related_name="reports", on_delete=fields.CASCADE
    )
    platform = fields.CharField(max_length=16)
    user_id = fields.CharField(max_length=128)
    chat_id = fields.CharField(max_length=128)
    message_id = fields.CharField(max_length=128)
    text = fields.TextField(default="")
    at = fields.DatetimeField()

    class Meta:
        table = "incident_report"
        unique_together = (("incident", "platform", "user_id"),)
