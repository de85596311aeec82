"""A small estate wired to the real router, NLU and store, answering through a FakeChannel."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from bot.core.channel import ChannelHub
from bot.core.clock import FixedClock
from bot.core.context import Services
from bot.core.i18n import Catalogues
from bot.core.nlu import NLU
from bot.core.notifier import Notifier
from bot.core.reference import EstateCache
from bot.core.router import Router
from bot.core.types import Attachment, ChatRef, IncomingMessage, Platform
from handlers import build_handlers
from models import (
    Bill,
    BillItem,
    Chat,
    ChatIdentity,
    ChatKind,
    Department,
    Estate,
    FaqEntry,
    Owner,
    Staff,
    StaffRole,
    Unit,
)
from tests.factories import make_estate, make_owner, make_staff, make_unit
from tests.fakes import FakeChannel

ROOT = Path(__file__).resolve().parents[1]
OWNERS = ChatRef(Platform.WEBCHAT, "owners", is_group=True)
STAFF = ChatRef(Platform.WEBCHAT, "staff", is_group=True)


# Messages that may be requests the router is unsure of; which ones it is unsure of moves as the
# corpus grows, so tests take the first that is (`unsure_request`).
MAYBE_REQUESTS = (
    "小区绿化带的树枝挡住了我家窗户，能修剪一下吗",
    "有个问题",
    "怎么回事",
    "那个谁 你们",
    "so about that thing",
)


def unsure_request(nlu: NLU) -> str:
    """A message the model takes for a request below the confidence floor (not chit-chat, not
    urgent): what the router shows staff for a look instead of acting on."""
    from bot.core.router import CONFIDENCE_FLOOR

    for text in MAYBE_REQUESTS:
        u = nlu.understand(text)
        if u.confidence < CONFIDENCE_FLOOR and u.intent != "other" and not u.urgent:
            return text
    raise AssertionError("the premise of this test: the model is unsure of one of these")


def load_nlu() -> NLU:
    """The project's trained model (built by setup; trained here if it is missing)."""
    return NLU.load(ROOT / "data" / "nlu" / "model.pkl")


async def _time_stands_still(seconds: float) -> None:
    """A sleep that moves no clock: the Notifier then sends without pacing and waits for
    nothing that is not due."""


@dataclass
class Desk:
    """Everything a router test needs."""

    router: Router
    channel: FakeChannel
    clock: FixedClock
    services: Services
    estate: Estate
    units: dict[str, Unit]
    owners: dict[str, Owner]
    staff: dict[str, Staff]
    # What each button press was answered with privately (a toast), in order; None when nothing.
    toasts: list[str | None] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _notifier: Notifier | None = None

    @property
    def notifier(self) -> Notifier:
        """The Notifier the scheduler's jobs send with, on this desk's channels. The desk's
        clock stands still while it sends: a retry waits until a test moves the clock on and
        delivers again."""
        if self._notifier is None:
            self._notifier = Notifier(
                hub=self.services.hub, clock=self.clock, sleep=_time_stands_still
            )
        return self._notifier

    async def say(
        self,
        text: str,
        sender: str = "u-li",
        chat: ChatRef = OWNERS,
        *,
        addressed: bool = False,
        payload: str | None = None,
        message_id: str | None = None,
        name: str = "",
        replied_to: str | None = None,
        photos: tuple[str, ...] = (),
        language_hint: str | None = None,
    ) -> IncomingMessage:
        """Send a message (or a button press) from `sender` through the router; a press's
        private answer is kept in `toasts`."""
        message = IncomingMessage(
            chat=chat,
            sender_id=sender,
            sender_name=name or sender,
            text=text,
            message_id=message_id or f"in-{next(self._ids)}",
            received_at=self.clock.now(),
            payload=payload,
            addressed=addressed,
            replied_to=replied_to,
            attachments=tuple(Attachment("photo", ref) for ref in photos),
            language_hint=language_hint,
        )
        toast = await self.router.handle(message, self.channel)
        if payload is not None:
            self.toasts.append(toast)
        return message

    async def press(
        self, payload: str, sender: str, chat: ChatRef, on: str | None = None
    ) -> str | None:
        """Press a button (on the message `on`, when it matters); returns the private answer."""
        await self.say("", sender, chat, payload=payload, replied_to=on)
        return self.toasts[-1]

    def private(self, user: str) -> ChatRef:
        """The private chat of a user."""
        return self.channel.private_chat(user)


