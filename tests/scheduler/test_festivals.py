"""Festival dates: the lunar ones computed with lunar-python, checked against published dates.

2026: the issue's dates. 2027: Hong Kong's gazetted general holidays for 2027 (Lunar New Year's
Day Sat 6 Feb, Tuen Ng Festival Wed 9 Jun, "the day following the Chinese Mid-Autumn Festival"
Thu 16 Sep, so the festival is 15 Sep); the Lantern Festival is the 15th day of the first month,
14 days after Spring Festival.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from scheduler.festivals import festival_dates, festivals_on, lunar_to_solar

EXPECTED = {
    2026: {
        "new_year": date(2026, 1, 1),
        "spring_festival": date(2026, 2, 17),
        "lantern": date(2026, 3, 3),
        "labour_day": date(2026, 5, 1),
        "dragon_boat": date(2026, 6, 19),
        "mid_autumn": date(2026, 9, 25),
        "national_day": date(2026, 10, 1),
    },
    2027: {
        "new_year": date(2027, 1, 1),
        "spring_festival": date(2027, 2, 6),
        "lantern": date(2027, 2, 20),
        "labour_day": date(2027, 5, 1),
        "dragon_boat": date(2027, 6, 9),
        "mid_autumn": date(2027, 9, 15),
        "national_day": date(2027, 10, 1),
    },
}


@pytest.mark.parametrize("year", sorted(EXPECTED))
def test_festival_dates(year: int) -> None:
    assert festival_dates(year) == EXPECTED[year]


def test_lantern_is_fourteen_days_after_spring_festival() -> None:
    for year in range(2024, 2040):
        dates = festival_dates(year)
        assert dates["lantern"] - dates["spring_festival"] == timedelta(days=14)
        assert date(year, 1, 21) <= dates["spring_festival"] <= date(year, 2, 20)


def test_festivals_on_a_day_several_can_coincide() -> None:
    assert festivals_on(date(2026, 9, 25)) == ["mid_autumn"]
    assert festivals_on(date(2026, 9, 26)) == []
    # 2020: Mid-Autumn fell on National Day.
    assert sorted(festivals_on(date(2020, 10, 1))) == ["mid_autumn", "national_day"]
    assert lunar_to_solar(2020, 8, 15) == date(2020, 10, 1)
