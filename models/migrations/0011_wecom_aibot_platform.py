from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import Platform
from tortoise import fields

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
    ]
