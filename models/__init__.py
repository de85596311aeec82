"""The store: tortoise models, the ticket lifecycle and the few queries that must be exact.

# Tortoise runs migration SQL split on semicolons, and a model docstring becomes a table comment:
# keep semicolons out of model docstrings.

This package imports nothing else of Guanjia's.
"""

from models.billing import Bill
from models.desk import (
    BindingRequest,
    CodeAttempt,
    CodePurpose,
    Escalation,
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
    Platform,
    Rating,
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
from models.messaging import Delivery, Dialog, SeenMessage
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
    "Chat",
    "ChatIdentity",
    "ChatKind",
    "CodeAttempt",
    "CodePurpose",
    "Delivery",
    "DeliveryStatus",
    "Department",
    "Dialog",
    "Entrance",
    "Escalation",
    "Estate",
    "EstateGreeting",
    "EventKind",
    "FaqEntry",
    "Incident",
    "IncidentReport",
    "Lease",
    "OneTimeCode",
    "Owner",
    "Platform",
    "Rating",
    "RequestStatus",
    "SeenMessage",
    "Staff",
    "StaffRole",
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
