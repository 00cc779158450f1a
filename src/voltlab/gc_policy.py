"""Garbage collection for one process that holds thousands of long-lived stations.

CPython's full (generation 2) collection walks every object it tracks, and runs each
time the long-lived objects grew by a quarter. With 2,000 stations that is ~700,000
objects and ~0.2 s, with 10,000 several million and 1.1-1.6 s, during which the event
loop (the API, every socket, the database writers) stands still. Measured at 2,000
under meter load, every stall of the loop over 40 ms was one of them; a boot storm ran
one after another as the stations were created.

So objects that survived a young collection are moved, ten times a second, to the
permanent generation (``gc.freeze``), which collections skip. Ten times, not once: under
meter load every station that just received a frame holds fresh reader coroutines and
futures until its next frame, seconds later; a second's worth of them was 20,000-40,000
young objects, and each young collection walked them all (median 22 ms, up to 68 ms,
five times a second, at 10,000 stations charging). CPython's own full collections are
turned off meanwhile: with the long-lived objects frozen they would only walk the last
second's survivors, yet at 10,000 stations under meter load that still took 40-80 ms,
every few seconds. A frozen object is still freed by reference counting as usual; only
cyclic garbage among frozen objects (rare: the full collections above found a few dozen
objects at most) waits for the occasional full collection over everything (unfreeze,
collect, freeze), at most every ``full_every_s`` and only once the frozen set grew by a
quarter since the last one.

>>> async with gc_policy():   # in the app's lifespan
...     ...
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator

log = logging.getLogger(__name__)

FREEZE_EVERY_S = 0.1
FULL_EVERY_S = 900.0
FULL_GROWTH = 1.25
# gc's third threshold: young collections between two full ones. Never reached.
NO_AUTOMATIC_FULL = 2**30


class GcPolicy:
    def __init__(
        self,
        *,
        freeze_every_s: float = FREEZE_EVERY_S,
        full_every_s: float = FULL_EVERY_S,
        full_growth: float = FULL_GROWTH,
    ) -> None:
        self._freeze_every = freeze_every_s
        self._full_every = full_every_s
        self._full_growth = full_growth
        self._last_full = time.monotonic()
        # The size of the frozen set after the first freeze, then after each full one.
        self._frozen_after_full: int | None = None

    def freeze(self) -> None:
        """Young survivors become permanent (a young collection first, so that garbage
        which is only young does not get frozen)."""
        gc.collect(1)
        gc.freeze()
        if self._frozen_after_full is None:
            self._frozen_after_full = gc.get_freeze_count()

    def maybe_full(self) -> int | None:
        """The full collection over everything, when it is due; what it collected."""
        if time.monotonic() - self._last_full < self._full_every:
            return None
        self._last_full = time.monotonic()
        frozen = gc.get_freeze_count()  # walks the permanent generation: only this rarely
        if frozen < (self._frozen_after_full or 0) * self._full_growth:
            return None
        started = time.perf_counter()
        gc.unfreeze()
        collected = gc.collect()
        gc.freeze()
        self._frozen_after_full = gc.get_freeze_count()
        log.info(
            "full garbage collection: %d object(s) collected of %d, %.0f ms",
            collected,
            frozen,
            1000 * (time.perf_counter() - started),
        )
        return collected

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._freeze_every)
            self.freeze()
            self.maybe_full()


@contextlib.asynccontextmanager
async def gc_policy(**options: float) -> AsyncIterator[GcPolicy]:
    """Run the policy for the duration of the block; back to CPython's own on exit."""
    policy = GcPolicy(**options)
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], NO_AUTOMATIC_FULL)
    policy.freeze()  # what start-up built (imports, app, resumed stations) is long-lived
    task = asyncio.create_task(policy.run(), name="gc-policy")
    try:
        yield policy
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        gc.set_threshold(*thresholds)
        gc.unfreeze()
