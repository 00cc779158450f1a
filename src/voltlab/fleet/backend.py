"""The fleet boundary. In-process today (``LocalFleet``); a distributed backend (workers
holding leases, commands routed through Redis) implements the same protocol."""

from __future__ import annotations

from typing import Protocol

from voltlab.simulator import RuntimeSnapshot, StationSpec


class FleetBackend(Protocol):
    async def start(self, spec: StationSpec) -> None:
        """Run the station (replacing a running one with the same charger id)."""

    async def stop(self, charger_id: str) -> None:
        """Stop the station; a no-op when it does not run."""

    def runtime(self, charger_id: str) -> RuntimeSnapshot:
        """The live state; ``RuntimeSnapshot.stopped()`` when it does not run."""

    def running_count(self) -> int: ...

    async def close(self) -> None:
        """Stop every station (on shutdown)."""
