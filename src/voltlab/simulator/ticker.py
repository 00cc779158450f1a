"""The ticker: what moves a station forward in time while nothing is said to it.

Meters, meter samples, a charging profile's periods, a reservation's expiry and a reset
waiting for idle all fall due with time. One timer on the shared heap serves them, and
only while something runs: 10,000 idle stations must not wake every second.
"""

from __future__ import annotations

import asyncio
import time

from voltlab.simulator.ops.base import StationBase
from voltlab.simulator.timers import scheduler_for

# The ticker's period while something changes with time itself (a charging profile's
# periods, a reservation's expiry, a reset waiting for idle); otherwise it wakes only when
# something falls due (see ``ChargingOps.tick``).
TICK_S = 1.0
# Bounds of a ticker's sleep while something runs: guards, not a schedule (the least
# keeps a rounding error from ticking every turn of the loop).
MIN_TICK_S = 0.005
MAX_TICK_S = 60.0


class TickerOps(StationBase):
    __slots__ = ()

    def wake_ticker(self) -> None:
        """Something changed that may change the power or what falls due next (a start,
        a status, a power-update, a profile, a reservation): tick in the next turn of
        the loop, which settles the meters at the power they had and plans anew.

        A timer on the shared heap, not a task, and only when something falls due (a
        sample every 10 s, not a tick every second): 10,000 charging stations ticking
        every second cost a third of a core."""
        if not self._running:
            return
        if self._tick_timer is not None:
            if self._tick_timer.when <= asyncio.get_running_loop().time():
                return  # a tick is already on its way
            self._tick_timer.cancel()
        self._tick_timer = scheduler_for().call_later(0.0, self._tick_due)

    def _tick_due(self) -> None:
        self._tick_timer = None
        if not self._running:
            return
        wait = self.tick(time.monotonic())
        now = self.now()
        every = self.options.tick_s
        if self.reservation_expiry:
            self.expire_reservations(now)
            wait = every if wait is None else min(wait, every)
        if self.reset_when_idle:
            if not any(not t.ended for t in self.transactions.values()):
                self.reset_when_idle = False
                self.spawn(self._reset_on_idle(), "reset-on-idle")
            else:
                wait = every if wait is None else min(wait, every)
        if self._tick_timer is not None:
            return  # woken during this tick (a status changed): that tick plans
        if wait is not None and wait != float("inf"):
            wait = min(max(wait, MIN_TICK_S), MAX_TICK_S)
            self._tick_timer = scheduler_for().call_later(wait, self._tick_due)

    async def _reset_on_idle(self) -> None:
        # The last transaction's messages go out before the reboot closes the socket.
        await self._drained(lambda _message: True)
        await self.reset("Immediate")

    def settle_meters(self) -> None:
        """Bring the meters up to now before they are read between ticks."""
        clock = time.monotonic()
        for meter in self.meters:
            meter.settle(clock)
