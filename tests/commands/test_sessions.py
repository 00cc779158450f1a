"""The fan-out commands on one charger, end to end: what the runtime shows, what the CSMS
saw, and the final outcome of each command (``GET /ocpp/commands/{id}``)."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

from support.live import eventually

from .conftest import Charger, Lab, on_both_versions

SECOND = {"1.6": {"connector_id": 2}, "2.0.1": {"evse_id": 2}}


def _busy(version: str, status_16: str) -> str:
    """The runtime status of a connector in use: 1.6 names it, 2.0.1 says Occupied."""
    return status_16 if version == "1.6" else "Occupied"


def _tx_events(lab: Lab, cp: Charger, event_type: str) -> list[dict[str, Any]]:
    return [
        c.payload
        for c in lab.recorder.of(cp.identity, "TransactionEvent")
        if c.payload["eventType"] == event_type
    ]


def _started(lab: Lab, cp: Charger) -> list[dict[str, Any]]:
    if cp.version == "1.6":
        return [c.payload for c in lab.recorder.of(cp.identity, "StartTransaction")]
    return _tx_events(lab, cp, "Started")


def _meter_values(lab: Lab, cp: Charger) -> list[dict[str, Any]]:
    if cp.version == "1.6":
        return [c.payload for c in lab.recorder.of(cp.identity, "MeterValues")]
    return [e for e in _tx_events(lab, cp, "Updated") if "meterValue" in e]


def _sampled(lab: Lab, cp: Charger, record: dict[str, Any]) -> bool:
    """The CSMS got a periodic meter value of the session's transaction."""
    transaction_id = record["result"]["transaction_id"]
    for payload in _meter_values(lab, cp):
        if cp.version == "1.6" and str(payload["transactionId"]) == transaction_id:
            return True
        if cp.version == "2.0.1" and payload["transactionInfo"]["transactionId"] == transaction_id:
            return True
    return False


def _csms_tx(lab: Lab, cp: Charger, transaction_id: str) -> Any:
    return lab.csms.stations[cp.identity].transactions.get(transaction_id)


async def _csms_ended(lab: Lab, cp: Charger, transaction_id: str) -> Any:
    def ended() -> Any:
        tx = _csms_tx(lab, cp, transaction_id)
        return tx if tx is not None and tx.stopped_at is not None else None

    return await eventually(ended, timeout=10)


async def test_start_session_plugs_authorizes_starts_charges_and_stops_by_itself(lab: Lab) -> None:
    await on_both_versions(
        lab,
        functools.partial(_start_session_plugs_authorizes_starts_charges_and_stops_by_itself, lab),
    )


