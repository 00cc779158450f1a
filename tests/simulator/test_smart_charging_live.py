"""Smart charging on a live station: the CSMS's profiles cap the power drawn, so the
meter values, and GetCompositeSchedule shows the limit (1.6 §3.13, 2.0.1 K01/K08)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from support.csms import RecordingCsms
from support.live import eventually
from support.sessions import (
    FAST_METER,
    POWER,
    all_frames_valid,
    booted,
    configure,
    periodic,
    readings,
)
from support.stations import running, spec_for
from voltlab.simulator import Station

PURPOSE = {
    "tx-default": "TxDefaultProfile",
    "tx": "TxProfile",
    "station-max": {"1.6": "ChargePointMaxProfile", "2.0.1": "ChargingStationMaxProfile"},
}


def _profile_call(
    version: str,
    purpose: str,
    *,
    slot: int,
    limit: float,
    unit: str,
    profile_id: int = 7,
    transaction_id: Any = None,
) -> dict[str, Any]:
    """A SetChargingProfile payload as a CSMS sends it: Absolute, from a minute ago."""
    start = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    periods = [{"startPeriod": 0, "limit": limit}]
    if version == "1.6":
        profile: dict[str, Any] = {
            "chargingProfileId": profile_id,
            "stackLevel": 1,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "startSchedule": start,
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": periods,
            },
        }
        if transaction_id is not None:
            profile["transactionId"] = transaction_id
        return {"connectorId": slot, "csChargingProfiles": profile}
    profile = {
        "id": profile_id,
        "stackLevel": 1,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "startSchedule": start,
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": periods,
            }
        ],
    }
    if transaction_id is not None:
        profile["transactionId"] = transaction_id
    return {"evseId": slot, "chargingProfile": profile}


async def _call(csms: RecordingCsms, identity: str, action: str, payload: dict) -> dict:
    answer = await csms.call(identity, action, payload)
    assert answer is not None and hasattr(answer, "payload"), answer
    return dict(answer.payload)


async def _composite_limit(
    csms: RecordingCsms, identity: str, version: str, slot: int, unit: str
) -> float:
    key = "connectorId" if version == "1.6" else "evseId"
    answer = await _call(
        csms,
        identity,
        "GetCompositeSchedule",
        {key: slot, "duration": 600, "chargingRateUnit": unit},
    )
    assert answer["status"] == "Accepted"
    schedule = answer["chargingSchedule"] if version == "1.6" else answer["schedule"]
    assert schedule["chargingRateUnit"] == unit
    return float(schedule["chargingSchedulePeriod"][0]["limit"])


async def _start(station: Station, connector_index: int = 0, tag: str = "TAG-P") -> None:
    connector = station.connectors[connector_index]
    await station.plug(connector)
    await station.present_tag(tag, connector)
    assert station.transaction_on(connector) is not None


# (purpose, model, limit, unit, expected watts)
CASES = {
    "tx-default-11kW-on-180kW": ("tx-default", "abb", "terra-184", 11000, "W", 11000.0),
    "tx-16A-on-22kW": ("tx", "alfen", "eve-single-pro-line", 16, "A", 11040.0),
    "station-max-11kW-on-180kW": ("station-max", "abb", "terra-184", 11000, "W", 11000.0),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_charging_profile_caps_the_power_in_the_meter_values(
    csms: RecordingCsms, version: str, case: str
):
    purpose_key, brand, model, limit, unit, watts = CASES[case]
    purpose = PURPOSE[purpose_key]
    if isinstance(purpose, dict):
        purpose = purpose[version]
    identity = "CP-SC"
    spec = spec_for(csms.url, version, identity, brand=brand, model=model)
    async with running(spec, options=FAST_METER) as station:
        await booted(station)
        configure(station, meter_interval=1)
        slot = 0 if purpose_key == "station-max" else 1
        transaction_id = None
        if purpose_key == "tx":  # a TxProfile needs the running transaction
            await _start(station)
            await eventually(lambda: not station.queue)
            tx = station.transaction_on(station.connectors[0])
            assert tx is not None
            transaction_id = tx.csms_id if version == "1.6" else tx.key
        payload = _profile_call(
            version, purpose, slot=slot, limit=limit, unit=unit, transaction_id=transaction_id
        )
        answer = await _call(csms, identity, "SetChargingProfile", payload)
        assert answer["status"] == "Accepted"
        if purpose_key != "tx":
            await _start(station)

        # The samples taken once the profile is in place show the capped power.
        def capped() -> bool:
            samples = [readings(p)[POWER] for p in periodic(csms, identity)]
            return bool(samples) and samples[-1] == pytest.approx(watts, abs=1)

        await eventually(capped, timeout=3)
        assert watts < spec.max_power_w
        assert await _composite_limit(csms, identity, version, 1, "W") == pytest.approx(
            watts, abs=0.1
        )
        if unit == "A":
            assert await _composite_limit(csms, identity, version, 1, "A") == limit
    all_frames_valid(csms, identity, version)


async def test_a_profile_for_the_second_outlet_caps_only_that_outlet(
    csms: RecordingCsms, version: str
):
    """1.6 connector 2 / 2.0.1 EVSE 2 of a two-outlet 22 kW charger; clearing lifts it."""
    identity = "CP-SC2"
    spec = spec_for(csms.url, version, identity, brand="alfen", model="eve-double-pro-line")
    async with running(spec, options=FAST_METER) as station:
        await booted(station)
        payload = _profile_call(version, "TxDefaultProfile", slot=2, limit=10, unit="A")
        assert (await _call(csms, identity, "SetChargingProfile", payload))["status"] == "Accepted"
        await _start(station, 0, "TAG-1")
        await _start(station, 1, "TAG-2")

        def powers() -> tuple[float, float]:
            first, second = station.snapshot().connectors
            return first["power_w"], second["power_w"]

        await eventually(lambda: powers() == (22000.0, 6900.0))
        assert await _composite_limit(csms, identity, version, 2, "A") == 10
        assert await _composite_limit(csms, identity, version, 1, "W") == 22000

        clear = {"id": 7} if version == "1.6" else {"chargingProfileId": 7}
        assert (await _call(csms, identity, "ClearChargingProfile", clear))["status"] == "Accepted"
        await eventually(lambda: powers() == (22000.0, 22000.0))
    all_frames_valid(csms, identity, version)


async def test_a_tx_profile_ends_with_its_transaction(csms: RecordingCsms, version: str):
    identity = "CP-SC3"
    spec = spec_for(csms.url, version, identity, brand="alfen", model="eve-single-pro-line")
    async with running(spec, options=FAST_METER) as station:
        await booted(station)
        await _start(station)
        await eventually(lambda: not station.queue)
        tx = station.transaction_on(station.connectors[0])
        assert tx is not None
        payload = _profile_call(version, "TxProfile", slot=1, limit=6, unit="A")
        assert (await _call(csms, identity, "SetChargingProfile", payload))["status"] == "Accepted"
        await eventually(lambda: station.snapshot().connectors[0]["power_w"] == 4140.0)

        await station.stop_transaction(tx)
        assert station.profiles.profiles() == []
        assert await _composite_limit(csms, identity, version, 1, "W") == 22000
        # without a transaction a TxProfile is refused
        again = await _call(csms, identity, "SetChargingProfile", payload)
        assert again["status"] == "Rejected"
    all_frames_valid(csms, identity, version)
