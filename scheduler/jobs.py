"""The scheduled jobs, each a plain async function `(now, services, notifier) -> count`.

A test (or `guanjia notices run KIND --at …`) calls a job with any moment. The issue's `store`
slot is `services`: tortoise's store is global, so what a job needs beyond it is the app's
services (the catalogues; the staff desk's jobs take the whole `Services`). Each notice job turns
the store into `Notice`s with dedup keys and hands them to the `Notifier`, which records each
once and sends it once: running a job twice, or after a crash, sends nothing twice. A job
returns how many notices it sent (recorded, when the notifier only queues).

Dates are the estate's: `now` is read in the estate's time zone.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from babel.numbers import format_currency

from bot.core import desk, groupsend
from bot.core.i18n import Catalogues
from bot.core.notifier import Audience, Notice, Notifier
from models import (
    Announcement,
    Bill,
    Chat,
    ChatIdentity,
    ChatKind,
    Delivery,
    Estate,
    EstateGreeting,
    Owner,
    Platform,
    Ticket,
    TicketReporter,
    TicketStatus,
    Unit,
)
from scheduler.festivals import festivals_on

log = logging.getLogger(__name__)

ARREARS_AFTER_DAYS = 30  # a bill is in arrears when more than this many days overdue
ARREARS_EVERY_DAYS = 14  # an owner is reminded at most this often while a unit is in arrears
WARRANTY_NOTICE_DAYS = 30  # owners hear this many days before a unit's warranty ends
RATING_REMINDER_AFTER = timedelta(days=1)  # an unrated resolution is reminded of after a day
# An owner is reminded of an appointment staff set (`约 R-0012 明天15:00`) this long before it.
APPOINTMENT_REMINDER_BEFORE = timedelta(hours=2)
ANNOUNCEMENT_GRACE = timedelta(hours=6)  # an announcement missed by longer is not sent late
LOCALES = {"zh": "zh_CN", "en": "en_US"}


class NoticeServices(Protocol):
    """What the notice jobs use of the app's `Services`."""

    catalogues: Catalogues


Job = Callable[[datetime, Any, Notifier], Awaitable[int]]


def money(cents: int, lang: str) -> str:
    """An amount in yuan, formatted for the language."""
    return format_currency(cents / 100, "CNY", locale=LOCALES.get(lang, "zh_CN"))


def local_date(now: datetime, estate: Estate) -> date:
    """The estate's calendar date at `now`."""
    return now.astimezone(ZoneInfo(estate.timezone)).date()


def _instructions(estate: Estate, lang: str, catalogues: Catalogues) -> str:
    text = (estate.payment_instructions_en if lang == "en" else "") or estate.payment_instructions
    return text or catalogues.text(lang, "notice.pay_at_desk")


async def _bound_owners(unit_ids: Iterable[int]) -> dict[int, list[tuple[ChatIdentity, Owner]]]:
    """For each unit, the chat accounts bound to its active owners (an owner may have several;
    one a register no longer lists is inactive and hears nothing)."""
    unit_ids = list(unit_ids)
    if not unit_ids:
        return {}
    pairs = await Owner.filter(units__id__in=unit_ids, active=True).values_list("id", "units__id")
    owner_ids = {owner_id for owner_id, _ in pairs}
    owners = {owner.id: owner for owner in await Owner.filter(id__in=owner_ids)}
    identities: dict[int, list[ChatIdentity]] = defaultdict(list)
    for identity in await ChatIdentity.filter(owner_id__in=owner_ids).order_by("id"):
        identities[identity.owner_id].append(identity)
    bound: dict[int, list[tuple[ChatIdentity, Owner]]] = defaultdict(list)
    for owner_id, unit_id in sorted(pairs):
        for identity in identities.get(owner_id, []):
            bound[unit_id].append((identity, owners[owner_id]))
    return bound


def _lang(catalogues: Catalogues, identity: ChatIdentity, owner: Owner) -> str:
    return catalogues.language(identity.language or owner.language)


def _private(
    key: str, kind: str, identity: ChatIdentity, text: str, fields: dict[str, str]
) -> Notice:
    return Notice(key, kind, Audience.PRIVATE, identity.platform, identity.user_id, text, fields)


async def _chats(estate: Estate, kind: ChatKind) -> list[Chat]:
    return await Chat.filter(estate_id=estate.id, kind=kind).order_by("id")


def _group(key: str, kind: str, audience: Audience, chat: Chat, text: str) -> Notice:
    return Notice(key, kind, audience, chat.platform, chat.chat_id, text)