async def _start_session_plugs_authorizes_starts_charges_and_stops_by_itself(
    lab: Lab, cp: Charger
) -> None:
    version = cp.version
    began = time.monotonic()
    # Connector 1 stops after three seconds, connector 2 after 0.15 kWh (180 kW: ~3 s).
    timed = await lab.run("start-session", cp, {"id_tag": "TAG-TIME", "duration_seconds": 3})
    energy = await lab.run(
        "start-session",
        cp,
        {"id_tag": "TAG-ENERGY", "target_energy_kwh": 0.15, **SECOND[version]},
    )
    for record, tag in ((timed, "TAG-TIME"), (energy, "TAG-ENERGY")):
        result = record["result"]
        assert result["authorization"]["status"] == "Accepted"
        assert result["authorization"]["source"] == "csms"
        assert result["transaction_id"]
        assert _csms_tx(lab, cp, result["transaction_id"]).id_tag == tag
    assert "stops_at" in timed["result"]
    assert energy["result"]["stops_at_energy_wh"] == 150.0

    # The CSMS saw Authorize, then the start, then meter values, in that order.
    authorized = [
        c.payload.get("idTag") or c.payload["idToken"]["idToken"]
        for c in lab.recorder.of(cp.identity, "Authorize")
    ]
    assert authorized == ["TAG-TIME", "TAG-ENERGY"]
    started = _started(lab, cp)
    assert len(started) == 2
    actions = [c.action for c in lab.recorder.calls[cp.identity]]
    first_start = actions.index("StartTransaction" if version == "1.6" else "TransactionEvent")
    assert actions.index("Authorize") < first_start
    if version == "2.0.1":
        assert [s["idToken"]["idToken"] for s in started] == ["TAG-TIME", "TAG-ENERGY"]
        assert [s["evse"]["id"] for s in started] == [1, 2]

    charging = _busy(version, "Charging")
    first = await lab.wait_connector(cp.id, index=0, status=charging)
    assert first["transaction_id"] == timed["result"]["transaction_id"]
    assert first["power_w"] > 0
    for record in (timed, energy):
        await eventually(lambda record=record: _sampled(lab, cp, record), timeout=5)

    # Both stop by themselves; the cable stays in (Finishing on 1.6).
    done = _busy(version, "Finishing")
    for index in (0, 1):
        await lab.wait_connector(cp.id, index=index, transaction_id=None, status=done, timeout=8)
    elapsed = time.monotonic() - began
    assert 3 <= elapsed < 9
    timed_tx = await _csms_ended(lab, cp, timed["result"]["transaction_id"])
    energy_tx = await _csms_ended(lab, cp, energy["result"]["transaction_id"])
    assert energy_tx.meter_wh - energy_tx.meter_start_wh >= 150
    if version == "2.0.1":
        assert timed_tx.stop_reason == "TimeLimitReached"
        assert energy_tx.stop_reason == "EnergyLimitReached"
    else:  # 1.6 has no such reasons
        assert timed_tx.stop_reason == energy_tx.stop_reason == "Other"
    history = (await lab.read(cp.id, "transactions"))["data"]
    reasons = {t["transaction_id"]: t["stop_reason"] for t in history}
    assert reasons[timed["result"]["transaction_id"]] == "TimeLimitReached"
    assert reasons[energy["result"]["transaction_id"]] == "EnergyLimitReached"

    # A new session on the same connector re-inserts the cable.
    again = await lab.run("start-session", cp, {"id_tag": "TAG-TIME"})
    assert again["result"]["transaction_id"] not in (None, timed["result"]["transaction_id"])
    # stop-session: the transaction ends (Local), then the cable comes out.
    stopped = await lab.run("stop-session", cp, {})
    assert stopped["result"]["transaction_id"] == again["result"]["transaction_id"]
    assert stopped["result"]["status"] == "Available"
    tx = await _csms_ended(lab, cp, again["result"]["transaction_id"])
    assert tx.stop_reason == "Local"
    await lab.wait_connector(cp.id, index=0, status="Available", transaction_id=None)
    await lab.run("stop-session", cp, SECOND[version])
    await lab.wait_connector(cp.id, index=1, status="Available")


async def test_start_session_with_a_tag_the_csms_refuses(lab: Lab) -> None:
    await on_both_versions(lab, functools.partial(_start_session_with_a_tag_the_csms_refuses, lab))


async def _start_session_with_a_tag_the_csms_refuses(lab: Lab, cp: Charger) -> None:
    lab.recorder.tag_status["STOLEN"] = "Blocked"
    record = await lab.run("start-session", cp, {"id_tag": "STOLEN"})
    result = record["result"]
    assert result["authorization"]["status"] == "Blocked"
    assert result["authorization"]["source"] == "csms"
    assert result["transaction_id"] is None
    assert "Blocked" in result["msg"]
    assert _started(lab, cp) == []
    assert (await lab.connector(cp.id))["transaction_id"] is None
    # A second session on a connector with a transaction is refused.
    await lab.run("start-session", cp, {"id_tag": "GOOD"})
    record = await lab.run_failing("start-session", cp, {"id_tag": "GOOD"})
    assert "already has a transaction" in record["error"]


async def test_authorize_id_tag_reports_the_csms_decision(lab: Lab) -> None:
    await on_both_versions(lab, functools.partial(_authorize_id_tag_reports_the_csms_decision, lab))


