"""The store: tortoise models, the ticket lifecycle and the few queries that must be exact.

# Tortoise runs migration SQL split on semicolons, and a model docstring becomes a table comment:
# keep semicolons out of model docstrings.

This package imports nothing else of Guanjia's.
"""

from models.billing import Bill
from models.calendar import ClosedDay, OfficeHours, ServiceTarget
from models.desk import (
    BindingRequest,
    CodeAttempt,
    CodePurpose,
    Escalation,
    GuessBudget,
    LoginToken,
    OneTimeCode,
    RequestStatus,
    TicketCard,
)
from models.enums import (
    BillItem,
    ChatKind,
    DeliveryStatus,
    Department,
    EventKind,
    InboundStatus,
    Platform,
    Rating,
    Severity,
    StaffRole,
    TicketKind,
    TicketStatus,
)
from models.estate import (
    Building,
    Chat,
    ChatIdentity,
    Entrance,
    Estate,
    FaqEntry,
    Owner,
    Staff,
    Unit,
    unit_label,
)
from models.groupsend import CustomerGroup, GroupSendTask
from models.messaging import (
    CallbackNonce,
    Delivery,
    Dialog,
    HeldMessage,
    InboundMessage,
    OutboxMessage,
    ReplyQuota,
    ReplyWindow,
    SeenMessage,
    SyncCursor,
)
from models.roster import DutyShift
from models.schedule import (
    Announcement,
    ApiToken,
    EstateGreeting,
    Incident,
    IncidentReport,
    Lease,
)
from models.ticket import Ticket, TicketCounter, TicketEvent, TicketReporter

__all__ = [
    "Announcement",
    "ApiToken",
    "Bill",
    "BillItem",
    "BindingRequest",
    "Building",
    "CallbackNonce",
    "Chat",
    "ChatIdentity",
    "ChatKind",
    "ClosedDay",
    "CodeAttempt",
    "CodePurpose",
    "CustomerGroup",
    "Delivery",
    "DeliveryStatus",
    "Department",
    "Dialog",
    "DutyShift",
    "Entrance",
    "Escalation",
    "Estate",
    "EstateGreeting",
    "EventKind",
    "FaqEntry",
    "GroupSendTask",
    "GuessBudget",
    "HeldMessage",
    "InboundMessage",
    "InboundStatus",
    "Incident",
    "IncidentReport",
    "Lease",
    "LoginToken",
    "OfficeHours",
    "OneTimeCode",
    "OutboxMessage",
    "Owner",
    "Platform",
    "Rating",
    "ReplyQuota",
    "ReplyWindow",
    "RequestStatus",
    "SeenMessage",
    "ServiceTarget",
    "Severity",
    "Staff",
    "StaffRole",
    "SyncCursor",
    "Ticket",
    "TicketCard",
    "TicketCounter",
    "TicketEvent",
    "TicketKind",
    "TicketReporter",
    "TicketStatus",
    "Unit",
    "unit_label",
]
