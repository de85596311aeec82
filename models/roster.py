"""The duty roster (值班表): who of an estate's staff is on duty when, per department."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.enums import Department


class DutyShift(Model):
    """One staff member on duty for one department from `starts_at` until `ends_at`.

    Times are instants (stored in UTC); a night shift simply ends the next day. Whoever's shift
    covers a moment is paged for the department's urgent tickets and alerted first when one of
    its tickets nobody holds misses its response time (`bot/core/roster.py`).
    """

    id = fields.IntField(primary_key=True)
    estate: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Estate", related_name="duty_shifts", on_delete=fields.CASCADE
    )
    department = fields.CharEnumField(Department, max_length=24)
    staff: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Staff", related_name="duty_shifts", on_delete=fields.CASCADE
    )
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()

    class Meta:
        table = "duty_shift"
        # Who is on duty at a moment: by estate and department, then by time.
        indexes = (("estate_id", "department", "starts_at"),)
