"""Reconnects: the CSMS closes the socket, restarts, or is not there yet."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time

from support.csms import RecordingCsms
from support.live import eventually
from support.stations import running, spec_for


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status_count(csms: RecordingCsms, identity: str) -> int:
    return len(csms.hits(identity, "StatusNotification"))


async def test_a_socket_closed_by_the_csms_is_dialled_again_without_a_new_boot(
    csms: RecordingCsms, version: str
):
    async with running(spec_for(csms.url, version, "CP-RC")) as station:
        await eventually(lambda: station.boot_status == "Accepted")
        statuses = await eventually(lambda: _status_count(csms, "CP-RC") == 3 - (version != "1.6"))
        assert statuses
        per_boot = _status_count(csms, "CP-RC")

        await csms.close("CP-RC")
        await eventually(lambda: csms.handshakes["CP-RC"] == 2)
        # Statuses are sent again on the new connection, the boot is not (protocols §1).
        await eventually(lambda: _status_count(csms, "CP-RC") == 2 * per_boot)
        assert station.snapshot().connection == "connected"
        assert station.connects == 2

    assert csms.actions("CP-RC").count("BootNotification") == 1
    assert csms.actions("CP-RC")[1 + per_boot :] == ["StatusNotification"] * per_boot


async def test_a_restarted_csms_sees_the_charger_again_on_the_same_port(
    csms: RecordingCsms, version: str
):
    async with running(spec_for(csms.url, version, "CP-RS")) as station:
        await csms.wait_for("CP-RS", "StatusNotification")
        await csms.stop()
        await eventually(lambda: station.snapshot().connection != "connected")
        await csms.start()  # same port
        await eventually(lambda: csms.handshakes["CP-RS"] == 2)
        await eventually(lambda: station.snapshot().connection == "connected")
        await eventually(lambda: csms.actions("CP-RS")[-1] == "StatusNotification")

    assert csms.actions("CP-RS").count("BootNotification") == 1


async def test_a_charger_keeps_dialling_a_csms_that_is_down_and_boots_once_it_is_up(version: str):
    csms = RecordingCsms(boot_interval=60)
    csms.port = _free_port()  # nobody listens there yet
    try:
        async with running(spec_for(csms.url, version, "CP-DOWN")) as station:
            await eventually(lambda: station.last_error is not None)
            assert station.snapshot().connection in ("connecting", "disconnected")
            await asyncio.sleep(0.3)  # several attempts fail meanwhile
            await csms.start()
            await csms.wait_for("CP-DOWN", "StatusNotification")
            assert station.boot_status == "Accepted"
            assert station.last_error is None
    finally:
        await csms.stop()


async def test_the_reconnect_delay_grows_while_the_csms_stays_down_after_a_boot(
    csms: RecordingCsms,
):
    """Once booted, the charger must still back off instead of hammering a dead CSMS."""
    attempts: list[float] = []

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        attempts.append(time.monotonic())  # a TCP accept, then no WebSocket handshake
        writer.close()

    async with running(spec_for(csms.url, "1.6", "CP-BO")) as station:
        await eventually(lambda: station.boot_status == "Accepted")
        await csms.stop()
        server = await asyncio.start_server(refuse, "127.0.0.1", csms.port)
        try:
            await asyncio.sleep(1.5)
        finally:
            server.close()
            await server.wait_closed()

    # Backoff(0.05 s, cap 0.4 s): about 0.05 + 0.1 + 0.2 + 0.4 + 0.4 ... -> 5 to 8 dials
    # in 1.5 s; without backoff it would be 30 or more.
    assert 3 <= len(attempts) <= 10, attempts
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert max(gaps) >= 0.15, gaps
