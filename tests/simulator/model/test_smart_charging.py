"""Smart charging with plain calls: stacking, purposes, schedules, install and clear rules."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from voltlab.simulator.model.smart_charging import (
    ChargingProfile,
    ProfileStore,
    SchedulePeriod,
    profile_from_16,
    profile_from_201,
)
from voltlab.simulator.schemas import validate

T0 = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)  # a Monday, noon
HOUR = timedelta(hours=1)
_S = timedelta(seconds=1)
THREE_PHASE_16A = 16 * 230 * 3  # 11040 W


def make(
    id: int = 1,
    *,
    stack_level: int = 0,
    purpose: str = "TxDefaultProfile",
    kind: str = "Absolute",
    recurrency: str | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    transaction_id: str | None = None,
    start: datetime | None = T0,
    duration_s: int | None = None,
    unit: str = "W",
    periods: tuple[tuple[float, ...], ...] = ((0, 11000.0),),
    min_charging_rate: float | None = None,
) -> ChargingProfile:
    return ChargingProfile(
        id=id,
        stack_level=stack_level,
        purpose=purpose,
        kind=kind,
        recurrency=recurrency,
        valid_from=valid_from,
        valid_to=valid_to,
        transaction_id=transaction_id,
        start_schedule=start,
        duration_s=duration_s,
        rate_unit=unit,
        periods=tuple(
            SchedulePeriod(int(p[0]), float(p[1]), int(p[2]) if len(p) > 2 else None)
            for p in periods
        ),
        min_charging_rate=min_charging_rate,
    )


def store_with(*entries: tuple[int, ChargingProfile], tx: str | None = "42") -> ProfileStore:
    store = ProfileStore()
    for connector_id, profile in entries:
        status = store.install(
            connector_id, profile, has_transaction=tx is not None, active_transaction_id=tx
        )
        assert status == "Accepted", profile
    return store


# -- schedule kinds ---------------------------------------------------------------------


def test_an_absolute_schedule_steps_through_its_periods_from_start_schedule():
    store = store_with((1, make(periods=((0, 11000), (1800, 7000), (3600, 3000)))))

    assert store.limit_w(1, T0, tx_start=None) == 11000
    assert store.limit_w(1, T0 + timedelta(seconds=1799), tx_start=None) == 11000
    assert store.limit_w(1, T0 + timedelta(seconds=1800), tx_start=None) == 7000
    assert store.limit_w(1, T0 + 5 * HOUR, tx_start=None) == 3000


def test_an_absolute_schedule_sets_no_limit_before_it_starts():
    store = store_with((1, make(start=T0 + HOUR)))

    assert store.limit_w(1, T0, tx_start=None) is None
    assert store.limit_w(1, T0 + HOUR, tx_start=None) == 11000


def test_a_relative_schedule_counts_from_the_transaction_start():
    relative = make(kind="Relative", start=None, periods=((0, 3000), (600, 7000)))
    store = store_with((1, relative))
    tx_start = T0 + HOUR

    assert store.limit_w(1, tx_start + timedelta(seconds=599), tx_start=tx_start) == 3000
    assert store.limit_w(1, tx_start + timedelta(seconds=600), tx_start=tx_start) == 7000


def test_a_relative_schedule_without_a_transaction_starts_at_the_time_asked_about():
    store = store_with((1, make(kind="Relative", start=None, periods=((0, 3000), (600, 7000)))))

    assert store.limit_w(1, T0 + 5 * HOUR, tx_start=None) == 3000


def test_a_daily_recurring_schedule_repeats_every_day():
    # 00:00-08:00 at 11 kW, then 4 kW for the rest of the day
    midnight = T0.replace(hour=0)
    daily = make(
        kind="Recurring", recurrency="Daily", start=midnight, periods=((0, 11000), (8 * 3600, 4000))
    )
    store = store_with((1, daily))

    for day in (0, 1, 30):
        base = midnight + timedelta(days=day)
        assert store.limit_w(1, base + timedelta(hours=3), tx_start=None) == 11000
        assert store.limit_w(1, base + timedelta(hours=20), tx_start=None) == 4000


def test_a_weekly_recurring_schedule_repeats_every_week():
    monday = T0.replace(hour=0)
    weekly = make(
        kind="Recurring", recurrency="Weekly", start=monday, periods=((0, 2000), (86400, 9000))
    )
    store = store_with((1, weekly))

    assert store.limit_w(1, monday + timedelta(days=7, hours=5), tx_start=None) == 2000
    assert store.limit_w(1, monday + timedelta(days=9), tx_start=None) == 9000


def test_a_recurring_schedule_shorter_than_its_cycle_limits_only_within_its_duration():
    midnight = T0.replace(hour=0)
    nightly = make(kind="Recurring", recurrency="Daily", start=midnight, duration_s=6 * 3600)
    store = store_with((1, nightly))

    assert store.limit_w(1, midnight + timedelta(days=2, hours=5), tx_start=None) == 11000
    assert store.limit_w(1, midnight + timedelta(days=2, hours=7), tx_start=None) is None


# -- stacking and purposes ----------------------------------------------------------------


def test_the_highest_stack_level_with_an_active_period_wins():
    store = store_with(
        (1, make(1, stack_level=0, periods=((0, 11000),))),
        (1, make(2, stack_level=2, periods=((0, 5000),))),
        (1, make(3, stack_level=1, periods=((0, 3000),))),
    )

    assert store.limit_w(1, T0, tx_start=None) == 5000


def test_a_higher_stack_level_outside_its_schedule_does_not_shadow_a_lower_one():
    store = store_with(
        (1, make(1, stack_level=0, periods=((0, 11000),))),
        (1, make(2, stack_level=1, start=T0 + HOUR, duration_s=3600, periods=((0, 4000),))),
    )

    assert store.limit_w(1, T0, tx_start=None) == 11000
    assert store.limit_w(1, T0 + 90 * timedelta(minutes=1), tx_start=None) == 4000
    assert store.limit_w(1, T0 + 3 * HOUR, tx_start=None) == 11000


def test_a_tx_profile_overrides_the_tx_default_profile_even_when_higher():
    store = store_with(
        (1, make(1, purpose="TxDefaultProfile", stack_level=5, periods=((0, 4000),))),
        (1, make(2, purpose="TxProfile", stack_level=0, periods=((0, 9000),))),
    )

    assert store.limit_w(1, T0, tx_start=T0) == 9000


def test_the_tx_default_profile_returns_once_the_tx_profile_schedule_ends():
    store = store_with(
        (1, make(1, purpose="TxDefaultProfile", periods=((0, 4000),))),
        (1, make(2, purpose="TxProfile", duration_s=600, periods=((0, 9000),))),
    )

    assert store.limit_w(1, T0 + timedelta(minutes=11), tx_start=T0) == 4000


def test_a_connector_tx_default_profile_overrides_the_station_wide_one():
    store = store_with(
        (0, make(1, stack_level=9, periods=((0, 4000),))),
        (2, make(2, stack_level=0, periods=((0, 7000),))),
    )

    assert store.limit_w(2, T0, tx_start=None) == 7000
    assert store.limit_w(1, T0, tx_start=None) == 4000


def test_a_station_wide_tx_default_profile_applies_to_every_connector():
    store = store_with((0, make(periods=((0, 6000),))))

    assert [store.limit_w(c, T0, tx_start=None) for c in (1, 2, 3)] == [6000, 6000, 6000]


def test_the_charge_point_max_profile_caps_both_tx_default_and_tx_profiles():
    cap = make(1, purpose="ChargePointMaxProfile", periods=((0, 5000),))
    store = store_with(
        (0, cap),
        (1, make(2, purpose="TxProfile", periods=((0, 9000),))),
        (2, make(3, purpose="TxDefaultProfile", periods=((0, 8000),))),
        (3, make(4, purpose="TxDefaultProfile", periods=((0, 2000),))),
    )

    assert store.limit_w(1, T0, tx_start=T0) == 5000
    assert store.limit_w(2, T0, tx_start=None) == 5000
    assert store.limit_w(3, T0, tx_start=None) == 2000


def test_connector_zero_is_limited_by_the_station_max_profiles_only():
    store = store_with(
        (0, make(1, purpose="ChargePointMaxProfile", periods=((0, 20000),))),
        (0, make(2, purpose="TxDefaultProfile", periods=((0, 3000),))),
    )

    assert store.limit_w(0, T0, tx_start=None) == 20000


def test_external_constraints_cap_like_a_max_profile():
    store = store_with(
        (0, make(1, purpose="ChargingStationExternalConstraints", periods=((0, 6000),))),
        (1, make(2, purpose="ChargingStationExternalConstraints", periods=((0, 4500),))),
        (1, make(3, purpose="TxDefaultProfile", periods=((0, 11000),))),
        (2, make(4, purpose="TxDefaultProfile", periods=((0, 11000),))),
    )

    assert store.limit_w(1, T0, tx_start=None) == 4500
    assert store.limit_w(2, T0, tx_start=None) == 6000


# -- validity, duration, units -------------------------------------------------------------


def test_a_profile_applies_only_from_valid_from_until_valid_to():
    store = store_with((1, make(valid_from=T0 + HOUR, valid_to=T0 + 2 * HOUR)))

    assert store.limit_w(1, T0 + 59 * timedelta(minutes=1), tx_start=None) is None
    assert store.limit_w(1, T0 + HOUR, tx_start=None) == 11000
    assert store.limit_w(1, T0 + 2 * HOUR, tx_start=None) is None


def test_an_absolute_profile_without_start_schedule_starts_at_valid_from():
    store = store_with((1, make(start=None, valid_from=T0, periods=((0, 3000), (3600, 6000)))))

    assert store.limit_w(1, T0 + 2 * HOUR, tx_start=None) == 6000


def test_after_the_schedule_duration_ends_the_connector_is_unlimited():
    store = store_with((1, make(duration_s=3600)))

    assert store.limit_w(1, T0 + timedelta(seconds=3599), tx_start=None) == 11000
    assert store.limit_w(1, T0 + HOUR, tx_start=None) is None


def test_nothing_installed_means_unlimited():
    assert ProfileStore().limit_w(1, T0, tx_start=None) is None


def test_amps_convert_to_watts_with_voltage_and_phases():
    store = store_with((1, make(unit="A", periods=((0, 16),))))

    assert store.limit_w(1, T0, tx_start=None) == THREE_PHASE_16A
    assert store.limit_w(1, T0, tx_start=None, voltage_v=220, phases=1) == 16 * 220


def test_a_periods_number_phases_overrides_the_default_phases():
    store = store_with((1, make(unit="A", periods=((0, 16, 1), (600, 16)))))

    assert store.limit_w(1, T0, tx_start=None) == 16 * 230
    assert store.limit_w(1, T0 + HOUR, tx_start=None) == THREE_PHASE_16A


def test_limits_in_amps_and_watts_compare_in_watts():
    store = store_with(
        (0, make(1, purpose="ChargePointMaxProfile", unit="W", periods=((0, 10000),))),
        (1, make(2, unit="A", periods=((0, 16),))),
    )

    assert store.limit_w(1, T0, tx_start=None) == 10000


# -- install rules ------------------------------------------------------------------------


def test_a_tx_profile_without_a_running_transaction_is_rejected():
    store = ProfileStore()

    status = store.install(
        1, make(purpose="TxProfile"), has_transaction=False, active_transaction_id=None
    )

    assert status == "Rejected"
    assert store.profiles() == []


def test_a_tx_profile_on_connector_zero_is_rejected():
    status = ProfileStore().install(
        0, make(purpose="TxProfile"), has_transaction=True, active_transaction_id="42"
    )

    assert status == "Rejected"


def test_a_tx_profile_naming_another_transaction_is_rejected():
    profile = make(purpose="TxProfile", transaction_id="7")

    status = ProfileStore().install(1, profile, has_transaction=True, active_transaction_id="42")

    assert status == "Rejected"


def test_a_tx_profile_for_the_running_transaction_is_accepted():
    store = ProfileStore()
    named = make(1, purpose="TxProfile", transaction_id="42")
    unnamed = make(2, purpose="TxProfile", stack_level=1)

    assert store.install(1, named, has_transaction=True, active_transaction_id="42") == "Accepted"
    assert store.install(1, unnamed, has_transaction=True, active_transaction_id="42") == "Accepted"


def test_a_charge_point_max_profile_on_a_connector_is_rejected():
    profile = make(purpose="ChargePointMaxProfile")

    assert (
        ProfileStore().install(1, profile, has_transaction=False, active_transaction_id=None)
        == "Rejected"
    )
    assert (
        ProfileStore().install(0, profile, has_transaction=False, active_transaction_id=None)
        == "Accepted"
    )


@pytest.mark.parametrize(
    "profile",
    [
        make(kind="Recurring", recurrency=None),
        make(kind="Sometimes"),
        make(purpose="EVMaxProfile"),
        make(unit="kW"),
        make(periods=()),
        make(periods=((600, 1000), (0, 2000))),
        make(periods=((0, -1),)),
    ],
    ids=[
        "recurring-without-recurrency",
        "unknown-kind",
        "unknown-purpose",
        "unknown-unit",
        "no-periods",
        "periods-out-of-order",
        "negative-limit",
    ],
)
def test_a_malformed_profile_is_rejected(profile: ChargingProfile):
    status = ProfileStore().install(1, profile, has_transaction=True, active_transaction_id="42")

    assert status == "Rejected"


def test_a_profile_with_the_same_id_replaces_the_old_one_wherever_it_was():
    store = store_with((1, make(7, stack_level=0)), (2, make(7, stack_level=3, periods=((0, 1),))))

    assert store.profiles() == [(2, make(7, stack_level=3, periods=((0, 1),)))]


def test_the_same_stack_level_and_purpose_on_the_same_connector_replaces():
    store = store_with((1, make(1, periods=((0, 9000),))), (1, make(2, periods=((0, 3000),))))

    assert [p.id for _, p in store.profiles()] == [2]
    assert store.limit_w(1, T0, tx_start=None) == 3000


def test_the_same_stack_level_elsewhere_or_for_another_purpose_stacks_next_to_it():
    store = store_with(
        (1, make(1)),
        (2, make(2)),
        (1, make(3, purpose="TxProfile")),
    )

    assert [p.id for _, p in store.profiles()] == [1, 2, 3]


# -- clearing -----------------------------------------------------------------------------


def _three_profiles() -> ProfileStore:
    return store_with(
        (0, make(1, purpose="ChargePointMaxProfile", stack_level=0)),
        (1, make(2, purpose="TxDefaultProfile", stack_level=1)),
        (1, make(3, purpose="TxProfile", stack_level=2)),
    )


@pytest.mark.parametrize(
    ("criteria", "left"),
    [
        ({"profile_id": 2}, [1, 3]),
        ({"connector_id": 1}, [1]),
        ({"purpose": "ChargePointMaxProfile"}, [2, 3]),
        ({"purpose": "ChargingStationMaxProfile"}, [2, 3]),
        ({"stack_level": 2}, [1, 2]),
        ({}, []),
    ],
    ids=["by-id", "by-connector", "by-purpose", "by-201-purpose", "by-stack-level", "all"],
)
def test_clear_removes_the_profiles_matching_the_criterion(criteria, left):
    store = _three_profiles()

    removed = store.clear(**criteria)

    assert [p.id for _, p in store.profiles()] == left
    assert removed == 3 - len(left)


def test_clear_needs_every_given_criterion_to_match():
    store = _three_profiles()

    assert store.clear(connector_id=1, purpose="ChargePointMaxProfile") == 0
    assert store.clear(profile_id=3, stack_level=1) == 0
    assert store.clear(connector_id=1, stack_level=1) == 1
    assert [p.id for _, p in store.profiles()] == [1, 3]


def test_a_transaction_ending_removes_only_that_connectors_tx_profiles():
    store = store_with(
        (1, make(1, purpose="TxProfile")),
        (1, make(2, purpose="TxDefaultProfile")),
        (2, make(3, purpose="TxProfile")),
    )

    store.clear_transaction(1)

    assert [(c, p.id) for c, p in store.profiles()] == [(1, 2), (2, 3)]


# -- composite schedule -------------------------------------------------------------------


def test_the_composite_schedule_lists_each_change_relative_to_now():
    store = store_with((1, make(start=T0 - HOUR, periods=((0, 11000), (7200, 7000)))))

    periods = store.composite_schedule(1, T0, 3 * 3600, rate_unit="W", tx_start=None)

    assert periods == [SchedulePeriod(0, 11000), SchedulePeriod(3600, 7000)]


def test_the_composite_schedule_merges_equal_neighbours():
    store = store_with(
        (0, make(1, purpose="ChargePointMaxProfile", periods=((0, 5000),))),
        (1, make(2, periods=((0, 9000), (600, 8000), (1200, 3000), (1800, 9000)))),
    )

    periods = store.composite_schedule(1, T0, 3600, rate_unit="W", tx_start=None)

    assert periods == [
        SchedulePeriod(0, 5000),
        SchedulePeriod(1200, 3000),
        SchedulePeriod(1800, 5000),
    ]


def test_the_composite_schedule_converts_watts_to_amps_rounding_down():
    store = store_with((1, make(periods=((0, THREE_PHASE_16A), (600, 10000)))))

    periods = store.composite_schedule(1, T0, 1200, rate_unit="A", tx_start=None)

    assert periods == [SchedulePeriod(0, 16.0), SchedulePeriod(600, 14.4)]  # 10000/690 = 14.49


def test_the_composite_schedule_converts_amps_to_watts():
    store = store_with((1, make(unit="A", periods=((0, 16), (600, 10, 1)))))

    periods = store.composite_schedule(1, T0, 1200, rate_unit="W", tx_start=None)

    assert periods == [SchedulePeriod(0, THREE_PHASE_16A), SchedulePeriod(600, 2300, 1)]


def test_the_composite_schedule_in_amps_keeps_a_periods_number_phases():
    store = store_with((1, make(unit="A", periods=((0, 16, 1),))))

    periods = store.composite_schedule(1, T0, 600, rate_unit="A", tx_start=None)

    assert periods == [SchedulePeriod(0, 16.0, 1)]


def test_the_composite_schedule_follows_a_daily_recurrence_across_midnight():
    midnight = T0.replace(hour=0)
    daily = make(
        kind="Recurring",
        recurrency="Daily",
        start=midnight,
        periods=((0, 11000), (6 * 3600, 4000), (22 * 3600, 11000)),
    )
    store = store_with((1, daily))
    now = midnight + timedelta(days=3, hours=20)

    periods = store.composite_schedule(1, now, 12 * 3600, rate_unit="W", tx_start=None)

    assert periods == [
        SchedulePeriod(0, 4000),
        SchedulePeriod(2 * 3600, 11000),
        SchedulePeriod(10 * 3600, 4000),
    ]


def test_the_composite_schedule_of_a_relative_profile_starts_at_the_transaction():
    store = store_with((1, make(kind="Relative", start=None, periods=((0, 3000), (1800, 7000)))))

    from_tx = store.composite_schedule(1, T0, 3600, rate_unit="W", tx_start=T0 - 20 * 60 * _S)
    without_tx = store.composite_schedule(1, T0, 3600, rate_unit="W", tx_start=None)

    assert from_tx == [SchedulePeriod(0, 3000), SchedulePeriod(600, 7000)]
    assert without_tx == [SchedulePeriod(0, 3000), SchedulePeriod(1800, 7000)]


def test_the_composite_schedule_of_an_unlimited_window_is_empty():
    assert ProfileStore().composite_schedule(1, T0, 3600, rate_unit="W", tx_start=None) == []


def test_the_composite_schedule_marks_an_unlimited_stretch_with_infinity():
    store = store_with((1, make(start=T0 + 600 * _S, duration_s=600)))

    periods = store.composite_schedule(1, T0, 3600, rate_unit="A", tx_start=None)

    assert periods == [
        SchedulePeriod(0, math.inf),
        SchedulePeriod(600, 15.9),  # 11000 W / 690 V = 15.94 A
        SchedulePeriod(1200, math.inf),
    ]


def test_the_composite_schedule_fills_and_caps_with_the_station_rating():
    store = store_with((1, make(start=T0 + 600 * _S, duration_s=600, periods=((0, 30000),))))

    periods = store.composite_schedule(1, T0, 3600, rate_unit="W", tx_start=None, max_w=22000)

    assert periods == [SchedulePeriod(0, 22000)]


def test_the_composite_schedule_rejects_an_unknown_unit():
    with pytest.raises(ValueError):
        ProfileStore().composite_schedule(1, T0, 60, rate_unit="kW", tx_start=None)


# -- wire formats and persistence ----------------------------------------------------------

SET_16 = {
    "chargingProfileId": 12,
    "transactionId": 42,
    "stackLevel": 2,
    "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Absolute",
    "validFrom": "2025-01-06T00:00:00Z",
    "validTo": "2025-01-07T00:00:00Z",
    "chargingSchedule": {
        "duration": 7200,
        "startSchedule": "2025-01-06T12:00:00Z",
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
            {"startPeriod": 3600, "limit": 8.5},
        ],
        "minChargingRate": 6.0,
    },
}

SET_201 = {
    "id": 5,
    "stackLevel": 0,
    "chargingProfilePurpose": "ChargingStationMaxProfile",
    "chargingProfileKind": "Recurring",
    "recurrencyKind": "Daily",
    "chargingSchedule": [
        {
            "id": 1,
            "startSchedule": "2025-01-06T00:00:00+00:00",
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 22000}],
        },
        {
            "id": 2,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 1}],
        },
    ],
}


def test_a_16_profile_parses_into_the_neutral_model():
    profile = profile_from_16(SET_16)

    assert profile == ChargingProfile(
        id=12,
        stack_level=2,
        purpose="TxProfile",
        kind="Absolute",
        recurrency=None,
        valid_from=datetime(2025, 1, 6, tzinfo=UTC),
        valid_to=datetime(2025, 1, 7, tzinfo=UTC),
        transaction_id="42",
        start_schedule=T0,
        duration_s=7200,
        rate_unit="A",
        periods=(SchedulePeriod(0, 16.0, 3), SchedulePeriod(3600, 8.5)),
        min_charging_rate=6.0,
    )


def test_a_201_charging_station_max_profile_parses_as_charge_point_max():
    profile = profile_from_201(SET_201)

    assert profile.purpose == "ChargePointMaxProfile"
    assert (profile.kind, profile.recurrency) == ("Recurring", "Daily")
    assert profile.start_schedule == T0.replace(hour=0)
    assert profile.periods == (SchedulePeriod(0, 22000.0),)  # the first schedule only
    assert store_with((0, profile)).limit_w(0, T0, tx_start=None) == 22000


def test_a_201_external_constraints_profile_keeps_its_purpose():
    wire = SET_201 | {"chargingProfilePurpose": "ChargingStationExternalConstraints"}

    assert profile_from_201(wire).purpose == "ChargingStationExternalConstraints"


@pytest.mark.parametrize(
    "profile",
    [
        profile_from_16(SET_16),
        profile_from_201(SET_201),
        make(kind="Relative", start=None, unit="A", periods=((0, 32, 1),)),
        make(kind="Recurring", recurrency="Weekly", valid_to=T0 + HOUR, min_charging_rate=1.5),
    ],
    ids=["tx-profile", "station-max", "relative", "weekly"],
)
def test_to_wire_round_trips_through_both_parsers_and_passes_the_official_schemas(profile):
    wire_16 = profile.to_wire("1.6")
    wire_201 = profile.to_wire("2.0.1")

    validate(
        "1.6",
        "SetChargingProfile",
        {"connectorId": 1, "csChargingProfiles": wire_16},
        response=False,
    )
    validate(
        "2.0.1", "SetChargingProfile", {"evseId": 1, "chargingProfile": wire_201}, response=False
    )
    assert profile_from_16(wire_16) == profile
    assert profile_from_201(wire_201) == profile


def test_to_wire_uses_each_versions_names():
    profile = make(7, purpose="ChargePointMaxProfile")

    wire_16 = profile.to_wire("1.6")
    wire_201 = profile.to_wire("2.0.1")

    assert wire_16["chargingProfileId"] == 7
    assert wire_16["chargingProfilePurpose"] == "ChargePointMaxProfile"
    assert wire_16["chargingSchedule"]["startSchedule"] == "2025-01-06T12:00:00Z"
    assert wire_201["id"] == 7
    assert wire_201["chargingProfilePurpose"] == "ChargingStationMaxProfile"
    assert wire_201["chargingSchedule"][0]["id"] == 7


@pytest.mark.parametrize(
    ("profile", "version"),
    [
        (make(purpose="ChargingStationExternalConstraints"), "1.6"),
        (make(purpose="TxProfile", transaction_id="3f0c-uuid"), "1.6"),
        (make(), "2.1"),
    ],
    ids=["external-constraints-in-16", "uuid-transaction-in-16", "unknown-version"],
)
def test_to_wire_refuses_what_the_version_cannot_say(profile, version):
    with pytest.raises(ValueError):
        profile.to_wire(version)


def test_a_store_survives_to_dict_json_and_from_dict():
    store = store_with(
        (0, profile_from_201(SET_201)),
        (0, make(2, purpose="ChargingStationExternalConstraints", valid_from=T0)),
        (1, profile_from_16(SET_16)),
        (2, make(3, kind="Relative", start=None, unit="A", periods=((0, 10, 1), (60, 20)))),
    )

    restored = ProfileStore.from_dict(json.loads(json.dumps(store.to_dict())))

    assert restored.profiles() == store.profiles()
    for connector_id in (0, 1, 2):
        assert restored.limit_w(connector_id, T0, tx_start=T0) == store.limit_w(
            connector_id, T0, tx_start=T0
        )
