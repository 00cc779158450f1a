"""OCPP 1.6J side of the built-in CSMS.

Handler names are part of the interface: tests subclass these sessions and override a
handler by its method name (``ocpp`` routes by method name, see ``ocpp.routing``).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint
from ocpp.v16 import call as calls16
from ocpp.v16 import call_result as result

from voltlab.csms.authorization import TagRequest, id_tag_info
from voltlab.csms.meter import read_16
from voltlab.csms.session import SessionBase, now
from voltlab.csms.state import CsmsTransaction
from voltlab.ids import utcnow

# One counter per process: 1.6 transaction ids are integers the CSMS hands out.
# Start from the clock so ids stay unique across restarts of voltlab (the OCPI sessions
# of a CPO bundle are stored by transaction id); 1.6 transaction ids are 32-bit integers.
_transaction_ids = itertools.count(int(time.time()) % 1_000_000_000 + 1)


class CsmsSession16(SessionBase, ChargePoint):
    calls = calls16

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
        self, connector_id: int, status: str, **_: Any
    ) -> result.StatusNotification:
        await self._status(connector_id, connector_id, status)  # 1.6 key: (n, n)
        return result.StatusNotification()

    @on("Authorize")
    async def on_authorize(self, id_tag: str) -> result.Authorize:
        self._seen()
        decision = await self.hooks.authorize(
            self.station, TagRequest(id_tag, None, None, None, "authorize")
        )
        return result.Authorize(id_tag_info=id_tag_info(decision))

    @on("StartTransaction")
    async def on_start(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **_: Any
    ) -> result.StartTransaction:
        self._seen()
        transaction_id = str(next(_transaction_ids))
        decision = await self.hooks.authorize(
            self.station,
            TagRequest(
                id_tag, None, connector_id, connector_id, "start_transaction", transaction_id
            ),
        )
        at = utcnow()
        # Recorded whatever the decision: a 1.6 station has started already and ends a
        # refused transaction itself (StopTransaction, reason DeAuthorized).
        tx = CsmsTransaction(
            transaction_id=transaction_id,
            evse_id=connector_id,
            connector_id=connector_id,
            id_tag=id_tag,
            meter_start_wh=meter_start,
            meter_wh=meter_start,
            started_at=at,
            authorization=decision,
            updated_at=at,
        )
        self.station.transactions[transaction_id] = tx
        await self.hooks.transaction_started(self.station, tx)
        return result.StartTransaction(
            transaction_id=int(transaction_id), id_tag_info=id_tag_info(decision)
        )

    @on("StopTransaction")
    async def on_stop(
        self, transaction_id: int, meter_stop: int, timestamp: str, **payload: Any
    ) -> result.StopTransaction:
        self._seen()
        tx = self._transaction(str(transaction_id))
        if tx is not None and tx.stopped_at is None:
            power = read_16(payload.get("transaction_data")).power_w
            tx.meter_wh = meter_stop
            tx.power_w = power if power is not None else tx.power_w
            tx.stopped_at = tx.updated_at = utcnow()
            tx.stop_reason = payload.get("reason", "Local")
            await self.hooks.transaction_ended(self.station, tx)
        return result.StopTransaction()

    @on("MeterValues")
    async def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **payload: Any
    ) -> result.MeterValues:
        self._seen()
        tx = self._transaction(str(payload.get("transaction_id")))
        if tx is not None and tx.stopped_at is None:
            reading = read_16(meter_value)
            if reading.energy_wh is not None:
                tx.meter_wh = reading.energy_wh
            if reading.power_w is not None:
                tx.power_w = reading.power_w
            tx.updated_at = utcnow()
            await self.hooks.transaction_updated(self.station, tx)
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
