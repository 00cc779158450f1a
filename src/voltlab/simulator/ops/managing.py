"""Availability, reset, reservations, charging profiles, firmware and diagnostics, and
the messages the CSMS triggers (TriggerMessage) or hands over (DataTransfer)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from typing import Any

from voltlab.ids import isoformat
from voltlab.simulator.model.connector import Connector
from voltlab.simulator.model.smart_charging import ChargingProfile, SchedulePeriod
from voltlab.simulator.ops.base import StationBase
from voltlab.simulator.rpc import CsmsFinding

# Simulated durations of firmware and diagnostics steps (seconds).
STEP_S = 0.2
# A retrieve date further out than this starts the download then (a simulator bound).
MAX_RETRIEVE_WAIT_S = 7 * 86_400


class ManagingOps(StationBase):
    __slots__ = ()

    # -- availability --------------------------------------------------------------------
    def change_availability(self, connectors: list[Connector], operative: bool) -> str:
        """Accepted, or Scheduled when a transaction runs (applied when it ends)."""
        scheduled = False
        for connector in connectors:
            if not operative and connector.transaction_key is not None:
                connector.pending_inoperative = True
                scheduled = True
                continue
            connector.pending_inoperative = False
            if connector.operative != operative:
                connector.operative = operative
                self.notify_status(connector)
        self.changed()
        return "Scheduled" if scheduled else "Accepted"

    # -- reset ---------------------------------------------------------------------------
    async def reset(self, kind: str) -> None:
        """Stop every transaction, then reboot: reconnect and boot again, keeping identity,
        configuration, local list and cache (they are durable)."""
        reason = {"Hard": "HardReset", "Soft": "SoftReset"}.get(kind, "ImmediateReset")
        running = [t for t in self.transactions.values() if not t.ended]
        for tx in running:
            await self.stop_transaction(tx, reason)  # type: ignore[attr-defined]
        # 1.6 §5.14 / 2.0.1 B11-B12: the stop goes out before the reboot; unanswered (or
        # offline) it stays queued and is sent after it.
        for tx in running:
            await self.delivered(tx)
        for connector in self.connectors:
            connector.tag_presented = False
        self.boot_reason = "RemoteReset"
        await self.reboot()

    # -- reservations ----------------------------------------------------------------------
    def reserve(
        self, connector: Connector | None, reservation_id: int, expiry: datetime, id_tag: str
    ) -> str:
        if connector is None:
            if self.spec.ocpp_version == "1.6":
                return "Rejected"  # ReserveConnectorZeroSupported is false
            connector = next((c for c in self.connectors if c.status == "Available"), None)
            if connector is None:
                return "Occupied"
        if connector.status == "Faulted":
            return "Faulted"
        if connector.status == "Unavailable":
            return "Unavailable"
        if connector.reservation_id not in (None, reservation_id) or (
            connector.status != ("Available") and connector.reservation_id != reservation_id
        ):
            return "Occupied"
        connector.reservation_id = reservation_id
        self.reservation_expiry[reservation_id] = expiry
        self.reservation_tags[reservation_id] = id_tag
        self.notify_status(connector)
        self.changed()
        self.wake_ticker()  # the ticker expires reservations; idle, it would sleep through
        return "Accepted"

    def reserved_for_other(self, connector: Connector, id_tag: str) -> bool:
        """True when ``connector`` is reserved for another id tag than ``id_tag``."""
        if connector.reservation_id is None:
            return False
        reserved_for = self.reservation_tags.get(connector.reservation_id) or ""
        return bool(reserved_for) and reserved_for.upper() != id_tag.upper()

    def cancel_reservation(self, reservation_id: int) -> str:
        for connector in self.connectors:
            if connector.reservation_id == reservation_id:
                connector.reservation_id = None
                self.reservation_expiry.pop(reservation_id, None)
                self.reservation_tags.pop(reservation_id, None)
                self.notify_status(connector)
                self.changed()
                return "Accepted"
        return "Rejected"

    def expire_reservations(self, now: datetime) -> list[int]:
        expired = [rid for rid, at in self.reservation_expiry.items() if at <= now]
        for rid in expired:
            self.cancel_reservation(rid)
            if self.spec.ocpp_version == "2.0.1":
                self.spawn(
                    self.send_safely(
                        "ReservationStatusUpdate",
                        {"reservationId": rid, "reservationUpdateStatus": "Expired"},
                    ),
                    "reservation-expired",
                )
        return expired

    # -- smart charging -----------------------------------------------------------------
    def set_charging_profile(self, connector_id: int, profile: ChargingProfile) -> str:
        tx = None
        if connector_id > 0:
            connector = next(
                (c for c in self.connectors if self._outlet_id(c) == connector_id), None
            )
            if connector is None:
                return "Rejected"
            tx = self.transaction_on(connector)
        if profile.purpose == "TxProfile" and tx is None:
            return "Rejected"
        status = self.profiles.install(
            connector_id,
            profile,
            has_transaction=tx is not None,
            active_transaction_id=tx.public_id if tx else None,
        )
        self.changed()
        self.wake_ticker()
        return status

    def _install_remote_profile(self, connector: Connector, profile: ChargingProfile) -> None:
        """The TxProfile of a remote start, once its transaction runs. Checked when the
        request was accepted; refused now only if it names another transaction: the CSMS
        is told nothing more by the protocol, so it is recorded as a finding."""
        if self.set_charging_profile(self._outlet_id(connector), profile) != "Accepted":
            is16 = self.spec.ocpp_version == "1.6"
            action = "RemoteStartTransaction" if is16 else "RequestStartTransaction"
            self.record_finding(
                action,
                f"its TxProfile {profile.id} names transaction {profile.transaction_id}, "
                "not the one it started: not installed",
            )

    def composite_schedule(self, outlet_id: int, duration_s: int, unit: str) -> dict[str, Any]:
        now = self.now()
        connector = next((c for c in self.connectors if self._outlet_id(c) == outlet_id), None)
        tx = self.transaction_on(connector) if connector else None
        meter = self.meter_of(connector) if connector else self.meters[0]
        periods = self.profiles.composite_schedule(
            outlet_id,
            now,
            duration_s,
            rate_unit=unit,
            tx_start=tx.started_at if tx else None,
            phases=meter.phases,
            max_w=meter.max_power_w,
        )
        if not periods:
            limit = meter.max_power_w if unit == "W" else meter.max_power_w / (230.0 * meter.phases)
            periods = [SchedulePeriod(start_period_s=0, limit=round(limit, 1))]
        return {
            "scheduleStart": isoformat(now),
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [p.to_wire() for p in periods],
        }

    def _outlet_id(self, connector: Connector) -> int:
        """The id profiles use: the connector on 1.6, the EVSE on 2.0.1."""
        return connector.connector_id if self.spec.ocpp_version == "1.6" else connector.evse_id

    # -- firmware and diagnostics (simulated uploads/downloads) --------------------------
    async def run_firmware_update(
        self, statuses: list[str], notify: Any, *, retrieve_at: datetime | None = None
    ) -> None:
        """Download from ``retrieve_at`` on (1.6 retrieveDate / 2.0.1 retrieveDateTime)."""
        if retrieve_at is not None:
            wait = (retrieve_at - self.now()).total_seconds()
            if wait > 0:
                await asyncio.sleep(min(wait, MAX_RETRIEVE_WAIT_S))
        for status in statuses:
            await asyncio.sleep(STEP_S)
            self.firmware_status = status
            await notify(status)

    async def run_diagnostics(self, statuses: list[str], notify: Any) -> None:
        for status in statuses:
            await asyncio.sleep(STEP_S)
            self.diagnostics_status = status
            await notify(status)

    # -- messages the CSMS asks for ------------------------------------------------------
    async def triggered(self, message: str, connector_id: int | None) -> None:
        adapter = self.adapter
        if adapter is None:
            return
        targets = [
            c for c in self.connectors if connector_id is None or self._outlet_id(c) == connector_id
        ]
        if message == "BootNotification":
            with contextlib.suppress(CsmsFinding):
                answer = await adapter.send_call("BootNotification", adapter.boot_payload())
                # Only while Pending (refused once Accepted, errata 3.35 / F06.FR.17):
                # the boot loop of the session takes the new status and interval.
                self._registration(answer)
        elif message == "Heartbeat":
            await self.send_safely("Heartbeat", {})
        elif message == "StatusNotification":
            for connector in targets:
                await self.send_safely("StatusNotification", adapter.status_payload(connector))
        elif message in ("MeterValues", "TransactionEvent"):
            for connector in targets:
                await self._send_triggered_meter(connector, message)
        elif message == "FirmwareStatusNotification":
            await self.send_safely("FirmwareStatusNotification", self._idle_status("firmware"))
        elif message in ("DiagnosticsStatusNotification", "LogStatusNotification"):
            await self.send_safely(message, self._idle_status("diagnostics"))

    def _idle_status(self, kind: str) -> dict[str, Any]:
        status = self.firmware_status if kind == "firmware" else self.diagnostics_status
        final = ("Installed", "Uploaded")
        return {"status": "Idle" if status in final else status}

    async def _send_triggered_meter(self, connector: Connector, message: str) -> None:
        meter = self.meter_of(connector)
        meter.settle(time.monotonic())
        tx = self.transaction_on(connector)
        if message == "TransactionEvent":
            if tx is not None:  # an EVSE without a transaction has nothing to report
                _, payload = self.messages.tx_meter(self, tx, connector, meter, "Trigger")
                payload["triggerReason"] = "Trigger"
                self.enqueue("TransactionEvent", payload, tx.key)
            return
        await self.send_safely(
            "MeterValues", self.messages.triggered_meter_values(self, connector, meter, tx)
        )

    def data_transfer(self, vendor_id: str, message_id: str | None, data: Any) -> tuple[str, Any]:
        # The simulator knows one vendor: "voltlab", which echoes the data back.
        if vendor_id != "voltlab":
            return "UnknownVendorId", None
        return "Accepted", data
