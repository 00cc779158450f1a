"""OCPP 1.6J side of the built-in CSMS."""

from __future__ import annotations

import itertools
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint
from ocpp.v16 import call_result as result

from voltlab.csms.session import SessionBase, now
from voltlab.csms.state import CsmsTransaction
from voltlab.ids import utcnow

_transaction_ids = itertools.count(1)


def _energy_wh(meter_value: list[dict[str, Any]]) -> float | None:
    for sample in meter_value:
        for value in sample.get("sampled_value", []):
            if value.get("measurand", "Energy.Active.Import.Register") == (
                "Energy.Active.Import.Register"
            ):
                amount = float(value["value"])
                return amount * 1000 if value.get("unit") == "kWh" else amount
    return None


class CsmsSession16(SessionBase, ChargePoint):
    @on("BootNotification")
    def on_boot(self, **payload: Any) -> result.BootNotification:
        self._booted(payload)
        return result.BootNotification(
            current_time=now(), interval=self.heartbeat_interval_s, status="Accepted"
        )

    @on("Heartbeat")
    def on_heartbeat(self) -> result.Heartbeat:
        self._heartbeat()
        return result.Heartbeat(current_time=now())

    @on("StatusNotification")
    def on_status(self, connector_id: int, status: str, **_: Any) -> result.StatusNotification:
        self._seen()
        self.station.connectors[(connector_id, connector_id)] = status
        return result.StatusNotification()

    @on("Authorize")
    def on_authorize(self, id_tag: str) -> result.Authorize:
        self._seen()
        return result.Authorize(id_tag_info={"status": "Accepted"})

    @on("StartTransaction")
    def on_start(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **_: Any
    ) -> result.StartTransaction:
        self._seen()
        transaction_id = next(_transaction_ids)
        self.station.transactions[str(transaction_id)] = CsmsTransaction(
            transaction_id=str(transaction_id),
            evse_id=connector_id,
            connector_id=connector_id,
            id_tag=id_tag,
            meter_start_wh=meter_start,
            meter_wh=meter_start,
            started_at=utcnow(),
        )
        return result.StartTransaction(
            transaction_id=transaction_id, id_tag_info={"status": "Accepted"}
        )

    @on("StopTransaction")
    def on_stop(
        self, transaction_id: int, meter_stop: int, timestamp: str, **payload: Any
    ) -> result.StopTransaction:
        self._seen()
        tx = self.station.transactions.get(str(transaction_id))
        if tx is not None:
            tx.meter_wh = meter_stop
            tx.stopped_at = utcnow()
            tx.stop_reason = payload.get("reason", "Local")
        return result.StopTransaction()

    @on("MeterValues")
    def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **payload: Any
    ) -> result.MeterValues:
        self._seen()
        tx = self.station.transactions.get(str(payload.get("transaction_id")))
        energy = _energy_wh(meter_value)
        if tx is not None and energy is not None:
            tx.meter_wh = energy
        return result.MeterValues()

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_: Any) -> result.DataTransfer:
        self._seen()
        return result.DataTransfer(status="UnknownVendorId")

    @on("DiagnosticsStatusNotification")
    def on_diagnostics(self, status: str) -> result.DiagnosticsStatusNotification:
        self._seen()
        return result.DiagnosticsStatusNotification()

    @on("FirmwareStatusNotification")
    def on_firmware(self, status: str) -> result.FirmwareStatusNotification:
        self._seen()
        return result.FirmwareStatusNotification()
