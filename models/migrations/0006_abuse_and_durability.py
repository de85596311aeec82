from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.enums import InboundStatus, Platform
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_intake_location_incidents')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CallbackNonce',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('app', fields.CharField(max_length=96)),
                ('nonce', fields.CharField(max_length=64)),
                ('timestamp', fields.BigIntField()),
                ('digest', fields.CharField(max_length=64)),
                ('seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'callback_nonce', 'app': 'models', 'unique_together': (('app', 'nonce'),), 'pk_attr': 'id', 'table_description': 'A WeChat or WeCom callback seen within the replay window: its nonce and a digest of what'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='GuessBudget',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=200)),
                ('window_start', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('count', fields.IntField(default=0)),
                ('locked_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'guess_budget', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Wrong code guesses counted in a window, per chat account and per estate: the lockout is'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='InboundMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('platform', fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat', enum_type=Platform, max_length=16)),
                ('chat_id', fields.CharField(max_length=128)),
                ('message_id', fields.CharField(max_length=128)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharEnumField(default=InboundStatus.PENDING, description='PENDING: pending\nDONE: done', enum_type=InboundStatus, max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('accepted_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('handled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('claimed_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'inbound_message', 'app': 'models', 'unique_together': (('platform', 'chat_id', 'message_id'),), 'indexes': [Index(fields=['status', 'claimed_until'])], 'pk_attr': 'id', 'table_description': 'A message accepted from a platform (shown in a group, or acknowledged to the platform),'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LoginToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('staff', fields.ForeignKeyField('models.Staff', source_field='staff_id', db_constraint=True, to_field='id', related_name='login_tokens', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'login_token', 'app': 'models', 'pk_attr': 'id', 'table_description': "A one-time sign-in link to the staff console, sent to a staff member's bound chat."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('platform', fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat', enum_type=Platform, max_length=16)),
                ('chat_id', fields.CharField(max_length=128)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('claimed_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'outbox_message', 'app': 'models', 'pk_attr': 'id', 'table_description': "A reply queued inside a message's transaction: sent after it commits, and kept until it"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='ChatIdentity',
            name='unreachable_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
