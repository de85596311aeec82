"""The estate's open tickets of a kind and department by when they were opened: a partial index
(issue 17) that the duplicate check's candidate query reads through, bounded by the open tickets
of the fault with or without planner statistics (a store that grows on a PostgreSQL server
whose autovacuum is off is never analyzed). Its condition is written in SQL by `WhereIndex`
(tortoise's PartialIndex knows only `column = value`); the query says it with the same literals.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.indexes import WhereIndex


class Migration(migrations.Migration):
    dependencies = [("models", "0018_register_update")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="Ticket",
            index=WhereIndex(
                fields=["estate_id", "kind", "department", "created_at", "id"],
                name="idx_ticket_open_like",
                where="\"status\" IN ('open', 'claimed')",
            ),
        ),
    ]
