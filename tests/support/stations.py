"""Run a real ``Station`` directly (no voltlab service around it) in a test."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from support.frames import ListSink
from voltlab import catalog
from voltlab.simulator import Station, StationSpec
from voltlab.simulator.backoff import Backoff
from voltlab.simulator.spec import connectors_for
from voltlab.simulator.station import StationOptions

# Fast enough for tests, slow enough to show that a delay is honoured.
FAST = StationOptions(
    open_timeout_s=2.0,
    response_timeout_s=0.5,
    ping_interval_s=None,
    backoff=Backoff(initial_s=0.05, maximum_s=0.4),
    boot_retry_s=0.5,
)

VERSIONS = ["1.6", "2.0.1"]
STOP_TIMEOUT_S = 5.0


def spec_for(
    ws_url: str,
    version: str,
    identity: str = "CP-1",
    *,
    brand: str = "abb",
    model: str = "terra-184",
    password: str | None = None,
) -> StationSpec:
    """The spec voltlab would build for a catalog model."""
    entry = catalog.model(brand, model)
    assert entry is not None
    return StationSpec(
        charger_id=f"id-{identity}",
        org_id="acme",
        identity=identity,
        ocpp_version=version,
        ws_url=ws_url,
        vendor_name=entry.vendor_name,
        model_name=entry.model_name,
        connectors=connectors_for(version, entry.connector_count),
        max_power_w=entry.max_power_w,
        password=password,
        serial_number=f"VL-{identity}",
    )


@asynccontextmanager
async def running(
    spec: StationSpec, sink: ListSink | None = None, options: StationOptions = FAST
) -> AsyncIterator[Station]:
    """``async with running(spec) as station``: the station runs until the block ends."""
    station = Station(spec, sink if sink is not None else ListSink(), options)
    task = asyncio.create_task(station.run(), name=f"test-{spec.identity}")
    try:
        yield station
        assert not task.done(), f"the station stopped: {task!r}"
    finally:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
        if not done:
            stacks = io.StringIO()
            for other in asyncio.all_tasks():
                other.print_stack(limit=8, file=stacks)
            raise AssertionError(
                f"the station did not stop within {STOP_TIMEOUT_S}s of its cancel:\n"
                f"{stacks.getvalue()}"
            )
