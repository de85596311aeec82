"""Each person's reply window, kept apart from the dedup record (`seen_message`).

WeChat's 48-hour window was read from `seen_message`, which is now pruned after its useful life;
the window gets its own last-seen row per private chat. Existing WeChat windows are carried over
from `seen_message` so that no owner inside their window falls back to template messages.
"""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from models.enums import Platform


async def carry_windows(apps: object, schema_editor: object) -> None:
    client = schema_editor.client  # type: ignore[attr-defined]
    await client.execute_script(
        "INSERT INTO reply_window (platform, chat_id, last_seen_at)"
        " SELECT platform, chat_id, MAX(at) FROM seen_message WHERE platform = 'wechat'"
        " GROUP BY platform, chat_id;"
    )


class Migration(migrations.Migration):
    dependencies = [('models', '0008_chat_unique_on_sqlite')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ReplyWindow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('platform', fields.CharEnumField(description='TELEGRAM: telegram\nWECHAT: wechat\nWECOM: wecom\nWEBCHAT: webchat', enum_type=Platform, max_length=16)),
                ('chat_id', fields.CharField(max_length=128)),
                ('last_seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'reply_window', 'app': 'models', 'unique_together': (('platform', 'chat_id'),), 'pk_attr': 'id', 'table_description': 'When a person last wrote to the bot in a private chat (a message, a follow, a click): what'},
            bases=['Model'],
        ),
        ops.RunPython(carry_windows, ops.RunPython.noop),
    ]