async def _authorize_id_tag_reports_the_csms_decision(lab: Lab, cp: Charger) -> None:
    lab.recorder.tag_status.update({"BLOCKED-1": "Blocked", "INVALID-1": "Invalid"})
    for tag, status in (("OK-1", "Accepted"), ("BLOCKED-1", "Blocked"), ("INVALID-1", "Invalid")):
        record = await lab.run("authorize-id-tag", cp, {"id_tag": tag})
        assert record["event_type"] == "authorize_id_tag"
        assert record["result"]["id_tag"] == tag
        assert record["result"]["status"] == status
        assert record["result"]["source"] == "csms"
    sent = [
        c.payload.get("idTag") or c.payload["idToken"]["idToken"]
        for c in lab.recorder.of(cp.identity, "Authorize")
    ]
    assert sent == ["OK-1", "BLOCKED-1", "INVALID-1"]
    decisions = (await lab.read(cp.id, "authorizations"))["data"]
    assert [(d["id_tag"], d["status"]) for d in decisions][:3] == [
        ("INVALID-1", "Invalid"),
        ("BLOCKED-1", "Blocked"),
        ("OK-1", "Accepted"),
    ]


async def test_raw_start_and_stop_transaction(lab: Lab) -> None:
    await on_both_versions(lab, functools.partial(_raw_start_and_stop_transaction, lab))


async def _raw_start_and_stop_transaction(lab: Lab, cp: Charger) -> None:
    version = cp.version
    record = await lab.run("start-transaction", cp, {"id_tag": "RAW-1"})
    transaction_id = record["result"]["transaction_id"]
    assert transaction_id
    assert record["result"]["id_tag_status"] in (None, "Accepted")
    # Raw: no plug, no Authorize.
    assert lab.recorder.of(cp.identity, "Authorize") == []
    [started] = _started(lab, cp)
    if version == "1.6":
        assert started["idTag"] == "RAW-1"
        assert started["connectorId"] == 1
    else:
        assert started["transactionInfo"]["transactionId"] == transaction_id
    assert _csms_tx(lab, cp, transaction_id) is not None
    connector = await lab.wait_connector(cp.id, transaction_id=transaction_id)
    assert connector["status"] == _busy(version, "SuspendedEV")  # no cable: no energy

    other = await lab.run("start-transaction", cp, {"id_tag": "RAW-2", **SECOND[version]})
    # Stop by id, then the only one left without an id.
    stopped = await lab.run("stop-transaction", cp, {"transaction_id": transaction_id})
    assert stopped["result"]["transaction_id"] == transaction_id
    assert "meter_stop_wh" in stopped["result"]
    tx = await _csms_ended(lab, cp, transaction_id)
    assert tx.stop_reason == "Local"
    stopped = await lab.run("stop-transaction", cp, {})
    assert stopped["result"]["transaction_id"] == other["result"]["transaction_id"]
    await _csms_ended(lab, cp, other["result"]["transaction_id"])

    failed = await lab.run_failing("stop-transaction", cp, {"transaction_id": transaction_id})
    assert "no running transaction" in failed["error"]
    failed = await lab.run_failing("stop-transaction", cp, {})
    assert "no running transaction" in failed["error"]
    assert failed["finished_at"] is not None
    await lab.wait_connector(cp.id, status="Available", transaction_id=None)


async def test_plug_unplug_and_unlock(lab: Lab) -> None:
    await on_both_versions(lab, functools.partial(_plug_unplug_and_unlock, lab))


async def _plug_unplug_and_unlock(lab: Lab, cp: Charger) -> None:
    version = cp.version
    status_key = "status" if version == "1.6" else "connectorStatus"

    def csms_status() -> str | None:
        calls = lab.recorder.of(cp.identity, "StatusNotification")
        mine = [c.payload for c in calls if c.payload.get("evseId", c.payload["connectorId"]) == 1]
        return mine[-1][status_key] if mine else None

    record = await lab.run("plug-connector", cp, {"evse_id": 1, "connector_id": 1})
    assert record["result"]["status"] == "Preparing"
    assert (await lab.connector(cp.id))["status"] == _busy(version, "Preparing")
    await eventually(lambda: csms_status() == _busy(version, "Preparing"), timeout=5)
    record = await lab.run("plug-connector", cp, {})  # already in: nothing changes
    assert record["result"]["status"] == "Preparing"

    record = await lab.run("unlock-connector", cp, {})
    assert record["result"] == {"status": "Unlocked", "connector_id": 1}
    record = await lab.run("unplug-connector", cp, {})
    assert record["result"]["status"] == "Available"
    await eventually(lambda: csms_status() == "Available", timeout=5)

    # Unplugging during a transaction ends it (EVDisconnected).
    session = await lab.run("start-session", cp, {"id_tag": "TAG-1"})
    transaction_id = session["result"]["transaction_id"]
    await lab.run("unplug-connector", cp, {})
    tx = await _csms_ended(lab, cp, transaction_id)
    assert tx.stop_reason == "EVDisconnected"
    await lab.wait_connector(cp.id, status="Available", transaction_id=None)

    # Unlocking during a transaction stops it first (UnlockCommand).
    session = await lab.run("start-session", cp, {"id_tag": "TAG-1"})
    transaction_id = session["result"]["transaction_id"]
    record = await lab.run("unlock-connector", cp, {})
    assert record["result"]["status"] == "Unlocked"
    tx = await _csms_ended(lab, cp, transaction_id)
    assert tx.stop_reason == ("UnlockCommand" if version == "1.6" else "Other")
    # A lock failure is reported as the OCPP answer would be.
    await lab.single("inject-fault", cp, {"fault_type": "ConnectorLockFailure"})
    record = await lab.run("unlock-connector", cp, {})
    assert record["result"]["status"] == "UnlockFailed"


