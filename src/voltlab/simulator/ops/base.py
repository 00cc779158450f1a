"""The attributes the station's mixins share, declared once for type checkers and readers.

``Station`` composes the ops here (charging, authorizing, managing, configuring) and the
machinery beside them (``session``, ``keepalive``, ``delivery``, ``ticker``,
``persistence``); each declares what only it uses, and this base what several use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any

from voltlab.errors import InvalidRequest
from voltlab.simulator.configuration import ConfigStore
from voltlab.simulator.model.authorization import AuthorizationCache, LocalAuthList
from voltlab.simulator.model.connector import Connector
from voltlab.simulator.model.meter import Meter
from voltlab.simulator.model.smart_charging import ChargingProfile, ProfileStore
from voltlab.simulator.model.transactions import Transaction, TransactionQueue
from voltlab.simulator.settings_view import StationSettings
from voltlab.simulator.spec import StationSpec

if TYPE_CHECKING:
    from voltlab.simulator.model.transactions import QueuedMessage
    from voltlab.simulator.persistence import StateSink
    from voltlab.simulator.station import StationOptions
    from voltlab.simulator.timers import Signal, Timer
    from voltlab.simulator.versions import Adapter, Version
    from voltlab.simulator.wire import WsLink


class StationBase:
    __slots__ = ()  # Station has slots: no per-instance dict from the mixins

    spec: StationSpec
    connectors: list[Connector]
    meters: list[Meter]
    transactions: dict[str, Transaction]
    queue: TransactionQueue
    config: ConfigStore
    settings: StationSettings
    local_list: LocalAuthList
    cache: AuthorizationCache
    profiles: ProfileStore
    adapter: Adapter | None
    decisions: list[dict[str, Any]]
    reservation_tags: dict[int, str]
    reservation_expiry: dict[int, datetime]
    messages: Any  # ocpp16.messages or ocpp201.messages: the version's payload builders
    _pending_tags: dict[int, str]  # connector index -> tag presented before the cable
    # connector index -> (remoteStartId, IdTokenType) of a remote start awaiting the cable
    _pending_remote: dict[int, tuple[int | None, str | None]]
    _pending_profiles: dict[int, ChargingProfile]  # index -> TxProfile from RemoteStart
    boot_reason: str
    firmware_status: str
    diagnostics_status: str
    # -- what the socket-side mixins share ------------------------------------------------
    options: StationOptions
    _version: Version
    _store: StateSink | None
    history: list[dict[str, Any]]  # summaries of delivered transactions, newest last
    boot_status: str | None
    _accepted: bool  # booted and accepted; a reboot boots again
    heartbeat_interval_s: int
    last_error: str | None
    reset_when_idle: bool
    _ws: WsLink | None
    _running: bool  # between the start and the end of ``run()``
    # The meter ticker: a timer on the shared heap while something runs, else None.
    _tick_timer: Timer | None
    # ("status", connector index) or ("tx", queued message id), in sending order.
    _outbox: list[tuple[str, int]]
    _outbox_signal: Signal
    # connector index -> the (status, error code) the CSMS was last told.
    _last_status: dict[int, tuple[str, str]]
    _heartbeat_timer: Timer | None
    _ping_timer: Timer | None
    _beat: asyncio.Task[None] | None  # the heartbeat in flight
    _pong: asyncio.Future[None] | None  # the answer awaited to the last ping

    @property
    def online(self) -> bool:
        raise NotImplementedError

    def changed(self, *, hot: bool = False, lazy: bool = False) -> None:
        """Durable state changed: the store writes it soon, in a batch."""
        raise NotImplementedError

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        raise NotImplementedError

    def notify_status(self, connector: Connector) -> None:
        raise NotImplementedError

    def enqueue(self, action: str, payload: dict[str, Any], tx_key: str | None) -> None:
        raise NotImplementedError

    def wake_ticker(self) -> None:
        raise NotImplementedError

    def record_finding(self, action: str, finding: str) -> None:
        raise NotImplementedError

    async def send_safely(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        raise NotImplementedError

    def now(self) -> datetime:
        raise NotImplementedError

    def await_cable(
        self,
        connector: Connector,
        id_tag: str,
        *,
        remote_start_id: int | None = None,
        profile: ChargingProfile | None = None,
        id_token_type: str | None = None,
    ) -> None:
        raise NotImplementedError

    def set_charging_profile(self, connector_id: int, profile: ChargingProfile) -> str:
        raise NotImplementedError

    def _outlet_id(self, connector: Connector) -> int:
        raise NotImplementedError

    def _install_remote_profile(self, connector: Connector, profile: ChargingProfile) -> None:
        raise NotImplementedError

    async def reboot(self) -> None:
        raise NotImplementedError

    async def delivered(self, tx: Transaction) -> None:
        raise NotImplementedError

    async def _drained(self, pending: Callable[[QueuedMessage], bool]) -> None:
        raise NotImplementedError

    async def reset(self, kind: str) -> None:
        raise NotImplementedError

    def tick(self, clock: float) -> float | None:
        raise NotImplementedError

    def expire_reservations(self, now: datetime) -> list[int]:
        raise NotImplementedError

    def forget_transaction(self, tx: Transaction) -> None:
        raise NotImplementedError

    def _spawn_plain(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        raise NotImplementedError

    def _on_frame(self, direction: str, action: str, message: str, finding: str | None) -> None:
        raise NotImplementedError

    def _on_activity(self) -> None:
        raise NotImplementedError

    def _arm_heartbeat(self) -> None:
        raise NotImplementedError

    def _arm_ping(self) -> None:
        raise NotImplementedError

    def _wire_status(self, connector: Connector) -> str:
        raise NotImplementedError

    async def _sender(self, adapter: Adapter) -> None:
        raise NotImplementedError

    def _registration(self, answer: dict[str, Any]) -> None:
        raise NotImplementedError

    def set_configuration(
        self, key: str, value: str, *, force: bool = False
    ) -> tuple[str, str | None]:
        raise NotImplementedError

    def _starts_on(self, point: str) -> bool:
        """2.0.1 TxStartPoint; 1.6 starts a transaction when cable and tag are both there."""
        if self.spec.ocpp_version == "1.6":
            return False
        return point in self.config.get("TxCtrlr.TxStartPoint").split(",")

    # -- lookups shared by every concern --------------------------------------------
    def connector(self, evse_id: int | None = None, connector_id: int | None = None) -> Connector:
        """The connector a command names; 1.6 has no EVSEs, so there connector n is EVSE n."""
        evse = 1 if evse_id is None else evse_id
        conn = 1 if connector_id is None else connector_id
        if self.spec.ocpp_version == "1.6":
            # 1.6 has no EVSE level: connector n is shown as EVSE n, so either names it.
            if evse_id is None and connector_id is not None:
                evse = connector_id
            elif connector_id is None and evse_id is not None:
                conn = evse_id
        for connector in self.connectors:
            if connector.evse_id == evse and connector.connector_id == conn:
                return connector
        raise InvalidRequest(
            f"charger {self.spec.identity} has no connector evse_id={evse}, "
            f"connector_id={conn} (it has {len(self.connectors)})"
        )

    def index_of(self, connector: Connector) -> int:
        return self.connectors.index(connector)

    def meter_of(self, connector: Connector) -> Meter:
        return self.meters[self.index_of(connector)]

    def transaction_on(self, connector: Connector) -> Transaction | None:
        if connector.transaction_key is None:
            return None
        return self.transactions.get(connector.transaction_key)

    def find_transaction(self, transaction_id: str | int | None) -> Transaction | None:
        """By the id the user or CSMS knows (1.6: the CSMS's id; 2.0.1: ours)."""
        if transaction_id is None:
            active = [t for t in self.transactions.values() if not t.ended]
            return active[0] if active else None
        wanted = str(transaction_id)
        for tx in self.transactions.values():
            if not tx.ended and (tx.key == wanted or tx.public_id == wanted):
                return tx
        return None
