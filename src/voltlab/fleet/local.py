"""All stations in this process, one task each."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Sequence
from typing import Any

from voltlab.errors import CapacityExceeded, Conflict
from voltlab.simulator import RuntimeSnapshot, Station, StationOptions, StationSpec
from voltlab.simulator.commands import execute
from voltlab.simulator.gate import DEFAULT_CONCURRENCY, ConnectGate
from voltlab.simulator.station import FrameSink
from voltlab.storage.framelog import FrameLogWriter
from voltlab.storage.station_state import StationStateStore

# Stations started (or stopped) per slice of the event loop: building a station and its
# task takes ~50 us, so 10,000 at once would hold the loop (and the API) for a second.
CHUNK = 250


class LocalFleet:
    """Runs the stations of this process.

    ``ramp_per_s`` is the connection ramp (chargers per second dialing, ``None``:
    unthrottled); ``max_connecting`` bounds how many stations dial at once
    (see :mod:`voltlab.simulator.gate`). Both apply to first connections, reconnects and
    a restart's resume alike.
    """

    def __init__(
        self,
        sink: FrameSink,
        options: StationOptions,
        *,
        max_chargers: int,
        states: StationStateStore | None = None,
        ramp_per_s: float | None = None,
        max_connecting: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self._sink = sink
        if options.gate is None:
            gate = ConnectGate(concurrency=max_connecting, rate_per_s=ramp_per_s)
            options = dataclasses.replace(options, gate=gate)
        self._options = options
        self._max = max_chargers
        self._states = states
        self._stations: dict[str, Station] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def _launch(self, spec: StationSpec, state: dict[str, Any] | None) -> None:
        if len(self._tasks) >= self._max:
            raise CapacityExceeded(
                f"the fleet runs its maximum of {self._max} chargers (VOLTLAB_MAX_CHARGERS)"
            )
        station = Station(spec, self._sink, self._options, state=state, store=self._states)
        self._stations[spec.charger_id] = station
        self._tasks[spec.charger_id] = asyncio.create_task(
            station.run(), name=f"station-{spec.identity}"
        )

    async def start(self, spec: StationSpec) -> None:
        running = self._stations.get(spec.charger_id)
        if running is not None:
            state: dict[str, Any] | None = running.durable()  # a restart keeps its state
            await self.stop(spec.charger_id)
        elif self._states is not None:
            state = (await self._states.load_many([spec.charger_id])).get(spec.charger_id)
        else:
            state = None
        self._launch(spec, state)

    async def start_many(self, specs: Sequence[StationSpec]) -> list[str]:
        fresh = [s for s in specs if s.charger_id not in self._stations]
        states = await self._states.load_many([s.charger_id for s in fresh]) if self._states else {}
        refused: list[str] = []
        for index, spec in enumerate(specs):
            if index and index % CHUNK == 0:
                await asyncio.sleep(0)  # let the API and the running stations in
            if spec.charger_id in self._stations:
                await self.start(spec)
                continue
            try:
                self._launch(spec, states.get(spec.charger_id))
            except CapacityExceeded:
                refused.append(spec.charger_id)
        return refused

    def _pop(self, charger_id: str) -> asyncio.Task[None] | None:
        self._stations.pop(charger_id, None)
        return self._tasks.pop(charger_id, None)

    async def stop(self, charger_id: str) -> None:
        task = self._pop(charger_id)
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def forget(self, charger_ids: Sequence[str]) -> None:
        for start in range(0, len(charger_ids), CHUNK):
            # Cancel a chunk, then wait for it: one by one, 10,000 stops take 10,000 turns.
            chunk = charger_ids[start : start + CHUNK]
            tasks = [task for charger_id in chunk if (task := self._pop(charger_id))]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._states is not None:
            await self._states.delete(list(charger_ids))
        if isinstance(self._sink, FrameLogWriter):  # their frames: durable state too
            self._sink.forget(charger_ids)

    def runtime(self, charger_id: str) -> RuntimeSnapshot:
        station = self._stations.get(charger_id)
        return station.snapshot() if station else RuntimeSnapshot.stopped()

    def station(self, charger_id: str) -> Station | None:
        return self._stations.get(charger_id)

    def _running(self, charger_id: str) -> Station:
        station = self._stations.get(charger_id)
        if station is None:
            raise Conflict("the charger's runtime is stopped; start it with start-charger")
        return station

    async def dispatch(
        self, charger_id: str, command: str, event: dict[str, Any]
    ) -> dict[str, Any]:
        return await execute(self._running(charger_id), command, event)

    async def inspect(self, charger_id: str, what: str) -> Any:
        station = self._stations.get(charger_id)
        if station is None:
            if self._states is None:
                return None
            state = (await self._states.load_many([charger_id])).get(charger_id) or {}
            return _from_state(state, what)
        if what == "configuration":
            return station.configuration()
        if what == "local_auth_list":
            return station.local_list.to_dict()
        if what == "auth_cache":
            return station.cache.entries()
        if what == "transactions":
            return station.transactions_view()
        if what == "decisions":
            return list(reversed(station.decisions))
        raise ValueError(what)

    def running_count(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        self._stations.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _from_state(state: dict[str, Any], what: str) -> Any:
    """Read-outs of a stopped charger, from its stored state."""
    if what == "local_auth_list":
        return state.get("local_list", {"version": 0, "entries": []})
    if what == "auth_cache":
        return state.get("cache", {}).get("entries", [])
    if what == "transactions":
        return state.get("transactions", []) + list(reversed(state.get("history", [])))
    if what == "decisions":
        return list(reversed(state.get("decisions", [])))
    if what == "configuration":
        return [
            {"key": k, "value": v, "overridden": True} for k, v in state.get("config", {}).items()
        ]
    raise ValueError(what)