def _recipient(identity: ChatIdentity) -> str:
    return f"{identity.platform}:{identity.user_id}"


# Bills ----------------------------------------------------------------------------------------


async def push_bills(now: datetime, services: NoticeServices, notifier: Notifier) -> int:
    """Each bound owner gets, privately and in their language, each unit's unpaid bills of the
    current month with how to pay."""
    catalogues = services.catalogues
    notices: list[Notice] = []
    for estate in await Estate.all().order_by("id"):
        period = local_date(now, estate).strftime("%Y-%m")
        bills = await Bill.filter(
            unit__estate_id=estate.id, period=period, paid_at__isnull=True
        ).order_by("unit_id", "item")
        by_unit: dict[int, list[Bill]] = defaultdict(list)
        for bill in bills:
            by_unit[bill.unit_id].append(bill)
        units = {unit.id: unit for unit in await Unit.filter(id__in=list(by_unit))}
        for unit_id, recipients in (await _bound_owners(by_unit)).items():
            unit_bills = by_unit[unit_id]
            for identity, owner in recipients:
                lang = _lang(catalogues, identity, owner)
                lines = [
                    catalogues.text(
                        lang,
                        "notice.bill_line",
                        item=catalogues.text(lang, f"bill.{bill.item}"),
                        amount=money(bill.amount_cents, lang),
                        due=bill.due_date.isoformat(),
                    )
                    for bill in unit_bills
                ]
                text = catalogues.text(
                    lang,
                    "notice.bill",
                    estate=estate.name,
                    unit=units[unit_id].label,
                    period=period,
                    lines="\n".join(lines),
                    total=money(sum(b.amount_cents for b in unit_bills), lang),
                    instructions=_instructions(estate, lang, catalogues),
                )
                key = f"bill:{period}:u{unit_id}:{_recipient(identity)}"
                fields = {
                    "estate": estate.name,
                    "unit": units[unit_id].label,
                    "period": period,
                    "total": money(sum(b.amount_cents for b in unit_bills), lang),
                    "due": min(b.due_date for b in unit_bills).isoformat(),
                }
                notices.append(_private(key, "bill", identity, text, fields))
    return await notifier.notify(notices, now)


# Arrears --------------------------------------------------------------------------------------


async def _last_reminder(prefix: str) -> date | None:
    keys = await Delivery.filter(kind="arrears", dedup_key__startswith=prefix).values_list(
        "dedup_key", flat=True
    )
    days = [date.fromisoformat(key[len(prefix) :]) for key in keys if key.startswith(prefix)]
    return max(days, default=None)


async def remind_arrears(now: datetime, services: NoticeServices, notifier: Notifier) -> int:
    """Owners of units with bills more than 30 days overdue are reminded privately every 14
    days until paid; each month's first run gives the staff chat the month's arrears list."""
    catalogues = services.catalogues
    notices: list[Notice] = []
    for estate in await Estate.all().order_by("id"):
        today = local_date(now, estate)
        overdue = await Bill.filter(
            unit__estate_id=estate.id,
            paid_at__isnull=True,
            due_date__lt=today - timedelta(days=ARREARS_AFTER_DAYS),
        ).order_by("unit_id", "due_date", "item")
        if not overdue:
            continue
        by_unit: dict[int, list[Bill]] = defaultdict(list)
        for bill in overdue:
            by_unit[bill.unit_id].append(bill)
        units = {unit.id: unit for unit in await Unit.filter(id__in=list(by_unit))}
        for unit_id, recipients in (await _bound_owners(by_unit)).items():
            for identity, owner in recipients:
                prefix = f"arrears:u{unit_id}:{_recipient(identity)}:"
                last = await _last_reminder(prefix)
                if last is not None and (today - last).days < ARREARS_EVERY_DAYS:
                    continue
                lang = _lang(catalogues, identity, owner)
                bills = by_unit[unit_id]
                text = _arrears_text(estate, units[unit_id], bills, today, lang, catalogues)
                fields = {
                    "estate": estate.name,
                    "unit": units[unit_id].label,
                    "total": money(sum(bill.amount_cents for bill in bills), lang),
                    "due": bills[0].due_date.isoformat(),
                    "days": str((today - bills[0].due_date).days),
                }
                key = f"{prefix}{today.isoformat()}"
                notices.append(_private(key, "arrears", identity, text, fields))
        notices.extend(await _arrears_list(estate, units, by_unit, today, catalogues))
    return await notifier.notify(notices, now)


