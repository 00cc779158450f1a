"""The fleet boundary. In-process today (``LocalFleet``); a distributed backend (workers
holding leases, commands routed through Redis) implements the same protocol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from voltlab.simulator import RuntimeSnapshot, StationSpec


class FleetBackend(Protocol):
    async def start(self, spec: StationSpec) -> None:
        """Run the station (restarting a running one with the same id, state kept)."""

    async def start_many(self, specs: Sequence[StationSpec]) -> list[str]:
        """Start many at once (one state query per chunk); the ids that could not start."""

    async def stop(self, charger_id: str) -> None:
        """Stop the station; a no-op when it does not run."""

    async def forget(self, charger_ids: Sequence[str]) -> None:
        """Stop the stations and delete their durable state and their frame log (the
        chargers were deleted)."""

    def runtime(self, charger_id: str) -> RuntimeSnapshot:
        """The live state; ``RuntimeSnapshot.stopped()`` when it does not run."""

    async def dispatch(
        self, charger_id: str, command: str, event: dict[str, Any]
    ) -> dict[str, Any]:
        """Run a command on the station; its result, or a domain error."""

    async def inspect(self, charger_id: str, what: str) -> Any:
        """A read-out: configuration | local_auth_list | auth_cache | transactions | decisions."""

    def running_count(self) -> int: ...

    async def close(self) -> None:
        """Stop every station (on shutdown)."""