async def bind(platform_user: str, owner: Owner) -> ChatIdentity:
    """Bind a chat account to an owner (the staff desk's binding does this in the product)."""
    identity, _ = await ChatIdentity.get_or_create(
        platform=Platform.WEBCHAT, user_id=platform_user
    )
    identity.owner_id = owner.id
    await identity.save()
    return identity


async def build_desk(nlu: NLU, now: datetime) -> Desk:
    """Estate `demo` with units, owners, staff, an FAQ, bills, an owner group and a staff chat."""
    estate = await make_estate()
    estate.payment_instructions = "微信搜索“阳光花园物业”小程序缴费"
    estate.payment_instructions_en = "Pay in the Sunshine Gardens mini-program on WeChat"
    await estate.save()
    units = {
        label: await make_unit(estate, *parts)
        for label, parts in {
            "3-2-501": ("3", "2", "501"),
            "3-1-501": ("3", "1", "501"),
            "5-1-1202": ("5", "1", "1202"),
            "7-1-302": ("7", "1", "302"),
        }.items()
    }
    owners = {
        "li": await make_owner(estate, "李华", units["3-2-501"], phone="13800000001"),
        "wang": await make_owner(
            estate, "王芳", units["5-1-1202"], units["7-1-302"], phone="13800000002"
        ),
        "smith": await make_owner(estate, "John Smith", units["3-1-501"], phone="13800000003"),
    }
    staff = {
        "zhang": await make_staff(estate, "张工", StaffRole.ENGINEER, Department.ENGINEERING),
        "chen": await make_staff(
            estate, "陈主管", StaffRole.SUPERVISOR, Department.CUSTOMER_SERVICE
        ),
    }
    await Chat.create(
        platform=Platform.WEBCHAT, chat_id="owners", kind=ChatKind.OWNERS, estate=estate
    )
    await Chat.create(
        platform=Platform.WEBCHAT, chat_id="staff", kind=ChatKind.STAFF, estate=estate
    )
    await FaqEntry.create(
        estate=estate,
        language="zh",
        question="物业办公时间是几点到几点？",
        answer="物业前台每天 8:30-17:30 办公。",
    )
    await FaqEntry.create(
        estate=estate,
        language="en",
        question="What are the property office opening hours?",
        answer="The front desk is open 8:30-17:30 every day.",
    )
    await FaqEntry.create(
        estate=estate,
        language="zh",
        question="装修施工时间有什么规定？",
        answer="装修施工时间为工作日 8:00-12:00、14:00-18:00。",
    )
    for period, paid in (("2026-09", None), ("2026-10", None), ("2026-08", now)):
        year, month = map(int, period.split("-"))
        await Bill.create(
            unit=units["5-1-1202"],
            period=period,
            item=BillItem.PROPERTY_FEE,
            amount_cents=35680,
            due_date=date(year, month, 15),
            paid_at=paid,
        )
    channel = FakeChannel()
    hub = ChannelHub()
    hub.add(channel)
    clock = FixedClock(now)
    services = Services(
        nlu=nlu, catalogues=Catalogues(), clock=clock, hub=hub, cache=EstateCache(clock)
    )
    handlers = build_handlers()
    services.ticket_opened.extend(handlers.ticket_opened)
    router = Router(services, handlers)
    return Desk(router, channel, clock, services, estate, units, owners, staff)
