"""Planned outages (停水, 停电, 电梯维保, 停气) that the estate announced, and the reports of them.

When staff schedule an announcement, `parse_outages` reads what it announces: the kind, the
buildings (none named: the whole estate) and the announced times, in the estate's time zone.
Each outage it finds becomes an `Incident`. While an incident lasts, an owner's report of the
same kind in an affected building is answered with the announced end instead of opening a
ticket (`match_incident`), and counted for staff. An announcement whose times cannot be read
makes no incident: staff are told, and reports open tickets as usual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.core.vocabulary import building_name
from models import Incident

if TYPE_CHECKING:
    from bot.core.reference import EstateCache

__all__ = ["KINDS", "Outage", "match_incident", "outage_kind_reported", "parse_outages"]

KINDS = ("water", "power", "lift", "gas")
# Reports this long before an announced start already count as asking about it.
EARLY = timedelta(minutes=30)

_ANNOUNCED = {
    "water": re.compile(
        r"停水|断水|(?:暂停|停止|中断)供水|供水(?:暂停|中断)|"
        r"\bwater\b.{0,30}\b(?:off|cut|interrupted|shut|suspended|outage)|no water",
        re.I,
    ),
    "power": re.compile(
        r"停电|断电|(?:暂停|停止|中断)供电|供电(?:暂停|中断)|"
        r"\b(?:power|electricity)\b.{0,30}\b(?:off|cut|interrupted|shut|outage)|no power",
        re.I,
    ),
    "lift": re.compile(
        r"电梯.{0,8}(?:维保|保养|检修|维修|停运|停用|年检)|(?:维保|保养|检修|年检).{0,8}电梯|"
        r"\b(?:lift|elevator)s?\b.{0,30}\b(?:maintenance|inspection|out of service|servic)",
        re.I,
    ),
    "gas": re.compile(
        r"停气|(?:燃气|天然气|煤气).{0,6}(?:暂停|停止|中断|检修)|\bgas\b.{0,30}\b(?:off|cut|shut)",
        re.I,
    ),
}
# What an owner writes when the supply is gone (a leak is not an outage).
_REPORTED = {
    "water": re.compile(
        r"没水|停水|断水|不出水|没有水|水停了|没来水|水.{0,3}(?:停|断)了|"
        r"no water|water (?:is |has been |was )?(?:off|out|cut|gone)",
        re.I,
    ),
    "power": re.compile(
        r"没电|停电|断电|没有电|全黑|"
        r"no (?:power|electricity)|power (?:is |has been |was )?(?:off|out|cut|gone)|blackout",
        re.I,
    ),
    "lift": re.compile(
        r"电梯.{0,6}(?:坏|停|不动|不能用|用不了|没法用|不运行|故障|维修|检修|不走)|"
        r"\b(?:lift|elevator)s?\b.{0,20}\b(?:not working|broken|out of service|stopped|down)",
        re.I,
    ),
    "gas": re.compile(r"没气|停气|没有燃气|燃气.{0,3}(?:没|停)|no gas", re.I),
}
# Danger is never answered with an announcement: someone trapped, a gas smell.
_DANGER = re.compile(r"困|被关|关在|出不来|trapped|stuck (?:in|inside)|闻到|味|smell", re.I)

_CN_NUM = r"[零〇一二两三四五六七八九十]{1,3}"
_BUILDING = re.compile(
    rf"(?P<zh>\d{{1,3}}|[A-Za-z]|{_CN_NUM})\s*(?:号楼|号栋|栋|幢|座|#楼)"
    r"|\b(?:block|blk|tower|building|bldg)\.?\s*(?P<en>[A-Za-z]\d{0,2}|\d{1,3})\b",
    re.I,
)
_DATE = (
    r"(?:(?:(?P<{p}y>\d{{4}})[-/.年])?(?P<{p}m>\d{{1,2}})[-/.月](?P<{p}d>\d{{1,2}})[日号]?"
    r"|(?P<{p}rel>今天|今日|明天|明日|后天|today|tomorrow))?\s*"
)
_TIME = (
    r"(?P<{p}ap>上午|下午|中午|晚上|早上|凌晨)?\s*(?P<{p}h>\d{{1,2}})"
    r"(?:[:：](?P<{p}mi>\d{{2}})|[点时](?:(?P<{p}mi2>\d{{1,2}})分?|(?P<{p}half>半))?"
    r"|(?=\s*(?:am|pm)\b))"
    r"\s*(?P<{p}en>am|pm)?"
)
_RANGE = re.compile(
    _DATE.format(p="a")
    + _TIME.format(p="a")
    + r"\s*(?:至|到|-|~|～|—|–|to|until)\s*"
    + _DATE.format(p="b")
    + _TIME.format(p="b"),
    re.I,
)
_RELATIVE = {"今天": 0, "今日": 0, "today": 0, "明天": 1, "明日": 1, "tomorrow": 1, "后天": 2}


@dataclass(frozen=True)
class Outage:
    """One planned outage an announcement names."""

    kind: str
    building: str | None
    starts_at: datetime
    ends_at: datetime


def _building(match: re.Match[str]) -> str | None:
    return building_name(match.group("zh") or match.group("en") or "")


def _day(match: re.Match[str], p: str, base: date) -> date | None:
    rel = match.group(f"{p}rel")
    if rel:
        return base + timedelta(days=_RELATIVE[rel.lower()])
    if match.group(f"{p}m") is None:
        return None
    year = int(match.group(f"{p}y") or base.year)
    day = date(year, int(match.group(f"{p}m")), int(match.group(f"{p}d")))
    if match.group(f"{p}y") is None and day < base - timedelta(days=180):
        day = day.replace(year=year + 1)
    return day


def _clock(match: re.Match[str], p: str, after: str | None) -> tuple[time, str | None]:
    hour = int(match.group(f"{p}h"))
    minute = int(match.group(f"{p}mi") or match.group(f"{p}mi2") or 0)
    if match.group(f"{p}half"):
        minute = 30
    period = match.group(f"{p}ap") or after
    english = (match.group(f"{p}en") or "").lower()
    if (period in ("下午", "晚上") or english == "pm") and hour < 12:
        hour += 12
    elif period == "中午" and hour < 3:
        hour += 12
    elif english == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        raise ValueError("not a time of day")
    return time(hour, minute), period


def parse_outages(text: str, sent_at: datetime, timezone: str) -> list[Outage]:
    """The planned outages an announcement names, with their times (none when it names no
    outage, or no time range it can read)."""
    kinds = [kind for kind, pattern in _ANNOUNCED.items() if pattern.search(text)]
    if not kinds:
        return []
    zone = ZoneInfo(timezone)
    base = sent_at.astimezone(zone).date()
    found = _RANGE.search(text)
    if found is None:
        return []
    try:
        first_day = _day(found, "a", base) or base
        last_day = _day(found, "b", first_day) or first_day
        start, period = _clock(found, "a", None)
        end, _ = _clock(found, "b", period)
    except ValueError:
        return []
    starts_at = datetime.combine(first_day, start, zone)
    ends_at = datetime.combine(last_day, end, zone)
    if ends_at <= starts_at:
        ends_at += timedelta(days=1)  # through the night
    buildings = sorted({b for m in _BUILDING.finditer(text) if (b := _building(m))}, key=str)
    return [
        Outage(kind, building, starts_at, ends_at)
        for kind in kinds
        for building in (buildings or [None])
    ]


def outage_kind_reported(text: str) -> str | None:
    """The supply an owner says is gone (water, power, lift, gas), unless they report danger."""
    if _DANGER.search(text):
        return None
    return next((kind for kind, pattern in _REPORTED.items() if pattern.search(text)), None)


async def match_incident(
    estate_id: int,
    kind: str,
    building: str | None,
    now: datetime,
    cache: EstateCache | None = None,
) -> Incident | None:
    """The estate's announced incident of this kind under way now for this building (or for
    the whole estate), if there is one. With a `cache`, the row is read only when there is."""
    if cache is not None:
        for outage in await cache.outages(estate_id):
            if (
                outage.kind == kind
                and outage.starts_at <= now + EARLY
                and outage.ends_at >= now
                and (outage.building is None or outage.building == building)
            ):
                return await Incident.get_or_none(id=outage.id, cancelled_at__isnull=True)
        return None
    candidates = await Incident.filter(
        estate_id=estate_id,
        kind=kind,
        cancelled_at__isnull=True,
        starts_at__lte=now + EARLY,
        ends_at__gte=now,
    ).order_by("starts_at", "id")
    for incident in candidates:
        if incident.building is None or incident.building == building:
            return incident
    return None
