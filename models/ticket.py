"""Tickets, their append-only events, the owners who reported them, and per-estate numbering."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.enums import Department, EventKind, Platform, TicketKind, TicketStatus
from models.indexes import WhereIndex

# A ticket still being handled: what a report of the same fault joins.
OPEN_STATUSES = (TicketStatus.OPEN, TicketStatus.CLAIMED)


def is_open(column: str) -> str:
    """The SQL condition that the ticket whose status is `column` is open, its statuses written
    as literals (they are constants), as the open tickets' index has it."""
    statuses = ", ".join("'{}'".format(str(status).replace("'", "''")) for status in OPEN_STATUSES)
    return f"{column} IN ({statuses})"


class Ticket(Model):
    """One report that staff must handle: a repair, a complaint or an enquiry."""

    id = fields.IntField(primary_key=True)
    estate: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Estate", related_name="tickets", on_delete=fields.CASCADE
    )
    number = fields.CharField(max_length=16)
    kind = fields.CharEnumField(TicketKind, max_length=16)
    department = fields.CharEnumField(Department, max_length=24)
    urgent = fields.BooleanField(default=False)
    status = fields.CharEnumField(TicketStatus, max_length=16, default=TicketStatus.OPEN)
    owner: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Owner", related_name="tickets", null=True, on_delete=fields.SET_NULL
    )
    # Where the fault is: a flat of the estate (`unit`), or a common place (`location_place`,
    # lift, corridor … as the NLU names them) in or beside `location_building` (None: not said).
    unit: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Unit", related_name="tickets", null=True, on_delete=fields.SET_NULL
    )
    location_place = fields.CharField(max_length=16, null=True)
    location_building = fields.CharField(max_length=16, null=True)
    # A flat the owner named that the estate does not have ("8-3-1201"), kept as written.
    location_unknown = fields.CharField(max_length=48, default="")
    # Who reported it lives here (their only unit, or the one they named that is theirs): a
    # separate fact from where the fault is.
    reporter_unit: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Unit", related_name="reported_tickets", null=True, on_delete=fields.SET_NULL
    )
    # Where it came from, as the platform names it.
    source_platform = fields.CharEnumField(Platform, max_length=16)
    source_chat_id = fields.CharField(max_length=128)
    source_message_id = fields.CharField(max_length=128)
    reporter_id = fields.CharField(max_length=128)
    reporter_name = fields.CharField(max_length=128, default="")
    language = fields.CharField(max_length=8, default="zh")
    text = fields.TextField()
    photos = fields.JSONField(default=list)
    # What the duplicate check compares its text by (the NLU's `match_features`), computed once
    # when it is opened; None for a ticket opened before they were kept (computed when needed).
    features = fields.JSONField(null=True)
    claimed_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Staff", related_name="claimed_tickets", null=True, on_delete=fields.SET_NULL
    )
    result = fields.TextField(default="")
    rating = fields.IntField(null=True)
    reopen_count = fields.IntField(default=0)
    created_at = fields.DatetimeField()
    claimed_at = fields.DatetimeField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    # Promised times: someone responds (on site / answers) by the first, it is done by the second.
    due_response_at = fields.DatetimeField()
    due_resolve_at = fields.DatetimeField()
    # A complaint's severity ("" for other kinds), and whether its promised times were counted
    # on the estate's office hours (else round the clock).
    severity = fields.CharField(max_length=16, default="")
    office_time = fields.BooleanField(default=False)
    # Waiting on the owner stops the completion clock: since when (None: running), until when
    # (an appointment; None: until staff restart it), and the seconds of earlier pauses counted
    # on the ticket's own clock: office seconds on the estate's calendar when `office_time` (a
    # wait from Friday 17:00 to Monday 10:00 is 7200 on 08:30-17:30 hours), else wall seconds.
    # The completion time moves on by as much, on the same clock (`bot/core/promises.py`).
    paused_at = fields.DatetimeField(null=True)
    paused_until = fields.DatetimeField(null=True)
    paused_seconds = fields.IntField(default=0)
    appointment_at = fields.DatetimeField(null=True)
    appointment_reminded = fields.BooleanField(default=False)

    events: fields.ReverseRelation[TicketEvent]
    reporters: fields.ReverseRelation[TicketReporter]

    class Meta:
        table = "ticket"
        unique_together = (("estate", "number"),)
        # Every query that runs per message or per scheduled job reads through one of these
        # (tests/models/test_query_plans.py checks that none of them scans the table).
        indexes = (
            # The estate's open tickets of a kind and department at a place, newest last: the
            # duplicate check's candidates (`models.lookup.open_tickets_like`, whose WHERE says
            # `is_open` as the index does). Only open tickets, and every column the check
            # compares by equality before the time it reads back from, so that its reads are
            # bounded by the open tickets of the fault at the place even when the planner has
            # no statistics (a store that grows on a server whose autovacuum is off: one with
            # the estate's tickets by status or by time read every ticket of the estate since
            # the window, and one without the place every open ticket of the fault). The check
            # gives all four place columns, each a value or NULL (`IS NULL` is an index
            # condition too): a ticket is placed by one of them, the others empty.
            WhereIndex(
                fields=(
                    "estate_id",
                    "kind",
                    "department",
                    "unit_id",
                    "location_place",
                    "location_building",
                    "location_unknown",
                    "created_at",
                    "id",
                ),
                name="idx_ticket_open_place",
                where=is_open('"status"'),
            ),
            # The estate's tickets by status: the staff queue, the console's board.
            ("estate_id", "status", "kind", "department", "created_at"),
            # The estate's tickets by when they were opened: the month report.
            ("estate_id", "created_at"),
            # Open and claimed tickets past a promised time: escalation.
            ("status", "due_response_at"),
            ("status", "due_resolve_at"),
            # Resolved and unrated tickets by when they were resolved: the rating reminder and
            # the auto-close.
            ("status", "resolved_at"),
            # The tickets a staff member holds (`mine`).
            ("claimed_by_id", "status"),
        )


