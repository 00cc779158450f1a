"""Pricing a session with an OCPI 2.2.1 Tariff (voltlab.ocpi.pricing).

Most cases are the worked examples of OCPI 2.2.1 mod_tariffs and mod_cdrs (the tariffs as
the example's text describes them); where the spec's own examples disagree with its
step_size rule, the test says so.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone

import pytest

from voltlab.ocpi.pricing import Priced, price_session, validate_tariff

MONDAY = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # 2026-01-05 is a Monday
SATURDAY = datetime(2026, 1, 3, 10, 0, tzinfo=UTC)


def _tariff(*elements: dict, **extra) -> dict:
    return {
        "country_code": "DE",
        "party_id": "ALL",
        "id": "T1",
        "currency": "EUR",
        "elements": list(elements),
        "last_updated": "2026-01-01T00:00:00Z",
        **extra,
    }


def _component(kind: str, price: float, step_size: int = 1, vat: float | None = None) -> dict:
    component = {"type": kind, "price": price, "step_size": step_size}
    if vat is not None:
        component["vat"] = vat
    return component


def _element(*components: dict, **restrictions) -> dict:
    element: dict = {"price_components": list(components)}
    if restrictions:
        element["restrictions"] = restrictions
    return element


def _price(d: dict) -> tuple[float, float]:
    return d["excl_vat"], d["incl_vat"]


ENERGY_025 = _component("ENERGY", 0.25, 1, vat=10.0)
START_FEE = _component("FLAT", 0.50, 1, vat=20.0)


# --------------------------------------------------------------------------- mod_tariffs


def test_simple_tariff_0_25_euro_per_kwh():
    """20 kWh: 5.00 excl. VAT, 5.50 incl. VAT."""
    priced = price_session(
        _tariff(_element(ENERGY_025)), start=MONDAY, end=MONDAY + timedelta(hours=2), energy_kwh=20
    )
    assert _price(priced.total_cost) == (5.00, 5.50)
    assert _price(priced.total_energy_cost) == (5.00, 5.50)
    assert _price(priced.total_time_cost) == (0.0, 0.0)
    assert priced.total_energy == 20.0
    assert priced.total_time == 2.0
    assert priced.total_parking_time == 0.0
    assert priced.currency == "EUR"


def test_0_25_euro_per_kwh_plus_start_fee():
    """20 kWh: 5.50 excl. VAT, 6.10 incl. VAT; the start fee is the fixed cost."""
    priced = price_session(
        _tariff(_element(START_FEE, ENERGY_025)),
        start=MONDAY,
        end=MONDAY + timedelta(hours=2),
        energy_kwh=20,
    )
    assert _price(priced.total_cost) == (5.50, 6.10)
    assert _price(priced.total_fixed_cost) == (0.50, 0.60)
    assert _price(priced.total_energy_cost) == (5.00, 5.50)


@pytest.mark.parametrize(
    ("kwh", "total", "energy_cost"),
    [(20, (5.00, 5.50), (5.00, 5.50)), (1, (0.50, 0.55), (0.25, 0.28))],
)
def test_0_25_euro_per_kwh_plus_minimum_price(kwh, total, energy_cost):
    """Below 2 kWh the minimum price (0.50 / 0.55) is billed; the energy cost is unchanged."""
    tariff = _tariff(_element(ENERGY_025), min_price={"excl_vat": 0.50, "incl_vat": 0.55})
    priced = price_session(tariff, start=MONDAY, end=MONDAY + timedelta(hours=1), energy_kwh=kwh)
    assert _price(priced.total_cost) == total
    assert _price(priced.total_energy_cost) == energy_cost


def test_0_25_euro_per_kwh_plus_parking_fee_plus_start_fee():
    """20 kWh then 40 min parked, billed per 15 min: 45 min, 7.00 / 7.90."""
    tariff = _tariff(_element(START_FEE, ENERGY_025, _component("PARKING_TIME", 2.00, 900, 20.0)))
    priced = price_session(
        tariff,
        start=MONDAY,
        end=MONDAY + timedelta(hours=2, minutes=40),
        energy_kwh=20,
        parking_hours=40 / 60,
    )
    assert _price(priced.total_cost) == (7.00, 7.90)
    assert _price(priced.total_parking_cost) == (1.50, 1.80)
    assert priced.billed_parking_time == 0.75
    assert priced.total_parking_time == pytest.approx(40 / 60, abs=1e-6)


@pytest.mark.parametrize(("kwh", "total"), [(50, (10.00, 11.00)), (30, (8.00, 8.85))])
def test_0_25_euro_per_kwh_plus_start_fee_plus_max_price(kwh, total):
    """The text's max price: 10.00 excl. / 11.00 incl. VAT."""
    tariff = _tariff(
        _element(START_FEE, ENERGY_025),
        max_price={"excl_vat": 10.00, "incl_vat": 11.00},
        end_date_time="2019-06-30T23:59:59Z",
    )
    priced = price_session(tariff, start=MONDAY, end=MONDAY + timedelta(hours=3), energy_kwh=kwh)
    assert _price(priced.total_cost) == total


