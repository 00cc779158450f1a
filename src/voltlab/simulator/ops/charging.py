"""Cable, EV, transactions and the meter: what happens at the connector."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

from voltlab.errors import Conflict, InvalidRequest
from voltlab.simulator.model.connector import FAULTS, Connector
from voltlab.simulator.model.smart_charging import ChargingProfile
from voltlab.simulator.model.transactions import Transaction
from voltlab.simulator.ops.base import StationBase

# A tick fired by the shared timer heap may come a few ms early (it serves a burst in
# one turn): what falls due within this margin is done in that tick.
DUE_EARLY = timedelta(milliseconds=10)
ENERGY_EPSILON_WH = 0.01

# Stop reasons are the 2.0.1 names plus three 1.6-only ones; each version maps them.
STOP_REASONS = (
    "DeAuthorized",
    "EmergencyStop",
    "EnergyLimitReached",
    "EVDisconnected",
    "GroundFault",
    "ImmediateReset",
    "Local",
    "LocalOutOfCredit",
    "MasterPass",
    "Other",
    "OvercurrentFault",
    "PowerLoss",
    "PowerQuality",
    "Reboot",
    "Remote",
    "SOCLimitReached",
    "StoppedByEV",
    "TimeLimitReached",
    "Timeout",
    "HardReset",
    "SoftReset",
    "UnlockCommand",
)


class ChargingOps(StationBase):
    __slots__ = ()

    # -- cable -------------------------------------------------------------------------
    async def plug(self, connector: Connector) -> dict[str, Any]:
        if connector.status == "Faulted":
            raise Conflict(f"connector {connector.evse_id}/{connector.connector_id} is Faulted")
        if connector.plugged:
            return self._connector_result(connector)
        connector.plugged = True
        connector.locked = True
        connector.finishing = False
        self.notify_status(connector)
        self.changed()
        if self._starts_on("EVConnected") or (
            connector.tag_presented and connector.transaction_key is None
        ):
            index = self.index_of(connector)
            tag = self._pending_tags.pop(index, None)
            remote_start_id, token_type = self._pending_remote.pop(index, (None, None))
            profile = self._pending_profiles.pop(index, None)
            trigger = "CablePluggedIn" if tag is None else "Authorized"
            await self.start_transaction(
                connector,
                tag,
                trigger=trigger,
                remote_start_id=remote_start_id,
                id_token_type=token_type,
            )
            if profile is not None:  # the TxProfile that came with RemoteStart
                self._install_remote_profile(connector, profile)
        return self._connector_result(connector)

    def await_cable(
        self,
        connector: Connector,
        id_tag: str,
        *,
        remote_start_id: int | None = None,
        profile: ChargingProfile | None = None,
        id_token_type: str | None = None,
    ) -> None:
        """A tag was accepted before the cable: wait ConnectionTimeOut for it (Preparing),
        then give up and go back to Available (OCPP 1.6 §4.9)."""
        index = self.index_of(connector)
        connector.tag_presented = True
        self._pending_tags[index] = id_tag
        if remote_start_id is not None or id_token_type is not None:
            self._pending_remote[index] = (remote_start_id, id_token_type)
        if profile is not None:
            self._pending_profiles[index] = profile
        self.notify_status(connector)
        self.spawn(self._cable_timeout(connector, id_tag), "connection-timeout")

    async def _cable_timeout(self, connector: Connector, id_tag: str) -> None:
        await asyncio.sleep(self.settings.connection_timeout_s)
        index = self.index_of(connector)
        if connector.plugged or self._pending_tags.get(index) != id_tag:
            return
        connector.tag_presented = False
        self._pending_tags.pop(index, None)
        self._pending_remote.pop(index, None)
        self._pending_profiles.pop(index, None)
        self.notify_status(connector)

    async def unplug(self, connector: Connector) -> dict[str, Any]:
        if not connector.plugged:
            return self._connector_result(connector)
        tx = self.transaction_on(connector)
        connector.plugged = False
        connector.finishing = False
        connector.tag_presented = False
        if tx is not None:
            if self.settings.stop_on_ev_side_disconnect:
                await self.stop_transaction(tx, "EVDisconnected")
            else:
                self.charging_state_changed(connector)  # SuspendedEV: waits for the cable
        if self.settings.unlock_on_ev_side_disconnect or tx is None:
            connector.locked = False
        connector.finishing = False
        self.notify_status(connector)
        self.changed()
        return self._connector_result(connector)

    async def unlock(self, connector: Connector) -> str:
        """UnlockConnector: stop a running transaction first (UnlockCommand), then release."""
        tx = self.transaction_on(connector)
        if tx is not None:
            await self.stop_transaction(tx, "UnlockCommand")
        if connector.fault == "ConnectorLockFailure":
            return "UnlockFailed"
        connector.locked = False
        self.changed()
        return "Unlocked"

    # -- EV ----------------------------------------------------------------------------
    def ev_requests_energy(self, connector: Connector) -> dict[str, Any]:
        connector.ev_requesting = True
        self.charging_state_changed(connector)
        self.wake_ticker()
        return self._connector_result(connector)

    def ev_stops_energy(self, connector: Connector) -> dict[str, Any]:
        connector.ev_requesting = False
        self.charging_state_changed(connector)
        return self._connector_result(connector)

    def charging_state_changed(self, connector: Connector) -> None:
        """StatusNotification, and on 2.0.1 a TransactionEvent Updated (ChargingStateChanged)
        while a transaction runs: chargingState is reported when it changes (Part 2 E)."""
        tx = self.transaction_on(connector)
        if tx is not None and not tx.ended:
            event = self.messages.tx_charging_state(self, tx, connector)
            if event is not None:
                self.enqueue(*event, tx.key)
        self.notify_status(connector)

    def power_update(self, connector: Connector, power_w: float) -> dict[str, Any]:
        meter = self.meter_of(connector)
        if power_w < 0:
            raise InvalidRequest("power_w must not be negative")
        meter.requested_w = min(float(power_w), meter.max_power_w)
        self.changed()
        self.wake_ticker()
        result = self._connector_result(connector)
        result["requested_w"] = meter.requested_w
        return result

    # -- faults ------------------------------------------------------------------------
    def inject_fault(self, connector: Connector, fault_type: str) -> dict[str, Any]:
        if fault_type not in FAULTS:
            raise InvalidRequest(f"unknown fault_type {fault_type!r}; one of {', '.join(FAULTS)}")
        connector.fault = fault_type
        connector.error_code = FAULTS[fault_type][0]
        self.notify_status(connector)
        self.changed()
        return self._connector_result(connector)

    def clear_fault(self, connector: Connector) -> dict[str, Any]:
        fault = connector.fault
        connector.fault = None
        connector.error_code = "NoError"
        self.notify_status(connector)
        self.changed()
        result = self._connector_result(connector)
        result["fault_type"] = fault
        return result

    # -- transactions ------------------------------------------------------------------
    async def start_transaction(
        self,
        connector: Connector,
        id_tag: str | None,
        *,
        trigger: str = "Authorized",
        remote_start_id: int | None = None,
        id_tag_status: str | None = None,
        parent_id_tag: str | None = None,
        id_token_type: str | None = None,
    ) -> Transaction:
        if connector.transaction_key is not None:
            raise Conflict(
                f"connector {connector.evse_id}/{connector.connector_id} already has "
                f"transaction {self.transactions[connector.transaction_key].public_id}"
            )
        if not connector.available_for_transaction:
            raise Conflict(
                f"connector {connector.evse_id}/{connector.connector_id} is {connector.status}"
            )
        if self.spec.ocpp_version == "1.6" and not id_tag:
            raise InvalidRequest("OCPP 1.6 StartTransaction needs an id_tag")
        reserved_for = self.reservation_tags.get(connector.reservation_id or -1)
        if (
            reserved_for
            and (id_tag or "").upper() != reserved_for.upper()
            and (parent_id_tag is None or parent_id_tag.upper() != reserved_for.upper())
        ):
            raise Conflict(
                f"connector {connector.evse_id}/{connector.connector_id} is reserved "
                f"(reservation {connector.reservation_id}) for another id tag"
            )
        meter = self.meter_of(connector)
        now = self.now()
        tx = Transaction(
            key=str(uuid.uuid4()),
            evse_id=connector.evse_id,
            connector_id=connector.connector_id,
            id_tag=id_tag,
            started_at=now,
            meter_start_wh=meter.energy_wh,
            remote_start_id=remote_start_id,
            reservation_id=connector.reservation_id,
            id_tag_status=id_tag_status,
            parent_id_tag=parent_id_tag,
            last_sample_at=now,
            id_token_type=id_token_type,
        )
        self.transactions[tx.key] = tx
        connector.transaction_key = tx.key
        if connector.reservation_id is not None:  # the reservation is used up
            self.reservation_expiry.pop(connector.reservation_id, None)
            self.reservation_tags.pop(connector.reservation_id, None)
            connector.reservation_id = None
        connector.tag_presented = False
        connector.evse_suspended = False
        connector.awaiting_authorization = id_tag is None  # 2.0.1 TxStartPoint EVConnected
        action, payload = self.messages.tx_started(self, tx, connector, meter, trigger)
        self.enqueue(action, payload, tx.key)
        self.notify_status(connector)
        self.changed()
        self.wake_ticker()
        return tx

    async def stop_transaction(
        self, tx: Transaction, reason: str = "Local", *, id_tag: str | None = None
    ) -> Transaction:
        if tx.ended:
            return tx
        connector = self.connector(tx.evse_id, tx.connector_id)
        meter = self.meter_of(connector)
        meter.settle(time.monotonic())  # the energy up to this moment, then no more
        meter.power_w = 0.0
        tx.ended = True
        tx.stop_reason = reason
        action, payload = self.messages.tx_ended(self, tx, connector, meter, reason, id_tag)
        self.enqueue(action, payload, tx.key)
        connector.transaction_key = None
        connector.evse_suspended = False
        connector.awaiting_authorization = False
        connector.finishing = connector.plugged
        if connector.pending_inoperative:  # ChangeAvailability that was Scheduled
            connector.pending_inoperative = False
            connector.operative = False
        self.profiles.clear_transaction(self._profile_slot(connector))
        self.notify_status(connector)
        self.changed()
        return tx

    def authorize_transaction(
        self, tx: Transaction, id_tag: str, *, status: str, parent_id_tag: str | None
    ) -> None:
        """A tag authorizes a transaction the cable started (2.0.1 E02): Updated with the
        idToken (triggerReason Authorized), and energy may flow."""
        connector = self.connector(tx.evse_id, tx.connector_id)
        tx.id_tag = id_tag
        tx.id_tag_status = status
        tx.parent_id_tag = parent_id_tag
        connector.awaiting_authorization = False
        action, payload = self.messages.tx_authorized(self, tx, connector)
        self.enqueue(action, payload, tx.key)
        self.notify_status(connector)
        self.changed()
        self.wake_ticker()

    def on_start_answer(self, tx: Transaction, status: str) -> None:
        """A non-Accepted id tag in the start answer (1.6 errata §3.17, 2.0.1 C15)."""
        tx.id_tag_status = status
        if status == "Accepted" or tx.ended:
            return
        self.wake_ticker()  # plans the MaxEnergyOnInvalidId limit
        connector = self.connector(tx.evse_id, tx.connector_id)
        if self.settings.stop_on_invalid_id:
            self.spawn(self.stop_transaction(tx, "DeAuthorized"), "stop-invalid-id")
        elif self.settings.max_energy_on_invalid_id_wh is None:
            connector.evse_suspended = True
            self.charging_state_changed(connector)
        # else: the meter suspends it once MaxEnergyOnInvalidId Wh are delivered (tick)

    # -- the meter -----------------------------------------------------------------------
    def tick(self, clock: float) -> float | None:
        """Bring every meter up to ``clock`` (monotonic), act on what fell due, and set
        the power for what follows; the seconds until the next tick is needed, or None
        when no transaction runs.

        Power is constant between ticks, so a tick is needed only when something falls
        due: a meter sample, a stop by time or energy, a full battery, a
        MaxEnergyOnInvalidId limit, or a charging-profile period (profiles make the
        limit change with time: then every ``tick_s``). A change of power between
        ticks (a status, a power-update, a profile) re-plans through ``wake_ticker``.
        """
        now = self.now()
        wait: float | None = None

        def due_in(seconds: float | None) -> None:
            nonlocal wait
            if seconds is not None and (wait is None or seconds < wait):
                wait = seconds

        for connector in self.connectors:
            tx = self.transaction_on(connector)
            meter = self.meter_of(connector)
            meter.settle(clock)  # at the power held since the last tick
            if tx is None:
                meter.power_w = 0.0
                continue
            due_in(float("inf"))
            has_profiles = bool(len(self.profiles))
            # Most stations have no profile: skip the schedule maths on every tick.
            limit = (
                self.profiles.limit_w(
                    self._profile_slot(connector), now, tx_start=tx.started_at, phases=meter.phases
                )
                if has_profiles
                else None
            )
            invalid_limit = self.settings.max_energy_on_invalid_id_wh
            if not tx.authorized and invalid_limit is not None:
                used = meter.energy_wh - tx.meter_start_wh
                if used >= invalid_limit - ENERGY_EPSILON_WH and not connector.evse_suspended:
                    connector.evse_suspended = True
                    self.charging_state_changed(connector)
            if tx.stop_at_wh is not None and meter.energy_wh >= tx.stop_at_wh - ENERGY_EPSILON_WH:
                self.spawn(self.stop_transaction(tx, "EnergyLimitReached"), "energy-limit")
                continue
            if tx.stop_at is not None and now >= tx.stop_at - DUE_EARLY:
                self.spawn(self.stop_transaction(tx, "TimeLimitReached"), "time-limit")
                continue
            charging = connector.status == "Charging"
            meter.power_w = meter.target_power(limit, charging=charging)
            interval = self.settings.meter_interval_s
            if interval > 0:
                step = timedelta(seconds=interval)
                last = tx.last_sample_at
                if last is None or now - last >= step - DUE_EARLY:
                    # On a fixed grid, so a late tick does not stretch every later
                    # interval; after a long stall (restart, loop lag) the grid restarts.
                    last = last + step if last and now - last < 2 * step else now
                    tx.last_sample_at = last
                    action, payload = self.messages.tx_meter(
                        self, tx, connector, meter, "Sample.Periodic"
                    )
                    self.enqueue(action, payload, tx.key)
                    self.changed(hot=True)
                due_in((last + step - now).total_seconds())
            if tx.stop_at is not None:
                due_in((tx.stop_at - now).total_seconds())
            if tx.stop_at_wh is not None:
                due_in(meter.seconds_until(tx.stop_at_wh))
            if not tx.authorized and invalid_limit is not None and not connector.evse_suspended:
                due_in(meter.seconds_until(tx.meter_start_wh + invalid_limit))
            if meter.power_w > 0:
                due_in(meter.seconds_until_full())  # the power drops to zero then
            if has_profiles:
                due_in(self.options.tick_s)
        return None if wait is None else max(0.0, wait)

    def _profile_slot(self, connector: Connector) -> int:
        """Where charging profiles are installed: the connector on 1.6, the EVSE on 2.0.1."""
        return connector.connector_id if self.spec.ocpp_version == "1.6" else connector.evse_id

    def _connector_result(self, connector: Connector) -> dict[str, Any]:
        tx = self.transaction_on(connector)
        return {
            "evse_id": connector.evse_id,
            "connector_id": connector.connector_id,
            "status": connector.status,
            "transaction_id": tx.public_id if tx else None,
        }