class TicketEvent(Model):
    """Something that happened to a ticket, with who and when, rows are only ever added."""

    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="events", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(EventKind, max_length=16)
    # "staff:<id>", "owner:<id>", "<platform>:<user id>" or "system".
    actor = fields.CharField(max_length=160)
    at = fields.DatetimeField()
    data = fields.JSONField(default=dict)

    class Meta:
        table = "ticket_event"
        ordering = ["id"]
        # A ticket's events (its history, whether staff answered since it was reopened).
        indexes = (("ticket_id", "kind"),)


class TicketReporter(Model):
    """An owner who reported a ticket, several reports of one fault join one ticket."""

    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="reporters", on_delete=fields.CASCADE
    )
    platform = fields.CharEnumField(Platform, max_length=16)
    chat_id = fields.CharField(max_length=128)
    user_id = fields.CharField(max_length=128)
    message_id = fields.CharField(max_length=128)
    language = fields.CharField(max_length=8, default="zh")
    # The name the chat account shows and the report in their own words, for the card.
    name = fields.CharField(max_length=128, default="")
    text = fields.TextField(default="")
    at = fields.DatetimeField()

    class Meta:
        table = "ticket_reporter"
        unique_together = (("ticket", "platform", "user_id"),)
        indexes = (
            # A sender's recent reports in a chat (photos joining the report they follow).
            ("platform", "chat_id", "user_id", "at"),
            # A sender's reports in any chat since a time: the duplicate check of a report
            # that says no place reads the tickets by these (`lookup.open_tickets_like`).
            ("platform", "user_id", "at"),
        )


class TicketCounter(Model):
    """The last number given to a kind of ticket in an estate (R-0001, C-0001, Q-0001)."""

    id = fields.IntField(primary_key=True)
    estate: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Estate", related_name="counters", on_delete=fields.CASCADE
    )
    prefix = fields.CharField(max_length=4)
    value = fields.IntField(default=0)

    class Meta:
        table = "ticket_counter"
        unique_together = (("estate", "prefix"),)
