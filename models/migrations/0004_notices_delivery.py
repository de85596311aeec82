from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import DeliveryStatus
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_desk_and_schedule')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Delivery',
            name='status',
            field=fields.CharEnumField(default=DeliveryStatus.PENDING, description='PENDING: pending\nSENDING: sending\nSENT: sent\nFAILED: failed\nUNKNOWN: unknown', enum_type=DeliveryStatus, max_length=16),
        ),
        ops.AddField(
            model_name='Delivery',
            name='unknown_sends',
            field=fields.IntField(default=0),
        ),
    ]
