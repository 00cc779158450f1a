"""Stations configured alike share one settings object; secrets never reach it."""

from __future__ import annotations

import pytest

from support.frames import ListSink
from support.stations import FAST, spec_for
from voltlab.simulator import Station
from voltlab.simulator.versions import shared_settings

SECRET = {"1.6": "AuthorizationKey", "2.0.1": "SecurityCtrlr.BasicAuthPassword"}
METER = {"1.6": "MeterValueSampleInterval", "2.0.1": "SampledDataCtrlr.TxUpdatedInterval"}


def _station(version: str, identity: str) -> Station:
    return Station(spec_for("ws://127.0.0.1:9/ocpp", version, identity), ListSink(), FAST)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_password_set_through_configuration_is_not_part_of_the_shared_settings(
    version: str,
) -> None:
    plain, secret = _station(version, "CP-PLAIN"), _station(version, "CP-SECRET")
    password = "0123456789abcdef0123456789abcdef"  # 16+ bytes: valid for both keys
    status, reason = secret.set_configuration(SECRET[version], password, force=True)
    assert status == "Accepted", reason
    # The same settings object: a password shapes no setting.
    assert secret.settings is plain.settings
    shared_settings.cache_clear()
    secret.set_configuration(METER[version], "17")
    assert secret.settings is not plain.settings  # a real setting does count
    assert secret.settings.meter_interval_s == 17
    assert shared_settings.cache_info().currsize == 1
    # And it is still the charger's: kept as an override, never shown.
    assert secret.config.overrides[SECRET[version]]
    shown = {entry["key"]: entry["value"] for entry in secret.configuration()}
    assert shown[SECRET[version]] is None
