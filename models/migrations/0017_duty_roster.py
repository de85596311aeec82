"""The duty roster (`duty_shift`), an estate's escalation steps, and the manager staff role.

StaffRole gains `manager`: only the role column's description changes (it stays VARCHAR(16)), so
`DescribeEnumField` moves the migration state on and leaves the table alone (as 0011 does: an
SQLite AlterField would rebuild the table and drop its unique-together constraint).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import Department, StaffRole
from models.migration_ops import DescribeEnumField
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [('models', '0016_ticket_features')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DutyShift',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('estate', fields.ForeignKeyField('models.Estate', source_field='estate_id', db_constraint=True, to_field='id', related_name='duty_shifts', on_delete=OnDelete.CASCADE)),
                ('department', fields.CharEnumField(description='ENGINEERING: engineering\nCLEANING: cleaning\nSECURITY: security\nGREENING: greening\nCUSTOMER_SERVICE: customer_service', enum_type=Department, max_length=24)),
                ('staff', fields.ForeignKeyField('models.Staff', source_field='staff_id', db_constraint=True, to_field='id', related_name='duty_shifts', on_delete=OnDelete.CASCADE)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'duty_shift', 'app': 'models', 'indexes': [Index(fields=['estate_id', 'department', 'starts_at'])], 'pk_attr': 'id', 'table_description': 'One staff member on duty for one department from `starts_at` until `ends_at`.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Estate',
            name='escalation_steps',
            field=fields.CharField(default='0,30,120', max_length=64),
        ),
        DescribeEnumField(
            model_name='Staff',
            name='role',
            field=fields.CharEnumField(description='CLERK: clerk\nENGINEER: engineer\nCLEANER: cleaner\nGUARD: guard\nGARDENER: gardener\nSUPERVISOR: supervisor\nMANAGER: manager', enum_type=StaffRole, max_length=16),
        ),
    ]
