"""Admission of connection set-ups (``ConnectGate``) and a fleet that starts in slices."""

from __future__ import annotations

import asyncio
import time

import pytest

from support.csms import RecordingCsms
from support.frames import ListSink
from support.live import eventually
from support.stations import FAST, spec_for
from voltlab.fleet import LocalFleet
from voltlab.fleet.local import CHUNK
from voltlab.simulator.gate import ConnectGate


async def test_the_gate_lets_at_most_its_concurrency_in():
    gate = ConnectGate(concurrency=3)
    inside = peak = 0

    async def station() -> None:
        nonlocal inside, peak
        await gate.enter()
        inside += 1
        peak = max(peak, inside)
        await asyncio.sleep(0.01)
        inside -= 1
        gate.leave()

    await asyncio.gather(*(station() for _ in range(20)))
    assert peak == 3
    assert gate.in_flight == 0


async def test_the_ramp_spaces_the_entries():
    gate = ConnectGate(concurrency=100, rate_per_s=50)
    times: list[float] = []

    async def station() -> None:
        await gate.enter()
        times.append(time.monotonic())
        gate.leave()

    await asyncio.gather(*(station() for _ in range(11)))
    # 11 entries at 50/s: the last one 10 intervals (0.2 s) after the first.
    assert 0.18 <= times[-1] - times[0] <= 0.5


def test_a_gate_needs_room_for_one():
    with pytest.raises(ValueError):
        ConnectGate(concurrency=0)


async def test_a_fleet_boots_every_station_through_a_narrow_gate(csms: RecordingCsms):
    fleet = LocalFleet(ListSink(), FAST, max_chargers=100, max_connecting=2)
    gate = fleet._options.gate
    assert gate is not None
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, gate.in_flight)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    identities = [f"CP-GATE-{n}" for n in range(8)]
    try:
        await fleet.start_many([spec_for(csms.url, "1.6", identity) for identity in identities])
        for identity in identities:
            await csms.wait_for(identity, "StatusNotification")
        await eventually(lambda: gate.in_flight == 0)
    finally:
        watcher.cancel()
        await fleet.close()
    assert 1 <= peak <= 2
    assert all(csms.handshakes[identity] == 1 for identity in identities)


async def test_starting_many_stations_yields_to_the_loop_between_slices():
    fleet = LocalFleet(ListSink(), FAST, max_chargers=10_000, max_connecting=1)
    turns = 0

    async def count() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    counter = asyncio.create_task(count())
    await asyncio.sleep(0)
    before = turns
    try:
        # Nothing listens on port 9: the stations only wait for the gate or redial.
        specs = [spec_for("ws://127.0.0.1:9", "1.6", f"CP-Y-{n}") for n in range(3 * CHUNK)]
        await fleet.start_many(specs)
        assert turns - before >= 2, "start_many held the loop for the whole batch"
        assert fleet.running_count() == 3 * CHUNK
    finally:
        counter.cancel()
        await fleet.close()
