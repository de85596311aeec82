"""What must be remembered about messages: deliveries of notices, messages already seen, messages
accepted but not yet handled, replies not yet sent, platform callbacks already seen, and when each
person last wrote (their reply window)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.enums import DeliveryStatus, InboundStatus, Platform


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
    # The notifier holding the claim (the scheduler lease's holder): a process that takes the
    # lease over takes back at once the claims of any other holder.
    claimed_by = fields.CharField(max_length=96, null=True)
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "delivery"
        # The due rows (by status and time) and the claims in hand (by status and holder).
        indexes = (("status", "next_attempt_at"), ("status", "claimed_by"))


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
        # The prune (`bot.core.chats.prune_seen`, every 30 s) deletes by age.
        indexes = (("at",),)


class ReplyWindow(Model):
    """When a person last wrote to the bot in a private chat (a message, a follow, a click): what
    a platform's reply window (WeChat's 48 hours) is measured from. Kept apart from the dedup
    record (`SeenMessage`), which is pruned long before an account stops being a follower."""

    id = fields.IntField(primary_key=True)
    platform = fields.CharEnumField(Platform, max_length=16)
    chat_id = fields.CharField(max_length=128)
    last_seen_at = fields.DatetimeField()

    class Meta:
        table = "reply_window"
        unique_together = (("platform", "chat_id"),)


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


class InboundMessage(Model):
    """A message accepted from a platform (shown in a group, or acknowledged to the platform),
    kept until it is handled, so a process that dies handles it on restart."""

    id = fields.IntField(primary_key=True)
    platform = fields.CharEnumField(Platform, max_length=16)
    chat_id = fields.CharField(max_length=128)
    message_id = fields.CharField(max_length=128)
    # The IncomingMessage, as JSON (its platform object left out).
    data = fields.JSONField(default=dict)
    status = fields.CharEnumField(InboundStatus, max_length=16, default=InboundStatus.PENDING)
    attempts = fields.IntField(default=0)
    accepted_at = fields.DatetimeField()
    handled_at = fields.DatetimeField(null=True)
    # A process handling it holds it until then; after, another may take it over.
    claimed_until = fields.DatetimeField(null=True)

    class Meta:
        table = "inbound_message"
        unique_together = (("platform", "chat_id", "message_id"),)
        indexes = (("status", "claimed_until"),)


class OutboxMessage(Model):
    """A reply queued inside a message's transaction: sent after it commits, and kept until it
    was sent, so a process that dies between the two still sends it on restart."""

    id = fields.IntField(primary_key=True)
    platform = fields.CharEnumField(Platform, max_length=16)
    chat_id = fields.CharField(max_length=128)
    # The OutgoingMessage, what it edits, and what to remember once it is out, as JSON.
    data = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()
    attempts = fields.IntField(default=0)
    # A process sending it holds it until then.
    claimed_until = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox_message"


class CallbackNonce(Model):
    """A WeChat or WeCom callback seen within the replay window: its nonce and a digest of what
    it carried, so a replay (the same nonce with other contents) is refused by every process."""

    id = fields.IntField(primary_key=True)
    # Which account the callback was for ("wechat:<appid>", "wecom:<corpid>:<agent>").
    app = fields.CharField(max_length=96)
    nonce = fields.CharField(max_length=64)
    timestamp = fields.BigIntField()
    digest = fields.CharField(max_length=64)
    seen_at = fields.DatetimeField()

    class Meta:
        table = "callback_nonce"
        unique_together = (("app", "nonce"),)


class SyncCursor(Model):
    """Where a pull-based platform's message stream was read up to (微信客服's `sync_msg`
    cursor), so that a restart resumes after the last page taken, neither losing nor repeating."""

    id = fields.IntField(primary_key=True)
    # Which stream ("wecom_kf:<corpid>:<open_kfid>").
    name = fields.CharField(max_length=96, unique=True)
    cursor = fields.CharField(max_length=128)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "sync_cursor"


class ReplyQuota(Model):
    """How many messages were sent to a person since their last message, for a platform that
    allows only a few per message (微信客服: 5 within 48 hours)."""

    id = fields.IntField(primary_key=True)
    platform = fields.CharEnumField(Platform, max_length=16)
    chat_id = fields.CharField(max_length=128)
    # The person's message the count runs from (their last one when it was counted).
    window_from = fields.DatetimeField()
    sent = fields.IntField(default=0)

    class Meta:
        table = "reply_quota"
        unique_together = (("platform", "chat_id"),)


class HeldMessage(Model):
    """A message the platform would not let the bot send (the person's reply window had run
    out): kept, and sent when they write again."""

    id = fields.IntField(primary_key=True)
    platform = fields.CharEnumField(Platform, max_length=16)
    chat_id = fields.CharField(max_length=128)
    text = fields.TextField()
    # "reply", or the notice's kind ("bill", "ticket" …).
    kind = fields.CharField(max_length=32)
    held_at = fields.DatetimeField()

    class Meta:
        table = "held_message"
        indexes = (("platform", "chat_id"),)
