"""The meter model: power held between changes, integrated exactly when settled."""

from __future__ import annotations

import pytest

from voltlab.simulator.model.meter import Meter


def test_settling_integrates_the_power_held_since_the_last_settle():
    meter = Meter(max_power_w=11_000, power_w=7_200, energy_wh=1_000)
    assert meter.settle(100.0) == 0.0  # the first settle only starts the clock
    assert meter.settle(110.0) == pytest.approx(20.0)  # 7.2 kW for 10 s
    assert meter.settle(110.0) == 0.0
    assert meter.energy_wh == pytest.approx(1_020.0)


def test_a_full_battery_takes_no_more_energy_even_within_one_interval():
    meter = Meter(max_power_w=50_000, power_w=36_000, battery_wh=60_000, soc_percent=99.9)
    room = 0.001 * 60_000  # 60 Wh, reached after 6 s at 36 kW
    assert meter.seconds_until_full() == pytest.approx(6.0)
    assert meter.advance(3_600) == pytest.approx(room)
    assert meter.soc_percent == 100.0
    assert meter.target_power(None, charging=True) == 0.0


def test_when_a_register_value_is_reached_at_the_present_power():
    meter = Meter(max_power_w=22_000, power_w=18_000, energy_wh=500)
    assert meter.seconds_until(600) == pytest.approx(20.0)
    assert meter.seconds_until(400) == 0.0  # already past it
    meter.power_w = 0.0
    assert meter.seconds_until(600) is None
    assert meter.seconds_until_full() is None
