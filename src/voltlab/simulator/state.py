"""The read-only snapshot of a running station."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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
