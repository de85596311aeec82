from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0009_reply_window')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='SeenMessage',
            index=Index(fields=['at']),
        ),
    ]
