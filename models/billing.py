"""Bills: what a unit owes, per period and item, in cents."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.enums import BillItem


class Bill(Model):
    """One item of a unit's bill for one period ("2026-11"), amounts are integer cents."""

    id = fields.IntField(primary_key=True)
    unit: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Unit", related_name="bills", on_delete=fields.CASCADE
    )
    period = fields.CharField(max_length=7)
    item = fields.CharEnumField(BillItem, max_length=16)
    amount_cents = fields.BigIntField()
    due_date = fields.DateField()
    paid_at = fields.DatetimeField(null=True)
    # The bill's own number in the company's billing system, when the import had one ("" if
    # not): what a re-import matches it by.
    number = fields.CharField(max_length=32, default="")

    class Meta:
        table = "bill"
        unique_together = (("unit", "period", "item"),)
