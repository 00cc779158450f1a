"""How late the event loop runs: the figure behind every latency the API shows.

The API, every station's socket and the database writers share one event loop, so a
request waits behind whatever the loop runs at that moment. A probe timer every
``every_s`` measures how late it fires; the lateness over the last ``window`` probes
gives percentiles and the worst stall, shown by ``GET /health``. Twenty wake-ups a
second see every stall over 50 ms; forty were 3-4 % of the CPU of an idle fleet of
10,000 in a profile.

>>> async with loop_lag() as lag:   # in the app's lifespan
...     lag.summary()                # {"p50_ms": 0.1, "p99_ms": 3.2, "max_ms": 12.0, ...}
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

EVERY_S = 0.05
# The GIL hand-over interval while voltlab runs (CPython's default: 5 ms), see
# ``switch_interval``.
SWITCH_INTERVAL_S = 0.0005
WINDOW = 1200  # one minute of probes
STALL_S = 0.05


class LoopLag:
    def __init__(self, *, every_s: float = EVERY_S, window: int = WINDOW) -> None:
        self._every = every_s
        self._late: deque[float] = deque(maxlen=window)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0
        self.stalls = 0  # probes later than STALL_S since start
        self.worst_s = 0.0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._arm()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self) -> None:
        assert self._loop is not None
        self._due = self._loop.time() + self._every
        self._handle = self._loop.call_at(self._due, self._probe)

    def _probe(self) -> None:
        assert self._loop is not None
        late = max(0.0, self._loop.time() - self._due)
        self._late.append(late)
        if late > STALL_S:
            self.stalls += 1
        self.worst_s = max(self.worst_s, late)
        self._arm()

    def summary(self) -> dict[str, Any]:
        """Lateness over the window, in ms; ``stalls``/``worst_ms`` since start."""
        ordered = sorted(self._late)

        def at(q: float) -> float | None:
            if not ordered:
                return None
            return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

        return {
            "probes": len(ordered),
            "p50_ms": at(0.5),
            "p99_ms": at(0.99),
            "max_ms": round(1000 * ordered[-1], 2) if ordered else None,
            "stalls_over_50ms": self.stalls,
            "worst_ms": round(1000 * self.worst_s, 2),
        }


@contextlib.asynccontextmanager
async def loop_lag(**options: Any) -> AsyncIterator[LoopLag]:
    lag = LoopLag(**options)
    lag.start()
    try:
        yield lag
    finally:
        lag.stop()


@contextlib.contextmanager
def switch_interval(seconds: float = SWITCH_INTERVAL_S) -> Iterator[None]:
    """Hand the GIL over to a waiting thread after ``seconds`` instead of 5 ms.

    Every SQLite statement runs on aiosqlite's thread, and a request makes several of
    them (execute, fetch, close, rollback), each a hand-over from the event loop's
    thread and back. With the loop busy (10,000 stations), CPython made each hand-over
    wait up to its 5 ms switch interval: a read of one row took tens of milliseconds.
    """
    before = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(before)
