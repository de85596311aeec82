"""The duplicate check's partial index of open tickets (0019) holds their place too: the estate,
kind and department, then the four place columns (the unit, the common place and its
building, the flat the estate does not have), then the time. Without the place, a report at one
flat read through every open ticket of its fault in the estate, newest first, until it found
enough at its own place: on a store with thousands of them open and no planner statistics,
about a thousand index rows per report. The check now compares all four (a ticket is placed by
one of them, the others NULL or empty) and reads only the tickets at the place.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.indexes import WhereIndex


class Migration(migrations.Migration):
    dependencies = [("models", "0019_dupindex")]

    initial = False

    operations = [
        ops.RemoveIndex(model_name="Ticket", name="idx_ticket_open_like"),
        ops.AddIndex(
            model_name="Ticket",
            index=WhereIndex(
                fields=[
                    "estate_id",
                    "kind",
                    "department",
                    "unit_id",
                    "location_place",
                    "location_building",
                    "location_unknown",
                    "created_at",
                    "id",
                ],
                name="idx_ticket_open_place",
                where="\"status\" IN ('open', 'claimed')",
            ),
        ),
    ]
