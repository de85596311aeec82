"""Platform gains `wecom_aibot` (the WeCom AI bot): every `platform` column's description names it.

A new Platform member changes only the platform columns' description: they stay VARCHAR(16).
Tortoise's SQLite AlterField would rebuild each table and drop its unique-together constraints
and indexes (as 0005 did, see 0008), so `DescribeEnumField` moves the migration state on and
leaves the database alone.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import Platform
from models.migration_ops import DescribeEnumField
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('models', '0010_seen_message_by_age')]

    initial = False

    operations = [
        DescribeEnumField(
            model_name='BindingRequest',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        DescribeEnumField(
            model_name='Chat',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        DescribeEnumField(
            model_name='ChatIdentity',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        DescribeEnumField(
            model_name='CodeAttempt',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        DescribeEnumField(
            model_name='Delivery',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        DescribeEnumField(
            model_name='Dialog',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        DescribeEnumField(
            model_name='InboundMessage',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        DescribeEnumField(
            model_name='OutboxMessage',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        DescribeEnumField(
            model_name='ReplyWindow',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        DescribeEnumField(
            model_name='SeenMessage',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        DescribeEnumField(
            model_name='Ticket',
            name='source_platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        DescribeEnumField(
            model_name='TicketCard',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
        DescribeEnumField(
            model_name='TicketReporter',
            name='platform',
            field=fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat\nWECOM_AIBOT: wecom_aibot', enum_type=Platform, max_length=16),
        ),
    ]
