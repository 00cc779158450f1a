"""One timer heap for every station on an event loop.

Ten thousand idle stations each need a heartbeat and a WebSocket ping about once a
minute. A sleeping task per timer costs a task, a coroutine frame, a future and a loop
timer per station, kept for the whole life of the connection; here a timer is one heap
entry, and the loop holds a single timer handle for the earliest of them::

    timer = scheduler_for(loop).call_at(loop.time() + 60, station_due)
    timer.cancel()   # O(1); the entry is dropped when it reaches the top of the heap

Callbacks run synchronously on the loop and must not block: a station's callback
starts the short task that sends the heartbeat or the ping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
import weakref
from collections.abc import Callable

log = logging.getLogger(__name__)

# Entries due within this window of the earliest one fire together: one wake-up of the
# loop serves a burst of stations instead of one wake-up each.
COALESCE_S = 0.005
# Loop time one firing may take: the rest of a burst (10,000 stations ticking, a boot
# storm's heartbeats falling due together) waits for the next turn, behind the API's
# requests and the sockets' reads instead of ahead of all of them.
FIRE_BUDGET_S = 0.002


class Timer:
    """A pending call; ``cancel()`` stops it."""

    __slots__ = ("callback", "when")

    def __init__(self, when: float, callback: Callable[[], None] | None) -> None:
        self.when = when
        self.callback = callback

    def cancel(self) -> None:
        self.callback = None

    @property
    def cancelled(self) -> bool:
        return self.callback is None


class Scheduler:
    """A heap of :class:`Timer` entries served by one ``loop.call_at`` handle."""

    __slots__ = ("__weakref__", "_armed_at", "_firing", "_handle", "_heap", "_loop", "_seq")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = float("inf")
        self._firing = False

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback()`` once the loop's clock reaches ``when``."""
        timer = Timer(when, callback)
        heapq.heappush(self._heap, (when, next(self._seq), timer))
        if when < self._armed_at and not self._firing:  # ``_fire`` arms once at its end
            self._arm(when)
        return timer

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(self._loop.time() + delay, callback)

    def __len__(self) -> int:
        return len(self._heap)

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed_at = float("inf")
        heap = self._heap
        horizon = self._loop.time() + COALESCE_S
        # Timers the callbacks set wait for the next turn, even when already due: a
        # callback that re-arms itself cannot spin here.
        newest = next(self._seq)
        deadline = time.perf_counter() + FIRE_BUDGET_S
        self._firing = True
        try:
            # One at a time off the heap, so what the budget leaves stays there, in order.
            while heap and heap[0][0] <= horizon and heap[0][1] < newest:
                timer = heapq.heappop(heap)[2]
                callback = timer.callback
                if callback is None:
                    continue
                timer.callback = None
                try:
                    callback()
                except Exception:  # one station's bug must not stop every other timer
                    log.exception("timer callback %r failed", callback)
                if time.perf_counter() > deadline:
                    break  # the rest of the burst in the next turn
        finally:
            self._firing = False
            while heap and heap[0][2].callback is None:  # cancelled entries at the top
                heapq.heappop(heap)
            if heap:
                self._arm(heap[0][0])


_SCHEDULERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Scheduler] = (
    weakref.WeakKeyDictionary()
)


_last: Scheduler | None = None


def scheduler_for(loop: asyncio.AbstractEventLoop | None = None) -> Scheduler:
    """The scheduler of ``loop`` (default: the running loop), created on first use."""
    global _last
    loop = loop or asyncio.get_running_loop()
    last = _last
    if last is not None and last._loop is loop:  # one loop per process, in practice
        return last
    scheduler = _SCHEDULERS.get(loop)
    if scheduler is None:
        scheduler = _SCHEDULERS[loop] = Scheduler(loop)
    _last = scheduler
    return scheduler


class Signal:
    """``asyncio.Event`` for one waiter, without the Event's deque (~760 bytes each):
    a future exists only while the waiter waits. A station has a few of these."""

    __slots__ = ("_flag", "_waiter")

    def __init__(self) -> None:
        self._flag = False
        self._waiter: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        self._flag = True
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._flag = False

    async def wait(self) -> None:
        if self._flag:
            return
        waiter = self._waiter
        if waiter is None or waiter.done():
            waiter = self._waiter = asyncio.get_running_loop().create_future()
        await waiter
