"""One simulated charge point: dials its CSMS, boots, charges, reconnects.

``Station`` composes the concerns in ``ops/`` (charging, authorizing, managing) around
one socket loop. Version-specific shapes live in the ``ocpp16``/``ocpp201`` adapters
and message builders. Nothing here knows about HTTP or the database: frames go to a
``FrameSink`` and durable state to a ``StateSink``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import ssl as ssl_module
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from voltlab.errors import Conflict, InvalidRequest, VoltlabError
from voltlab.ids import isoformat, utcnow
from voltlab.simulator.backoff import Backoff
from voltlab.simulator.configuration import ConfigStore, Entry
from voltlab.simulator.gate import ConnectGate
from voltlab.simulator.link import CSMS_TO_CP, FrameTap, dial
from voltlab.simulator.model.authorization import (
    AuthorizationCache,
    IdTagInfo,
    LocalAuthList,
)
from voltlab.simulator.model.connector import Connector
from voltlab.simulator.model.meter import Meter
from voltlab.simulator.model.smart_charging import (
    ChargingProfile,
    ProfileStore,
    SchedulePeriod,
)
from voltlab.simulator.model.transactions import (
    QueuedMessage,
    Transaction,
    TransactionQueue,
)
from voltlab.simulator.ocpp16 import adapter as adapter16
from voltlab.simulator.ocpp16 import configuration as config16
from voltlab.simulator.ocpp16 import messages as messages16
from voltlab.simulator.ocpp16.adapter import Ocpp16Adapter
from voltlab.simulator.ocpp201 import adapter as adapter201
from voltlab.simulator.ocpp201 import device_model as config201
from voltlab.simulator.ocpp201 import messages as messages201
from voltlab.simulator.ocpp201.adapter import Ocpp201Adapter
from voltlab.simulator.ops.authorizing import AuthorizingOps
from voltlab.simulator.ops.charging import ChargingOps
from voltlab.simulator.ops.managing import ManagingOps
from voltlab.simulator.rpc import CsmsFinding
from voltlab.simulator.schemas import SchemaViolation, validate
from voltlab.simulator.settings_view import StationSettings
from voltlab.simulator.spec import StationSpec
from voltlab.simulator.state import RuntimeSnapshot
from voltlab.simulator.timers import COALESCE_S, Signal, Timer, scheduler_for
from voltlab.simulator.tls import client_context

log = logging.getLogger(__name__)

# Wait when a Pending/Rejected boot answer leaves the retry interval to the charger (0),
# or when the CSMS answered the BootNotification wrongly or not at all.
DEFAULT_BOOT_RETRY_S = 30.0
# A connection that stayed up this long resets the reconnect backoff.
STABLE_CONNECTION_S = 10.0
# The ticker's period while something changes with time itself (a charging profile's
# periods, a reservation's expiry, a reset waiting for idle); otherwise it wakes only when
# something falls due (see ``ChargingOps.tick``).
TICK_S = 1.0
# Bounds of a ticker's sleep while something runs: guards, not a schedule (the least
# keeps a rounding error from ticking every turn of the loop).
MIN_TICK_S = 0.005
MAX_TICK_S = 60.0
MAX_HISTORY = 50


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


class StateSink(Protocol):
    """Where a station's durable state goes; ``mark`` must not block (writes are batched)."""

    def mark(
        self, charger_id: str, org_id: str, snapshot: Callable[[], dict[str, Any]]
    ) -> None: ...

    async def persisted(self, charger_id: str) -> None:
        """Return once the latest marked state is durable."""


@dataclass(frozen=True, slots=True)
class StationOptions:
    open_timeout_s: float = 10.0
    response_timeout_s: float = 30.0
    backoff: Backoff = field(default_factory=Backoff)
    ssl: ssl_module.SSLContext | None = None
    boot_retry_s: float = DEFAULT_BOOT_RETRY_S
    tick_s: float = TICK_S
    # "config": the charger's WebSocketPingInterval; None: no pings; a number: that.
    ping_interval_s: float | str | None = "config"
    # Shared by a fleet's stations: bounds how many dial at once, and how fast (None: free).
    gate: ConnectGate | None = None


