"""A charging session, start to finish, as the CSMS sees it (OCPP 1.6 §4-5, 2.0.1 E)."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import replace

import pytest

from support.csms import RecordingCsms
from support.live import eventually
from support.sessions import (
    ENERGY,
    FAST_METER,
    POWER,
    all_frames_valid,
    booted,
    configure,
    of,
    periodic,
    readings,
    sample_time,
    statuses,
    tx_messages,
)
from support.stations import running, spec_for
from voltlab.simulator.commands import execute

OCCUPIED = {"1.6": "Preparing", "2.0.1": "Occupied"}
AFTER_STOP = {"1.6": "Finishing", "2.0.1": "Occupied"}


async def test_a_session_goes_plug_authorize_start_meter_stop_unplug(
    csms: RecordingCsms, version: str
):
    identity = "CP-SESSION"
    async with running(spec_for(csms.url, version, identity), options=FAST_METER) as station:
        await booted(station)
        configure(station, meter_interval=1, measurands=f"{ENERGY},{POWER}")
        connector = station.connector()

        await station.plug(connector)
        await eventually(lambda: statuses(csms, identity)[-1:] == [OCCUPIED[version]])

        await station.present_tag("TAG-1", connector)
        await csms.wait_for(
            identity, "StartTransaction" if version == "1.6" else "TransactionEvent"
        )
        await eventually(lambda: len(periodic(csms, identity)) >= 2, timeout=4)

        result = await station.present_tag("TAG-1", connector)  # the same tag stops it
        assert result["decision"] == "stop"
        await eventually(lambda: connector.transaction_key is None and not station.queue)
        await asyncio.sleep(0.3)  # the cable stays in: no further status
        assert statuses(csms, identity)[-1] == AFTER_STOP[version]
        assert station.snapshot().connectors[0]["status"] == AFTER_STOP[version]

        await station.unplug(connector)
        await eventually(lambda: statuses(csms, identity)[-1] == "Available")

    actions = csms.actions(identity)
    assert actions.index("Authorize") < actions.index(
        "StartTransaction" if version == "1.6" else "TransactionEvent"
    )
    if version == "1.6":
        assert statuses(csms, identity) == [
            "Available",
            "Preparing",
            "Charging",
            "Finishing",
            "Available",
        ]
    else:  # one notification per change of the 2.0.1 status, none for the same status
        assert statuses(csms, identity) == ["Available", "Occupied", "Available"]

    samples = periodic(csms, identity)
    energies = [readings(p)[ENERGY] for p in samples]
    assert all(b > a for a, b in itertools.pairwise(energies)), energies
    assert all(readings(p)[POWER] > 0 for p in samples)
    assert all(set(readings(p)) == {ENERGY, POWER} for p in samples)
    gaps = [
        (sample_time(b) - sample_time(a)).total_seconds() for a, b in itertools.pairwise(samples)
    ]
    assert all(0.8 <= gap <= 2.0 for gap in gaps), gaps
    if version == "1.6":
        _check_16_session(csms, identity)
    else:
        _check_201_session(csms, identity)
    all_frames_valid(csms, identity, version)


def _check_16_session(csms: RecordingCsms, identity: str) -> None:
    (start,) = of(csms, identity, "StartTransaction")
    assert start["connectorId"] == 1
    assert start["idTag"] == "TAG-1"
    assert start["meterStart"] >= 0
    assert start["timestamp"].endswith("Z")
    (transaction_id,) = csms.transaction_ids
    meter_values = of(csms, identity, "MeterValues")
    assert meter_values
    assert {p["transactionId"] for p in meter_values} == {transaction_id}
    assert {p["connectorId"] for p in meter_values} == {1}
    (stop,) = of(csms, identity, "StopTransaction")
    assert stop["transactionId"] == transaction_id
    assert stop["meterStop"] >= start["meterStart"]
    assert stop["meterStop"] >= int(readings(meter_values[-1])[ENERGY])
    assert "reason" not in stop  # Local is sent by leaving the reason out
    assert stop["idTag"] == "TAG-1"
    actions = [a for a, _ in tx_messages(csms, identity)]
    assert actions[0] == "StartTransaction"
    assert actions[-1] == "StopTransaction"


def _check_201_session(csms: RecordingCsms, identity: str) -> None:
    events = of(csms, identity, "TransactionEvent")
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    assert len({e["transactionInfo"]["transactionId"] for e in events}) == 1
    started, ended = events[0], events[-1]
    assert started["eventType"] == "Started"
    assert started["evse"] == {"id": 1, "connectorId": 1}
    assert started["idToken"] == {"idToken": "TAG-1", "type": "ISO14443"}
    assert started["triggerReason"] == "Authorized"
    assert [e["eventType"] for e in events[1:-1]] == ["Updated"] * (len(events) - 2)
    assert all(e["triggerReason"] == "MeterValuePeriodic" for e in events[1:-1])
    assert all("evse" not in e for e in events[1:])  # sent once
    assert ended["eventType"] == "Ended"
    assert ended["triggerReason"] == "StopAuthorized"
    assert "stoppedReason" not in ended["transactionInfo"]  # Local
    # the idToken that ended the authorization (Part 2 E, idToken)
    assert ended["idToken"]["idToken"] == "TAG-1"
    start_wh, end_wh = readings(started)[ENERGY], readings(ended)[ENERGY]
    assert end_wh > start_wh
    assert not any(e.get("offline") for e in events)


async def test_unplugging_during_a_transaction_ends_it_as_ev_disconnected(
    csms: RecordingCsms, version: str
):
    identity = "CP-UNPLUG"
    async with running(spec_for(csms.url, version, identity), options=FAST_METER) as station:
        await booted(station)
        connector = station.connector()
        await station.plug(connector)
        await station.present_tag("TAG-U", connector)
        await eventually(lambda: statuses(csms, identity)[-1:] == [_charging(version)])

        await station.unplug(connector)
        await eventually(lambda: not station.queue and statuses(csms, identity)[-1] == "Available")

    if version == "1.6":
        (stop,) = of(csms, identity, "StopTransaction")
        assert stop["reason"] == "EVDisconnected"
        assert "Finishing" not in statuses(csms, identity)  # the cable is gone already
    else:
        (ended,) = of(csms, identity, "TransactionEvent", "Ended")
        assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
        assert ended["transactionInfo"]["chargingState"] == "Idle"
        assert ended["triggerReason"] == "EVCommunicationLost"
    all_frames_valid(csms, identity, version)


def _charging(version: str) -> str:
    return "Charging" if version == "1.6" else "Occupied"


@pytest.mark.parametrize("stop_on_invalid_id", [True, False])
async def test_a_start_answer_that_refuses_the_tag_stops_or_suspends_the_transaction(
    csms: RecordingCsms, version: str, stop_on_invalid_id: bool
):
    """1.6 errata §3.17, 2.0.1 C15: Accepted by Authorize, Invalid in the start answer."""
    identity = "CP-INVALID"
    csms.start_tag_info["TAG-I"] = {"status": "Invalid"}
    async with running(spec_for(csms.url, version, identity), options=FAST_METER) as station:
        await booted(station)
        configure(station, stop_on_invalid_id=stop_on_invalid_id)
        connector = station.connector()
        await station.plug(connector)
        await station.present_tag("TAG-I", connector)
        if stop_on_invalid_id:
            await eventually(lambda: connector.transaction_key is None and not station.queue)
            assert connector.status == "Finishing"  # stopped, the cable still in
        else:
            await eventually(lambda: connector.status == "SuspendedEVSE")
            await asyncio.sleep(0.3)
            assert station.snapshot().connectors[0]["power_w"] == 0
            assert station.transaction_on(connector) is not None

    if version == "1.6":
        assert of(csms, identity, "Authorize")[0]["idTag"] == "TAG-I"
        stops = of(csms, identity, "StopTransaction")
        if stop_on_invalid_id:
            assert [s["reason"] for s in stops] == ["DeAuthorized"]
            assert stops[0]["transactionId"] == csms.transaction_ids[0]
        else:
            assert stops == []
            assert "SuspendedEVSE" in statuses(csms, identity)
    else:
        ended = of(csms, identity, "TransactionEvent", "Ended")
        if stop_on_invalid_id:
            assert [e["transactionInfo"]["stoppedReason"] for e in ended] == ["DeAuthorized"]
            assert ended[0]["triggerReason"] == "Deauthorized"
        else:
            assert ended == []
            charging_states = [
                e["transactionInfo"].get("chargingState")
                for e in of(csms, identity, "TransactionEvent", "Updated")
            ]
            assert "SuspendedEVSE" in charging_states
    all_frames_valid(csms, identity, version)


async def test_a_refused_tag_may_still_draw_max_energy_on_invalid_id_before_suspension(
    csms: RecordingCsms, version: str
):
    identity = "CP-MAXENERGY"
    csms.start_tag_info["TAG-M"] = {"status": "Invalid"}
    async with running(spec_for(csms.url, version, identity), options=FAST_METER) as station:
        await booted(station)
        configure(station, stop_on_invalid_id=False, max_energy_on_invalid_id=20)
        connector = station.connector()
        await station.plug(connector)
        await station.present_tag("TAG-M", connector)
        tx = station.transaction_on(connector)
        assert tx is not None
        await eventually(lambda: tx.id_tag_status == "Invalid")
        assert connector.status == "Charging"  # not suspended yet: 20 Wh are allowed
        await eventually(lambda: connector.status == "SuspendedEVSE")
        used = station.meter_of(connector).energy_wh - tx.meter_start_wh
        await asyncio.sleep(0.3)
        assert station.meter_of(connector).energy_wh - tx.meter_start_wh == used  # no more
        # 180 kW is 5 Wh per 0.1 s tick
        assert 20 <= used <= 26, used
        await eventually(lambda: not station.queue)

    if version == "1.6":
        assert statuses(csms, identity)[-2:] == ["Charging", "SuspendedEVSE"]
    else:
        (update,) = of(csms, identity, "TransactionEvent", "Updated")
        assert update["triggerReason"] == "ChargingStateChanged"
        assert update["transactionInfo"]["chargingState"] == "SuspendedEVSE"
    all_frames_valid(csms, identity, version)


async def test_start_session_stops_by_itself_when_the_duration_is_over(
    csms: RecordingCsms, version: str
):
    identity = "CP-DURATION"
    async with running(spec_for(csms.url, version, identity), options=FAST_METER) as station:
        await booted(station)
        result = await execute(station, "start_session", {"id_tag": "TAG-D", "duration_seconds": 1})
        assert result["authorization"]["status"] == "Accepted"
        assert result["transaction_id"] is not None
        assert "stops_at" in result
        connector = station.connector()
        await eventually(lambda: connector.transaction_key is None and not station.queue, 4)
        assert connector.status == "Finishing"

    if version == "1.6":
        assert result["transaction_id"] == str(csms.transaction_ids[0])
        (stop,) = of(csms, identity, "StopTransaction")
        assert stop["reason"] == "Other"  # 1.6 has no TimeLimitReached
        (start,) = of(csms, identity, "StartTransaction")
        elapsed = _seconds_between(start["timestamp"], stop["timestamp"])
    else:
        started = of(csms, identity, "TransactionEvent", "Started")[0]
        (ended,) = of(csms, identity, "TransactionEvent", "Ended")
        assert started["transactionInfo"]["transactionId"] == result["transaction_id"]
        assert ended["transactionInfo"]["stoppedReason"] == "TimeLimitReached"
        assert ended["triggerReason"] == "TimeLimitReached"
        elapsed = _seconds_between(started["timestamp"], ended["timestamp"])
    assert 0.9 <= elapsed <= 2.0, elapsed
    all_frames_valid(csms, identity, version)


async def test_start_session_stops_by_itself_at_the_target_energy(
    csms: RecordingCsms, version: str
):
    identity = "CP-ENERGY"
    async with running(spec_for(csms.url, version, identity), options=FAST_METER) as station:
        await booted(station)
        result = await execute(
            station, "start_session", {"id_tag": "TAG-E", "target_energy_kwh": 0.02}
        )
        assert result["stops_at_energy_wh"] == pytest.approx(20.0)
        connector = station.connector()
        await eventually(lambda: connector.transaction_key is None and not station.queue, 4)

    if version == "1.6":
        (start,) = of(csms, identity, "StartTransaction")
        (stop,) = of(csms, identity, "StopTransaction")
        assert stop["reason"] == "Other"  # 1.6 has no EnergyLimitReached
        delivered = stop["meterStop"] - start["meterStart"]
    else:
        started = of(csms, identity, "TransactionEvent", "Started")[0]
        (ended,) = of(csms, identity, "TransactionEvent", "Ended")
        assert ended["transactionInfo"]["stoppedReason"] == "EnergyLimitReached"
        assert ended["triggerReason"] == "EnergyLimitReached"
        delivered = readings(ended)[ENERGY] - readings(started)[ENERGY]
    # The stop is planned for when the register reaches the target (180 kW: 50 Wh/s),
    # not found by a later tick: it comes within a few ms of it.
    assert 19.5 <= delivered <= 22, delivered
    all_frames_valid(csms, identity, version)


async def test_change_availability_inoperative_during_a_transaction_waits_for_its_end(
    csms: RecordingCsms, version: str
):
    identity = "CP-AVAIL"
    async with running(spec_for(csms.url, version, identity), options=FAST_METER) as station:
        await booted(station)
        connector = station.connector()
        await station.plug(connector)
        await station.present_tag("TAG-A", connector)
        await eventually(lambda: statuses(csms, identity)[-1:] == [_charging(version)])

        if version == "1.6":
            payload = {"connectorId": 1, "type": "Inoperative"}
        else:
            payload = {"operationalStatus": "Inoperative", "evse": {"id": 1}}
        answer = await csms.call(identity, "ChangeAvailability", payload)
        assert answer is not None and answer.payload == {"status": "Scheduled"}
        await asyncio.sleep(0.3)
        assert station.transaction_on(connector) is not None  # still charging
        assert statuses(csms, identity)[-1] == _charging(version)

        await execute(station, "stop_transaction", {})
        await eventually(lambda: statuses(csms, identity)[-1:] == ["Unavailable"])
        assert connector.status == "Unavailable"
        # Unavailable stays: a new session cannot start
        with pytest.raises(Exception, match="Unavailable"):
            await station.start_transaction(connector, "TAG-A")

    if version == "1.6":
        (stop,) = of(csms, identity, "StopTransaction")
        assert "reason" not in stop
    all_frames_valid(csms, identity, version)


async def test_a_stop_transaction_command_sends_the_reason_it_names(
    csms: RecordingCsms, version: str
):
    identity = "CP-REASON"
    async with running(spec_for(csms.url, version, identity), options=FAST_METER) as station:
        await booted(station)
        connector = station.connector()
        await station.plug(connector)
        started = await execute(station, "start_transaction", {"id_tag": "TAG-R"})
        stopped = await execute(
            station,
            "stop_transaction",
            {"transaction_id": started["transaction_id"], "reason": "EmergencyStop"},
        )
        assert stopped["transaction_id"] == started["transaction_id"]
        await eventually(lambda: not station.queue)

    if version == "1.6":
        assert started["transaction_id"] == str(csms.transaction_ids[0])
        assert started["id_tag_status"] == "Accepted"
        (stop,) = of(csms, identity, "StopTransaction")
        assert stop["reason"] == "EmergencyStop"
        assert "Authorize" not in csms.actions(identity)  # a raw start: no Authorize
    else:
        (ended,) = of(csms, identity, "TransactionEvent", "Ended")
        assert ended["transactionInfo"]["stoppedReason"] == "EmergencyStop"
    all_frames_valid(csms, identity, version)


async def test_the_ev_suspending_its_charge_is_reported_as_it_happens(
    csms: RecordingCsms, version: str
):
    identity = "CP-SUSPEND"
    async with running(spec_for(csms.url, version, identity), options=FAST_METER) as station:
        await booted(station)
        configure(station, meter_interval=0)  # no periodic samples: only changes
        connector = station.connector()
        await station.plug(connector)
        await station.present_tag("TAG-S", connector)
        await eventually(lambda: statuses(csms, identity)[-1:] == [_charging(version)])

        station.ev_stops_energy(connector)
        if version == "1.6":
            await eventually(lambda: statuses(csms, identity)[-1] == "SuspendedEV")
        else:
            await eventually(lambda: len(of(csms, identity, "TransactionEvent", "Updated")) == 1)
        await asyncio.sleep(0.3)
        assert station.snapshot().connectors[0]["power_w"] == 0
        station.ev_requests_energy(connector)
        if version == "1.6":
            await eventually(lambda: statuses(csms, identity)[-1] == "Charging")
        else:
            await eventually(lambda: len(of(csms, identity, "TransactionEvent", "Updated")) == 2)

    if version == "2.0.1":
        updates = of(csms, identity, "TransactionEvent", "Updated")
        assert [u["triggerReason"] for u in updates] == ["ChargingStateChanged"] * 2
        assert [u["transactionInfo"]["chargingState"] for u in updates] == [
            "SuspendedEV",
            "Charging",
        ]
        assert [u["seqNo"] for u in updates] == [1, 2]
    all_frames_valid(csms, identity, version)


async def test_the_register_is_exact_between_ticks_and_at_the_stop(
    csms: RecordingCsms, version: str
):
    identity = "CP-EXACT"
    # Ticks every 5 s at most and no samples: nothing integrates the meter on its own.
    options = replace(FAST_METER, tick_s=5.0)
    async with running(spec_for(csms.url, version, identity), options=options) as station:
        await booted(station)
        configure(station, meter_interval=0)
        connector = station.connector()
        await station.plug(connector)
        await station.present_tag("TAG-X", connector)
        await eventually(lambda: statuses(csms, identity)[-1:] == [_charging(version)])
        first = station.snapshot().connectors[0]
        power_w, started = first["power_w"], time.monotonic()
        assert power_w > 0
        await asyncio.sleep(0.4)
        energy_wh = station.snapshot().connectors[0]["energy_wh"]
        elapsed = time.monotonic() - started
        assert energy_wh - first["energy_wh"] == pytest.approx(power_w * elapsed / 3600, rel=0.05)
        await asyncio.sleep(0.2)
        stopped = await execute(station, "stop_transaction", {})
        elapsed = time.monotonic() - started
        assert stopped["meter_stop_wh"] - first["energy_wh"] == pytest.approx(
            power_w * elapsed / 3600, rel=0.05
        )


def _seconds_between(first: str, second: str) -> float:
    from datetime import datetime

    a = datetime.fromisoformat(first.replace("Z", "+00:00"))
    b = datetime.fromisoformat(second.replace("Z", "+00:00"))
    return (b - a).total_seconds()


async def test_a_transaction_started_by_the_cable_waits_for_the_tag_before_charging(
    csms: RecordingCsms,
):
    """2.0.1 E02 with TxStartPoint EVConnected: Started on plug-in, Updated on the tag."""
    identity = "CP-CABLE-FIRST"
    async with running(spec_for(csms.url, "2.0.1", identity), options=FAST_METER) as station:
        await booted(station)
        station.set_configuration("TxStartPoint", "EVConnected")
        configure(station, meter_interval=0)
        connector = station.connector()
        await station.plug(connector)
        tx = station.transaction_on(connector)
        assert tx is not None and tx.id_tag is None
        await asyncio.sleep(0.3)
        assert station.snapshot().connectors[0]["power_w"] == 0  # not authorized yet

        result = await station.present_tag("TAG-LATE", connector)
        assert result["status"] == "Accepted"
        assert result["transaction_id"] == tx.key
        assert station.transaction_on(connector) is tx  # the same transaction
        await eventually(lambda: station.snapshot().connectors[0]["power_w"] > 0)

        await station.present_tag("TAG-LATE", connector)  # and the tag stops it
        await eventually(lambda: not station.queue and not station.transactions)

    started, authorized, ended = of(csms, identity, "TransactionEvent")
    assert (started["triggerReason"], started["transactionInfo"]["chargingState"]) == (
        "CablePluggedIn",
        "EVConnected",
    )
    assert "idToken" not in started
    assert authorized["eventType"] == "Updated"
    assert authorized["triggerReason"] == "Authorized"
    assert authorized["idToken"]["idToken"] == "TAG-LATE"
    assert authorized["transactionInfo"]["chargingState"] == "Charging"
    assert ended["triggerReason"] == "StopAuthorized"
    assert [e["seqNo"] for e in (started, authorized, ended)] == [0, 1, 2]
    assert csms.actions(identity).count("Authorize") == 1
    all_frames_valid(csms, identity, "2.0.1")
