"""The festivals Guanjia greets owner groups on, with their dates computed for any year.

Lunar festivals are converted with lunar-python (`Lunar.fromYmd(year, month, day).getSolar()`),
never read from a hand-typed table: lunar month 1 day 1 of lunar year Y is Spring Festival of
Gregorian year Y (it falls between Jan 21 and Feb 20), and the other three follow in that year.
"""

from __future__ import annotations

from datetime import date
from functools import cache

from lunar_python import Lunar

# name → (lunar month, lunar day); the names are the locale keys' last part.
LUNAR_FESTIVALS: dict[str, tuple[int, int]] = {
    "spring_festival": (1, 1),  # 春节
    "lantern": (1, 15),  # 元宵节
    "dragon_boat": (5, 5),  # 端午节
    "mid_autumn": (8, 15),  # 中秋节
}

# name → (month, day) of the Gregorian calendar.
SOLAR_FESTIVALS: dict[str, tuple[int, int]] = {
    "new_year": (1, 1),  # 元旦
    "labour_day": (5, 1),  # 劳动节
    "national_day": (10, 1),  # 国庆节
}

FESTIVALS = (*LUNAR_FESTIVALS, *SOLAR_FESTIVALS)


def lunar_to_solar(year: int, month: int, day: int) -> date:
    """The Gregorian date of a lunar date (lunar year `year`, a regular, not leap, month)."""
    solar = Lunar.fromYmd(year, month, day).getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


@cache
def festival_dates(year: int) -> dict[str, date]:
    """Every festival's Gregorian date in `year`."""
    dates = {name: date(year, month, day) for name, (month, day) in SOLAR_FESTIVALS.items()}
    for name, (month, day) in LUNAR_FESTIVALS.items():
        dates[name] = lunar_to_solar(year, month, day)
    return dates


def festivals_on(day: date) -> list[str]:
    """The festivals that fall on `day` (several can: National Day was Mid-Autumn in 2020)."""
    return [name for name, when in festival_dates(day.year).items() if when == day]