def test_simple_tariff_2_euro_per_hour():
    """2.5 h charging, billed per minute: 5.00 / 5.50."""
    tariff = _tariff(_element(_component("TIME", 2.00, 60, 10.0)))
    priced = price_session(
        tariff, start=MONDAY, end=MONDAY + timedelta(hours=2, minutes=30), energy_kwh=30
    )
    assert _price(priced.total_cost) == (5.00, 5.50)
    assert _price(priced.total_time_cost) == (5.00, 5.50)


def test_3_euro_per_hour_5_euro_parking():
    """150 min charging + 42 min parking billed per 5 min (45 min): 11.25 / 12.75."""
    tariff = _tariff(
        _element(_component("TIME", 3.00, 60, 10.0), _component("PARKING_TIME", 5.00, 300, 20.0))
    )
    priced = price_session(
        tariff,
        start=MONDAY,
        end=MONDAY + timedelta(minutes=192),
        energy_kwh=25,
        parking_hours=0.7,
    )
    assert _price(priced.total_cost) == (11.25, 12.75)
    assert _price(priced.total_time_cost) == (7.50, 8.25)
    assert _price(priced.total_parking_cost) == (3.75, 4.50)
    assert priced.total_time == 3.2
    assert priced.total_parking_time == 0.7


def test_tariff_with_time_and_energy():
    """0.25/kWh and 2.00/h, both 10% VAT: 20 kWh in 1.5 h is 5.00 + 3.00."""
    tariff = _tariff(_element(ENERGY_025, _component("TIME", 2.00, 60, 10.0)))
    priced = price_session(tariff, start=MONDAY, end=MONDAY + timedelta(minutes=90), energy_kwh=20)
    assert _price(priced.total_energy_cost) == (5.00, 5.50)
    assert _price(priced.total_time_cost) == (3.00, 3.30)
    assert _price(priced.total_cost) == (8.00, 8.80)


@pytest.mark.parametrize(
    ("step_size", "billed_kwh", "cost"), [(1, 0.116, 0.03), (25, 0.125, 0.03), (500, 0.5, 0.13)]
)
def test_energy_step_size_rounds_the_wh_up(step_size, billed_kwh, cost):
    """PriceComponent note: 115.2 Wh is billed as 116 Wh (0.029), 125 Wh (0.03125) or
    500 Wh (0.125), each rounded half-up to cents."""
    tariff = _tariff(_element(_component("ENERGY", 0.25, step_size)))
    priced = price_session(
        tariff, start=MONDAY, end=MONDAY + timedelta(minutes=5), energy_kwh=0.1152
    )
    assert priced.billed_energy == billed_kwh
    assert priced.total_energy == 0.1152
    assert priced.total_energy_cost["excl_vat"] == cost


def test_energy_step_size_of_100_wh():
    """20.45 kWh billed per 0.1 kWh: 20.5 kWh, 5.125 rounded half-up to 5.13."""
    tariff = _tariff(_element(_component("ENERGY", 0.25, 100, 10.0)))
    priced = price_session(tariff, start=MONDAY, end=MONDAY + timedelta(hours=2), energy_kwh=20.45)
    assert priced.billed_energy == 20.5
    assert _price(priced.total_cost) == (5.13, 5.64)


def test_first_kwh_free_then_0_20():
    """The first kWh is free, every further kWh 0.20: 20 kWh cost 3.80 (cut at 1 kWh)."""
    tariff = _tariff(
        _element(_component("ENERGY", 0.0, 1), max_kwh=1.0),
        _element(_component("ENERGY", 0.20, 1), min_kwh=1.0),
    )
    priced = price_session(tariff, start=MONDAY, end=MONDAY + timedelta(hours=2), energy_kwh=20)
    assert _price(priced.total_cost) == (3.80, 3.80)  # no VAT given: none applicable
    assert priced.charging_periods == [
        {
            "start_date_time": "2026-01-05T10:00:00Z",
            "dimensions": [{"type": "ENERGY", "volume": 1.0}, {"type": "TIME", "volume": 0.1}],
            "tariff_id": "T1",
        },
        {
            "start_date_time": "2026-01-05T10:06:00Z",
            "dimensions": [{"type": "ENERGY", "volume": 19.0}, {"type": "TIME", "volume": 1.9}],
            "tariff_id": "T1",
        },
    ]


