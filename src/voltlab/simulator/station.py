"""One simulated charge point: dials its CSMS, boots, heartbeats, reconnects.

The station owns its state and its socket loop; the version adapters own the payload
shapes. Nothing here knows about HTTP or the database: frames go to a ``FrameSink``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl as ssl_module
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from voltlab.ids import utcnow
from voltlab.simulator.backoff import Backoff
from voltlab.simulator.link import CSMS_TO_CP, FrameTap, dial
from voltlab.simulator.ocpp16.adapter import Ocpp16Adapter
from voltlab.simulator.ocpp201.adapter import Ocpp201Adapter
from voltlab.simulator.rpc import CsmsFinding
from voltlab.simulator.spec import StationSpec
from voltlab.simulator.state import ConnectorState, RuntimeSnapshot

log = logging.getLogger(__name__)

# Wait when a Pending/Rejected boot answer leaves the retry interval to the charger (0).
DEFAULT_BOOT_RETRY_S = 30
# A connection that stayed up this long resets the reconnect backoff.
STABLE_CONNECTION_S = 10.0


class FrameSink(Protocol):
    """Where a station reports its frames; must not block (the frame log buffers)."""

    def record(
        self,
        org_id: str,
        charger_id: str,
        direction: str,
        action: str,
        message: str,
        finding: str | None = None,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class StationOptions:
    open_timeout_s: float = 10.0
    response_timeout_s: float = 30.0
    ping_interval_s: float | None = 60.0
    backoff: Backoff = field(default_factory=Backoff)
    ssl: ssl_module.SSLContext | None = None


Adapter = Ocpp16Adapter | Ocpp201Adapter
ADAPTERS: dict[str, Callable[..., Adapter]] = {"1.6": Ocpp16Adapter, "2.0.1": Ocpp201Adapter}


class Station:
    """Run with ``await station.run()`` (until cancelled); read with ``snapshot()``."""

    def __init__(self, spec: StationSpec, sink: FrameSink, options: StationOptions) -> None:
        self.spec = spec
        self.options = options
        self._sink = sink
        self.connectors = [ConnectorState(c.evse_id, c.connector_id) for c in spec.connectors]
        self.connection = "disconnected"
        self.boot_status: str | None = None
        self.boot_reason = "PowerUp"
        self.heartbeat_interval_s = spec.heartbeat_interval_s
        self.last_message_at: datetime | None = None
        self.last_error: str | None = None
        self.findings = 0
        self.connects = 0
        self._accepted = False
        self._last_sent = 0.0
        self._ids = itertools.count(1)
        self._id_prefix = f"{int(time.time() * 1000):x}"
        self.adapter: Adapter | None = None

    # -- reading -----------------------------------------------------------------
    def snapshot(self) -> RuntimeSnapshot:
        return RuntimeSnapshot(
            state="running",
            connection=self.connection,
            boot_status=self.boot_status,
            last_message_at=self.last_message_at,
            connectors=tuple(c.as_dict() for c in self.connectors),
            findings=self.findings,
            connects=self.connects,
            last_error=self.last_error,
        )

    # -- frame reporting ----------------------------------------------------------
    def next_message_id(self) -> str:
        # Unique across reconnects and restarts (2.0.1 errata), shorter than a UUID.
        return f"{self._id_prefix}-{next(self._ids)}"

    def _on_frame(self, direction: str, action: str, message: str, finding: str | None) -> None:
        self._sink.record(
            self.spec.org_id, self.spec.charger_id, direction, action, message, finding
        )

    def _on_activity(self) -> None:
        self.last_message_at = utcnow()
        self._last_sent = time.monotonic()

    def record_finding(self, action: str, finding: str) -> None:
        """A CSMS mistake: counted, and written to the frame log with its flag."""
        self.findings += 1
        self._on_frame(CSMS_TO_CP, action, "", finding)

    # -- the socket loop ----------------------------------------------------------
    async def run(self) -> None:
        attempt = 0
        while True:
            self.connection = "connecting"
            started = time.monotonic()
            try:
                await self._session()
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI, WebSocketException) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # a bug must not kill the fleet; reconnect and log it
                log.exception("station %s crashed", self.spec.identity)
                self.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                self.connection = "disconnected"
                self.adapter = None
            if self._accepted or time.monotonic() - started > STABLE_CONNECTION_S:
                attempt = 0
            await asyncio.sleep(self.options.backoff.delay(attempt))
            attempt += 1

    async def _session(self) -> None:
        async with dial(
            self.spec,
            open_timeout=self.options.open_timeout_s,
            ping_interval=self.options.ping_interval_s,
            ssl=self.options.ssl,
        ) as ws:
            if ws.subprotocol != self.spec.subprotocol:
                self.last_error = (
                    f"CSMS did not accept subprotocol {self.spec.subprotocol!r} "
                    f"(answered {ws.subprotocol!r})"
                )
                self.record_finding("Connect", self.last_error)
                return
            self.connects += 1
            self.last_error = None
            tap = FrameTap(ws, self._on_frame)
            tap.on_activity = self._on_activity
            adapter = ADAPTERS[self.spec.ocpp_version](
                self, tap, response_timeout=self.options.response_timeout_s
            )
            self.adapter = adapter
            self.connection = "connected"
            self._on_activity()
            reader = asyncio.create_task(adapter.start(), name=f"{self.spec.identity}-reader")
            lifecycle = asyncio.create_task(
                self._lifecycle(adapter), name=f"{self.spec.identity}-lifecycle"
            )
            try:
                # The reader ends (ConnectionClosed) when the socket goes; then stop the rest.
                done, _ = await asyncio.wait(
                    {reader, lifecycle}, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for task in (reader, lifecycle):
                    task.cancel()
                await asyncio.gather(reader, lifecycle, return_exceptions=True)
            for task in done:
                exc = task.exception()
                if exc is not None and not isinstance(exc, WebSocketException):
                    raise exc

    async def _lifecycle(self, adapter: Adapter) -> None:
        if not self._accepted:
            await self._boot(adapter)
        await self._send_statuses(adapter)
        await self._heartbeats(adapter)

    async def _boot(self, adapter: Adapter) -> None:
        while True:
            try:
                answer = await adapter.send_call("BootNotification", adapter.boot_payload())
            except CsmsFinding:
                await asyncio.sleep(DEFAULT_BOOT_RETRY_S)
                continue
            self.boot_status = answer["status"]
            interval = int(answer.get("interval", 0))
            if self.boot_status == "Accepted":
                self._accepted = True
                if interval > 0:
                    self.heartbeat_interval_s = interval
                return
            # Pending: keep answering the CSMS (the reader runs) and ask again later.
            # Rejected: stay silent until the interval is over (OCPP 1.6 §4.2).
            await asyncio.sleep(interval if interval > 0 else DEFAULT_BOOT_RETRY_S)

    async def _send_statuses(self, adapter: Adapter) -> None:
        for payload in adapter.status_payloads():
            try:
                await adapter.send_call("StatusNotification", payload)
            except CsmsFinding:
                continue

    async def _heartbeats(self, adapter: Adapter) -> None:
        """Heartbeat after ``interval`` seconds without any other traffic (OCPP 1.6 §4.6)."""
        while True:
            due = self._last_sent + self.heartbeat_interval_s
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            # currentTime would set the clock of real hardware; the simulator keeps UTC.
            try:
                await adapter.send_call("Heartbeat", {})
            except CsmsFinding:
                continue
