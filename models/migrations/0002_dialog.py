from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.enums import Platform
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Dialog',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('platform', fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat', enum_type=Platform, max_length=16)),
                ('chat_id', fields.CharField(max_length=128)),
                ('user_id', fields.CharField(max_length=128)),
                ('kind', fields.CharField(max_length=32)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'dialog', 'app': 'models', 'unique_together': (('platform', 'chat_id', 'user_id'),), 'pk_attr': 'id', 'table_description': 'An open conversation step with one person in one chat (a question awaiting an answer).'},
            bases=['Model'],
        ),
    ]