# Complex Tariff example (tariff_4_complex.json).
COMPLEX = _tariff(
    _element(_component("FLAT", 2.50, 1, 15.0)),
    _element(_component("TIME", 1.00, 900, 20.0), max_current=32.00),
    _element(
        _component("TIME", 2.00, 600, 20.0),
        min_current=32.00,
        day_of_week=["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"],
    ),
    _element(
        _component("TIME", 1.25, 600, 20.0), min_current=32.00, day_of_week=["SATURDAY", "SUNDAY"]
    ),
    _element(
        _component("PARKING_TIME", 5.00, 300, 10.0),
        start_time="09:00",
        end_time="18:00",
        day_of_week=["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"],
    ),
    _element(
        _component("PARKING_TIME", 6.00, 300, 10.0),
        start_time="10:00",
        end_time="17:00",
        day_of_week=["SATURDAY"],
    ),
)


def test_complex_tariff_monday_morning():
    """Monday 09:30, 147 min charging at 16 A (no current data: the first TIME element,
    ``max_current`` skipped), then 42 min parking (weekday 09-18, per 5 min: 45 min).

    The example's text says 8.75 because it also rounds the charging time to 150 min; the
    spec's step_size rule (mod_cdrs: "only taken into account for the total parking
    duration" when TIME and PARKING_TIME are both used; ocpi/ocpi#396) does not, so
    2.50 + 2.45 + 3.75 = 8.70.
    """
    start = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    priced = price_session(
        COMPLEX,
        start=start,
        end=start + timedelta(minutes=147 + 42),
        energy_kwh=8,
        parking_hours=0.7,
    )
    assert _price(priced.total_fixed_cost) == (2.50, 2.88)
    assert _price(priced.total_time_cost) == (2.45, 2.94)
    assert _price(priced.total_parking_cost) == (3.75, 4.13)
    assert _price(priced.total_cost) == (8.70, 9.95)


def test_complex_tariff_saturday_afternoon_with_current_in_the_periods():
    """Saturday 13:30, 114 min at 43 A (weekend > 32 A: 1.25/h), 71 min parking billed as
    75 min at 6.00/h (Saturday 10-17). 2.50 + 2.375 + 7.50 (the text's 12.50 again rounds
    the charging time too; ocpi/ocpi#396 computes 12.375 before rounding)."""
    start = datetime(2026, 1, 3, 13, 30, tzinfo=UTC)
    periods = [
        {
            "start_date_time": "2026-01-03T13:30:00Z",
            "dimensions": [
                {"type": "ENERGY", "volume": 40},
                {"type": "TIME", "volume": 1.9},
                {"type": "CURRENT", "volume": 43},
            ],
        },
        {
            "start_date_time": "2026-01-03T15:24:00Z",
            "dimensions": [{"type": "PARKING_TIME", "volume": 71 / 60}],
        },
    ]
    priced = price_session(
        COMPLEX,
        start=start,
        end=start + timedelta(minutes=114 + 71),
        energy_kwh=40,
        charging_periods=periods,
    )
    assert _price(priced.total_time_cost) == (2.38, 2.85)
    assert _price(priced.total_parking_cost) == (7.50, 8.25)
    assert _price(priced.total_cost) == (12.38, 13.98)
    assert priced.billed_parking_time == 1.25


# tariff_14_step_size.json
STEP_SIZE = _tariff(
    _element(
        _component("TIME", 1.20, 1800),
        _component("PARKING_TIME", 1.00, 900),
        start_time="00:00",
        end_time="17:00",
    ),
    _element(
        _component("TIME", 2.40, 900),
        _component("PARKING_TIME", 1.00, 900),
        start_time="17:00",
        end_time="20:00",
    ),
    _element(_component("TIME", 2.40, 900), start_time="20:00", end_time="23:59"),
)


def test_step_size_switching_elements_2():
    """16:35, 35 min charging: 25 min at 1.20/h, then the total rounded to 45 min with the
    last element's 15 min step: 20 min at 2.40/h. 0.50 + 0.80 = 1.30."""
    start = datetime(2026, 1, 5, 16, 35, tzinfo=UTC)
    priced = price_session(STEP_SIZE, start=start, end=start + timedelta(minutes=35), energy_kwh=5)
    assert _price(priced.total_cost) == (1.30, 1.30)
    assert priced.billed_time == 0.75
    assert [p["start_date_time"] for p in priced.charging_periods] == [
        "2026-01-05T16:35:00Z",
        "2026-01-05T17:00:00Z",
    ]


