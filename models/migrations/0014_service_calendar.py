from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import EventKind, TicketKind
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0013_wecom_kf')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ClosedDay',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('estate', fields.ForeignKeyField('models.Estate', source_field='estate_id', db_constraint=True, to_field='id', related_name='closed_days', on_delete=OnDelete.CASCADE)),
                ('day', fields.DateField()),
                ('note', fields.CharField(default='', max_length=64)),
            ],
            options={'table': 'closed_day', 'app': 'models', 'unique_together': (('estate', 'day'),), 'pk_attr': 'id', 'table_description': "A day an estate's office is closed beyond the public holidays (its own staff day)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OfficeHours',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('estate', fields.ForeignKeyField('models.Estate', source_field='estate_id', db_constraint=True, to_field='id', related_name='office_hours', on_delete=OnDelete.CASCADE)),
                ('weekday', fields.SmallIntField()),
                ('opens_minute', fields.SmallIntField()),
                ('closes_minute', fields.SmallIntField()),
            ],
            options={'table': 'office_hours', 'app': 'models', 'unique_together': (('estate', 'weekday'),), 'pk_attr': 'id', 'table_description': "When an estate's office is open on one weekday (0 is Monday). Once the estate has any"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ServiceTarget',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('estate', fields.ForeignKeyField('models.Estate', source_field='estate_id', db_constraint=True, to_field='id', related_name='targets', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='REPAIR: repair\nCOMPLAINT: complaint\nENQUIRY: enquiry', enum_type=TicketKind, max_length=16)),
                ('urgent', fields.BooleanField(default=False)),
                ('severity', fields.CharField(default='', max_length=16)),
                ('respond_minutes', fields.IntField()),
                ('resolve_minutes', fields.IntField()),
                ('office_time', fields.BooleanField(default=False)),
            ],
            options={'table': 'service_target', 'app': 'models', 'unique_together': (('estate', 'kind', 'urgent', 'severity'),), 'pk_attr': 'id', 'table_description': 'A promised time: for a kind of ticket, urgent or not, of a complaint severity (empty: any),'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Ticket',
            name='appointment_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='appointment_reminded',
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='office_time',
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='paused_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='paused_seconds',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='Ticket',
            name='paused_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='severity',
            field=fields.CharField(default='', max_length=16),
        ),
        ops.AlterField(
            model_name='TicketEvent',
            name='kind',
            field=fields.CharEnumField(description='OPENED: opened\nJOINED: joined\nCLAIMED: claimed\nTRANSFERRED: transferred\nNOTED: noted\nANSWERED: answered\nRESOLVED: resolved\nRATED: rated\nREOPENED: reopened\nCLOSED: closed\nESCALATED: escalated\nMADE_URGENT: made_urgent\nPHOTOS_ADDED: photos_added\nPAUSED: paused\nRESUMED: resumed\nSEVERITY: severity', enum_type=EventKind, max_length=16),
        ),
    ]
