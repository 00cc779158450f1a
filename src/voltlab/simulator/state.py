"""Live, in-memory state of a running station, and its read-only snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class ConnectorState:
    evse_id: int
    connector_id: int
    status: str = "Available"
    error_code: str = "NoError"
    transaction_id: str | None = None
    energy_wh: float = 0.0
    power_w: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "evse_id": self.evse_id,
            "connector_id": self.connector_id,
            "status": self.status,
            "error_code": self.error_code,
            "transaction_id": self.transaction_id,
            "energy_wh": round(self.energy_wh, 3),
            "power_w": round(self.power_w, 1),
        }


@dataclass(frozen=True, slots=True)
class RuntimeSnapshot:
    state: str  # running | stopped
    connection: str  # connecting | connected | disconnected
    boot_status: str | None
    last_message_at: datetime | None
    connectors: tuple[dict[str, Any], ...] = ()
    findings: int = 0
    connects: int = 0
    last_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def stopped(cls) -> RuntimeSnapshot:
        return cls(
            state="stopped", connection="disconnected", boot_status=None, last_message_at=None
        )
