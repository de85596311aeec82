"""Restore `chat`'s unique (platform, chat_id) on SQLite.

Migration 0005 altered `chat.kind`; on SQLite tortoise does that by rebuilding the table, and the
rebuild dropped the unique-together constraint (PostgreSQL kept it). Without it, two first
messages of a new chat arriving together could register the chat twice. Rows a race may have
duplicated are folded into the oldest (the registry holds nothing else of them), then the unique
index is created as the models declare it. PostgreSQL needs nothing.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

INDEX = "uid_chat_platfor_8bd4a9"


async def restore_unique(apps: object, schema_editor: object) -> None:
    client = schema_editor.client  # type: ignore[attr-defined]
    if client.capabilities.dialect != "sqlite":
        return
    await client.execute_script(
        # Announcements aimed at a duplicate are aimed at the row that stays.
        "UPDATE announcement SET chat_id = (SELECT MIN(kept.id) FROM chat kept"
        " JOIN chat twin ON kept.platform = twin.platform AND kept.chat_id = twin.chat_id"
        " WHERE twin.id = announcement.chat_id) WHERE chat_id IS NOT NULL;"
        "DELETE FROM chat WHERE id NOT IN "
        "(SELECT MIN(id) FROM chat GROUP BY platform, chat_id);"
        f'CREATE UNIQUE INDEX IF NOT EXISTS "{INDEX}" ON "chat" ("platform", "chat_id");'
    )


class Migration(migrations.Migration):
    dependencies = [("models", "0007_delivery_claims_and_due_index")]

    initial = False

    operations = [ops.RunPython(restore_unique, ops.RunPython.noop)]
