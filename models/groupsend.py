"""WeCom customer groups (客户群) registered to an estate, and the 客户群群发 tasks that
reach them: one task per group owner (群主) per notice, which that staff member confirms."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class CustomerGroup(Model):
    """A WeCom customer group that is one of an estate's owner groups (its `Chat` row, kind
    owners, holds the estate and the name). Notices reach it only through its owner's tasks."""

    id = fields.IntField(primary_key=True)
    chat = fields.OneToOneField(
        "models.Chat", related_name="customer_group", on_delete=fields.CASCADE
    )
    # The userid of the staff member who owns the group (群主): tasks for it go to them.
    owner_userid = fields.CharField(max_length=64)
    registered_at = fields.DatetimeField()

    class Meta:
        table = "customer_group"


class GroupSendTask(Model):
    """One 客户群群发 task for one delivery: the sender, the groups, the msgid WeCom returned,
    and what polling learnt since. Written just before WeCom is asked to create it, and removed
    when WeCom refuses: a row without a msgid is a creation whose answer was lost."""

    id = fields.IntField(primary_key=True)
    # The delivery's dedup key: a resend of the delivery finds this row and creates nothing.
    dedup_key = fields.CharField(max_length=255, unique=True)
    kind = fields.CharField(max_length=32)
    sender = fields.CharField(max_length=64)
    chat_ids = fields.JSONField(default=list)
    # Empty while WeCom's answer is awaited, or after it was lost.
    msgid = fields.CharField(max_length=128, default="")
    # Groups WeCom would not add to the task (fail_list of add_msg_template).
    refused = fields.JSONField(default=list)
    # Per group: WeCom's send status (0 not sent, 1 sent, 2 and 3 not delivered) and send time.
    results = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()
    # When the sender confirmed it in WeCom (their send_time), and when we last asked.
    confirmed_at = fields.DatetimeField(null=True)
    polled_at = fields.DatetimeField(null=True)
    reminded_at = fields.DatetimeField(null=True)
    # Every group has its final status, or polling gave up: no more questions to WeCom.
    closed = fields.BooleanField(default=False)
    last_error = fields.TextField(default="")

    class Meta:
        table = "group_send_task"
        indexes = (("closed", "created_at"),)
