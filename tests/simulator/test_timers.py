"""The loop's shared timer heap (heartbeats, pings) and the one-waiter signal."""

from __future__ import annotations

import asyncio
import time

import pytest

from voltlab.simulator.timers import (
    COALESCE_S,
    FIRE_BUDGET_S,
    Scheduler,
    Signal,
    scheduler_for,
)


async def test_timers_fire_in_order_of_their_due_time():
    scheduler = Scheduler(asyncio.get_running_loop())
    fired: list[str] = []
    for name, delay in (("c", 0.06), ("a", 0.02), ("b", 0.04)):
        scheduler.call_later(delay, lambda name=name: fired.append(name))
    await asyncio.sleep(0.1)
    assert fired == ["a", "b", "c"]
    assert len(scheduler) == 0


async def test_a_cancelled_timer_never_fires_and_leaves_the_heap():
    scheduler = Scheduler(asyncio.get_running_loop())
    fired: list[str] = []
    timer = scheduler.call_later(0.01, lambda: fired.append("cancelled"))
    scheduler.call_later(0.03, lambda: fired.append("kept"))
    timer.cancel()
    assert timer.cancelled
    await asyncio.sleep(0.06)
    assert fired == ["kept"]
    assert len(scheduler) == 0


class _Turns:
    """Counts turns of the event loop (one step of its task per turn)."""

    def __init__(self) -> None:
        self.count = 0
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(0)


async def test_timers_due_together_fire_in_one_turn_of_the_loop():
    loop = asyncio.get_running_loop()
    scheduler = Scheduler(loop)
    turns = _Turns()
    seen: list[int] = []
    due = loop.time() + 0.02
    for offset in (0.0, COALESCE_S / 2, COALESCE_S / 3):
        scheduler.call_at(due + offset, lambda: seen.append(turns.count))
    await asyncio.sleep(0.05)
    turns.task.cancel()
    assert len(seen) == 3 and len(set(seen)) == 1


async def test_a_burst_longer_than_the_budget_is_spread_over_turns_and_none_is_lost():
    loop = asyncio.get_running_loop()
    scheduler = Scheduler(loop)
    turns = _Turns()
    seen: list[int] = []
    all_fired = asyncio.Event()

    def slow() -> None:  # a callback costing a quarter of the budget
        until = time.perf_counter() + FIRE_BUDGET_S / 4
        while time.perf_counter() < until:
            pass
        seen.append(turns.count)
        if len(seen) == 40:
            all_fired.set()

    due = loop.time() + 0.02
    for _ in range(40):
        scheduler.call_at(due, slow)
    async with asyncio.timeout(5):
        await all_fired.wait()
    turns.task.cancel()
    # About five callbacks a turn: the other work of the loop runs between the slices.
    assert len(set(seen)) >= 40 // 6
    assert len(scheduler) == 0


async def test_a_callback_that_sets_a_due_timer_waits_for_the_next_turn():
    loop = asyncio.get_running_loop()
    scheduler = Scheduler(loop)
    turns = _Turns()
    seen: list[int] = []

    def again() -> None:
        seen.append(turns.count)
        scheduler.call_at(loop.time(), again)  # always already due

    scheduler.call_later(0, again)
    await asyncio.sleep(0.02)
    turns.task.cancel()
    # Never twice in one turn: a self-arming callback cannot spin inside ``_fire``.
    assert len(seen) > 1 and len(set(seen)) == len(seen)


async def test_a_failing_callback_does_not_stop_the_others(caplog: pytest.LogCaptureFixture):
    scheduler = Scheduler(asyncio.get_running_loop())
    fired: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    scheduler.call_later(0.01, broken)
    scheduler.call_later(0.01, lambda: fired.append("after"))
    scheduler.call_later(0.03, lambda: fired.append("later"))
    await asyncio.sleep(0.06)
    assert fired == ["after", "later"]
    assert "timer callback" in caplog.text


async def test_each_loop_has_one_scheduler():
    assert scheduler_for() is scheduler_for(asyncio.get_running_loop())
    other = asyncio.new_event_loop()
    try:
        assert scheduler_for(other) is not scheduler_for()
    finally:
        other.close()


async def test_a_signal_wakes_its_waiter_and_stays_set_until_cleared():
    signal = Signal()
    waiter = asyncio.create_task(signal.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    signal.set()
    await asyncio.wait_for(waiter, 1)
    await asyncio.wait_for(signal.wait(), 1)  # still set: returns at once
    signal.clear()
    again = asyncio.create_task(signal.wait())
    await asyncio.sleep(0.01)
    assert not again.done()
    again.cancel()
    with pytest.raises(asyncio.CancelledError):
        await again
    # A cancelled waiter leaves the signal usable.
    waiter = asyncio.create_task(signal.wait())
    await asyncio.sleep(0)
    signal.set()
    await asyncio.wait_for(waiter, 1)
