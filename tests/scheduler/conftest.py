"""An estate for the scheduler's jobs: owners bound to units (in Chinese and English), one owner
not bound, an unsold unit, two owner groups and a staff chat, all on the web chat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from bot.core.channel import ChannelHub
from bot.core.i18n import Catalogues
from bot.core.notifier import Notifier
from bot.core.reference import EstateCache
from bot.core.types import OutgoingMessage, Platform
from models import Bill, BillItem, Chat, ChatIdentity, ChatKind, Estate, Unit
from tests.factories import make_estate, make_owner, make_unit
from tests.notice_fakes import FakeTime, ScriptedChannel

SHANGHAI = ZoneInfo("Asia/Shanghai")
GROUPS = ("owners", "owners-2")
STAFF_CHAT = "staff"


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    """A local Shanghai time on `day`, as the aware UTC moment a job is called with."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def days(year: int) -> list[date]:
    """Every day of a year."""
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range((date(year + 1, 1, 1) - first).days)]


@dataclass
class Estate4Jobs:
    """What the job tests need."""

    estate: Estate
    units: dict[str, Unit]
    channel: ScriptedChannel
    time: FakeTime
    notifier: Notifier
    services: SimpleNamespace

    def to(self, chat_id: str) -> list[OutgoingMessage]:
        """What one chat received."""
        return [m for m in self.channel.sent if m.chat.chat_id == chat_id]

    def privately(self) -> list[OutgoingMessage]:
        """Everything sent to a private chat."""
        return [m for m in self.channel.sent if m.chat.chat_id not in (*GROUPS, STAFF_CHAT)]

    async def bill(
        self, label: str, period: str, cents: int = 35680, paid: datetime | None = None
    ) -> Bill:
        """A property-fee bill of a unit, due on the 15th of its month."""
        year, month = map(int, period.split("-"))
        return await Bill.create(
            unit=self.units[label],
            period=period,
            item=BillItem.PROPERTY_FEE,
            amount_cents=cents,
            due_date=date(year, month, 15),
            paid_at=paid,
        )


async def bind(user_id: str, owner_id: int, language: str | None = None) -> ChatIdentity:
    """A web-chat account bound to an owner."""
    return await ChatIdentity.create(
        platform=Platform.WEBCHAT, user_id=user_id, owner_id=owner_id, language=language
    )


@pytest.fixture
async def jobs_estate(store: str, now: datetime) -> Estate4Jobs:
    estate = await make_estate()
    estate.name = "阳光花园"
    estate.payment_instructions = "微信搜索“阳光花园物业”小程序缴费"
    estate.payment_instructions_en = "Pay in the Sunshine Gardens mini-program on WeChat"
    await estate.save()
    units = {
        label: await make_unit(estate, *label.split("-"))
        for label in ("1-1-101", "1-1-102", "2-1-201", "2-1-202", "3-1-301")
    }
    li = await make_owner(estate, "李华", units["1-1-101"])
    smith = await make_owner(estate, "John Smith", units["1-1-102"])
    wang = await make_owner(estate, "王芳", units["2-1-201"])
    await make_owner(estate, "赵强", units["2-1-202"])  # never bound: told nothing
    await bind("u-li", li.id)
    await bind("u-smith", smith.id, language="en")
    await bind("u-wang", wang.id)
    await Chat.create(
        platform=Platform.WEBCHAT, chat_id="owners", kind=ChatKind.OWNERS, estate=estate
    )
    await Chat.create(
        platform=Platform.WEBCHAT,
        chat_id="owners-2",
        kind=ChatKind.OWNERS,
        estate=estate,
        title="2号楼业主群",
    )
    await Chat.create(
        platform=Platform.WEBCHAT, chat_id=STAFF_CHAT, kind=ChatKind.STAFF, estate=estate
    )
    time = FakeTime(now)
    channel = ScriptedChannel(platform=Platform.WEBCHAT, time=time)
    hub = ChannelHub()
    hub.add(channel)
    notifier = Notifier(hub=hub, clock=time, sleep=time.sleep)
    services = SimpleNamespace(catalogues=Catalogues(), clock=time, cache=EstateCache(time))
    return Estate4Jobs(estate, units, channel, time, notifier, services)
