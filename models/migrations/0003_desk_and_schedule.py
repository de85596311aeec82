from tortoise import migrations
from tortoise.migrations import operations as ops
from models.desk import CodePurpose, RequestStatus
from models.enums import ChatKind, Platform
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_dialog')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Announcement',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('estate', fields.ForeignKeyField('models.Estate', source_field='estate_id', db_constraint=True, to_field='id', related_name='announcements', on_delete=OnDelete.CASCADE)),
                ('text', fields.TextField(unique=False)),
                ('send_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('chat', fields.ForeignKeyField('models.Chat', source_field='chat_id', null=True, db_constraint=True, to_field='id', related_name='announcements', on_delete=OnDelete.CASCADE)),
                ('created_by', fields.CharField(max_length=160)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('cancelled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'announcement', 'app': 'models', 'pk_attr': 'id', 'table_description': "A notice staff scheduled for an estate's owner groups (all of them, or one)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=64)),
                ('token', fields.TextField(unique=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_token', 'app': 'models', 'pk_attr': 'id', 'table_description': "A platform access token shared by every process (WeChat's, WeCom's)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BindingRequest',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('estate', fields.ForeignKeyField('models.Estate', source_field='estate_id', db_constraint=True, to_field='id', related_name='binding_requests', on_delete=OnDelete.CASCADE)),
                ('platform', fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat', enum_type=Platform, max_length=16)),
                ('user_id', fields.CharField(max_length=128)),
                ('unit', fields.ForeignKeyField('models.Unit', source_field='unit_id', db_constraint=True, to_field='id', related_name='binding_requests', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=64)),
                ('status', fields.CharEnumField(default=RequestStatus.PENDING, description='PENDING: pending\nAPPROVED: approved\nREFUSED: refused', enum_type=RequestStatus, max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_by', fields.CharField(default='', max_length=160)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'binding_request', 'app': 'models', 'pk_attr': 'id', 'table_description': "An owner's request to be bound to a unit, for staff to approve or refuse."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CodeAttempt',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('platform', fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat', enum_type=Platform, max_length=16)),
                ('user_id', fields.CharField(max_length=128)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'code_attempt', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A wrong code sent by a chat account, for locking out guessing.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Escalation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('models.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='escalations', on_delete=OnDelete.CASCADE)),
                ('breach', fields.CharField(max_length=16)),
                ('deadline', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('level', fields.IntField()),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'escalation', 'app': 'models', 'unique_together': (('ticket', 'breach', 'deadline', 'level'),), 'pk_attr': 'id', 'table_description': 'One alert for one breach of a promised time at one level: unique, so never sent twice.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EstateGreeting',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('estate', fields.ForeignKeyField('models.Estate', source_field='estate_id', db_constraint=True, to_field='id', related_name='greetings', on_delete=OnDelete.CASCADE)),
                ('month', fields.IntField()),
                ('day', fields.IntField()),
                ('text_zh', fields.TextField(unique=False)),
                ('text_en', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'estate_greeting', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A greeting date an estate adds to the festivals (its anniversary, say), every year.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Lease',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=64)),
                ('holder', fields.CharField(max_length=128)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'lease', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Who holds a named lease (the scheduler, a token refresh) until when.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OneTimeCode',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('purpose', fields.CharEnumField(description='BIND_UNIT: bind_unit\nBIND_STAFF: bind_staff\nREGISTER_CHAT: register_chat', enum_type=CodePurpose, max_length=16)),
                ('estate', fields.ForeignKeyField('models.Estate', source_field='estate_id', db_constraint=True, to_field='id', related_name='codes', on_delete=OnDelete.CASCADE)),
                ('unit', fields.ForeignKeyField('models.Unit', source_field='unit_id', null=True, db_constraint=True, to_field='id', related_name='codes', on_delete=OnDelete.CASCADE)),
                ('owner', fields.ForeignKeyField('models.Owner', source_field='owner_id', null=True, db_constraint=True, to_field='id', related_name='codes', on_delete=OnDelete.CASCADE)),
                ('staff', fields.ForeignKeyField('models.Staff', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='codes', on_delete=OnDelete.CASCADE)),
                ('chat_kind', fields.CharEnumField(null=True, description='OWNERS: owners\nSTAFF: staff\nPRIVATE: private', enum_type=ChatKind, max_length=16)),
                ('created_by', fields.CharField(max_length=160)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('used_by', fields.CharField(default='', max_length=160)),
            ],
            options={'table': 'one_time_code', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A code staff hand out, which works once and expires (binding and chat registration).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TicketCard',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('models.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='cards', on_delete=OnDelete.CASCADE)),
                ('platform', fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat', enum_type=Platform, max_length=16)),
                ('chat_id', fields.CharField(max_length=128)),
                ('message_id', fields.CharField(max_length=128)),
            ],
            options={'table': 'ticket_card', 'app': 'models', 'unique_together': (('ticket', 'platform', 'chat_id'),), 'pk_attr': 'id', 'table_description': "A ticket's card as posted in a staff chat, so it can be edited as the ticket changes."},
            bases=['Model'],
        ),
    ]