def test_step_size_switching_to_free_parking_3():
    """19:55, 10 min charging, 2 min parking after 20:00 (free: no PARKING_TIME there):
    the charging time is rounded to 15 min. 0.20 + 0.40 = 0.60."""
    start = datetime(2026, 1, 5, 19, 55, tzinfo=UTC)
    priced = price_session(
        STEP_SIZE,
        start=start,
        end=start + timedelta(minutes=12),
        energy_kwh=2,
        parking_hours=2 / 60,
    )
    assert _price(priced.total_parking_cost) == (0.0, 0.0)
    assert _price(priced.total_cost) == (0.60, 0.60)


def test_step_size_switching_elements_1_follows_the_cdr_rule():
    """16:55, 10 min charging then 2 min parking (priced before 20:00). The example's text
    says 0.50 (charging rounded to 15 min, parking inside it); mod_cdrs says that when TIME
    and PARKING_TIME are both used only the parking total is rounded: 5 min at 1.20/h +
    5 min at 2.40/h + 15 min parking at 1.00/h = 0.10 + 0.20 + 0.25 = 0.55."""
    start = datetime(2026, 1, 5, 16, 55, tzinfo=UTC)
    priced = price_session(
        STEP_SIZE,
        start=start,
        end=start + timedelta(minutes=12),
        energy_kwh=2,
        parking_hours=2 / 60,
    )
    assert _price(priced.total_time_cost) == (0.30, 0.30)
    assert _price(priced.total_parking_cost) == (0.25, 0.25)
    assert _price(priced.total_cost) == (0.55, 0.55)


def test_max_power_restriction_with_power_in_the_periods():
    """1 kWh at 6 kW (0.20), 40 kWh at 48 kW (0.50), 0.5 kWh at 4 kW (0.20): 20.30."""
    tariff = _tariff(
        _element(_component("ENERGY", 0.20, 1, 20.0), max_power=16.00),
        _element(_component("ENERGY", 0.35, 1, 20.0), max_power=32.00),
        _element(_component("ENERGY", 0.50, 1, 20.0)),
    )
    periods = [
        {
            "start_date_time": "2026-01-05T10:00:00Z",
            "dimensions": [{"type": "ENERGY", "volume": 1}, {"type": "POWER", "volume": 6}],
        },
        {
            "start_date_time": "2026-01-05T10:10:00Z",
            "dimensions": [{"type": "ENERGY", "volume": 40}, {"type": "POWER", "volume": 48}],
        },
        {
            "start_date_time": "2026-01-05T11:00:00Z",
            "dimensions": [{"type": "ENERGY", "volume": 0.5}, {"type": "POWER", "volume": 4}],
        },
    ]
    priced = price_session(
        tariff,
        start=MONDAY,
        end=datetime(2026, 1, 5, 11, 7, 30, tzinfo=UTC),
        energy_kwh=41.5,
        charging_periods=periods,
    )
    assert _price(priced.total_cost) == (20.30, 24.36)
    assert priced.total_energy == 41.5
    assert [p["tariff_id"] for p in priced.charging_periods] == ["T1", "T1", "T1"]


def test_average_power_of_a_synthesized_session_drives_power_restrictions():
    tariff = _tariff(
        _element(_component("ENERGY", 0.20, 1), max_power=16.00),
        _element(_component("ENERGY", 0.50, 1)),
    )
    slow = price_session(tariff, start=MONDAY, end=MONDAY + timedelta(hours=2), energy_kwh=22)
    fast = price_session(tariff, start=MONDAY, end=MONDAY + timedelta(hours=1), energy_kwh=50)
    assert slow.total_cost["excl_vat"] == 4.40  # 11 kW
    assert fast.total_cost["excl_vat"] == 25.00  # 50 kW


MAX_DURATION = _tariff(
    _element(_component("ENERGY", 0.00, 1, 20.0), max_duration=1800),
    _element(_component("ENERGY", 0.25, 1, 20.0), max_duration=3600),
    _element(_component("ENERGY", 0.40, 1, 20.0)),
)


def test_max_duration_restriction_with_periods():
    """Supermarket: 5 kWh in the first 30 min (free), 1.2 kWh in the next 10 min: 0.30."""
    periods = [
        {
            "start_date_time": "2026-01-05T10:00:00Z",
            "dimensions": [{"type": "ENERGY", "volume": 5}, {"type": "TIME", "volume": 0.5}],
        },
        {
            "start_date_time": "2026-01-05T10:30:00Z",
            "dimensions": [{"type": "ENERGY", "volume": 1.2}, {"type": "TIME", "volume": 1 / 6}],
        },
    ]
    priced = price_session(
        MAX_DURATION,
        start=MONDAY,
        end=MONDAY + timedelta(minutes=40),
        energy_kwh=6.2,
        charging_periods=periods,
    )
    assert _price(priced.total_cost) == (0.30, 0.36)


