"""OCPP 2.0.1 binding of the station: payload shapes and CSMS-initiated handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.v201 import ChargePoint

from voltlab.ids import isoformat, utcnow
from voltlab.simulator.rpc import OCPP_LOGGER, RpcMixin
from voltlab.simulator.state import ConnectorState

if TYPE_CHECKING:
    from voltlab.simulator.link import FrameTap
    from voltlab.simulator.station import Station

# 1.6-style statuses the station model uses, as 2.0.1 ConnectorStatus values.
CONNECTOR_STATUS = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
    "Occupied": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}


class Ocpp201Adapter(RpcMixin, ChargePoint):
    def __init__(self, station: Station, tap: FrameTap, response_timeout: float) -> None:
        super().__init__(
            station.spec.identity, tap, response_timeout=response_timeout, logger=OCPP_LOGGER
        )
        self.station = station

    def boot_payload(self) -> dict[str, Any]:
        spec = self.station.spec
        return {
            "reason": self.station.boot_reason,
            "chargingStation": {
                "model": spec.model_name,
                "vendorName": spec.vendor_name,
                "serialNumber": spec.serial_number,
                "firmwareVersion": spec.firmware_version,
            },
        }

    def status_payloads(self) -> list[dict[str, Any]]:
        return [self.status_payload(c) for c in self.station.connectors]

    def status_payload(self, connector: ConnectorState) -> dict[str, Any]:
        return {
            "timestamp": isoformat(utcnow()),
            "connectorStatus": CONNECTOR_STATUS.get(connector.status, "Available"),
            "evseId": connector.evse_id,
            "connectorId": connector.connector_id,
        }
