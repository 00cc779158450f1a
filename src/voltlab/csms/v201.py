"""OCPP 2.0.1 side of the built-in CSMS.

Handler names are part of the interface: tests subclass these sessions and override a
handler by its method name (``ocpp`` routes by method name, see ``ocpp.routing``).
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint
from ocpp.v201 import call as calls201
from ocpp.v201 import call_result as result

from voltlab.csms.authorization import TagDecision, TagRequest, id_token_info
from voltlab.csms.meter import read_201
from voltlab.csms.session import SessionBase, now
from voltlab.csms.state import CsmsTransaction
from voltlab.ids import utcnow


class CsmsSession201(SessionBase, ChargePoint):
    calls = calls201

    @on("BootNotification")
    async def on_boot(self, **payload: Any) -> result.BootNotification:
        await self._booted(payload)
        return result.BootNotification(
            current_time=now(), interval=self.heartbeat_interval_s, status="Accepted"
        )

    @on("Heartbeat")
    def on_heartbeat(self) -> result.Heartbeat:
        self._heartbeat()
        return result.Heartbeat(current_time=now())

    @on("StatusNotification")
    async def on_status(
        self, evse_id: int, connector_id: int, connector_status: str, **_: Any
    ) -> result.StatusNotification:
        await self._status(evse_id, connector_id, connector_status)
        return result.StatusNotification()

    @on("Authorize")
    async def on_authorize(self, id_token: dict[str, Any], **_: Any) -> result.Authorize:
        self._seen()
        decision = await self.hooks.authorize(
            self.station,
            TagRequest(id_token["id_token"], id_token.get("type"), None, None, "authorize"),
        )
        return result.Authorize(id_token_info=id_token_info(decision))

    @on("TransactionEvent")
    async def on_transaction_event(
        self,
        event_type: str,
        transaction_info: dict[str, Any],
        **payload: Any,
    ) -> result.TransactionEvent:
        self._seen()
        transaction_id = transaction_info["transaction_id"]
        evse = payload.get("evse") or {}
        reading = read_201(payload.get("meter_value"))
        at = utcnow()
        tx = self._transaction(transaction_id)
        learnt = tx is None  # usually Started; any event of a transaction we missed
        if tx is None:
            tx = CsmsTransaction(
                transaction_id=transaction_id,
                evse_id=evse.get("id", 0),
                connector_id=evse.get("connector_id", 1),
                id_tag=None,
                meter_start_wh=reading.energy_wh or 0.0,
                started_at=at,
            )
            self.station.transactions[transaction_id] = tx
        elif evse:
            tx.evse_id = evse.get("id", tx.evse_id)
            tx.connector_id = evse.get("connector_id", tx.connector_id)
        if transaction_info.get("remote_start_id") is not None:
            tx.remote_start_id = transaction_info["remote_start_id"]
        if reading.energy_wh is not None:
            tx.meter_wh = reading.energy_wh
        if reading.power_w is not None:
            tx.power_w = reading.power_w
        tx.updated_at = at

        decision = await self._decide(event_type, payload.get("id_token"), tx)

        ended = event_type == "Ended" and tx.stopped_at is None  # a resent Ended: once
        if ended:
            tx.stopped_at = at
            tx.stop_reason = transaction_info.get("stopped_reason", "Local")
        if learnt:
            await self.hooks.transaction_started(self.station, tx)
        elif event_type == "Updated":
            await self.hooks.transaction_updated(self.station, tx)
        if ended:
            await self.hooks.transaction_ended(self.station, tx)

        # idTokenInfo is required exactly when the event carried an idToken.
        if decision is not None:
            return result.TransactionEvent(id_token_info=id_token_info(decision))
        return result.TransactionEvent()

    async def _decide(
        self, event_type: str, id_token: dict[str, Any] | None, tx: CsmsTransaction
    ) -> TagDecision | None:
        if not id_token:
            return None
        ending = event_type == "Ended"
        decision = await self.hooks.authorize(
            self.station,
            TagRequest(
                id_token["id_token"],
                id_token.get("type"),
                tx.evse_id,
                tx.connector_id,
                "stop_transaction" if ending else "start_transaction",
                tx.transaction_id,
            ),
        )
        # The first token outside an Ended event is the one that authorized the
        # transaction (it may come with Started or, after plug-in first, an Updated); a
        # token presented to stop it does not replace it.
        if tx.id_tag is None and not ending:
            tx.id_tag = id_token["id_token"]
            tx.id_token_type = id_token.get("type")
            tx.authorization = decision
        return decision

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