def test_duration_restrictions_cut_a_synthesized_session():
    """90 min at 6 kW: 3 kWh free, 3 kWh at 0.25, 3 kWh at 0.40 = 1.95."""
    priced = price_session(
        MAX_DURATION, start=MONDAY, end=MONDAY + timedelta(minutes=90), energy_kwh=9
    )
    assert _price(priced.total_cost) == (1.95, 2.34)
    assert [p["start_date_time"] for p in priced.charging_periods] == [
        "2026-01-05T10:00:00Z",
        "2026-01-05T10:30:00Z",
        "2026-01-05T11:00:00Z",
    ]


# --------------------------------------------------------------------------- mod_cdrs


def test_the_cdr_example_2_euro_per_hour_per_5_minutes():
    """cdr_example.json: 1.973 h of TIME billed per 5 min (2 h): 4.00 / 4.40. Its period
    has no ENERGY dimension, so the session's 15.342 kWh are taken as given."""
    tariff = {
        "id": "12",
        "currency": "EUR",
        "elements": [{"price_components": [_component("TIME", 2.00, 300, 10.0)]}],
        "last_updated": "2015-02-02T14:15:01Z",
    }
    periods = [
        {
            "start_date_time": "2015-06-29T21:39:09Z",
            "dimensions": [{"type": "TIME", "volume": 1.973}],
            "tariff_id": "12",
        }
    ]
    priced = price_session(
        tariff,
        start=datetime(2015, 6, 29, 21, 39, 9, tzinfo=UTC),
        end=datetime(2015, 6, 29, 23, 37, 32, tzinfo=UTC),
        energy_kwh=15.342,
        charging_periods=periods,
    )
    assert _price(priced.total_cost) == (4.00, 4.40)
    assert priced.total_energy == 15.342
    assert priced.total_time == pytest.approx(1.973, abs=1e-3)
    assert priced.charging_periods == periods


def test_step_size_uses_the_session_total_energy():
    """0.20/kWh before 17:00, 0.27 after, both per 500 Wh: 4.3 + 1.1 = 5.4 kWh billed as
    5.5 kWh, the extra 0.1 kWh at the last price: 0.86 + 0.324 = 1.184 -> 1.18."""
    tariff = _tariff(
        _element(_component("ENERGY", 0.20, 500), end_time="17:00"),
        _element(_component("ENERGY", 0.27, 500), start_time="17:00"),
    )
    periods = [
        {
            "start_date_time": "2026-01-05T16:00:00Z",
            "dimensions": [{"type": "ENERGY", "volume": 4.3}, {"type": "TIME", "volume": 1.0}],
        },
        {
            "start_date_time": "2026-01-05T17:00:00Z",
            "dimensions": [{"type": "ENERGY", "volume": 1.1}, {"type": "TIME", "volume": 0.25}],
        },
    ]
    priced = price_session(
        tariff,
        start=datetime(2026, 1, 5, 16, 0, tzinfo=UTC),
        end=datetime(2026, 1, 5, 17, 15, tzinfo=UTC),
        energy_kwh=5.4,
        charging_periods=periods,
    )
    assert priced.billed_energy == 5.5
    assert _price(priced.total_cost) == (1.18, 1.18)


def test_step_size_uses_the_session_total_time():
    """5/h before 17:00, 7/h after, both per 10 min: 6 + 22 = 28 min billed as 30, so 24
    min after 17:00: 0.50 + 2.80 = 3.30."""
    tariff = _tariff(
        _element(_component("TIME", 5.00, 600), end_time="17:00"),
        _element(_component("TIME", 7.00, 600), start_time="17:00"),
    )
    start = datetime(2026, 1, 5, 16, 54, tzinfo=UTC)
    priced = price_session(tariff, start=start, end=start + timedelta(minutes=28), energy_kwh=3)
    assert priced.billed_time == 0.5
    assert _price(priced.total_cost) == (3.30, 3.30)


def test_only_parking_is_rounded_when_time_and_parking_are_both_priced():
    """1/h charging, 2/h parking, both per 10 min: 21 min charging stays 21 min, 16 min
    parking becomes 20 min: 0.35 + 0.67 = 1.02."""
    tariff = _tariff(_element(_component("TIME", 1.00, 600), _component("PARKING_TIME", 2.00, 600)))
    priced = price_session(
        tariff,
        start=MONDAY,
        end=MONDAY + timedelta(minutes=37),
        energy_kwh=4,
        parking_hours=16 / 60,
    )
    assert priced.billed_time == pytest.approx(21 / 60, abs=1e-6)
    assert priced.billed_parking_time == pytest.approx(20 / 60, abs=1e-6)
    assert _price(priced.total_time_cost) == (0.35, 0.35)
    assert _price(priced.total_parking_cost) == (0.67, 0.67)
    assert _price(priced.total_cost) == (1.02, 1.02)