def _arrears_text(
    estate: Estate, unit: Unit, bills: list[Bill], today: date, lang: str, catalogues: Catalogues
) -> str:
    lines = [
        catalogues.text(
            lang,
            "notice.arrears_line",
            period=bill.period,
            item=catalogues.text(lang, f"bill.{bill.item}"),
            amount=money(bill.amount_cents, lang),
            due=bill.due_date.isoformat(),
            days=(today - bill.due_date).days,
        )
        for bill in bills
    ]
    return catalogues.text(
        lang,
        "notice.arrears",
        estate=estate.name,
        unit=unit.label,
        lines="\n".join(lines),
        total=money(sum(bill.amount_cents for bill in bills), lang),
        instructions=_instructions(estate, lang, catalogues),
    )


async def _arrears_list(
    estate: Estate,
    units: dict[int, Unit],
    by_unit: dict[int, list[Bill]],
    today: date,
    catalogues: Catalogues,
) -> list[Notice]:
    """The month's arrears list for the staff chats (one per month: its key is the month)."""
    month = today.strftime("%Y-%m")
    lang = catalogues.default
    ordered = sorted(by_unit, key=lambda unit_id: units[unit_id].label)
    lines = [
        catalogues.text(
            lang,
            "notice.arrears_staff_line",
            unit=units[unit_id].label,
            amount=money(sum(b.amount_cents for b in by_unit[unit_id]), lang),
            bills=len(by_unit[unit_id]),
            due=by_unit[unit_id][0].due_date.isoformat(),
            days=(today - by_unit[unit_id][0].due_date).days,
        )
        for unit_id in ordered
    ]
    text = catalogues.text(
        lang,
        "notice.arrears_staff",
        month=month,
        count=len(ordered),
        total=money(sum(b.amount_cents for bills in by_unit.values() for b in bills), lang),
        lines="\n".join(lines),
    )
    return [
        _group(
            f"arrears-staff:e{estate.id}:{month}:{chat.platform}:{chat.chat_id}",
            "arrears-staff",
            Audience.STAFF,
            chat,
            text,
        )
        for chat in await _chats(estate, ChatKind.STAFF)
    ]


# Festival greetings ---------------------------------------------------------------------------


async def send_greetings(now: datetime, services: NoticeServices, notifier: Notifier) -> int:
    """On a festival (lunar ones computed) or an estate's own date, a greeting in every owner
    group of the estate."""
    catalogues = services.catalogues
    lang = catalogues.default
    notices: list[Notice] = []
    for estate in await Estate.all().order_by("id"):
        today = local_date(now, estate)
        greetings = [
            (name, catalogues.text(lang, f"notice.greeting.{name}", estate=estate.name))
            for name in festivals_on(today)
        ]
        own = await EstateGreeting.filter(
            estate_id=estate.id, month=today.month, day=today.day
        ).order_by("id")
        greetings += [
            (f"estate{greeting.id}", (lang == "en" and greeting.text_en) or greeting.text_zh)
            for greeting in own
        ]
        if not greetings:
            continue
        owner_chats = await _chats(estate, ChatKind.OWNERS)
        for name, text in greetings:
            base = f"greeting:{name}:{today.isoformat()}"
            # WeCom customer groups get one 客户群群发 task per group owner.
            tasks, chats = await groupsend.group_send_notices(owner_chats, base, "greeting", text)
            notices.extend(tasks)
            for chat in chats:
                key = f"{base}:{chat.platform}:{chat.chat_id}"
                notices.append(_group(key, "greeting", Audience.OWNERS, chat, text))
    return await notifier.notify(notices, now)


# Warranty expiry ------------------------------------------------------------------------------


