"""One simulated charge point: dials its CSMS, boots, charges, reconnects.

``Station`` is the one class a fleet instantiates. It owns the state (its ``__slots__``
and ``__init__``), what is read from outside (``snapshot``, ``transactions_view``), the
frame reporting and the tasks it starts; the behaviour lives in mixins, each in a module
named after what it owns: the concerns in ``ops/`` (charging, authorizing, managing,
configuring) and, around one socket loop, ``session`` (dial, boot, reconnect),
``keepalive`` (heartbeats, pings), ``delivery`` (the outbox and transaction queue),
``ticker`` (what falls due with time) and ``persistence`` (durable state). Mixins keep
every attribute in this one slotted instance: no per-station helper objects.
Version-specific shapes live in the ``ocpp16``/``ocpp201`` adapters and message
builders (see ``versions``). Nothing here knows about HTTP or the database: frames go to
a ``FrameSink`` and durable state to a ``StateSink``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl as ssl_module
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from voltlab.errors import VoltlabError
from voltlab.ids import isoformat, utcnow
from voltlab.simulator.backoff import Backoff
from voltlab.simulator.configuration import ConfigStore
from voltlab.simulator.delivery import DeliveryOps
from voltlab.simulator.gate import ConnectGate
from voltlab.simulator.keepalive import KeepaliveOps
from voltlab.simulator.link import CSMS_TO_CP
from voltlab.simulator.model.authorization import AuthorizationCache, LocalAuthList
from voltlab.simulator.model.connector import Connector
from voltlab.simulator.model.meter import Meter
from voltlab.simulator.model.smart_charging import ChargingProfile, ProfileStore
from voltlab.simulator.model.transactions import Transaction, TransactionQueue
from voltlab.simulator.ops.authorizing import AuthorizingOps
from voltlab.simulator.ops.charging import ChargingOps
from voltlab.simulator.ops.configuring import ConfiguringOps
from voltlab.simulator.ops.managing import ManagingOps
from voltlab.simulator.persistence import PersistenceOps, StateSink
from voltlab.simulator.session import DEFAULT_BOOT_RETRY_S, SessionOps
from voltlab.simulator.spec import StationSpec
from voltlab.simulator.state import RuntimeSnapshot
from voltlab.simulator.ticker import TICK_S, TickerOps
from voltlab.simulator.timers import Signal, Timer
from voltlab.simulator.versions import VERSIONS, Adapter, config_defaults
from voltlab.simulator.wire import WsLink

log = logging.getLogger(__name__)

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


class Station(
    ChargingOps,
    AuthorizingOps,
    ManagingOps,
    ConfiguringOps,
    SessionOps,
    KeepaliveOps,
    DeliveryOps,
    TickerOps,
    PersistenceOps,
):
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
        "_boot_wake",
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
            config_defaults(
                spec.ocpp_version, count, spec.heartbeat_interval_s, spec.meter_interval_s
            )
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
        self._pending_remote: dict[int, tuple[int | None, str | None]] = {}
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
        self._boot_wake: asyncio.Future[None] | None = None
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
        self._ws: WsLink | None = None
        self._heartbeat_timer: Timer | None = None
        self._ping_timer: Timer | None = None
        self._beat: asyncio.Task[None] | None = None
        self._pong: asyncio.Future[None] | None = None

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

    def forget_transaction(self, tx: Transaction) -> None:
        """The transaction's last message was delivered: keep a summary only."""
        if self.transactions.pop(tx.key, None) is None:
            return
        self.history.append(self._tx_summary(tx))
        del self.history[:-MAX_HISTORY]
        self.changed()

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


async def _after(gate: asyncio.Event, coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` once ``gate`` is set (the answer it follows has been sent)."""
    try:
        await gate.wait()
    except asyncio.CancelledError:
        coro.close()  # never started: no "was never awaited" warning
        raise
    return await coro
