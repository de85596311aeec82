"""微信客服: the platform `wecom_kf`, the `sync_msg` cursor, the reply-window count and the
messages kept for when a person writes again.

A new Platform member changes only the platform columns' description: they stay VARCHAR(16).
Tortoise 1.1's SQLite AlterField would rebuild each table and drop its unique_together (see
0008), so `DescribeEnumField` moves the migration state on and leaves the database alone.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import Platform
from models.migration_ops import DescribeEnumField
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("models", "0010_seen_message_by_age")]

    initial = False

    operations = [
        ops.CreateModel(
            name="HeldMessage",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "platform",
                    fields.CharEnumField(
                        description="TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot\nWECOM_KF: wecom_kf",
                        enum_type=Platform,
                        max_length=16,
                    ),
                ),
                ("chat_id", fields.CharField(max_length=128)),
                ("text", fields.TextField(unique=False)),
                ("kind", fields.CharField(max_length=32)),
                ("held_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "held_message",
                "app": "models",
                "indexes": [Index(fields=["platform", "chat_id"])],
                "pk_attr": "id",
                "table_description": "A message the platform would not let the bot send (the person's reply window had run",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ReplyQuota",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "platform",
                    fields.CharEnumField(
                        description="TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot\nWECOM_KF: wecom_kf",
                        enum_type=Platform,
                        max_length=16,
                    ),
                ),
                ("chat_id", fields.CharField(max_length=128)),
                ("window_from", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("sent", fields.IntField(default=0)),
            ],
            options={
                "table": "reply_quota",
                "app": "models",
                "unique_together": (("platform", "chat_id"),),
                "pk_attr": "id",
                "table_description": "How many messages were sent to a person since their last message, for a platform that",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SyncCursor",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("name", fields.CharField(unique=True, max_length=96)),
                ("cursor", fields.CharField(max_length=128)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "sync_cursor",
                "app": "models",
                "pk_attr": "id",
                "table_description": "Where a pull-based platform's message stream was read up to (微信客服's `sync_msg`",
            },
            bases=["Model"],
        ),
        DescribeEnumField(
            model_name="BindingRequest",
            name="platform",
            field=fields.CharEnumField(
                description="TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot\nWECOM_KF: wecom_kf",
                enum_type=Platform,
                max_length=16,
            ),
        ),
        DescribeEnumField(
            model_name="Chat",
            name="platform",
            field=fields.CharEnumField(
                description="TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot\nWECOM_KF: wecom_kf",
                enum_type=Platform,
                max_length=16,
            ),
        ),
        DescribeEnumField(
            model_name="ChatIdentity",
            name="platform",
            field=fields.CharEnumField(
                description="TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot\nWECOM_KF: wecom_kf",
                enum_type=Platform,
                max_length=16,
            ),
        ),
        DescribeEnumField(
            model_name="CodeAttempt",
            name="platform",
            field=fields.CharEnumField(
                description="TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot\nWECOM_KF: wecom_kf",
                enum_type=Platform,
                max_length=16,
            ),
        ),
        DescribeEnumField(
            model_name="Delivery",
            name="platform",
            field=fields.CharEnumField(
                description="TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot\nWECOM_KF: wecom_kf",
                enum_type=Platform,
                max_length=16,
            ),
        ),
        DescribeEnumField(
            model_name="Dialog",
            name="platform",
            field=fields.CharEnumField(
                description="TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot\nWECOM_KF: wecom_kf",
                enum_type=Platform,
                max_length=16,
            ),
        ),
        DescribeEnumField(
            model_name="InboundMessage",
            name="platform",
            field=fields.CharEnumField(
                description="TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot\nWECOM_KF: wecom_kf",
                enum_type=Platform,
                max_length=16,
            ),
        ),
        DescribeEnumField(
            model_name="OutboxMessage",
            name="platform",
            field=fields.CharEnumField(
                description="TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot\nWECOM_KF: wecom_kf",
                enum_type=Platform,
                max_length=16,
            ),
        ),
        DescribeEnumField(
            model_name="ReplyWindow",
            name="platform",
            field=fields.CharEnumField(
                description="TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot\nWECOM_KF: wecom_kf",
                enum_type=Platform,
                max_length=16,
            ),
        ),
        DescribeEnumField(
            model_name="SeenMessage",
            name="platform",
            field=fields.CharEnumField(
                description="TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot\nWECOM_KF: wecom_kf",
                enum_type=Platform,
                max_length=16,
            ),
        ),
        DescribeEnumField(
            model_name="Ticket",
            name="source_platform",
            field=fields.CharEnumField(
                description="TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot\nWECOM_KF: wecom_kf",
                enum_type=Platform,
                max_length=16,
            ),
        ),
        DescribeEnumField(
            model_name="TicketCard",
            name="platform",
            field=fields.CharEnumField(
                description="TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot\nWECOM_KF: wecom_kf",
                enum_type=Platform,
                max_length=16,
            ),
        ),
        DescribeEnumField(
            model_name="TicketReporter",
            name="platform",
            field=fields.CharEnumField(
                description="TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot\nWECOM_KF: wecom_kf",
                enum_type=Platform,
                max_length=16,
            ),
        ),
    ]
