from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.enums import ChatKind, EventKind
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_notices_delivery')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Incident',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('estate', fields.ForeignKeyField('models.Estate', source_field='estate_id', db_constraint=True, to_field='id', related_name='incidents', on_delete=OnDelete.CASCADE)),
                ('announcement', fields.ForeignKeyField('models.Announcement', source_field='announcement_id', null=True, db_constraint=True, to_field='id', related_name='incidents', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=16)),
                ('building', fields.CharField(null=True, max_length=16)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('text', fields.TextField(default='', unique=False)),
                ('cancelled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cards', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'incident', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A planned outage an announcement told the owners of (water, power, a lift, gas).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IncidentReport',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('incident', fields.ForeignKeyField('models.Incident', source_field='incident_id', db_constraint=True, to_field='id', related_name='reports', on_delete=OnDelete.CASCADE)),
                ('platform', fields.CharField(max_length=16)),
                ('user_id', fields.CharField(max_length=128)),
                ('chat_id', fields.CharField(max_length=128)),
                ('message_id', fields.CharField(max_length=128)),
                ('text', fields.TextField(default='', unique=False)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'incident_report', 'app': 'models', 'unique_together': (('incident', 'platform', 'user_id'),), 'pk_attr': 'id', 'table_description': "An owner who asked about an incident (once per owner's chat account)."},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Chat',
            name='kind',
            field=fields.CharEnumField(description='OWNERS: owners\nSTAFF: staff\nPRIVATE: private\nUNREGISTERED: unregistered', enum_type=ChatKind, max_length=16),
        ),
        ops.AlterField(
            model_name='OneTimeCode',
            name='chat_kind',
            field=fields.CharEnumField(null=True, description='OWNERS: owners\nSTAFF: staff\nPRIVATE: private\nUNREGISTERED: unregistered', enum_type=ChatKind, max_length=16),
        ),
        ops.AddField(
            model_name='Ticket',
            name='location_building',
            field=fields.CharField(null=True, max_length=16),
        ),
        ops.AddField(
            model_name='Ticket',
            name='location_place',
            field=fields.CharField(null=True, max_length=16),
        ),
        ops.AddField(
            model_name='Ticket',
            name='location_unknown',
            field=fields.CharField(default='', max_length=48),
        ),
        ops.AddField(
            model_name='Ticket',
            name='reporter_unit',
            field=fields.ForeignKeyField('models.Unit', source_field='reporter_unit_id', null=True, db_constraint=True, to_field='id', related_name='reported_tickets', on_delete=OnDelete.SET_NULL),
        ),
        ops.AlterField(
            model_name='TicketEvent',
            name='kind',
            field=fields.CharEnumField(description='OPENED: opened\nJOINED: joined\nCLAIMED: claimed\nTRANSFERRED: transferred\nNOTED: noted\nANSWERED: answered\nRESOLVED: resolved\nRATED: rated\nREOPENED: reopened\nCLOSED: closed\nESCALATED: escalated\nMADE_URGENT: made_urgent\nPHOTOS_ADDED: photos_added', enum_type=EventKind, max_length=16),
        ),
        ops.AddField(
            model_name='TicketReporter',
            name='name',
            field=fields.CharField(default='', max_length=128),
        ),
        ops.AddField(
            model_name='TicketReporter',
            name='text',
            field=fields.TextField(default='', unique=False),
        ),
    ]