# --------------------------------------------------------------------------- restrictions

NIGHT = _tariff(
    _element(_component("ENERGY", 0.20, 1), start_time="22:00", end_time="06:00"),
    _element(_component("ENERGY", 0.30, 1)),
)
PLUS_ONE = timezone(timedelta(hours=1))


def test_a_time_of_day_restriction_in_local_time():
    """21:00-23:00 local (+01:00) at 10 kW: 10 kWh at 0.30 then 10 kWh at 0.20."""
    start = datetime(2026, 1, 5, 21, 0, tzinfo=PLUS_ONE)
    priced = price_session(NIGHT, start=start, end=start + timedelta(hours=2), energy_kwh=20)
    assert _price(priced.total_cost) == (5.00, 5.00)
    assert [p["start_date_time"] for p in priced.charging_periods] == [
        "2026-01-05T20:00:00Z",
        "2026-01-05T21:00:00Z",
    ]


def test_a_time_range_crossing_midnight():
    """23:00-07:00 at 2 kW: 14 kWh in the night range (one period across midnight),
    then 2 kWh at day price: 2.80 + 0.60."""
    start = datetime(2026, 1, 5, 23, 0, tzinfo=UTC)
    priced = price_session(NIGHT, start=start, end=start + timedelta(hours=8), energy_kwh=16)
    assert _price(priced.total_cost) == (3.40, 3.40)
    assert [p["start_date_time"] for p in priced.charging_periods] == [
        "2026-01-05T23:00:00Z",
        "2026-01-06T06:00:00Z",
    ]


def test_the_time_zone_argument_gives_the_local_time():
    """21:30 UTC is day time in UTC (the offset of ``start``) but 22:30, night, at +01:00."""
    start = datetime(2026, 1, 5, 21, 30, tzinfo=UTC)
    in_utc = price_session(NIGHT, start=start, end=start + timedelta(minutes=1), energy_kwh=1)
    local = price_session(
        NIGHT, start=start, end=start + timedelta(minutes=1), energy_kwh=1, time_zone=PLUS_ONE
    )
    assert in_utc.total_cost["excl_vat"] == 0.30
    assert local.total_cost["excl_vat"] == 0.20


def test_naive_datetimes_are_utc():
    start = datetime(2026, 1, 5, 21, 30)
    priced = price_session(NIGHT, start=start, end=start + timedelta(minutes=1), energy_kwh=1)
    assert priced.total_cost["excl_vat"] == 0.30
    assert priced.charging_periods[0]["start_date_time"] == "2026-01-05T21:30:00Z"


def test_an_iana_time_zone():
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        amsterdam = zoneinfo.ZoneInfo("Europe/Amsterdam")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no time zone database")
    start = datetime(2026, 7, 1, 20, 30, tzinfo=UTC)  # 22:30 in summer time (+02:00)
    priced = price_session(
        NIGHT, start=start, end=start + timedelta(minutes=1), energy_kwh=1, time_zone=amsterdam
    )
    assert priced.total_cost["excl_vat"] == 0.20


WEEKEND = _tariff(
    _element(_component("TIME", 3.00, 60), day_of_week=["SATURDAY", "SUNDAY"]),
    _element(_component("TIME", 2.00, 60)),
)


def test_day_of_week():
    saturday_night = datetime(2026, 1, 3, 23, 0, tzinfo=UTC)
    sunday_night = datetime(2026, 1, 4, 23, 0, tzinfo=UTC)
    weekend = price_session(
        WEEKEND, start=saturday_night, end=saturday_night + timedelta(hours=2), energy_kwh=10
    )
    into_monday = price_session(
        WEEKEND, start=sunday_night, end=sunday_night + timedelta(hours=2), energy_kwh=10
    )
    assert weekend.total_cost["excl_vat"] == 6.00
    assert len(weekend.charging_periods) == 1
    assert into_monday.total_cost["excl_vat"] == 5.00
    assert len(into_monday.charging_periods) == 2


def test_start_and_end_dates_end_exclusive():
    tariff = _tariff(
        _element(_component("ENERGY", 0.10, 1), start_date="2026-01-05", end_date="2026-01-06"),
        _element(_component("ENERGY", 0.30, 1)),
    )
    on = price_session(tariff, start=MONDAY, end=MONDAY + timedelta(hours=1), energy_kwh=10)
    tuesday = MONDAY + timedelta(days=1)
    after = price_session(tariff, start=tuesday, end=tuesday + timedelta(hours=1), energy_kwh=10)
    assert on.total_cost["excl_vat"] == 1.00
    assert after.total_cost["excl_vat"] == 3.00


