"""What both versions' CSMS sessions share: the station they update and the clock."""

from __future__ import annotations

import logging
from typing import Any

from voltlab.csms.state import CsmsStation
from voltlab.ids import isoformat, utcnow

QUIET = logging.getLogger("voltlab.csms.ocpp")
QUIET.setLevel(logging.WARNING)


def now() -> str:
    return isoformat(utcnow()) or ""


class SessionBase:
    """Mixed in before ``ocpp``'s ``ChargePoint`` of each version."""

    def __init__(
        self, identity: str, connection: Any, *, station: CsmsStation, heartbeat_interval_s: int
    ) -> None:
        super().__init__(identity, connection, logger=QUIET)  # type: ignore[call-arg]
        self.station = station
        self.heartbeat_interval_s = heartbeat_interval_s

    def _seen(self) -> None:
        self.station.last_seen = utcnow()
        self.station.messages += 1

    def _booted(self, payload: dict[str, Any]) -> None:
        self._seen()
        self.station.boot = payload
        self.station.boots += 1

    def _heartbeat(self) -> None:
        self._seen()
        self.station.heartbeats += 1
