"""What the built-in CSMS knows about the stations connected to it.

Connector keys are ``(evse_id, connector_id)``: 2.0.1 reports both; 1.6 has connectors
only, so its connector ``n`` is stored as ``(n, n)`` (connector 0, the whole station, as
``(0, 0)``). A 1.6 transaction's ``evse_id`` is likewise its connector id.

Times are the CSMS's own receipt times (UTC), not the timestamps the station sent: they
say when the CSMS learnt something, which is what OCPI ``last_updated`` reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from voltlab.csms.authorization import TagDecision


@dataclass(slots=True)
class CsmsTransaction:
    transaction_id: str
    evse_id: int
    connector_id: int
    id_tag: str | None
    meter_start_wh: float
    started_at: datetime
    meter_wh: float = 0.0  # the latest Energy.Active.Import.Register, Wh
    power_w: float | None = None  # the latest Power.Active.Import, W, when sampled
    id_token_type: str | None = None  # 2.0.1 idToken.type; None on 1.6
    authorization: TagDecision | None = None  # what the hooks answered for id_tag
    remote_start_id: int | None = None  # 2.0.1 transactionInfo.remoteStartId
    updated_at: datetime | None = None
    stopped_at: datetime | None = None
    stop_reason: str | None = None

    @property
    def energy_wh(self) -> float:
        """Energy delivered so far (or in total, once stopped)."""
        return max(0.0, self.meter_wh - self.meter_start_wh)

    @property
    def active(self) -> bool:
        return self.stopped_at is None


@dataclass(slots=True)
class CsmsStation:
    identity: str
    ocpp_version: str  # "1.6" | "2.0.1"
    realm: str = ""
    connected: bool = True
    connected_changed_at: datetime | None = None
    boot: dict[str, Any] | None = None
    boots: int = 0
    heartbeats: int = 0
    last_seen: datetime | None = None
    # (evse_id, connector_id) -> OCPP status as the station reported it, and since when
    connectors: dict[tuple[int, int], str] = field(default_factory=dict)
    status_changed_at: dict[tuple[int, int], datetime] = field(default_factory=dict)
    transactions: dict[str, CsmsTransaction] = field(default_factory=dict)
    messages: int = 0
