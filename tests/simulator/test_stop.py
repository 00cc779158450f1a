"""Stopping: a cancelled station ends at once, whatever it was waiting for."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from support.csms import RecordingCsms
from support.frames import ListSink
from support.stations import FAST, spec_for
from voltlab.fleet import LocalFleet
from voltlab.simulator import Station
from voltlab.simulator.ocpp16.adapter import Ocpp16Adapter
from voltlab.simulator.ocpp201.adapter import Ocpp201Adapter
from voltlab.simulator.rpc import CsmsFinding

ADAPTERS = {"1.6": Ocpp16Adapter, "2.0.1": Ocpp201Adapter}


class _Wire:
    """Stands in for the frame tap: records the CALLs sent, answers nothing itself."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_call(self, frame: str, action: str, unique_id: str) -> None:
        self.sent.append(unique_id)


def _adapter(
    station: Station, version: str, timeout: float = 5
) -> tuple[Ocpp16Adapter | Ocpp201Adapter, _Wire]:
    """An adapter on no socket: its answers are fed by hand."""
    wire = _Wire()
    return ADAPTERS[version](station, wire, response_timeout=timeout), wire  # type: ignore[arg-type]


def _result(unique_id: str, payload: dict) -> str:
    return orjson.dumps([3, unique_id, payload]).decode()


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
async def test_a_cancel_that_meets_an_answer_is_not_swallowed(version: str, turns: int):
    """``asyncio.wait_for`` on Python 3.11 returns the answer and drops the cancel when
    both arrive in the same turn of the loop; the station then could never be stopped."""
    station = Station(spec_for("ws://127.0.0.1:9", version), ListSink(), FAST)
    adapter, wire = _adapter(station, version)
    waiting = asyncio.create_task(adapter._roundtrip("Heartbeat", {}))
    for _ in range(3):
        await asyncio.sleep(0)
    await adapter.route_message(_result(wire.sent[0], {}))
    for _ in range(turns):
        await asyncio.sleep(0)
    if waiting.done():  # it took the answer before the cancel came: nothing to swallow
        assert waiting.result().unique_id == wire.sent[0]
        return
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_late_answers_to_earlier_calls_are_skipped(version: str):
    station = Station(spec_for("ws://127.0.0.1:9", version), ListSink(), FAST)
    adapter, wire = _adapter(station, version)
    waiting = asyncio.create_task(adapter._roundtrip("Heartbeat", {}))
    for _ in range(3):
        await asyncio.sleep(0)
    await adapter.route_message(_result("an-earlier-call", {"late": True}))
    await asyncio.sleep(0)
    assert not waiting.done()
    await adapter.route_message(_result(wire.sent[0], {}))
    answer = await waiting
    assert (answer.unique_id, answer.payload) == (wire.sent[0], {})


async def test_silence_is_a_finding_after_the_response_timeout(version: str):
    sink = ListSink()
    station = Station(spec_for("ws://127.0.0.1:9", version), sink, FAST)
    adapter, _ = _adapter(station, version, timeout=0.05)
    with pytest.raises(CsmsFinding):
        await adapter._roundtrip("Heartbeat", {})
    assert station.findings == 1
    assert adapter._waiting is None


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
