"""A sender's reports by platform and user, then time (issue 17): the duplicate check of a
report that says no place (only the same sender saying it again is the same report) reads the
sender's reports since the window began through it and looks their tickets up by id, rather
than reading every open ticket of the fault in the estate with no place and asking each whether
the sender reported it. On a store with thousands of open unplaced enquiries and no planner
statistics, that was over a hundred reporter look-ups per report; a sender has only a few.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("models", "0020_placeidx")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="TicketReporter",
            index=Index(fields=["platform", "user_id", "at"]),
        ),
    ]
