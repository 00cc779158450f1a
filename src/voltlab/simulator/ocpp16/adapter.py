"""OCPP 1.6J binding of the station: payload shapes and CSMS-initiated handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.v16 import ChargePoint

from voltlab.ids import isoformat, utcnow
from voltlab.simulator.rpc import OCPP_LOGGER, RpcMixin
from voltlab.simulator.state import ConnectorState

if TYPE_CHECKING:
    from voltlab.simulator.link import FrameTap
    from voltlab.simulator.station import Station


class Ocpp16Adapter(RpcMixin, ChargePoint):
    def __init__(self, station: Station, tap: FrameTap, response_timeout: float) -> None:
        super().__init__(
            station.spec.identity, tap, response_timeout=response_timeout, logger=OCPP_LOGGER
        )
        self.station = station

    def boot_payload(self) -> dict[str, Any]:
        spec = self.station.spec
        return {
            "chargePointVendor": spec.vendor_name,
            "chargePointModel": spec.model_name,
            "chargePointSerialNumber": spec.serial_number,
            "firmwareVersion": spec.firmware_version,
        }

    def status_payloads(self) -> list[dict[str, Any]]:
        connectors = self.station.connectors
        # Connector 0 is the charge point itself; it is Faulted/Unavailable only if all are.
        main = "Available"
        if connectors and all(c.status == "Unavailable" for c in connectors):
            main = "Unavailable"
        payloads = [{"connectorId": 0, "errorCode": "NoError", "status": main, "timestamp": _now()}]
        payloads += [self.status_payload(c) for c in connectors]
        return payloads

    def status_payload(self, connector: ConnectorState) -> dict[str, Any]:
        return {
            "connectorId": connector.connector_id,
            "errorCode": connector.error_code,
            "status": connector.status,
            "timestamp": _now(),
        }


def _now() -> str:
    return isoformat(utcnow()) or ""