def test_no_matching_element_is_free():
    tariff = _tariff(
        _element(_component("ENERGY", 0.25, 1, 10.0), day_of_week=["SUNDAY"]),
        _element(_component("FLAT", 1.00, 1), start_time="00:00", end_time="06:00"),
    )
    priced = price_session(tariff, start=MONDAY, end=MONDAY + timedelta(hours=1), energy_kwh=10)
    assert _price(priced.total_cost) == (0.0, 0.0)
    assert _price(priced.total_energy_cost) == (0.0, 0.0)
    assert _price(priced.total_fixed_cost) == (0.0, 0.0)


def test_reservation_elements_are_not_charging_prices():
    tariff = _tariff(
        _element(_component("TIME", 5.00, 60), reservation="RESERVATION"),
        _element(ENERGY_025),
    )
    priced = price_session(tariff, start=MONDAY, end=MONDAY + timedelta(hours=1), energy_kwh=4)
    assert _price(priced.total_time_cost) == (0.0, 0.0)
    assert _price(priced.total_cost) == (1.00, 1.10)


def test_current_restrictions_are_skipped_without_current_data():
    tariff = _tariff(
        _element(_component("TIME", 9.00, 1), min_current=100),
        _element(_component("TIME", 1.00, 1)),
    )
    priced = price_session(tariff, start=MONDAY, end=MONDAY + timedelta(hours=1), energy_kwh=4)
    assert priced.total_cost["excl_vat"] == 9.00  # no data: the restriction does not exclude


# --------------------------------------------------------------------------- VAT and money


def test_vat_is_per_component():
    tariff = _tariff(_element(ENERGY_025, _component("TIME", 1.00, 1, 21.0)))
    priced = price_session(tariff, start=MONDAY, end=MONDAY + timedelta(hours=2), energy_kwh=20)
    assert _price(priced.total_energy_cost) == (5.00, 5.50)
    assert _price(priced.total_time_cost) == (2.00, 2.42)
    assert _price(priced.total_cost) == (7.00, 7.92)


def test_without_vat_no_vat_is_applicable_and_zero_is_zero():
    tariff = _tariff(_element(_component("ENERGY", 0.30, 1), _component("FLAT", 1.00, 1, 0.0)))
    priced = price_session(tariff, start=MONDAY, end=MONDAY + timedelta(hours=1), energy_kwh=10)
    assert _price(priced.total_cost) == (4.00, 4.00)


def test_a_bound_without_incl_vat_keeps_the_vat_rate():
    tariff = _tariff(_element(ENERGY_025), min_price={"excl_vat": 1.00})
    priced = price_session(tariff, start=MONDAY, end=MONDAY + timedelta(hours=1), energy_kwh=1)
    assert _price(priced.total_cost) == (1.00, 1.10)


def test_an_empty_session_pays_the_flat_fee_only():
    tariff = _tariff(_element(START_FEE, ENERGY_025, _component("TIME", 2.0, 60)))
    priced = price_session(tariff, start=MONDAY, end=MONDAY, energy_kwh=0)
    assert _price(priced.total_cost) == (0.50, 0.60)
    assert priced.total_time == 0.0
    assert priced.charging_periods == [
        {
            "start_date_time": "2026-01-05T10:00:00Z",
            "dimensions": [{"type": "ENERGY", "volume": 0.0}, {"type": "TIME", "volume": 0.0}],
            "tariff_id": "T1",
        }
    ]


def test_cdr_fields():
    tariff = _tariff(_element(START_FEE, ENERGY_025, _component("PARKING_TIME", 2.00, 900, 20.0)))
    priced = price_session(
        tariff,
        start=MONDAY,
        end=MONDAY + timedelta(hours=2, minutes=40),
        energy_kwh=20,
        parking_hours=40 / 60,
    )
    assert isinstance(priced, Priced)
    fields = priced.cdr_fields()
    assert fields["total_cost"] == {"excl_vat": 7.00, "incl_vat": 7.90}
    assert fields["total_energy"] == 20.0
    assert fields["total_time"] == pytest.approx(2 + 40 / 60, abs=1e-6)
    assert fields["currency"] == "EUR"
    assert fields["charging_periods"] == [
        {
            "start_date_time": "2026-01-05T10:00:00Z",
            "dimensions": [{"type": "ENERGY", "volume": 20.0}, {"type": "TIME", "volume": 2.0}],
            "tariff_id": "T1",
        },
        {
            "start_date_time": "2026-01-05T12:00:00Z",
            "dimensions": [{"type": "PARKING_TIME", "volume": 0.666667}],
            "tariff_id": "T1",
        },
    ]