Adapter = Ocpp16Adapter | Ocpp201Adapter


@dataclass(frozen=True, slots=True)
class _Version:
    adapter: Callable[..., Adapter]
    adapter_module: ModuleType
    messages: ModuleType
    config: ModuleType


VERSIONS = {
    "1.6": _Version(Ocpp16Adapter, adapter16, messages16, config16),
    "2.0.1": _Version(Ocpp201Adapter, adapter201, messages201, config201),
}


@functools.cache
def _defaults(version: str, connectors: int, heartbeat_s: int, meter_s: int) -> dict[str, Entry]:
    # Shared by every station of the same shape: each keeps only its overrides.
    return VERSIONS[version].config.defaults(connectors, heartbeat_s, meter_s)


@functools.lru_cache(maxsize=1024)
def _settings(
    version: str, shape: tuple[int, int, int], overrides: tuple[tuple[str, str], ...]
) -> StationSettings:
    # Immutable and a function of the configuration: stations configured alike share one.
    config = ConfigStore(_defaults(version, *shape), dict(overrides))
    return VERSIONS[version].config.settings(config)


class Station(ChargingOps, AuthorizingOps, ManagingOps):
    """Run with ``await station.run()`` (until cancelled); read with ``snapshot()``;
    act with the ops methods (``plug``, ``present_tag``, ``send_local_list`` ...).

    A fleet holds ten thousand of these, so a station has slots, shares what stations
    of one shape have in common (configuration defaults, settings) and keeps two tasks
    while connected and idle: its socket loop (which reads) and its sender. Heartbeats,
    pings and response timeouts are timers, not sleeping tasks.
    """

    __slots__ = (
        "_accepted",
        "_beat",
        "_boot_not_before",
        "_cold",
        "_connected_at",
        "_heartbeat_timer",
        "_id_prefix",
        "_ids",
        "_last_message_ts",
        "_last_sent",
        "_last_status",
        "_outbox",
        "_outbox_signal",
        "_pending_profiles",
        "_pending_remote",
        "_pending_tags",
        "_ping_timer",
        "_pong",
        "_queue_popped",
        "_reboot",
        "_running",
        "_sink",
        "_ssl",
        "_store",
        "_tasks",
        "_tick_timer",
        "_version",
        "_ws",
        "adapter",
        "answering",
        "boot_reason",
        "boot_status",
        "cache",
        "config",
        "connection",
        "connectors",
        "connects",
        "decisions",
        "diagnostics_status",
        "findings",
        "firmware_status",
        "heartbeat_interval_s",
        "history",
        "last_error",
        "local_list",
        "messages",
        "meters",
        "options",
        "profiles",
        "queue",
        "reservation_expiry",
        "reservation_tags",
        "reset_when_idle",
        "settings",
        "spec",
        "transactions",
    )

    def __init__(
        self,
        spec: StationSpec,
        sink: FrameSink,
        options: StationOptions,
        *,
        state: dict[str, Any] | None = None,
        store: StateSink | None = None,
    ) -> None:
        self.spec = spec
        self.options = options
        self._sink = sink
        self._store = store
        version = VERSIONS[spec.ocpp_version]
        self._version = version
        self.messages = version.messages
        count = len(spec.connectors)
        self.config = ConfigStore(
            _defaults(spec.ocpp_version, count, spec.heartbeat_interval_s, spec.meter_interval_s)
        )
        self.connectors = [Connector(c.evse_id, c.connector_id) for c in spec.connectors]
        self.meters = [Meter(max_power_w=float(spec.max_power_w)) for _ in spec.connectors]
        self.local_list = LocalAuthList()
        self.cache = AuthorizationCache()
        self.profiles = ProfileStore()
        self.transactions: dict[str, Transaction] = {}
        self.history: list[dict[str, Any]] = []
        self.queue = TransactionQueue()
        self.decisions: list[dict[str, Any]] = []
        self.reservation_expiry: dict[int, datetime] = {}
        self.reservation_tags: dict[int, str] = {}
        self._pending_tags: dict[int, str] = {}
        self._pending_remote: dict[int, int] = {}
        self._pending_profiles: dict[int, ChargingProfile] = {}
        self._cold: dict[str, Any] | None = None
        if state:
            self._restore(state)
        self._apply_settings()

        self.connection = "disconnected"
        self.boot_status: str | None = None
        self.boot_reason = "PowerUp"
        self.firmware_status = "Idle"
        self.diagnostics_status = "Idle"
        self._last_message_ts: float | None = None  # time.time() of the last frame
        self.last_error: str | None = None
        self.findings = 0
        self.connects = 0
        self.reset_when_idle = False
        self._accepted = False
        self._boot_not_before = 0.0
        self._last_sent = 0.0
        self._connected_at: float | None = None
        self._reboot = False
        self._ids = itertools.count(1)
        self._id_prefix = f"{int(time.time() * 1000):x}"
        # Small lists, not deques: an empty deque costs ~760 bytes, and a fleet has 10,000.
        self._outbox: list[tuple[str, int]] = []
        self._outbox_signal = Signal()
        # Created only while someone waits for the transaction queue to move on.
        self._queue_popped: asyncio.Event | None = None
        # The meter ticker: a timer on the shared heap while something runs, else None.
        self._tick_timer: Timer | None = None
        self._running = False
        self._last_status: dict[int, tuple[str, str]] = {}
        self._tasks: set[asyncio.Task[Any]] | None = None
        # Set while a CSMS CALL is being answered (``RpcMixin``): the follow-ups it causes
        # wait for it, so the answer goes out first (e.g. TriggerMessage F06.FR.04, Reset).
        self.answering: asyncio.Event | None = None
        self.adapter: Adapter | None = None
        self._ssl: ssl_module.SSLContext | None = None
        # Per connection: the socket, the heartbeat and ping timers, the heartbeat task
        # in flight and the pong awaited.
        self._ws: ClientConnection | None = None
        self._heartbeat_timer: Timer | None = None
        self._ping_timer: Timer | None = None
        self._beat: asyncio.Task[None] | None = None
        self._pong: asyncio.Future[float] | None = None

    # -- durable state ---------------------------------------------------------------
    def durable(self) -> dict[str, Any]:
        """Everything that must survive a restart of voltlab, JSON-ready.

        The cold parts (configuration, local list, cache, profiles, ...) are rebuilt only
        after they changed; a meter sample re-serializes just the hot ones.
        """
        if self._cold is None:
            self._cold = {
                "config": self.config.overrides,
                "local_list": self.local_list.to_dict(),
                "cache": self.cache.to_dict(),
                "profiles": self.profiles.to_dict(),
                "history": self.history,
                "reservations": {
                    str(rid): {"expiry": isoformat(at), "id_tag": self.reservation_tags.get(rid)}
                    for rid, at in self.reservation_expiry.items()
                },
                "decisions": self.decisions,
            }
        return {
            **self._cold,
            "connectors": [c.to_dict() for c in self.connectors],
            "meters": [m.to_dict() for m in self.meters],
            "transactions": [t.to_dict() for t in self.transactions.values()],
            "queue": self.queue.to_list(),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        self.config.overrides.update(state.get("config", {}))
        if "local_list" in state:
            self.local_list = LocalAuthList.from_dict(state["local_list"])
        if "cache" in state:
            self.cache = AuthorizationCache.from_dict(state["cache"])
        if "profiles" in state:
            self.profiles = ProfileStore.from_dict(state["profiles"])
        for connector, data in zip(self.connectors, state.get("connectors", []), strict=False):
            connector.restore(data)
        for meter, data in zip(self.meters, state.get("meters", []), strict=False):
            meter.restore(data)
        for data in state.get("transactions", []):
            tx = Transaction.from_dict(data)
            self.transactions[tx.key] = tx
        self.history = list(state.get("history", []))
        self.queue = TransactionQueue(
            [QueuedMessage.from_dict(item) for item in state.get("queue", [])]
        )
        for rid, data in state.get("reservations", {}).items():
            self.reservation_expiry[int(rid)] = datetime.fromisoformat(
                data["expiry"].replace("Z", "+00:00")
            )
            self.reservation_tags[int(rid)] = data.get("id_tag") or ""
        self.decisions = list(state.get("decisions", []))
        # A transaction whose connector lost track of it (older state) is ended locally.
        for connector in self.connectors:
            if connector.transaction_key and connector.transaction_key not in self.transactions:
                connector.transaction_key = None

    def _apply_settings(self) -> None:
        spec = self.spec
        shape = (len(spec.connectors), spec.heartbeat_interval_s, spec.meter_interval_s)
        overrides = tuple(sorted(self.config.overrides.items()))
        self.settings = _settings(spec.ocpp_version, shape, overrides)
        self.heartbeat_interval_s = self.settings.heartbeat_interval_s
        self.local_list.max_length = self.settings.local_list_max_length

    def changed(self, *, hot: bool = False, lazy: bool = False) -> None:
        """Durable state changed; ``hot`` = only connectors, meters, transactions, queue;
        ``lazy`` = a change a crash may lose (see ``StationStateStore.mark``)."""
        if not hot:
            self._cold = None
        if self._store is not None:
            self._store.mark(self.spec.charger_id, self.spec.org_id, self.durable, lazy=lazy)

    # -- reading -----------------------------------------------------------------------
    @property
    def online(self) -> bool:
        return self.adapter is not None and self.boot_status == "Accepted" and self._accepted

    def now(self) -> datetime:
        return utcnow()

    def snapshot(self) -> RuntimeSnapshot:
        self.settle_meters()
        connectors = []
        for connector, meter in zip(self.connectors, self.meters, strict=True):
            tx = self.transaction_on(connector)
            connectors.append(
                {
                    "evse_id": connector.evse_id,
                    "connector_id": connector.connector_id,
                    "status": connector.status
                    if self.spec.ocpp_version == "1.6"
                    else connector.status_201,
                    "error_code": connector.error_code,
                    "transaction_id": tx.public_id if tx else None,
                    "energy_wh": round(meter.energy_wh, 3),
                    "power_w": round(meter.power_w, 1),
                }
            )
        return RuntimeSnapshot(
            state="running",
            connection=self.connection,
            boot_status=self.boot_status,
            last_message_at=self.last_message_at,
            connectors=tuple(connectors),
            findings=self.findings,
            connects=self.connects,
            last_error=self.last_error,
            extra={"queued_messages": len(self.queue)},
        )

    def configuration(self) -> list[dict[str, Any]]:
        secret = {"AuthorizationKey", "SecurityCtrlr.BasicAuthPassword"}
        return [
            {
                "key": name,
                "value": None if name in secret else self.config.get(name),
                "readonly": entry.readonly,
                "overridden": name in self.config.overrides,
            }
            for name in self.config.names()
            if (entry := self.config.entry(name)) is not None
        ]

    def _tx_summary(self, tx: Transaction) -> dict[str, Any]:
        meter = self.meter_of(self.connector(tx.evse_id, tx.connector_id))
        meter.settle(time.monotonic())
        return {
            "transaction_id": tx.public_id,
            "key": tx.key,
            "evse_id": tx.evse_id,
            "connector_id": tx.connector_id,
            "id_tag": tx.id_tag,
            "started_at": isoformat(tx.started_at),
            "meter_start_wh": tx.meter_start_wh,
            "energy_wh": round(meter.energy_wh - tx.meter_start_wh, 3),
            "status": "Ended" if tx.ended else "Active",
            "stop_reason": tx.stop_reason,
        }

    def transactions_view(self) -> list[dict[str, Any]]:
        """Running (and ended, not yet delivered) transactions, then the recent ones."""
        active = [self._tx_summary(tx) for tx in self.transactions.values()]
        return active + list(reversed(self.history))

    # -- frame reporting --------------------------------------------------------------
    def next_message_id(self) -> str:
        # Unique across reconnects and restarts (2.0.1 errata), shorter than a UUID.
        return f"{self._id_prefix}-{next(self._ids)}"

    def _on_frame(self, direction: str, action: str, message: str, finding: str | None) -> None:
        self._sink.record(
            self.spec.org_id, self.spec.charger_id, direction, action, message, finding
        )

    def _on_activity(self) -> None:
        # Two clock reads per frame; the datetime is built only when someone reads it.
        self._last_message_ts = time.time()
        self._last_sent = time.monotonic()

    @property
    def last_message_at(self) -> datetime | None:
        ts = self._last_message_ts
        return None if ts is None else datetime.fromtimestamp(ts, UTC)

    def record_finding(self, action: str, finding: str) -> None:
        """A CSMS mistake: counted, and written to the frame log with its flag."""
        self.findings += 1
        self._on_frame(CSMS_TO_CP, action, "", finding)

    def rejected(self) -> bool:
        """True while a Rejected boot answer keeps the charger silent: it sends nothing
        and answers nothing until the interval is over (OCPP 1.6 §4.2)."""
        return self.boot_status == "Rejected" and time.monotonic() < self._boot_not_before

    # -- tasks the station owns --------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A task of the station's (cancelled when it stops); after the answer in flight."""
        if self.answering is not None:
            coro = _after(self.answering, coro)
        return self._spawn_plain(coro, name)

    def _spawn_plain(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"{self.spec.identity}-{name}")
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if self._tasks is not None:
            self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, VoltlabError):
            log.info("station %s: %s: %s", self.spec.identity, task.get_name(), exc.detail)
        elif exc is not None:
            log.error(
                "station %s: task %s failed", self.spec.identity, task.get_name(), exc_info=exc
            )

    # -- outbound messages --------------------------------------------------------------
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

    def forget_transaction(self, tx: Transaction) -> None:
        """The transaction's last message was delivered: keep a summary only."""
        if self.transactions.pop(tx.key, None) is None:
            return
        self.history.append(self._tx_summary(tx))
        del self.history[:-MAX_HISTORY]
        self.changed()

    def adapter_id_info(self, info: dict[str, Any]) -> IdTagInfo:
        return self._version.adapter_module.parse_id_tag_info(info)

    async def send_safely(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """A non-transaction message, sent now if connected (lost if not, like hardware)."""
        adapter = self.adapter
        if adapter is None:
            return None
        try:
            return await adapter.send_call(action, payload)
        except (CsmsFinding, WebSocketException, OSError):
            return None

    def report_local_list_conflict(self) -> None:
        adapter = self.adapter
        if adapter is not None and self.spec.ocpp_version == "1.6":
            payload = adapter.local_list_conflict_status()
            self.spawn(self.send_safely("StatusNotification", payload), "local-list-conflict")

    # -- the socket loop ----------------------------------------------------------------
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

    def _ping_interval(self) -> float | None:
        ping = self.options.ping_interval_s
        if ping == "config":
            configured = self.settings.ping_interval_s
            return float(configured) if configured > 0 else None
        return float(ping) if ping else None

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
            # Not ``async with``: the connect object (its options, ~1 KiB) need not live
            # as long as the connection. Keepalive pings: ``_ping_due``.
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

    async def _connected(self, ws: ClientConnection) -> None:
        if ws.subprotocol != self.spec.subprotocol:
            self.last_error = (
                f"CSMS did not accept subprotocol {self.spec.subprotocol!r} "
                f"(answered {ws.subprotocol!r})"
            )
            self.record_finding("Connect", self.last_error)
            return
        # The handshake's headers (~3 KiB) are not read again. (``ws.response`` itself
        # must stay: websockets tells the handshake from frames by it being set.)
        ws.request = None
        if ws.response is not None:
            ws.response.headers.clear()
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
        while True:
            wait = self._boot_not_before - time.monotonic()
            if wait > 0:
                # Pending: the reader keeps answering the CSMS meanwhile.
                # Rejected: silent until the interval is over (see ``rejected``).
                await asyncio.sleep(wait)
            try:
                answer = await adapter.send_call("BootNotification", adapter.boot_payload())
            except CsmsFinding:
                self._boot_not_before = time.monotonic() + self.options.boot_retry_s
                continue
            interval = int(answer.get("interval", 0))
            if answer["status"] == "Accepted":
                self.boot_status = "Accepted"
                self._accepted = True
                self.boot_reason = "PowerUp"
                if interval > 0:
                    self.heartbeat_interval_s = interval
                return
            self._boot_not_before = time.monotonic() + (
                interval if interval > 0 else self.options.boot_retry_s
            )
            self.boot_status = answer["status"]

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

    # -- heartbeats and pings: timers on the loop's scheduler, not tasks ----------------
    def _arm_heartbeat(self) -> None:
        """Heartbeat after ``interval`` seconds without any other traffic (OCPP 1.6 §4.6)."""
        if self._heartbeat_timer is not None:
            self._heartbeat_timer.cancel()
        wait = self._last_sent + self.heartbeat_interval_s - time.monotonic()
        self._heartbeat_timer = scheduler_for().call_later(max(wait, 0.0), self._heartbeat_due)

    def _heartbeat_due(self) -> None:
        self._heartbeat_timer = None
        adapter = self.adapter
        if adapter is None or self._ws is None:
            return  # disconnected: the next session arms its own
        # (The scheduler fires up to COALESCE_S early, to serve a burst in one turn.)
        if self._last_sent + self.heartbeat_interval_s - time.monotonic() > COALESCE_S:
            self._arm_heartbeat()  # other traffic went meanwhile
            return
        # A task of its own: the sender may be busy retrying a transaction message.
        self._beat = self._spawn_plain(self._heartbeat(adapter), "heartbeat")

    async def _heartbeat(self, adapter: Adapter) -> None:
        # A finding is recorded; a closed socket ends the session anyway.
        with contextlib.suppress(CsmsFinding, WebSocketException, OSError):
            # currentTime would set the clock of real hardware; the simulator keeps UTC.
            await adapter.send_call("Heartbeat", {})
        # Not in a ``finally``: a heartbeat cancelled because the session ended arms none.
        if self.adapter is adapter and self._ws is not None:
            self._arm_heartbeat()

    def _arm_ping(self) -> None:
        interval = self._ping_interval()
        if interval is not None:
            self._ping_timer = scheduler_for().call_later(interval, self._ping_due)

    def _ping_due(self) -> None:
        """A WebSocket ping every ``WebSocketPingInterval``; no pong by the next one (a
        whole interval later, as websockets' own keepalive with ping_timeout = interval)
        means the connection is dead."""
        self._ping_timer = None
        ws = self._ws
        if ws is None:
            return
        pong = self._pong
        if pong is not None and not pong.done():
            self._pong = None
            self.last_error = "no pong to the keepalive ping"
            self._spawn_plain(ws.close(1011, "keepalive ping timeout"), "keepalive-timeout")
            return
        self._spawn_plain(self._ping(ws), "ping")
        self._arm_ping()

    async def _ping(self, ws: ClientConnection) -> None:
        try:
            pong = await ws.ping()
        except (WebSocketException, OSError):
            return  # closing: the reader ends the session
        pong.add_done_callback(_retrieve)
        if self._ws is ws:
            self._pong = pong

    # -- the ticker: a timer on the shared heap only while something runs --------------
    def wake_ticker(self) -> None:
        """Something changed that may change the power or what falls due next (a start,
        a status, a power-update, a profile, a reservation): tick in the next turn of
        the loop, which settles the meters at the power they had and plans anew.

        A timer on the shared heap, not a task, and only when something falls due (a
        sample every 10 s, not a tick every second): 10,000 charging stations ticking
        every second cost a third of a core."""
        if not self._running:
            return
        if self._tick_timer is not None:
            if self._tick_timer.when <= asyncio.get_running_loop().time():
                return  # a tick is already on its way
            self._tick_timer.cancel()
        self._tick_timer = scheduler_for().call_later(0.0, self._tick_due)

    def _tick_due(self) -> None:
        self._tick_timer = None
        if not self._running:
            return
        wait = self.tick(time.monotonic())
        now = self.now()
        every = self.options.tick_s
        if self.reservation_expiry:
            self.expire_reservations(now)
            wait = every if wait is None else min(wait, every)
        if self.reset_when_idle:
            if not any(not t.ended for t in self.transactions.values()):
                self.reset_when_idle = False
                self.spawn(self._reset_on_idle(), "reset-on-idle")
            else:
                wait = every if wait is None else min(wait, every)
        if self._tick_timer is not None:
            return  # woken during this tick (a status changed): that tick plans
        if wait is not None and wait != float("inf"):
            wait = min(max(wait, MIN_TICK_S), MAX_TICK_S)
            self._tick_timer = scheduler_for().call_later(wait, self._tick_due)

    async def _reset_on_idle(self) -> None:
        # The last transaction's messages go out before the reboot closes the socket.
        await self._drained(lambda _message: True)
        await self.reset("Immediate")

    def settle_meters(self) -> None:
        """Bring the meters up to now before they are read between ticks."""
        clock = time.monotonic()
        for meter in self.meters:
            meter.settle(clock)

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

    # -- operations that need the socket -------------------------------------------------
    async def reboot(self) -> None:
        self._accepted = False
        self.boot_status = None
        self._reboot = True
        adapter = self.adapter
        if adapter is not None:
            await adapter._connection.close()

    async def remote_start(
        self,
        connector: Connector,
        id_tag: str,
        *,
        remote_start_id: int | None = None,
        profile: ChargingProfile | None = None,
    ) -> None:
        decision = await self.authorize(id_tag, ask_csms=self.settings.authorize_remote_start)
        if not decision.accepted:
            return
        if connector.plugged or self._starts_on("Authorized"):
            tx = await self.start_transaction(
                connector, id_tag, trigger="RemoteStart", remote_start_id=remote_start_id
            )
            if profile is not None:
                self.set_charging_profile(self._outlet_id(connector), profile)
            del tx
            return
        self.await_cable(connector, id_tag, remote_start_id=remote_start_id, profile=profile)

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
                self.boot_status = answer["status"]
                self._accepted = answer["status"] == "Accepted"
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

    # -- configuration -------------------------------------------------------------------
    def set_configuration(
        self, key: str, value: str, *, force: bool = False
    ) -> tuple[str, str | None]:
        name = key
        if self.spec.ocpp_version == "2.0.1":
            name = config201.resolve(self.config, key) or key
        status, reason = self.config.set(name, value, force=force)
        if status in ("Accepted", "RebootRequired"):
            self._apply_settings()
            self.changed()
        return status, reason

    def get_configuration(self, keys: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        hidden = {"AuthorizationKey"}
        names = keys or [n for n in self.config.names() if n not in hidden]
        known, unknown = [], []
        for name in names:
            entry = self.config.entry(name)
            if entry is None or name in hidden:
                unknown.append(name)
                continue
            known.append({"key": name, "readonly": entry.readonly, "value": self.config.get(name)})
        return known, unknown

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

    def data_transfer(self, vendor_id: str, message_id: str | None, data: Any) -> tuple[str, Any]:
        # The simulator knows one vendor: "voltlab", which echoes the data back.
        if vendor_id != "voltlab":
            return "UnknownVendorId", None
        return "Accepted", data

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


async def _after(gate: asyncio.Event, coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` once ``gate`` is set (the answer it follows has been sent)."""
    try:
        await gate.wait()
    except asyncio.CancelledError:
        coro.close()  # never started: no "was never awaited" warning
        raise
    return await coro


def _retrieve(pong: asyncio.Future[float]) -> None:
    """Nobody awaits a pong future: read its outcome so a closed connection's exception
    is not reported as "never retrieved"."""
    if not pong.cancelled():
        pong.exception()


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