async def warn_warranty_expiry(now: datetime, services: NoticeServices, notifier: Notifier) -> int:
    """Within 30 days of a unit's warranty end, its bound owners hear privately what is covered
    and how to report a defect; the staff chat gets the units, once per end date."""
    catalogues = services.catalogues
    notices: list[Notice] = []
    for estate in await Estate.all().order_by("id"):
        today = local_date(now, estate)
        units = await Unit.filter(
            estate_id=estate.id,
            warranty_end__gt=today,
            warranty_end__lte=today + timedelta(days=WARRANTY_NOTICE_DAYS),
        ).order_by("warranty_end", "label")
        if not units:
            continue
        recipients = await _bound_owners(unit.id for unit in units)
        by_end: dict[date, list[Unit]] = defaultdict(list)
        for unit in units:
            end: date = unit.warranty_end
            by_end[end].append(unit)
            for identity, owner in recipients.get(unit.id, []):
                lang = _lang(catalogues, identity, owner)
                text = catalogues.text(
                    lang,
                    "notice.warranty",
                    estate=estate.name,
                    unit=unit.label,
                    end=end.isoformat(),
                    days=(end - today).days,
                )
                key = f"warranty:u{unit.id}:{end.isoformat()}:{_recipient(identity)}"
                fields = {
                    "estate": estate.name,
                    "unit": unit.label,
                    "end": end.isoformat(),
                    "days": str((end - today).days),
                }
                notices.append(_private(key, "warranty", identity, text, fields))
        staff_chats = await _chats(estate, ChatKind.STAFF)
        lang = catalogues.default
        for end, ending in by_end.items():
            text = catalogues.text(
                lang,
                "notice.warranty_staff",
                end=end.isoformat(),
                count=len(ending),
                units="\n".join(unit.label for unit in ending),
            )
            for chat in staff_chats:
                key = (
                    f"warranty-staff:e{estate.id}:{end.isoformat()}:{chat.platform}:{chat.chat_id}"
                )
                notices.append(_group(key, "warranty-staff", Audience.STAFF, chat, text))
    return await notifier.notify(notices, now)


# Announcements --------------------------------------------------------------------------------


async def send_announcements(now: datetime, services: NoticeServices, notifier: Notifier) -> int:
    """Announcements whose time has come (within the last six hours) go to their owner group,
    or to all the estate's owner groups."""
    catalogues = services.catalogues
    lang = catalogues.default
    due = await Announcement.filter(
        send_at__lte=now, send_at__gt=now - ANNOUNCEMENT_GRACE, cancelled_at__isnull=True
    ).order_by("send_at", "id")
    notices: list[Notice] = []
    for announcement in due:
        estate = await Estate.get(id=announcement.estate_id)
        if announcement.chat_id is not None:
            chats = await Chat.filter(
                id=announcement.chat_id, estate_id=estate.id, kind=ChatKind.OWNERS
            )
        else:
            chats = await _chats(estate, ChatKind.OWNERS)
        text = catalogues.text(
            lang, "notice.announcement", estate=estate.name, text=announcement.text
        )
        base = f"announcement:{announcement.id}"
        # WeCom customer groups get one 客户群群发 task per group owner.
        tasks, chats = await groupsend.group_send_notices(chats, base, "announcement", text)
        notices.extend(tasks)
        for chat in chats:
            key = f"{base}:{chat.platform}:{chat.chat_id}"
            notices.append(_group(key, "announcement", Audience.OWNERS, chat, text))
    return await notifier.notify(notices, now)


# Deliveries, and the staff desk's jobs --------------------------------------------------------


async def deliver_due(now: datetime, services: NoticeServices, notifier: Notifier) -> int:
    """Send every due delivery: retries, notices queued by `guanjia notices run`, and the rest
    of a broadcast a crash interrupted."""
    run = await notifier.deliver()
    return run.sent


async def remind_to_rate(now: datetime, services: NoticeServices, notifier: Notifier) -> int:
    """Remind each reporter of a ticket resolved a day or more ago and still unrated, once per
    resolution, in the chat they reported from, with the rating buttons.

    A resolved ticket is unrated: a rating closes it or reopens it.
    """
    catalogues = services.catalogues
    tickets = await Ticket.filter(
        status=TicketStatus.RESOLVED,
        resolved_at__lte=now - RATING_REMINDER_AFTER,
        resolved_at__gt=now - desk.RATING_WINDOW,
    ).order_by("id")
    notices: list[Notice] = []
    for ticket in tickets:
        assert ticket.resolved_at is not None
        resolved = ticket.resolved_at.strftime("%Y%m%dT%H%M%S")
        for reporter in await TicketReporter.filter(ticket_id=ticket.id).order_by("id"):
            platform = Platform(reporter.platform)
            lang = catalogues.language(reporter.language)
            text = catalogues.text(
                lang,
                "desk.rating_reminder",
                number=ticket.number,
                days=desk.RATING_WINDOW.days,
            )
            key = f"rating:{ticket.id}:{resolved}:{platform}:{reporter.user_id}"
            buttons = desk.rating_buttons(ticket, catalogues, lang)
            where = await _reporters_chat(reporter, "rating reminder", ticket.number)
            if where is None:
                continue
            audience, to = where
            notices.append(
                Notice(
                    key=key,
                    kind="rating",
                    audience=audience,
                    platform=platform,
                    to=to,
                    text=text,
                    fields={"number": ticket.number},
                    buttons=buttons,
                )
            )
    return await notifier.notify(notices, now)


