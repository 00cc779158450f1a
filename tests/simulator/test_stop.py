"""Stopping: a cancelled station ends at once, whatever it was waiting for."""

from __future__ import annotations

import asyncio

import pytest
from ocpp.messages import CallResult

from support.csms import RecordingCsms
from support.frames import ListSink
from support.stations import FAST, spec_for
from voltlab.fleet import LocalFleet
from voltlab.simulator import Station
from voltlab.simulator.link import FrameTap
from voltlab.simulator.ocpp16.adapter import Ocpp16Adapter
from voltlab.simulator.ocpp201.adapter import Ocpp201Adapter

ADAPTERS = {"1.6": Ocpp16Adapter, "2.0.1": Ocpp201Adapter}


def _adapter(station: Station, version: str) -> Ocpp16Adapter | Ocpp201Adapter:
    """An adapter on no socket: enough to feed its response queue by hand."""
    tap = FrameTap(None, station._on_frame)  # type: ignore[arg-type]
    return ADAPTERS[version](station, tap, response_timeout=5)


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
async def test_a_cancel_that_meets_an_answer_is_not_swallowed(version: str, turns: int):
    """``asyncio.wait_for`` on Python 3.11 returns the answer and drops the cancel when
    both arrive in the same turn of the loop; the station then could never be stopped."""
    station = Station(spec_for("ws://127.0.0.1:9", version), ListSink(), FAST)
    adapter = _adapter(station, version)
    waiting = asyncio.create_task(adapter._get_specific_response("42", 5))
    for _ in range(3):
        await asyncio.sleep(0)
    adapter._response_queue.put_nowait(CallResult(unique_id="42", payload={}))
    for _ in range(turns):
        await asyncio.sleep(0)
    if waiting.done():  # it took the answer before the cancel came: nothing to swallow
        assert waiting.result().unique_id == "42"
        return
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_late_answers_to_earlier_calls_are_skipped(version: str):
    station = Station(spec_for("ws://127.0.0.1:9", version), ListSink(), FAST)
    adapter = _adapter(station, version)
    adapter._response_queue.put_nowait(CallResult(unique_id="41", payload={"late": True}))
    adapter._response_queue.put_nowait(CallResult(unique_id="42", payload={}))
    answer = await adapter._get_specific_response("42", 1)
    assert answer.unique_id == "42"
    with pytest.raises(TimeoutError):
        await adapter._get_specific_response("43", 0.05)


async def test_the_fleet_stops_busy_stations_promptly(csms: RecordingCsms):
    fleet = LocalFleet(ListSink(), FAST, max_chargers=100)
    identities = [f"CP-STOP-{n}" for n in range(12)]
    for n, identity in enumerate(identities):
        version = "1.6" if n % 2 else "2.0.1"
        await fleet.start(spec_for(csms.url, version, identity, brand="abb", model="terra-360"))
    try:
        for n, identity in enumerate(identities):
            # Stop while the charger is still sending its statuses and getting answers.
            await csms.wait_for(identity, "StatusNotification", count=1 + n % 3)
            async with asyncio.timeout(3):
                await fleet.stop(f"id-{identity}")
            assert fleet.runtime(f"id-{identity}").state == "stopped"
        assert fleet.running_count() == 0
    finally:
        async with asyncio.timeout(5):
            await fleet.close()