async def test_ev_energy_requests_and_power_updates(lab: Lab) -> None:
    await on_both_versions(lab, functools.partial(_ev_energy_requests_and_power_updates, lab))


async def _ev_energy_requests_and_power_updates(lab: Lab, cp: Charger) -> None:
    version = cp.version
    await lab.run("start-session", cp, {"id_tag": "TAG-1"})
    charging = await lab.wait_connector(cp.id, status=_busy(version, "Charging"))
    assert charging["power_w"] == 180_000  # the model's maximum

    record = await lab.run("ev-stops-energy", cp, {})
    assert record["result"]["status"] == "SuspendedEV"
    idle = await lab.wait_connector(cp.id, power_w=0.0)
    if version == "1.6":
        assert idle["status"] == "SuspendedEV"
        await eventually(
            lambda: any(
                c.payload["status"] == "SuspendedEV"
                for c in lab.recorder.of(cp.identity, "StatusNotification")
            ),
            timeout=5,
        )
    else:
        await eventually(
            lambda: any(
                e["transactionInfo"]["chargingState"] == "SuspendedEV"
                and e["triggerReason"] == "ChargingStateChanged"
                for e in _tx_events(lab, cp, "Updated")
            ),
            timeout=5,
        )
    frozen = (await lab.connector(cp.id))["energy_wh"]
    await asyncio.sleep(1.1)
    assert (await lab.connector(cp.id))["energy_wh"] == frozen

    record = await lab.run("ev-requests-energy", cp, {})
    assert record["result"]["status"] == "Charging"
    await lab.wait_connector(cp.id, status=_busy(version, "Charging"), power_w=180_000.0)

    # power-update: the power drawn changes and the energy integrates at the new rate.
    record = await lab.run("power-update", cp, {"power_w": 7200})
    assert record["result"]["requested_w"] == 7200
    await lab.wait_connector(cp.id, power_w=7200.0, timeout=5)
    first = await lab.connector(cp.id)
    began = time.monotonic()
    await asyncio.sleep(2.1)
    last = await lab.connector(cp.id)
    elapsed = time.monotonic() - began
    gained = last["energy_wh"] - first["energy_wh"]
    assert last["power_w"] == 7200
    # 7.2 kW is 2 Wh a second; the meter ticks once a second.
    assert 2 * (elapsed - 1.2) <= gained <= 2 * (elapsed + 1.2), (gained, elapsed)
    # The CSMS's meter values carry the new power.
    power_key = "Power.Active.Import"

    def csms_power() -> list[float]:
        values = []
        for payload in _meter_values(lab, cp):
            for sample in payload.get("meterValue", []):
                for value in sample["sampledValue"]:
                    if value.get("measurand") == power_key:
                        values.append(float(value["value"]))
        return values

    await eventually(lambda: 7200.0 in csms_power(), timeout=5)

    # More than the hardware can give is capped at the model's maximum.
    record = await lab.run("power-update", cp, {"power_w": 1_000_000})
    assert record["result"]["requested_w"] == 180_000
    await lab.wait_connector(cp.id, power_w=180_000.0, timeout=5)
