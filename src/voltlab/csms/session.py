"""What both versions' CSMS sessions share: station bookkeeping, hooks and wire-style CALLs."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import is_dataclass
from types import ModuleType
from typing import Any

from ocpp.charge_point import (
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)

from voltlab.csms.connection import ConnectionEnded, CsmsConnection
from voltlab.csms.errors import StationOffline
from voltlab.csms.hooks import HookRunner
from voltlab.csms.state import CsmsStation, CsmsTransaction
from voltlab.ids import isoformat, utcnow

QUIET = logging.getLogger("voltlab.csms.ocpp")
QUIET.setLevel(logging.WARNING)


def now() -> str:
    return isoformat(utcnow()) or ""


class SessionBase:
    """Mixed in before ``ocpp``'s ``ChargePoint`` of each version.

    Subclasses set ``calls`` to the version's ``ocpp`` call module, for ``request``.
    """

    calls: ModuleType

    def __init__(
        self,
        identity: str,
        connection: CsmsConnection,
        *,
        station: CsmsStation,
        heartbeat_interval_s: int,
        hooks: HookRunner | None = None,
        response_timeout_s: float = 30.0,
    ) -> None:
        super().__init__(  # type: ignore[call-arg]
            identity, connection, response_timeout=response_timeout_s, logger=QUIET
        )
        self.connection = connection
        self.station = station
        self.heartbeat_interval_s = heartbeat_interval_s
        self.hooks = hooks or HookRunner()
        # Set when the receive loop ends, so a pending ``request`` fails fast instead of
        # waiting for its timeout.
        self.ended = asyncio.Event()

    # -- bookkeeping shared by both versions ---------------------------------------------
    def _seen(self) -> None:
        self.station.last_seen = utcnow()
        self.station.messages += 1

    async def _booted(self, payload: dict[str, Any]) -> None:
        self._seen()
        self.station.boot = payload
        self.station.boots += 1
        await self.hooks.booted(self.station)

    def _heartbeat(self) -> None:
        self._seen()
        self.station.heartbeats += 1

    async def _status(self, evse_id: int, connector_id: int, status: str) -> None:
        self._seen()
        key = (evse_id, connector_id)
        if self.station.connectors.get(key) == status:
            return  # a repeat (e.g. after a reconnect) is not a change
        self.station.connectors[key] = status
        self.station.status_changed_at[key] = utcnow()
        await self.hooks.status_changed(self.station, evse_id, connector_id, status)

    def _transaction(self, transaction_id: str) -> CsmsTransaction | None:
        return self.station.transactions.get(transaction_id)

    # -- CSMS-initiated CALLs ------------------------------------------------------------
    async def request(
        self, action: str, payload: dict[str, Any], *, timeout_s: float = 30.0
    ) -> dict[str, Any]:
        """Send ``action`` with a camelCase (wire) ``payload``; the camelCase answer.

        Raises ``ValueError`` for an action or fields this OCPP version does not have,
        the ``ocpp`` exception of a CALLERROR (``ocpp.exceptions.OCPPError`` subclasses,
        also raised when the payload fails the official schema), ``TimeoutError``, or
        ``StationOffline`` when the socket closes first. Never call it from a hook or an
        ``@on`` handler of this session (see ``hooks.py``).
        """
        cls = getattr(self.calls, action, None)
        if not isinstance(cls, type) or not is_dataclass(cls):
            raise ValueError(f"{action} is not an OCPP {self.station.ocpp_version} action")
        try:
            message = cls(**camel_to_snake_case(payload))
        except TypeError as error:
            raise ValueError(f"{action}: {error}") from error
        answering = asyncio.ensure_future(self.call(message, suppress=False))  # type: ignore[attr-defined]
        closing = asyncio.ensure_future(self.ended.wait())
        try:
            done, _ = await asyncio.wait(
                {answering, closing}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            answering.cancel()
            closing.cancel()
            await asyncio.gather(answering, closing, return_exceptions=True)
        if answering in done:
            try:
                answer = answering.result()
            except ConnectionEnded as error:
                raise StationOffline(self.station.realm, self.station.identity) from error
            return snake_to_camel_case(remove_nones(serialize_as_dict(answer)))  # type: ignore[no-any-return]
        if closing in done:
            raise StationOffline(
                self.station.realm,
                self.station.identity,
                f"station {self.station.identity} disconnected before answering {action}",
            )
        raise TimeoutError(f"{self.station.identity} did not answer {action} in {timeout_s} s")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.connection.close(code, reason)
