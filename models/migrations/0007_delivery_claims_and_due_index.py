from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import DeliveryStatus
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0006_abuse_and_durability')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Delivery',
            name='status',
            field=fields.CharEnumField(default=DeliveryStatus.PENDING, description='PENDING: pending\nCLAIMED: claimed\nSENDING: sending\nSENT: sent\nFAILED: failed\nUNKNOWN: unknown', enum_type=DeliveryStatus, max_length=16),
        ),
        ops.AddField(
            model_name='Delivery',
            name='claimed_by',
            field=fields.CharField(null=True, max_length=96),
        ),
        ops.AddIndex(
            model_name='Delivery',
            index=Index(fields=['status', 'next_attempt_at']),
        ),
        ops.AddIndex(
            model_name='Delivery',
            index=Index(fields=['status', 'claimed_by']),
        ),
    ]
