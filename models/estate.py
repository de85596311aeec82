"""An estate and who lives and works in it: buildings, units, owners, staff, chats, FAQ."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.enums import ChatKind, Department, Platform, StaffRole


class Estate(Model):
    """A residential estate, with its service standard (the promised times)."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=128)
    timezone = fields.CharField(max_length=64, default="Asia/Shanghai")
    payment_instructions = fields.TextField(default="")
    payment_instructions_en = fields.TextField(default="")
    # The service standard; the defaults are the seeds' procedures.
    onsite_minutes = fields.IntField(default=15)
    urgent_minutes = fields.IntField(default=5)
    repair_hours = fields.IntField(default=24)
    complaint_hours = fields.IntField(default=24)
    enquiry_hours = fields.IntField(default=24)
    # No longer read: escalation repeats no more, it goes in stages (`escalation_steps`).
    escalation_minutes = fields.IntField(default=60)
    # Staged escalation: minutes after a missed response time at which the holder (or whoever
    # is on duty), then the department's supervisor, then the estate manager are alerted.
    escalation_steps = fields.CharField(max_length=64, default="0,30,120")
    created_at = fields.DatetimeField(auto_now_add=True)

    buildings: fields.ReverseRelation[Building]
    staff: fields.ReverseRelation[Staff]

    class Meta:
        table = "estate"

    def __str__(self) -> str:
        return self.name


class Building(Model):
    """A building (栋/幢/座) of an estate, its name is as owners write it, normalised (3, B)."""

    id = fields.IntField(primary_key=True)
    estate: fields.ForeignKeyRelation[Estate] = fields.ForeignKeyField(
        "models.Estate", related_name="buildings", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=16)

    entrances: fields.ReverseRelation[Entrance]
    units: fields.ReverseRelation[Unit]

    class Meta:
        table = "building"
        unique_together = (("estate", "name"),)


class Entrance(Model):
    """An entrance (单元) of a building."""

    id = fields.IntField(primary_key=True)
    building: fields.ForeignKeyRelation[Building] = fields.ForeignKeyField(
        "models.Building", related_name="entrances", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=16)

    class Meta:
        table = "entrance"
        unique_together = (("building", "name"),)


class Unit(Model):
    """A flat: building, entrance (may be absent) and room, with its area and warranty."""

    id = fields.IntField(primary_key=True)
    building: fields.ForeignKeyRelation[Building] = fields.ForeignKeyField(
        "models.Building", related_name="units", on_delete=fields.CASCADE
    )
    entrance: fields.ForeignKeyNullableRelation[Entrance] = fields.ForeignKeyField(
        "models.Entrance", related_name="units", null=True, on_delete=fields.CASCADE
    )
    room = fields.CharField(max_length=16)
    # A label such as "3-2-501", unique in the estate, for lookups and display.
    label = fields.CharField(max_length=48)
    estate: fields.ForeignKeyRelation[Estate] = fields.ForeignKeyField(
        "models.Estate", related_name="units", on_delete=fields.CASCADE
    )
    floor_area = fields.DecimalField(max_digits=8, decimal_places=2, null=True)
    warranty_end = fields.DateField(null=True)

    owners: fields.ManyToManyRelation[Owner]

    class Meta:
        table = "unit"
        unique_together = (("estate", "label"),)


def unit_label(building: str, entrance: str | None, room: str) -> str:
    """The estate-unique label of a unit: `3-2-501`, or `12-1801` with no entrance."""
    return f"{building}-{entrance}-{room}" if entrance else f"{building}-{room}"


class Owner(Model):
    """An owner or tenant (业主), several owners may share a unit and one may own several."""

    id = fields.IntField(primary_key=True)
    estate: fields.ForeignKeyRelation[Estate] = fields.ForeignKeyField(
        "models.Estate", related_name="owners", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=64)
    phone = fields.CharField(max_length=32, default="")
    language = fields.CharField(max_length=8, default="zh")
    # False once a register imported with --update no longer lists them (moved out, sold): kept
    # with their tickets and bills, but sent no bills or notices.
    active = fields.BooleanField(default=True)
    units: fields.ManyToManyRelation[Unit] = fields.ManyToManyField(
        "models.Unit", related_name="owners", through="owner_unit"
    )

    identities: fields.ReverseRelation[ChatIdentity]

    class Meta:
        table = "owner"


class Staff(Model):
    """A staff member of an estate, staff are staff only by being on this list."""

    id = fields.IntField(primary_key=True)
    estate: fields.ForeignKeyRelation[Estate] = fields.ForeignKeyField(
        "models.Estate", related_name="staff", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=64)
    role = fields.CharEnumField(StaffRole, max_length=16)
    department = fields.CharEnumField(Department, max_length=24)
    phone = fields.CharField(max_length=32, default="")
    on_duty = fields.BooleanField(default=True)
    active = fields.BooleanField(default=True)

    class Meta:
        table = "staff"
        unique_together = (("estate", "name"),)


class ChatIdentity(Model):
    """A person's account on one platform, bound to an owner or a staff member (or neither yet)."""

    id = fields.IntField(primary_key=True)
    platform = fields.CharEnumField(Platform, max_length=16)
    user_id = fields.CharField(max_length=128)
    display_name = fields.CharField(max_length=128, default="")
    language = fields.CharField(max_length=8, null=True)
    owner: fields.ForeignKeyNullableRelation[Owner] = fields.ForeignKeyField(
        "models.Owner", related_name="identities", null=True, on_delete=fields.SET_NULL
    )
    staff: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="identities", null=True, on_delete=fields.SET_NULL
    )
    # Since when the platform says the bot cannot write to this account (a WeChat owner who
    # unfollowed): notices to it wait until it is reachable again.
    unreachable_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "chat_identity"
        unique_together = (("platform", "user_id"),)


class Chat(Model):
    """A chat Guanjia knows: an estate's owner group, its staff chat, or a private chat."""

    id = fields.IntField(primary_key=True)
    platform = fields.CharEnumField(Platform, max_length=16)
    chat_id = fields.CharField(max_length=128)
    kind = fields.CharEnumField(ChatKind, max_length=16)
    title = fields.CharField(max_length=128, default="")
    estate: fields.ForeignKeyNullableRelation[Estate] = fields.ForeignKeyField(
        "models.Estate", related_name="chats", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "chat"
        unique_together = (("platform", "chat_id"),)


class FaqEntry(Model):
    """A question the front desk can answer by itself, in one language."""

    id = fields.IntField(primary_key=True)
    estate: fields.ForeignKeyRelation[Estate] = fields.ForeignKeyField(
        "models.Estate", related_name="faq", on_delete=fields.CASCADE
    )
    language = fields.CharField(max_length=8, default="zh")
    question = fields.TextField()
    answer = fields.TextField()

    class Meta:
        table = "faq_entry"
