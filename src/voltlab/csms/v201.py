"""OCPP 2.0.1 side of the built-in CSMS."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint
from ocpp.v201 import call_result as result

from voltlab.csms.session import SessionBase, now
from voltlab.csms.state import CsmsTransaction
from voltlab.ids import utcnow


def _energy_wh(meter_value: list[dict[str, Any]] | None) -> float | None:
    for sample in meter_value or []:
        for value in sample.get("sampled_value", []):
            if value.get("measurand", "Energy.Active.Import.Register") == (
                "Energy.Active.Import.Register"
            ):
                multiplier = (value.get("unit_of_measure") or {}).get("multiplier", 0)
                unit = (value.get("unit_of_measure") or {}).get("unit", "Wh")
                amount = float(value["value"]) * 10**multiplier
                return amount * 1000 if unit == "kWh" else amount
    return None


class CsmsSession201(SessionBase, ChargePoint):
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
    def on_status(
        self, evse_id: int, connector_id: int, connector_status: str, **_: Any
    ) -> result.StatusNotification:
        self._seen()
        self.station.connectors[(evse_id, connector_id)] = connector_status
        return result.StatusNotification()

    @on("Authorize")
    def on_authorize(self, id_token: dict[str, Any], **_: Any) -> result.Authorize:
        self._seen()
        return result.Authorize(id_token_info={"status": "Accepted"})

    @on("TransactionEvent")
    def on_transaction_event(
        self,
        event_type: str,
        transaction_info: dict[str, Any],
        **payload: Any,
    ) -> result.TransactionEvent:
        self._seen()
        transaction_id = transaction_info["transaction_id"]
        tx = self.station.transactions.get(transaction_id)
        evse = payload.get("evse") or {}
        if tx is None:
            tx = CsmsTransaction(
                transaction_id=transaction_id,
                evse_id=evse.get("id", 0),
                connector_id=evse.get("connector_id", 1),
                id_tag=(payload.get("id_token") or {}).get("id_token"),
                meter_start_wh=_energy_wh(payload.get("meter_value")) or 0.0,
                started_at=utcnow(),
            )
            self.station.transactions[transaction_id] = tx
        energy = _energy_wh(payload.get("meter_value"))
        if energy is not None:
            tx.meter_wh = energy
        if event_type == "Ended":
            tx.stopped_at = utcnow()
            tx.stop_reason = transaction_info.get("stopped_reason", "Local")
        if payload.get("id_token"):
            return result.TransactionEvent(id_token_info={"status": "Accepted"})
        return result.TransactionEvent()

    @on("MeterValues")
    def on_meter_values(self, evse_id: int, meter_value: list[Any], **_: Any) -> result.MeterValues:
        self._seen()
        return result.MeterValues()

    @on("NotifyEvent")
    def on_notify_event(self, **_: Any) -> result.NotifyEvent:
        self._seen()
        return result.NotifyEvent()

    @on("NotifyReport")
    def on_notify_report(self, **_: Any) -> result.NotifyReport:
        self._seen()
        return result.NotifyReport()

    @on("SecurityEventNotification")
    def on_security_event(self, **_: Any) -> result.SecurityEventNotification:
        self._seen()
        return result.SecurityEventNotification()

    @on("LogStatusNotification")
    def on_log_status(self, **_: Any) -> result.LogStatusNotification:
        self._seen()
        return result.LogStatusNotification()

    @on("FirmwareStatusNotification")
    def on_firmware_status(self, **_: Any) -> result.FirmwareStatusNotification:
        self._seen()
        return result.FirmwareStatusNotification()

    @on("ReservationStatusUpdate")
    def on_reservation_status(self, **_: Any) -> result.ReservationStatusUpdate:
        self._seen()
        return result.ReservationStatusUpdate()

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_: Any) -> result.DataTransfer:
        self._seen()
        return result.DataTransfer(status="UnknownVendorId")
