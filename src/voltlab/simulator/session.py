"""The connection lifecycle: dial the CSMS, boot, run the session, reconnect.

``run()`` is the station's one long-lived task. Each session dials (through the fleet's
``ConnectGate``), boots until Accepted, tells the CSMS the connector states, then reads
until the socket closes while the sender task (``delivery``) writes; a lost connection
waits out the ``Backoff`` and dials again. The policy (backoff, gate, keepalive) lives
elsewhere; this is the loop that applies it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl as ssl_module
import time
from typing import Any

from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from voltlab.simulator.link import FrameTap, dial
from voltlab.simulator.ops.base import StationBase
from voltlab.simulator.rpc import CsmsFinding
from voltlab.simulator.tls import client_context
from voltlab.simulator.versions import Adapter
from voltlab.simulator.wire import WsLink

log = logging.getLogger(__name__)

# Wait when a Pending/Rejected boot answer leaves the retry interval to the charger (0),
# or when the CSMS answered the BootNotification wrongly or not at all.
DEFAULT_BOOT_RETRY_S = 30.0
# A connection that stayed up this long resets the reconnect backoff.
STABLE_CONNECTION_S = 10.0


class SessionOps(StationBase):
    __slots__ = ()

    connection: str  # "connecting", "connected" or "disconnected"
    connects: int
    _boot_not_before: float  # time.monotonic() before which no BootNotification goes
    # While the boot waits out an interval: set when a triggered boot's answer came.
    _boot_wake: asyncio.Future[None] | None
    _connected_at: float | None
    _reboot: bool  # the session ends for a Reset: reconnect at once
    _ssl: ssl_module.SSLContext | None  # built once, off the loop, for wss:// urls
    _tasks: set[asyncio.Task[Any]] | None

    async def run(self) -> None:
        self._running = True
        if self.transactions or self.reservation_expiry:
            self.wake_ticker()  # restored transactions or reservations tick from the start
        try:
            await self._connect_forever()
        finally:
            self._running = False
            tasks = [*(self._tasks or ())]
            if self._tick_timer is not None:
                self._tick_timer.cancel()
                self._tick_timer = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _connect_forever(self) -> None:
        attempt = 0
        while True:
            self.connection = "connecting"
            self._connected_at = None
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
                self._outbox.clear()
                self._last_status.clear()
            if self._reboot:  # Reset: back at once, as a rebooted charger would be
                self._reboot = False
                attempt = 0
                continue
            # Only a connection that stayed up resets the backoff: a CSMS that is down, or
            # that drops every charger right after the handshake, sees the delays grow.
            up_since = self._connected_at
            if up_since is not None and time.monotonic() - up_since > STABLE_CONNECTION_S:
                attempt = 0
            await asyncio.sleep(self.options.backoff.delay(attempt))
            attempt += 1

    def _password(self) -> str | None:
        key = (
            "AuthorizationKey"
            if self.spec.ocpp_version == "1.6"
            else ("SecurityCtrlr.BasicAuthPassword")
        )
        return self.config.overrides.get(key) or self.spec.password

    async def _session(self) -> None:
        ssl_context = self.options.ssl
        spec = self.spec
        if ssl_context is None and spec.url.startswith("wss://"):
            if self._ssl is None:
                self._ssl = await asyncio.to_thread(
                    client_context, spec.ca_cert_pem, spec.client_cert_pem, spec.client_key_pem
                )
            ssl_context = self._ssl
        gate = self.options.gate
        if gate is not None:
            await gate.enter()
        try:
            ws = await dial(
                spec,
                password=self._password(),
                open_timeout=self.options.open_timeout_s,
                ssl=ssl_context,
            )
        finally:
            # Open (or failed): the next station may dial. The gate is not held until the
            # boot is answered: a CSMS that answers slowly must not slow the dialing down.
            if gate is not None:
                gate.leave()
        try:
            await self._connected(ws)
        finally:
            self._disconnected()
            await ws.close()

    async def _connected(self, ws: WsLink) -> None:
        if ws.subprotocol != self.spec.subprotocol:
            self.last_error = (
                f"CSMS did not accept subprotocol {self.spec.subprotocol!r} "
                f"(answered {ws.subprotocol!r})"
            )
            self.record_finding("Connect", self.last_error)
            return
        self._connected_at = time.monotonic()
        self.connects += 1
        self.last_error = None
        tap = FrameTap(ws, self._on_frame)
        tap.on_activity = self._on_activity
        adapter = self._version.adapter(self, tap, response_timeout=self.options.response_timeout_s)
        self.adapter = adapter
        self._ws = ws
        self.connection = "connected"
        self._on_activity()
        self._arm_ping()
        lifecycle = asyncio.create_task(
            self._lifecycle(adapter), name=f"{self.spec.identity}-lifecycle"
        )
        # The lifecycle only ends by failing (a bug, or a send on a closed socket); then
        # the socket is closed so the reader below ends too and the session starts over.
        lifecycle.add_done_callback(self._lifecycle_ended)
        try:
            # This task reads until the socket closes (ConnectionClosed).
            await adapter.start()
        except WebSocketException:
            pass
        finally:
            lifecycle.remove_done_callback(self._lifecycle_ended)
            lifecycle.cancel()
            await asyncio.gather(lifecycle, return_exceptions=True)
        if not lifecycle.cancelled():
            exc = lifecycle.exception()
            if exc is not None and not isinstance(exc, WebSocketException):
                raise exc

    def _lifecycle_ended(self, task: asyncio.Task[None]) -> None:
        ws = self._ws
        if ws is not None and not task.cancelled():
            self._spawn_plain(ws.close(1011, "station error"), "close")

    def _disconnected(self) -> None:
        """The connection is gone: stop its timers and its heartbeat in flight."""
        self._ws = None
        for timer in (self._heartbeat_timer, self._ping_timer):
            if timer is not None:
                timer.cancel()
        self._heartbeat_timer = self._ping_timer = None
        self._pong = None
        beat, self._beat = self._beat, None
        if beat is not None:
            beat.cancel()

    async def _lifecycle(self, adapter: Adapter) -> None:
        if not self._accepted:
            await self._boot(adapter)
        # Queued transaction messages first, in order; then the present connector states.
        self._outbox.clear()
        self._outbox.extend(("tx", message.id) for message in self.queue)
        # What the CSMS is told now; a change while these are sent queues its own status.
        for index, connector in enumerate(self.connectors):
            self._last_status[index] = (self._wire_status(connector), connector.error_code)
        for payload in adapter.status_payloads():
            with contextlib.suppress(CsmsFinding):
                await adapter.send_call("StatusNotification", payload)
        self._outbox_signal.set()
        self._arm_heartbeat()
        await self._sender(adapter)

    async def _boot(self, adapter: Adapter) -> None:
        while not self._accepted:
            wait = self._boot_not_before - time.monotonic()
            if wait > 0:
                # Pending: the reader keeps answering the CSMS meanwhile, and the CSMS
                # may trigger a BootNotification whose answer accepts the charger or
                # sets another interval: that ends this wait (``_registration``).
                # Rejected: silent until the interval is over (see ``rejected``).
                wake = self._boot_wake = asyncio.get_running_loop().create_future()
                try:
                    await asyncio.wait((wake,), timeout=wait)
                finally:
                    self._boot_wake = None
                continue
            try:
                answer = await adapter.send_call("BootNotification", adapter.boot_payload())
            except CsmsFinding:
                self._boot_not_before = time.monotonic() + self.options.boot_retry_s
                continue
            self._registration(answer)

    def _registration(self, answer: dict[str, Any]) -> None:
        """Take a BootNotification answer: the boot's, or one the CSMS triggered."""
        interval = int(answer.get("interval", 0))
        self.boot_status = answer["status"]
        wake = self._boot_wake
        if wake is not None and not wake.done():
            wake.set_result(None)
        if answer["status"] == "Accepted":
            self._accepted = True
            self.boot_reason = "PowerUp"
            if interval > 0 and interval != self.heartbeat_interval_s:
                # Kept as the HeartbeatInterval setting (1.6 §4.2, 2.0.1 B01.FR.13), so
                # that a later configuration change does not undo it and the CSMS reads
                # back what it set.
                self.set_configuration("HeartbeatInterval", str(interval), force=True)
                self.heartbeat_interval_s = interval
            return
        self._accepted = False
        self._boot_not_before = time.monotonic() + (
            interval if interval > 0 else self.options.boot_retry_s
        )

    async def reboot(self) -> None:
        self._accepted = False
        self.boot_status = None
        self._reboot = True
        ws = self._ws
        if ws is not None:  # the session ends; ``_reboot`` makes it dial again at once
            await ws.close()
