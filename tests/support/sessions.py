"""Helpers for tests that charge: a fast meter, the transaction messages a CSMS saw,
and the readings inside them, for both versions."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from support.csms import RecordingCsms
from support.frames import check_sent_frames
from support.live import eventually
from support.stations import FAST
from voltlab.simulator import Station

# The meter integrates every 0.1 s, so a 1 s sample interval is honoured closely.
FAST_METER = replace(FAST, tick_s=0.1)

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
TX_ACTIONS = frozenset({"StartTransaction", "StopTransaction", "MeterValues", "TransactionEvent"})

# The same setting under its 1.6 key and its 2.0.1 variable.
KEYS = {
    "meter_interval": {"1.6": "MeterValueSampleInterval", "2.0.1": "TxUpdatedInterval"},
    "measurands": {"1.6": "MeterValuesSampledData", "2.0.1": "TxUpdatedMeasurands"},
    "stop_on_invalid_id": {"1.6": "StopTransactionOnInvalidId", "2.0.1": "StopTxOnInvalidId"},
    "max_energy_on_invalid_id": {"1.6": "MaxEnergyOnInvalidId", "2.0.1": "MaxEnergyOnInvalidId"},
    "attempts": {"1.6": "TransactionMessageAttempts", "2.0.1": "MessageAttempts"},
    "retry_interval": {
        "1.6": "TransactionMessageRetryInterval",
        "2.0.1": "MessageAttemptInterval",
    },
    "local_authorize_offline": {
        "1.6": "LocalAuthorizeOffline",
        "2.0.1": "AuthCtrlr.LocalAuthorizeOffline",
    },
    "offline_unknown": {
        "1.6": "AllowOfflineTxForUnknownId",
        "2.0.1": "OfflineTxForUnknownIdEnabled",
    },
}


def configure(station: Station, **settings: str | int | bool) -> None:
    """``configure(station, meter_interval=1)``: set each by its name in ``KEYS``."""
    version = station.spec.ocpp_version
    for name, value in settings.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        status, reason = station.set_configuration(KEYS[name][version], text)
        assert status == "Accepted", (name, value, reason)


async def booted(station: Station, timeout: float = 5.0) -> None:
    await eventually(lambda: station.online, timeout=timeout)


def tx_messages(csms: RecordingCsms, identity: str) -> list[tuple[str, dict[str, Any]]]:
    """(action, camelCase payload) of the transaction messages the CSMS got, in order."""
    return [(a, p) for a, p in csms.calls(identity) if a in TX_ACTIONS]


def of(csms: RecordingCsms, identity: str, action: str, event_type: str | None = None):
    """The camelCase payloads of ``action`` (a TransactionEvent ``event_type``)."""
    return [
        p
        for a, p in csms.calls(identity)
        if a == action and (event_type is None or p.get("eventType") == event_type)
    ]


def statuses(csms: RecordingCsms, identity: str, connector_id: int = 1) -> list[str]:
    """The StatusNotification statuses of one connector (1.6) / EVSE (2.0.1), in order."""
    found = []
    for payload in of(csms, identity, "StatusNotification"):
        if "connectorStatus" in payload:
            if payload["evseId"] == connector_id:
                found.append(payload["connectorStatus"])
        elif payload["connectorId"] == connector_id:
            found.append(payload["status"])
    return found


def readings(payload: dict[str, Any]) -> dict[str, float]:
    """{measurand: value} of the last meterValue in a MeterValues / TransactionEvent /
    StopTransaction (transactionData) payload; values as numbers on both versions."""
    values = payload.get("meterValue") or payload.get("transactionData") or []
    if not values:
        return {}
    return {
        sampled.get("measurand", ENERGY): float(sampled["value"])
        for sampled in values[-1]["sampledValue"]
    }


def sample_time(payload: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(payload["meterValue"][-1]["timestamp"].replace("Z", "+00:00"))


def periodic(csms: RecordingCsms, identity: str) -> list[dict[str, Any]]:
    """The periodic samples of a transaction: 1.6 MeterValues, 2.0.1 Updated events."""
    return [
        p
        for a, p in tx_messages(csms, identity)
        if (a == "MeterValues" or p.get("eventType") == "Updated")
        and p.get("meterValue")
        and p["meterValue"][-1]["sampledValue"][0].get("context") == "Sample.Periodic"
    ]


def all_frames_valid(csms: RecordingCsms, identity: str, version: str) -> int:
    """Every frame the charger sent validates against the official schema; the count."""
    count = check_sent_frames(version, csms.frames[identity], csms.sent_calls)
    assert count > 0
    return count
