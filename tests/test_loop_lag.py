"""The event-loop lag probe behind /health, and the GIL switch interval while serving."""

from __future__ import annotations

import asyncio
import sys
import time

from voltlab.loop_lag import LoopLag, loop_lag, switch_interval


async def test_a_loop_that_stands_still_shows_as_a_stall_and_a_quiet_one_does_not():
    async with loop_lag(every_s=0.005) as lag:
        await asyncio.sleep(0.1)
        quiet = lag.summary()
        assert quiet["probes"] >= 5
        assert quiet["stalls_over_50ms"] == 0 and quiet["max_ms"] < 50

        time.sleep(0.12)  # noqa: ASYNC251 - a blocked loop is what the probe must show
        await asyncio.sleep(0.02)
        stalled = lag.summary()
    assert stalled["stalls_over_50ms"] == 1
    assert 100 <= stalled["worst_ms"] < 1000
    assert stalled["max_ms"] == stalled["worst_ms"]


async def test_a_probe_never_started_reports_nothing_yet():
    assert LoopLag().summary() == {
        "probes": 0,
        "p50_ms": None,
        "p99_ms": None,
        "max_ms": None,
        "stalls_over_50ms": 0,
        "worst_ms": 0.0,
    }


def test_the_switch_interval_is_short_while_serving_and_restored_after():
    before = sys.getswitchinterval()
    with switch_interval(0.0005):
        assert sys.getswitchinterval() == 0.0005
    assert sys.getswitchinterval() == before
