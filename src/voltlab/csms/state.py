"""What the built-in CSMS knows about the stations connected to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class CsmsTransaction:
    transaction_id: str
    evse_id: int
    connector_id: int
    id_tag: str | None
    meter_start_wh: float
    started_at: datetime
    meter_wh: float = 0.0
    stopped_at: datetime | None = None
    stop_reason: str | None = None


@dataclass(slots=True)
class CsmsStation:
    identity: str
    ocpp_version: str
    connected: bool = True
    boot: dict[str, Any] | None = None
    boots: int = 0
    heartbeats: int = 0
    last_seen: datetime | None = None
    # (evse_id, connector_id) -> OCPP status as the station reported it
    connectors: dict[tuple[int, int], str] = field(default_factory=dict)
    transactions: dict[str, CsmsTransaction] = field(default_factory=dict)
    messages: int = 0
