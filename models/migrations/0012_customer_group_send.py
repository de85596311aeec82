from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0011_wecom_aibot_platform')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CustomerGroup',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('chat', fields.OneToOneField('models.Chat', source_field='chat_id', db_constraint=True, to_field='id', related_name='customer_group', on_delete=OnDelete.CASCADE)),
                ('owner_userid', fields.CharField(max_length=64)),
                ('registered_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'customer_group', 'app': 'models', 'pk_attr': 'id', 'table_description': "A WeCom customer group that is one of an estate's owner groups (its `Chat` row, kind"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='GroupSendTask',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('dedup_key', fields.CharField(unique=True, max_length=255)),
                ('kind', fields.CharField(max_length=32)),
                ('sender', fields.CharField(max_length=64)),
                ('chat_ids', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('msgid', fields.CharField(default='', max_length=128)),
                ('refused', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('results', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('confirmed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('polled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reminded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed', fields.BooleanField(default=False)),
                ('last_error', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'group_send_task', 'app': 'models', 'indexes': [Index(fields=['closed', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One 客户群群发 task for one delivery: the sender, the groups, the msgid WeCom returned,'},
            bases=['Model'],
        ),
    ]
