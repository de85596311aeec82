"""Platform gains `wecom_aibot` (the WeCom AI bot): every `platform` column's description names it.

On PostgreSQL that is a column comment. On SQLite tortoise alters a field by rebuilding its table,
and the rebuild drops the table's unique-together constraints and indexes (as 0005 did, see
0008); they are created again here, as the models declare them, before anything can write.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import Platform
from tortoise import fields

# What the SQLite rebuilds drop, as the models declare it (tortoise's own names).
RESTORE = (
    'CREATE UNIQUE INDEX IF NOT EXISTS "uid_chat_platfor_cd7748" ON "chat" ("platform", "chat_id")',
    'CREATE UNIQUE INDEX IF NOT EXISTS "uid_chat_identi_platfor_dabc49" '
    'ON "chat_identity" ("platform", "user_id")',
    'CREATE INDEX IF NOT EXISTS "idx_delivery_status_bb1bd8" '
    'ON "delivery" ("status", "next_attempt_at")',
    'CREATE INDEX IF NOT EXISTS "idx_delivery_status_b49285" ON "delivery" ("status", "claimed_by")',
    'CREATE UNIQUE INDEX IF NOT EXISTS "uid_dialog_platfor_38445d" '
    'ON "dialog" ("platform", "chat_id", "user_id")',
    'CREATE INDEX IF NOT EXISTS "idx_inbound_mes_status_7b2788" '
    'ON "inbound_message" ("status", "claimed_until")',
    'CREATE UNIQUE INDEX IF NOT EXISTS "uid_inbound_mes_platfor_3c92c0" '
    'ON "inbound_message" ("platform", "chat_id", "message_id")',
    'CREATE UNIQUE INDEX IF NOT EXISTS "uid_reply_windo_platfor_238515" '
    'ON "reply_window" ("platform", "chat_id")',
    'CREATE INDEX IF NOT EXISTS "idx_seen_messag_at_987c1a" ON "seen_message" ("at")',
    'CREATE UNIQUE INDEX IF NOT EXISTS "uid_seen_messag_platfor_d5215f" '
    'ON "seen_message" ("platform", "chat_id", "message_id")',
    'CREATE UNIQUE INDEX IF NOT EXISTS "uid_ticket_estate__9aba6f" ON "ticket" ("estate_id", "number")',
    'CREATE UNIQUE INDEX IF NOT EXISTS "uid_ticket_card_ticket__6a8b09" '
    'ON "ticket_card" ("ticket_id", "platform", "chat_id")',
    'CREATE UNIQUE INDEX IF NOT EXISTS "uid_ticket_repo_ticket__c4cc98" '
    'ON "ticket_reporter" ("ticket_id", "platform", "user_id")',
)


async def restore_indexes(apps: object, schema_editor: object) -> None:
    client = schema_editor.client  # type: ignore[attr-defined]
    if client.capabilities.dialect != "sqlite":
        return
    await client.execute_script(";".join(RESTORE) + ";")


class Migration(migrations.Migration):
    dependencies = [('models', '0010_seen_message_by_age')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='BindingRequest',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        ops.AlterField(
            model_name='Chat',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        ops.AlterField(
            model_name='ChatIdentity',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        ops.AlterField(
            model_name='CodeAttempt',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        ops.AlterField(
            model_name='Delivery',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        ops.AlterField(
            model_name='Dialog',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        ops.AlterField(
            model_name='InboundMessage',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        ops.AlterField(
            model_name='OutboxMessage',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        ops.AlterField(
            model_name='ReplyWindow',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        ops.AlterField(
            model_name='SeenMessage',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        ops.AlterField(
            model_name='Ticket',
            name='source_platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        ops.AlterField(
            model_name='TicketCard',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        ops.AlterField(
            model_name='TicketReporter',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        ops.RunPython(restore_indexes, ops.RunPython.noop),
    ]
