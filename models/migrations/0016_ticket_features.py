"""A ticket keeps the features its duplicate check compares it by (issue 17): computed once when
it is opened, instead of segmenting every candidate's text for every new report. Tickets opened
before have none; the duplicate check computes (and keeps) theirs the first time it needs them.
"""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0015_query_indexes")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Ticket",
            name="features",
            field=fields.JSONField(
                null=True,
                encoder=functools.partial(dumps, separators=(",", ":")),
                decoder=loads,
            ),
        ),
    ]
