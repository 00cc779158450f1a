"""OCPP 1.6 transaction messages: StartTransaction, MeterValues, StopTransaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from voltlab.ids import isoformat
from voltlab.simulator.model.connector import Connector
from voltlab.simulator.model.meter import Meter
from voltlab.simulator.model.transactions import QueuedMessage, Transaction
from voltlab.simulator.sampling import readings

if TYPE_CHECKING:
    from voltlab.simulator.station import Station

# Neutral stop reasons -> 1.6 Reason; Local is sent by leaving the field out.
STOP_REASON = {
    "EVDisconnected": "EVDisconnected",
    "HardReset": "HardReset",
    "SoftReset": "SoftReset",
    "ImmediateReset": "HardReset",
    "Local": None,
    "Remote": "Remote",
    "UnlockCommand": "UnlockCommand",
    "DeAuthorized": "DeAuthorized",
    "EmergencyStop": "EmergencyStop",
    "PowerLoss": "PowerLoss",
    "Reboot": "Reboot",
}


def _sample(station: Station, meter: Meter, context: str, measurands: tuple[str, ...]):
    return {
        "timestamp": isoformat(station.now()),
        "sampledValue": [
            {
                "value": f"{value:g}",
                "context": context,
                "measurand": measurand,
                "unit": unit,
                **({"location": "EV"} if measurand == "SoC" else {"location": "Outlet"}),
            }
            for measurand, value, unit in readings(meter, measurands)
        ],
    }


def tx_started(
    station: Station, tx: Transaction, connector: Connector, meter: Meter, trigger: str
) -> tuple[str, dict[str, Any]]:
    payload: dict[str, Any] = {
        "connectorId": connector.connector_id,
        "idTag": tx.id_tag,
        "meterStart": round(tx.meter_start_wh),  # Wh, rounded as the samples are
        "timestamp": isoformat(tx.started_at),
    }
    if tx.reservation_id is not None:
        payload["reservationId"] = tx.reservation_id
    return "StartTransaction", payload


def tx_meter(
    station: Station, tx: Transaction, connector: Connector, meter: Meter, context: str
) -> tuple[str, dict[str, Any]]:
    return "MeterValues", {
        "connectorId": connector.connector_id,
        "transactionId": None,  # filled in when sent: the CSMS's id may not be known yet
        "meterValue": [_sample(station, meter, context, station.settings.measurands)],
    }


def tx_charging_state(
    station: Station, tx: Transaction, connector: Connector
) -> tuple[str, dict[str, Any]] | None:
    """1.6 reports a change of charging state by StatusNotification alone."""
    return None


def tx_ended(
    station: Station,
    tx: Transaction,
    connector: Connector,
    meter: Meter,
    reason: str,
    id_tag: str | None,
) -> tuple[str, dict[str, Any]]:
    payload: dict[str, Any] = {
        "transactionId": None,
        "meterStop": round(meter.energy_wh),
        "timestamp": isoformat(station.now()),
        "idTag": id_tag or tx.id_tag,
        "transactionData": [
            _sample(station, meter, "Transaction.End", ("Energy.Active.Import.Register",))
        ],
    }
    mapped = STOP_REASON.get(reason, "Other")
    if mapped is not None:
        payload["reason"] = mapped
    return "StopTransaction", payload


def finalize(station: Station, item: QueuedMessage) -> dict[str, Any]:
    """Fill in the CSMS's transactionId (``-1`` if it never gave one, errata §3.18)."""
    payload = dict(item.payload)
    if item.action in ("MeterValues", "StopTransaction"):
        tx = station.transactions.get(item.tx_key or "")
        payload["transactionId"] = tx.csms_id if tx and tx.csms_id is not None else -1
    return payload


def apply_answer(station: Station, item: QueuedMessage, answer: dict[str, Any]) -> None:
    tx = station.transactions.get(item.tx_key or "")
    info = answer.get("idTagInfo")
    if item.action == "StartTransaction" and tx is not None:
        tx.csms_id = int(answer["transactionId"])
    # The idTagInfo is about the tag the message carried: a group member may have stopped.
    id_tag = item.payload.get("idTag") or (tx.id_tag if tx is not None else None)
    if info and tx is not None and id_tag:
        decision = station.learn(id_tag, station.adapter_id_info(info))
        if item.action == "StartTransaction":
            tx.authorized = decision.accepted
            if decision.info is not None and decision.info.parent_id_tag:
                tx.parent_id_tag = decision.info.parent_id_tag  # the group, for stopping
            station.on_start_answer(tx, decision.status)
    if item.action == "StopTransaction" and tx is not None:
        station.forget_transaction(tx)


def triggered_meter_values(
    station: Station, connector: Connector, meter: Meter, tx: Transaction | None
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "connectorId": connector.connector_id,
        "meterValue": [_sample(station, meter, "Trigger", station.settings.measurands)],
    }
    if tx is not None:
        payload["transactionId"] = tx.csms_id if tx.csms_id is not None else -1
    return payload
