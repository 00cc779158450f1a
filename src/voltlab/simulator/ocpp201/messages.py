"""OCPP 2.0.1 transaction messages: TransactionEvent Started / Updated / Ended."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from voltlab.ids import isoformat
from voltlab.simulator.model.connector import Connector
from voltlab.simulator.model.meter import Meter
from voltlab.simulator.model.transactions import QueuedMessage, Transaction
from voltlab.simulator.sampling import readings

if TYPE_CHECKING:
    from voltlab.simulator.station import Station

# Neutral stop reason -> (stoppedReason, triggerReason).
STOP = {
    "EVDisconnected": ("EVDisconnected", "EVCommunicationLost"),
    "Local": ("Local", "StopAuthorized"),
    "Remote": ("Remote", "RemoteStop"),
    "DeAuthorized": ("DeAuthorized", "Deauthorized"),
    "EnergyLimitReached": ("EnergyLimitReached", "EnergyLimitReached"),
    "TimeLimitReached": ("TimeLimitReached", "TimeLimitReached"),
    "HardReset": ("ImmediateReset", "ResetCommand"),
    "SoftReset": ("ImmediateReset", "ResetCommand"),
    "ImmediateReset": ("ImmediateReset", "ResetCommand"),
    "UnlockCommand": ("Other", "UnlockCommand"),
    "EmergencyStop": ("EmergencyStop", "AbnormalCondition"),
    "PowerLoss": ("PowerLoss", "AbnormalCondition"),
    "Reboot": ("Reboot", "ResetCommand"),
}
UNIT_201 = {"Percent": "Percent", "Wh": "Wh", "W": "W", "A": "A", "V": "V"}


def id_token(id_tag: str, token_type: str | None = None) -> dict[str, Any]:
    """An IdToken: as the CSMS typed it for a remote start, else an RFID card's."""
    return {"idToken": id_tag, "type": token_type or "ISO14443"}


def _meter_value(station: Station, meter: Meter, context: str, measurands: tuple[str, ...]):
    return [
        {
            "timestamp": isoformat(station.now()),
            "sampledValue": [
                {
                    "value": value,
                    "context": context,
                    "measurand": measurand,
                    "unitOfMeasure": {"unit": UNIT_201[unit]},
                    **({"location": "EV"} if measurand == "SoC" else {}),
                }
                for measurand, value, unit in readings(meter, measurands)
            ],
        }
    ]


def _base(
    station: Station, tx: Transaction, event_type: str, trigger: str, connector: Connector
) -> dict[str, Any]:
    info: dict[str, Any] = {
        "transactionId": tx.key,
        "chargingState": connector.charging_state_201,
    }
    tx.charging_state = info["chargingState"]
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": isoformat(station.now()),
        "triggerReason": trigger,
        "seqNo": tx.next_seq(),
        "transactionInfo": info,
    }
    if not station.online:
        payload["offline"] = True
    return payload


def tx_started(
    station: Station, tx: Transaction, connector: Connector, meter: Meter, trigger: str
) -> tuple[str, dict[str, Any]]:
    payload = _base(station, tx, "Started", trigger, connector)
    if tx.remote_start_id is not None:
        payload["transactionInfo"]["remoteStartId"] = tx.remote_start_id
        payload["triggerReason"] = "RemoteStart"
    payload["evse"] = {"id": connector.evse_id, "connectorId": connector.connector_id}
    if tx.id_tag:
        payload["idToken"] = id_token(tx.id_tag, tx.id_token_type)
    if tx.reservation_id is not None:
        payload["reservationId"] = tx.reservation_id
    measurands = tuple(station.config.get("SampledDataCtrlr.TxStartedMeasurands").split(","))
    payload["meterValue"] = _meter_value(station, meter, "Transaction.Begin", measurands)
    return "TransactionEvent", payload


def tx_meter(
    station: Station, tx: Transaction, connector: Connector, meter: Meter, context: str
) -> tuple[str, dict[str, Any]]:
    trigger = "MeterValuePeriodic"
    if connector.charging_state_201 != tx.charging_state:
        trigger = "ChargingStateChanged"
    payload = _base(station, tx, "Updated", trigger, connector)
    payload["meterValue"] = _meter_value(station, meter, context, station.settings.measurands)
    return "TransactionEvent", payload


def tx_charging_state(
    station: Station, tx: Transaction, connector: Connector
) -> tuple[str, dict[str, Any]] | None:
    """Updated (ChargingStateChanged) when the chargingState differs from the last one sent."""
    if connector.charging_state_201 == tx.charging_state:
        return None
    return "TransactionEvent", _base(station, tx, "Updated", "ChargingStateChanged", connector)


def tx_authorized(
    station: Station, tx: Transaction, connector: Connector
) -> tuple[str, dict[str, Any]]:
    """Updated with the idToken when authorization comes after the start (EVConnected)."""
    payload = _base(station, tx, "Updated", "Authorized", connector)
    payload["idToken"] = id_token(tx.id_tag or "", tx.id_token_type)
    return "TransactionEvent", payload


def tx_ended(
    station: Station,
    tx: Transaction,
    connector: Connector,
    meter: Meter,
    reason: str,
    id_tag: str | None,
) -> tuple[str, dict[str, Any]]:
    stopped, trigger = STOP.get(reason, ("Other", "AbnormalCondition"))
    payload = _base(station, tx, "Ended", trigger, connector)
    payload["transactionInfo"]["chargingState"] = "EVConnected" if connector.plugged else "Idle"
    if stopped != "Local":
        payload["transactionInfo"]["stoppedReason"] = stopped
    if id_tag:  # the token that ended the authorization (StopAuthorized)
        payload["idToken"] = id_token(id_tag, tx.id_token_type if id_tag == tx.id_tag else None)
    measurands = tuple(station.config.get("SampledDataCtrlr.TxEndedMeasurands").split(","))
    payload["meterValue"] = _meter_value(station, meter, "Transaction.End", measurands)
    return "TransactionEvent", payload


def finalize(station: Station, item: QueuedMessage) -> dict[str, Any]:
    return item.payload


def apply_answer(station: Station, item: QueuedMessage, answer: dict[str, Any]) -> None:
    tx = station.transactions.get(item.tx_key or "")
    info = answer.get("idTokenInfo")
    # The idTokenInfo is about the token the event carried: a group member may have stopped.
    token = (item.payload.get("idToken") or {}).get("idToken") or (tx.id_tag if tx else None)
    if info and tx is not None and token:
        decision = station.learn(token, station.adapter_id_info(info))
        starting = token.upper() == (tx.id_tag or "").upper()
        if starting and (item.payload.get("eventType") == "Started" or "idToken" in item.payload):
            tx.authorized = decision.accepted
            if decision.info is not None and decision.info.parent_id_tag:
                tx.parent_id_tag = decision.info.parent_id_tag  # the group, for stopping
            station.on_start_answer(tx, decision.status)
    if item.payload.get("eventType") == "Ended" and tx is not None:
        station.forget_transaction(tx)


def triggered_meter_values(
    station: Station, connector: Connector, meter: Meter, tx: Transaction | None
) -> dict[str, Any]:
    return {
        "evseId": connector.evse_id,
        "meterValue": _meter_value(station, meter, "Trigger", station.settings.measurands),
    }
