"""An estate's service calendar and promised times, as data: office hours per weekday, its own
closed days, and the response and completion targets per kind, urgency and complaint severity.

An estate with no rows here keeps the defaults (`bot/core/calendar.py` says which): office hours
Monday to Friday, the targets of its service standard (the fields of `Estate`).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.enums import Severity, TicketKind


class OfficeHours(Model):
    """When an estate's office is open on one weekday (0 is Monday). Once the estate has any
    row, a weekday with no row is closed."""

    id = fields.IntField(primary_key=True)
    estate: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Estate", related_name="office_hours", on_delete=fields.CASCADE
    )
    weekday = fields.SmallIntField()
    # Local wall time as minutes after midnight (08:30 is 510).
    opens_minute = fields.SmallIntField()
    closes_minute = fields.SmallIntField()

    class Meta:
        table = "office_hours"
        unique_together = (("estate", "weekday"),)


class ClosedDay(Model):
    """A day an estate's office is closed beyond the public holidays (its own staff day)."""

    id = fields.IntField(primary_key=True)
    estate: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Estate", related_name="closed_days", on_delete=fields.CASCADE
    )
    day = fields.DateField()
    note = fields.CharField(max_length=64, default="")

    class Meta:
        table = "closed_day"
        unique_together = (("estate", "day"),)


class ServiceTarget(Model):
    """A promised time: for a kind of ticket, urgent or not, of a complaint severity (empty: any),
    minutes to respond and to complete, counted on office time or round the clock."""

    id = fields.IntField(primary_key=True)
    estate: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Estate", related_name="targets", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(TicketKind, max_length=16)
    urgent = fields.BooleanField(default=False)
    severity = fields.CharField(max_length=16, default="")
    respond_minutes = fields.IntField()
    resolve_minutes = fields.IntField()
    office_time = fields.BooleanField(default=False)

    class Meta:
        table = "service_target"
        unique_together = (("estate", "kind", "urgent", "severity"),)


__all__ = ["ClosedDay", "OfficeHours", "ServiceTarget", "Severity"]
