"""Owners an updated register no longer lists are kept but inactive (`owner.active`), and a
bill keeps its own number from the company's billing system (`bill.number`, "" when none), by
which a re-import finds it. Both are added columns: no table is rebuilt.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0017_duty_roster')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Bill',
            name='number',
            field=fields.CharField(default='', max_length=32),
        ),
        ops.AddField(
            model_name='Owner',
            name='active',
            field=fields.BooleanField(default=True),
        ),
    ]
