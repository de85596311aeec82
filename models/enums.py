"""The closed sets of values the store uses (stored as strings)."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Platform(StrEnum):
    """A messaging platform a chat or an identity lives on."""

    TELEGRAM = "telegram"
    WECHAT = "wechat"
    WECOM = "wecom"
    WEBCHAT = "webchat"
    # The WeCom AI bot (智能机器人): its groups and 1:1 chats, apart from the WeCom app's.
    WECOM_AIBOT = "wecom_aibot"
    # WeCom's 微信客服: ordinary WeChat users chatting 1:1 with an account the company hosts.
    WECOM_KF = "wecom_kf"


class ChatKind(StrEnum):
    """What a chat is for."""

    OWNERS = "owners"
    STAFF = "staff"
    PRIVATE = "private"
    # A group the bot is in that nobody registered: served with nothing but `/register`.
    UNREGISTERED = "unregistered"


class Department(StrEnum):
    """Who acts on a ticket."""

    ENGINEERING = "engineering"
    CLEANING = "cleaning"
    SECURITY = "security"
    GREENING = "greening"
    CUSTOMER_SERVICE = "customer_service"


class StaffRole(StrEnum):
    """A staff member's role."""

    CLERK = "clerk"
    ENGINEER = "engineer"
    CLEANER = "cleaner"
    GUARD = "guard"
    GARDENER = "gardener"
    SUPERVISOR = "supervisor"
    MANAGER = "manager"  # the estate manager (项目经理): the last step of an escalation

    @property
    def supervises(self) -> bool:
        """Whether the role runs the estate's staff (the supervisors' commands, the whole
        estate on the console): a supervisor, or the estate manager."""
        return self in (StaffRole.SUPERVISOR, StaffRole.MANAGER)


class TicketKind(StrEnum):
    """The kind of a ticket; its number's prefix comes from it."""

    REPAIR = "repair"
    COMPLAINT = "complaint"
    ENQUIRY = "enquiry"


class Severity(StrEnum):
    """How serious a complaint is (严重 / 重要 / 一般): its promised times follow from it."""

    SERIOUS = "serious"
    IMPORTANT = "important"
    GENERAL = "general"


TICKET_PREFIX: dict[TicketKind, str] = {
    TicketKind.REPAIR: "R",
    TicketKind.COMPLAINT: "C",
    TicketKind.ENQUIRY: "Q",
}


class TicketStatus(StrEnum):
    """Where a ticket is in its lifecycle."""

    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"
    CLOSED = "closed"


class EventKind(StrEnum):
    """What happened to a ticket; ticket events are append-only."""

    OPENED = "opened"
    JOINED = "joined"
    CLAIMED = "claimed"
    TRANSFERRED = "transferred"
    NOTED = "noted"
    ANSWERED = "answered"
    RESOLVED = "resolved"
    RATED = "rated"
    REOPENED = "reopened"
    CLOSED = "closed"
    ESCALATED = "escalated"
    # A further report made the ticket urgent, and photos sent after the report.
    MADE_URGENT = "made_urgent"
    PHOTOS_ADDED = "photos_added"
    # The completion clock waits on the owner (an appointment, or waiting for them), restarts,
    # and a complaint's severity was set.
    PAUSED = "paused"
    RESUMED = "resumed"
    SEVERITY = "severity"


class Rating(IntEnum):
    """The five steps of the revisit form (回访单)."""

    VERY_SATISFIED = 5  # 非常满意
    SATISFIED = 4  # 满意
    NEUTRAL = 3  # 一般
    DISSATISFIED = 2  # 不满意
    VERY_DISSATISFIED = 1  # 极不满意


class BillItem(StrEnum):
    """What a bill is for."""

    PROPERTY_FEE = "property_fee"
    PARKING = "parking"
    WATER = "water"
    ELECTRICITY = "electricity"
    HEATING = "heating"


class DeliveryStatus(StrEnum):
    """Where one notice to one recipient stands."""

    PENDING = "pending"
    # Claimed by a notifier (`claimed_by`), not yet handed to the platform: a claim whose holder
    # died goes back to pending, nothing having gone out. `next_attempt_at`: when it lapses.
    CLAIMED = "claimed"
    # Handed to the platform; `next_attempt_at` is when the claim lapses. A holder that died
    # here leaves the send `unknown`: it may have gone out.
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"


class InboundStatus(StrEnum):
    """Where a message accepted from a platform stands."""

    PENDING = "pending"
    DONE = "done"