async def _reporters_chat(
    reporter: TicketReporter, what: str, number: str
) -> tuple[Audience, str] | None:
    """Where a reminder to a ticket's reporter goes: the owner group they reported in (as the
    resolution was told there), else their private chat; None (logged) for any other chat."""
    chat = await Chat.get_or_none(platform=Platform(reporter.platform), chat_id=reporter.chat_id)
    if chat is not None and chat.kind is ChatKind.OWNERS:
        return Audience.OWNERS, reporter.chat_id
    if chat is None or chat.kind is ChatKind.PRIVATE:
        return Audience.PRIVATE, reporter.user_id
    log.warning(
        "no %s for %s: %s reported from a %s chat", what, number, reporter.user_id, chat.kind
    )
    return None


async def remind_appointments(now: datetime, services: NoticeServices, notifier: Notifier) -> int:
    """Remind each reporter of a ticket of the visit staff agreed with them, once, in the two
    hours before it, in the chat they reported from (an owner group is told only the number and
    the time), in their language and the estate's time zone."""
    catalogues = services.catalogues
    tickets = await Ticket.filter(
        status__in=[TicketStatus.OPEN, TicketStatus.CLAIMED],
        appointment_reminded=False,
        appointment_at__gt=now,
        appointment_at__lte=now + APPOINTMENT_REMINDER_BEFORE,
    ).prefetch_related("estate")
    notices: list[Notice] = []
    for ticket in tickets:
        assert ticket.appointment_at is not None
        zone = ZoneInfo(ticket.estate.timezone)
        when = ticket.appointment_at.astimezone(zone).strftime("%m-%d %H:%M")
        stamp = ticket.appointment_at.strftime("%Y%m%dT%H%M")
        for reporter in await TicketReporter.filter(ticket_id=ticket.id).order_by("id"):
            platform = Platform(reporter.platform)
            where = await _reporters_chat(reporter, "appointment reminder", ticket.number)
            if where is None:
                continue
            audience, to = where
            lang = catalogues.language(reporter.language)
            notices.append(
                Notice(
                    key=f"appointment:{ticket.id}:{stamp}:{platform}:{reporter.user_id}",
                    kind="appointment",
                    audience=audience,
                    platform=platform,
                    to=to,
                    text=catalogues.text(lang, "calendar.reminder", number=ticket.number, at=when),
                    fields={"number": ticket.number, "at": when},
                )
            )
    sent = await notifier.notify(notices, now)
    for ticket in tickets:
        # Only the appointment that was reminded of: one set again meanwhile is reminded anew.
        await Ticket.filter(id=ticket.id, appointment_at=ticket.appointment_at).update(
            appointment_reminded=True
        )
    return sent


async def escalate(now: datetime, services: Any, notifier: Notifier) -> int:
    """Escalate tickets that missed a promised time (the staff desk's `escalate_overdue`)."""
    return await desk.escalate_overdue(now, services, notifier)


async def close_unrated(now: datetime, services: Any, notifier: Notifier) -> int:
    """Close resolved tickets left unrated for 3 days (the staff desk's `close_unrated`)."""
    return await desk.close_unrated(now, services, notifier)


async def revisit(now: datetime, services: Any, notifier: Notifier) -> int:
    """The daily revisit: remind owners to rate, then close what stayed unrated too long;
    returns reminders sent plus tickets closed."""
    reminded = await remind_to_rate(now, services, notifier)
    return reminded + await close_unrated(now, services, notifier)


async def poll_group_sends(now: datetime, services: Any, notifier: Notifier) -> int:
    """Ask WeCom whether each open 客户群群发 task was confirmed and sent, and remind once the
    group owners who have not confirmed in time; returns how many tasks were asked about."""
    channel = services.hub.get(Platform.WECOM)
    port = getattr(channel, "group_sends", None)
    if not isinstance(port, groupsend.GroupSendPort):
        return 0
    run = await groupsend.poll_tasks(port, now)
    return run.polled


# The notice jobs `guanjia notices run KIND` can run, by kind.
NOTICE_JOBS: dict[str, Job] = {
    "bills": push_bills,
    "arrears": remind_arrears,
    "greetings": send_greetings,
    "warranty": warn_warranty_expiry,
    "announcements": send_announcements,
    "ratings": remind_to_rate,
    "appointments": remind_appointments,
}