# --------------------------------------------------------------------------- bad input

GOOD = _tariff(_element(ENERGY_025))


def _broken(path: list, value) -> dict:
    tariff = copy.deepcopy(GOOD)
    target = tariff
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return tariff


@pytest.mark.parametrize(
    ("tariff", "field"),
    [
        ("not a tariff", "tariff"),
        (_broken(["currency"], KeyError), "tariff.currency"),
        (_broken(["currency"], "EURO"), "tariff.currency"),
        (_broken(["id"], 12), "tariff.id"),
        (_broken(["elements"], []), "tariff.elements"),
        (_broken(["elements", 0], "x"), r"tariff.elements\[0\]"),
        (_broken(["elements", 0, "price_components"], []), r"elements\[0\].price_components"),
        (_broken(["elements", 0, "price_components", 0, "type"], "KWH"), r"\[0\].type"),
        (_broken(["elements", 0, "price_components", 0, "price"], "0.25"), r"\[0\].price"),
        (_broken(["elements", 0, "price_components", 0, "price"], KeyError), r"\[0\].price"),
        (_broken(["elements", 0, "price_components", 0, "step_size"], KeyError), "step_size"),
        (_broken(["elements", 0, "price_components", 0, "step_size"], -1), "step_size"),
        (_broken(["elements", 0, "price_components", 0, "step_size"], 1.5), "step_size"),
        (_broken(["elements", 0, "price_components", 0, "vat"], -5), r"\[0\].vat"),
        (_broken(["elements", 0, "restrictions"], "weekdays"), "restrictions"),
        (_broken(["elements", 0, "restrictions"], {"start_time": "7:00"}), "start_time"),
        (_broken(["elements", 0, "restrictions"], {"end_time": "24:00"}), "end_time"),
        (_broken(["elements", 0, "restrictions"], {"start_date": "2026-13-01"}), "start_date"),
        (_broken(["elements", 0, "restrictions"], {"end_date": "2026-02-30"}), "end_date"),
        (_broken(["elements", 0, "restrictions"], {"day_of_week": ["MON"]}), "day_of_week"),
        (_broken(["elements", 0, "restrictions"], {"min_kwh": True}), "min_kwh"),
        (_broken(["elements", 0, "restrictions"], {"max_duration": -1}), "max_duration"),
        (_broken(["elements", 0, "restrictions"], {"reservation": "YES"}), "reservation"),
        (_broken(["min_price"], {"incl_vat": 1.0}), "tariff.min_price"),
        (_broken(["max_price"], {"excl_vat": "10"}), r"tariff.max_price.excl_vat"),
    ],
)
def test_a_bad_tariff_names_the_field(tariff, field):
    with pytest.raises(ValueError, match=field):
        validate_tariff(tariff)
    with pytest.raises(ValueError, match=field):
        price_session(tariff, start=MONDAY, end=MONDAY + timedelta(hours=1), energy_kwh=1)


def test_the_spec_examples_validate():
    validate_tariff(COMPLEX)
    validate_tariff(STEP_SIZE)
    validate_tariff(GOOD)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"end": MONDAY - timedelta(seconds=1)}, "end"),
        ({"energy_kwh": -1}, "energy_kwh"),
        ({"parking_hours": 2}, "parking_hours"),
        ({"parking_hours": -0.5}, "parking_hours"),
        ({"charging_periods": []}, "charging_periods"),
        (
            {"charging_periods": [{"start_date_time": "2026-01-05T09:00:00Z", "dimensions": []}]},
            r"charging_periods\[0\].start_date_time",
        ),
        (
            {"charging_periods": [{"start_date_time": "yesterday", "dimensions": []}]},
            r"charging_periods\[0\].start_date_time",
        ),
        (
            {
                "charging_periods": [
                    {"start_date_time": "2026-01-05T10:30:00Z", "dimensions": []},
                    {"start_date_time": "2026-01-05T10:10:00Z", "dimensions": []},
                ]
            },
            r"charging_periods\[1\].start_date_time",
        ),
        (
            {"charging_periods": [{"start_date_time": "2026-01-05T10:00:00Z"}]},
            r"charging_periods\[0\].dimensions",
        ),
        (
            {
                "charging_periods": [
                    {
                        "start_date_time": "2026-01-05T10:00:00Z",
                        "dimensions": [{"type": "ENERGY", "volume": "5"}],
                    }
                ]
            },
            r"charging_periods\[0\].dimensions\[0\].volume",
        ),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    arguments = {"start": MONDAY, "end": MONDAY + timedelta(hours=1), "energy_kwh": 10}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        price_session(GOOD, **arguments)
