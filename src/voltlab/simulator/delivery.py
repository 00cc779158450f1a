"""Messages from the station to its CSMS, and the order they go out in.

Transaction messages are durable: queued (``TransactionQueue``), written ahead, retried
as the configuration says, and sent in order by the one sender task of a connection,
together with the status changes. Other messages (``send_safely``) go out at once or
are lost, as on real hardware. The outbox is a list of references, not a deque: an
empty deque costs ~760 bytes, and a fleet has ten thousand stations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from websockets.exceptions import WebSocketException

from voltlab.errors import Conflict, InvalidRequest
from voltlab.simulator.model.connector import Connector
from voltlab.simulator.model.transactions import QueuedMessage, Transaction
from voltlab.simulator.ops.base import StationBase
from voltlab.simulator.rpc import CsmsFinding
from voltlab.simulator.schemas import SchemaViolation, validate
from voltlab.simulator.versions import Adapter

log = logging.getLogger(__name__)


class DeliveryOps(StationBase):
    __slots__ = ()

    answering: asyncio.Event | None  # set by the adapter while it answers a CSMS CALL
    # Created only while someone waits for the transaction queue to move on.
    _queue_popped: asyncio.Event | None

    # -- the outbox --------------------------------------------------------------------
    def notify_status(self, connector: Connector) -> None:
        if self.online:
            self._outbox.append(("status", self.index_of(connector)))
            self._outbox_signal.set()
        if connector.transaction_key is not None or self.reset_when_idle:
            self.wake_ticker()  # the power may change with the status

    def _wire_status(self, connector: Connector) -> str:
        return connector.status if self.spec.ocpp_version == "1.6" else connector.status_201

    def enqueue(self, action: str, payload: dict[str, Any], tx_key: str | None) -> None:
        message = QueuedMessage(action, payload, tx_key)
        self.queue.push(message)
        self._outbox.append(("tx", message.id))
        self._outbox_signal.set()
        self.changed(hot=True)

    async def _sender(self, adapter: Adapter) -> None:
        """One ordered outbox: transaction messages (durable, retried) and status changes."""
        while True:
            if not self._outbox:
                self._outbox_signal.clear()
                await self._outbox_signal.wait()
                continue
            if self.answering is not None:
                await self.answering.wait()  # the answer to the CSMS's CALL goes first
                continue
            kind, ref = self._outbox[0]
            if kind == "status":
                del self._outbox[0]
                connector = self.connectors[ref]
                # (status, error code): a warning that clears is a change too.
                status = (self._wire_status(connector), connector.error_code)
                if self._last_status.get(ref) == status:
                    continue  # e.g. Preparing -> Charging is Occupied -> Occupied on 2.0.1
                self._last_status[ref] = status
                with contextlib.suppress(CsmsFinding):
                    await adapter.send_call("StatusNotification", adapter.status_payload(connector))
                continue
            head = self.queue.head()
            if head is None or head.id != ref:
                del self._outbox[0]  # delivered or dropped already
                continue
            await self._deliver(adapter, head)
            del self._outbox[0]

    def _forget_if_done(self, message: QueuedMessage) -> None:
        """An ended transaction whose last message is gone for good goes to history."""
        tx = self.transactions.get(message.tx_key or "")
        if tx is not None and tx.ended and not any(m.tx_key == tx.key for m in self.queue):
            self.forget_transaction(tx)

    async def _deliver(self, adapter: Adapter, message: QueuedMessage) -> None:
        """Send the head of the transaction queue, retrying as the configuration says."""
        if self._store is not None:
            # Write-ahead: the message is in the database before the CSMS can see it.
            await self._store.persisted(self.spec.charger_id)
        while True:
            payload = self.messages.finalize(self, message)
            try:
                answer = await adapter.send_call(message.action, payload)
            except SchemaViolation as exc:
                # Our own message is invalid (e.g. restored from an older version): sending
                # it can never succeed, so drop it rather than retry for ever.
                self._popped()
                self.changed(hot=True)
                log.error(
                    "station %s dropped an invalid %s: %s", self.spec.identity, message.action, exc
                )
                self._forget_if_done(message)
                return
            except CsmsFinding as exc:
                message.attempts += 1
                self.changed(hot=True)
                if message.attempts >= max(1, self.settings.message_attempts):
                    self._popped()
                    self.record_finding(
                        message.action,
                        f"{message.action} dropped after {message.attempts} attempts ({exc})",
                    )
                    self._forget_if_done(message)
                    return
                await asyncio.sleep(self.settings.message_retry_interval_s * message.attempts)
                continue
            self._popped()
            self.messages.apply_answer(self, message, answer)
            # A periodic sample's answer only pops the queue: losing that to a crash
            # means the sample is sent again, so it is written lazily.
            self.changed(hot=True, lazy=_is_sample(message))
            return

    # -- waiting for the transaction queue ------------------------------------------------
    async def confirmed(self, tx: Transaction) -> None:
        """Wait (bounded) until the CSMS answered the start of ``tx`` - on 1.6 that is when
        its transactionId is known. Offline, the start stays queued and this returns."""
        await self._drained(lambda m: m.tx_key == tx.key and _is_start(m))

    async def delivered(self, tx: Transaction) -> None:
        """Wait (bounded) until every queued message of ``tx`` was answered."""
        await self._drained(lambda m: m.tx_key == tx.key)

    async def _drained(self, pending: Callable[[QueuedMessage], bool]) -> None:
        deadline = time.monotonic() + self.options.response_timeout_s
        while self.online and any(pending(m) for m in self.queue):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            # Woken when the queue's head is delivered or dropped, not by polling.
            signal = self._queue_popped
            if signal is None:
                signal = self._queue_popped = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, 1.0)):
                    await signal.wait()

    def _popped(self) -> None:
        self.queue.pop()
        signal, self._queue_popped = self._queue_popped, None
        if signal is not None:
            signal.set()

    # -- messages sent at once, outside the queue ------------------------------------------
    async def send_safely(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """A non-transaction message, sent now if connected (lost if not, like hardware)."""
        adapter = self.adapter
        if adapter is None:
            return None
        try:
            return await adapter.send_call(action, payload)
        except (CsmsFinding, WebSocketException, OSError):
            return None

    async def proxy(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send ``action`` with ``payload`` as written; the CSMS's answer or its CALLERROR."""
        adapter = self.adapter
        if adapter is None:
            raise Conflict(f"charger {self.spec.identity} is not connected to its CSMS")
        try:
            validate(self.spec.ocpp_version, action, payload, response=False)
        except SchemaViolation as exc:
            raise InvalidRequest(str(exc)) from exc
        return await adapter.exchange(action, payload)


def _is_sample(message: QueuedMessage) -> bool:
    if message.action == "MeterValues":
        return True
    payload = message.payload
    return (
        message.action == "TransactionEvent"
        and payload.get("eventType") == "Updated"
        and payload.get("triggerReason") == "MeterValuePeriodic"
    )


def _is_start(message: QueuedMessage) -> bool:
    return message.action == "StartTransaction" or message.payload.get("eventType") == "Started"
