"""Heartbeats and WebSocket pings: timers on the loop's shared heap, not sleeping tasks.

An idle connected station must cost no task of its own between beats: ten thousand of
them each keep one heap entry per timer (see ``timers``), and start a short task only
when a heartbeat or a ping is due.
"""

from __future__ import annotations

import contextlib
import time

from websockets.exceptions import WebSocketException

from voltlab.simulator.ops.base import StationBase
from voltlab.simulator.rpc import CsmsFinding
from voltlab.simulator.timers import COALESCE_S, scheduler_for
from voltlab.simulator.versions import Adapter


class KeepaliveOps(StationBase):
    __slots__ = ()

    _last_sent: float  # time.monotonic() of the last frame either way

    def _arm_heartbeat(self) -> None:
        """Heartbeat after ``interval`` seconds without any other traffic (OCPP 1.6 §4.6)."""
        if self._heartbeat_timer is not None:
            self._heartbeat_timer.cancel()
        wait = self._last_sent + self.heartbeat_interval_s - time.monotonic()
        self._heartbeat_timer = scheduler_for().call_later(max(wait, 0.0), self._heartbeat_due)

    def _heartbeat_due(self) -> None:
        self._heartbeat_timer = None
        adapter = self.adapter
        if adapter is None or self._ws is None:
            return  # disconnected: the next session arms its own
        # (The scheduler fires up to COALESCE_S early, to serve a burst in one turn.)
        if self._last_sent + self.heartbeat_interval_s - time.monotonic() > COALESCE_S:
            self._arm_heartbeat()  # other traffic went meanwhile
            return
        # A task of its own: the sender may be busy retrying a transaction message.
        self._beat = self._spawn_plain(self._heartbeat(adapter), "heartbeat")

    async def _heartbeat(self, adapter: Adapter) -> None:
        # A finding is recorded; a closed socket ends the session anyway.
        with contextlib.suppress(CsmsFinding, WebSocketException, OSError):
            # currentTime would set the clock of real hardware; the simulator keeps UTC.
            await adapter.send_call("Heartbeat", {})
        # Not in a ``finally``: a heartbeat cancelled because the session ended arms none.
        if self.adapter is adapter and self._ws is not None:
            self._arm_heartbeat()

    def _ping_interval(self) -> float | None:
        ping = self.options.ping_interval_s
        if ping == "config":
            configured = self.settings.ping_interval_s
            return float(configured) if configured > 0 else None
        return float(ping) if ping else None

    def _arm_ping(self) -> None:
        interval = self._ping_interval()
        if interval is not None:
            self._ping_timer = scheduler_for().call_later(interval, self._ping_due)

    def _ping_due(self) -> None:
        """A WebSocket ping every ``WebSocketPingInterval``; no pong by the next one (a
        whole interval later, as websockets' own keepalive with ping_timeout = interval)
        means the connection is dead."""
        self._ping_timer = None
        ws = self._ws
        if ws is None:
            return
        pong = self._pong
        if pong is not None and not pong.done():
            self._pong = None
            self.last_error = "no pong to the keepalive ping"
            self._spawn_plain(ws.close(1011, "keepalive ping timeout"), "keepalive-timeout")
            return
        # No task: the link writes the ping now and hands back the pong's future.
        with contextlib.suppress(WebSocketException, OSError):  # closing: the reader ends it
            self._pong = ws.ping()
        self._arm_ping()
