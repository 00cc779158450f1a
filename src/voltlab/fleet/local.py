"""All stations in this process, one task each."""

from __future__ import annotations

import asyncio
import contextlib

from voltlab.errors import CapacityExceeded
from voltlab.simulator import RuntimeSnapshot, Station, StationSpec
from voltlab.simulator.station import FrameSink, StationOptions


class LocalFleet:
    def __init__(self, sink: FrameSink, options: StationOptions, *, max_chargers: int) -> None:
        self._sink = sink
        self._options = options
        self._max = max_chargers
        self._stations: dict[str, Station] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def start(self, spec: StationSpec) -> None:
        if spec.charger_id in self._tasks:
            await self.stop(spec.charger_id)
        if len(self._tasks) >= self._max:
            raise CapacityExceeded(
                f"the fleet runs its maximum of {self._max} chargers (VOLTLAB_MAX_CHARGERS)"
            )
        station = Station(spec, self._sink, self._options)
        self._stations[spec.charger_id] = station
        self._tasks[spec.charger_id] = asyncio.create_task(
            station.run(), name=f"station-{spec.identity}"
        )

    async def stop(self, charger_id: str) -> None:
        task = self._tasks.pop(charger_id, None)
        self._stations.pop(charger_id, None)
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def runtime(self, charger_id: str) -> RuntimeSnapshot:
        station = self._stations.get(charger_id)
        return station.snapshot() if station else RuntimeSnapshot.stopped()

    def station(self, charger_id: str) -> Station | None:
        return self._stations.get(charger_id)

    def running_count(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        self._stations.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
