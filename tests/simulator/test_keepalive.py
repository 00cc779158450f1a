"""WebSocket keepalive: pings at the charger's WebSocketPingInterval, from the station's
timer (no websockets keepalive task), and a peer that stops answering them is dropped."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol

from support.csms import RecordingCsms
from support.frames import ListSink
from support.live import eventually
from support.raw_peer import accept_handshake, complete_frames
from support.stations import FAST, spec_for
from voltlab.simulator import Station, StationOptions

PING_KEY = {"1.6": "WebSocketPingInterval", "2.0.1": "OCPPCommCtrlr.WebSocketPingInterval"}


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The times of every ping the CSMS (a ``websockets`` server) receives."""
    received: list[float] = []
    original = ServerProtocol.recv_frame

    def counting(self: ServerProtocol, frame: Frame) -> None:
        if frame.opcode is Opcode.PING:
            received.append(time.monotonic())
        original(self, frame)

    monkeypatch.setattr(ServerProtocol, "recv_frame", counting)
    return received


@contextlib.asynccontextmanager
async def _station(
    url: str, version: str, options: StationOptions, config: dict[str, str] | None = None
) -> AsyncIterator[Station]:
    state = {"config": config} if config else None
    station = Station(spec_for(url, version, "CP-PING"), ListSink(), options, state=state)
    task = asyncio.create_task(station.run())
    try:
        yield station
    finally:
        task.cancel()
        await asyncio.wait({task}, timeout=5)


async def test_pings_follow_the_chargers_websocket_ping_interval(
    csms: RecordingCsms, version: str, pings: list[float]
):
    options = dataclasses.replace(FAST, ping_interval_s="config")
    async with _station(csms.url, version, options, {PING_KEY[version]: "1"}) as station:
        await csms.wait_for("CP-PING", "StatusNotification")
        await eventually(lambda: len(pings) >= 2, timeout=4)
        assert station.snapshot().connection == "connected"
    gaps = [later - earlier for earlier, later in itertools.pairwise(pings)]
    assert all(0.9 <= gap <= 1.6 for gap in gaps), gaps


async def test_an_interval_of_zero_sends_no_pings(
    csms: RecordingCsms, version: str, pings: list[float]
):
    options = dataclasses.replace(FAST, ping_interval_s="config")
    async with _station(csms.url, version, options, {PING_KEY[version]: "0"}):
        await csms.wait_for("CP-PING", "StatusNotification")
        await asyncio.sleep(0.5)
    assert pings == []


def _silent_peer(pings: list[float]) -> Any:
    """A peer that completes the WebSocket handshake, then never sends a byte (no pong,
    no answer); it notes when each ping frame from the client arrives."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_handshake(reader, writer)
        buffer = b""
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(4096):
                buffer += chunk
                opcodes, used = complete_frames(buffer)
                buffer = buffer[used:]
                pings.extend(time.monotonic() for op in opcodes if op == PING_OPCODE)
        writer.close()

    return serve


PING_OPCODE = 0x9


async def test_a_peer_that_stops_answering_pings_is_dropped_and_dialled_again(
    version: str, pings: list[float]
):
    server = await asyncio.start_server(_silent_peer(pings), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    options = dataclasses.replace(FAST, ping_interval_s=0.2, response_timeout_s=30)
    try:
        async with _station(f"ws://127.0.0.1:{port}/ocpp", version, options) as station:
            # First ping at 0.2 s, no pong by the next one at 0.4 s: closed (the close
            # handshake gets no answer either: 2 s), then dialled again.
            await eventually(lambda: station.connects >= 2, timeout=6)
            assert station.boot_status is None  # it never got an answer
    finally:
        server.close()
    assert pings, "the first connection was dropped without a ping"
