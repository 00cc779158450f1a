"""Admission of connection set-ups: how many stations dial at once, and how fast.

A fleet started at once (a bulk job of 10,000, or every charger resumed after a restart)
would otherwise put 10,000 TCP and WebSocket handshakes on the event loop together:
every turn of the loop then runs thousands of callbacks, and an API request, which
needs a few dozen turns, waits for seconds. The gate keeps a bounded number of stations
dialing; the rest wait in order (FIFO) without touching the network. A station leaves
the gate once its socket is open (or the attempt failed), so a CSMS that answers the
boot slowly does not slow the dialing down. Bounded is not slow: on loopback a few
hundred handshakes in flight keep any CSMS busy.

``rate_per_s`` is the connection ramp users can set (chargers per second; ``None`` or 0:
unthrottled, only the concurrency bound applies)::

    gate = ConnectGate(concurrency=200, rate_per_s=500)
    await gate.enter()      # before dialing
    ...
    gate.leave()            # once the socket is open, or the attempt failed
"""

from __future__ import annotations

import asyncio

DEFAULT_CONCURRENCY = 200


class ConnectGate:
    __slots__ = ("_interval", "_next_at", "_semaphore", "concurrency", "in_flight", "rate_per_s")

    def __init__(
        self, *, concurrency: int = DEFAULT_CONCURRENCY, rate_per_s: float | None = None
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.rate_per_s = rate_per_s if rate_per_s and rate_per_s > 0 else None
        self._interval = 1.0 / self.rate_per_s if self.rate_per_s else 0.0
        self._next_at = 0.0
        self._semaphore = asyncio.Semaphore(concurrency)
        self.in_flight = 0

    async def enter(self) -> None:
        """Wait for this station's turn: its ramp slot, then a free set-up slot."""
        if self._interval:
            loop = asyncio.get_running_loop()
            now = loop.time()
            at = max(now, self._next_at)
            self._next_at = at + self._interval
            if at > now:
                await asyncio.sleep(at - now)
        await self._semaphore.acquire()
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
        self._semaphore.release()
