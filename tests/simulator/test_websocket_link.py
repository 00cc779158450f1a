"""The station's WebSocket (``simulator/wire.py`` on ``websockets``' sans-I/O protocol),
against a real ``websockets`` server on loopback: what a CSMS may send and do."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidMessage,
    InvalidStatus,
    NegotiationError,
    SecurityError,
)
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response

from support.live import eventually
from support.raw_peer import accept_handshake
from support.stations import spec_for
from voltlab.simulator.link import _redirected, dial
from voltlab.simulator.wire import QUEUE_HIGH, WsLink

Handler = Callable[[ServerConnection], Awaitable[None]]


@contextlib.asynccontextmanager
async def _csms(
    handler: Handler, *, subprotocols: list[str] | None = None, **options: Any
) -> AsyncIterator[tuple[str, list[Request]]]:
    """A ``websockets`` server running ``handler`` per connection; the URL and the
    requests of its handshakes."""
    requests: list[Request] = []

    def keep(connection: ServerConnection, request: Request) -> Response | None:
        requests.append(request)
        return None

    server = await serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=subprotocols or ["ocpp1.6"],  # type: ignore[list-item]
        process_request=keep,
        **options,
    )
    try:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ocpp", requests
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await server.wait_closed()


async def _open(url: str, *, password: str | None = None, timeout: float = 5) -> WsLink:
    return await dial(spec_for(url, "1.6", "CP-LINK"), password=password, open_timeout=timeout)


async def _echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def test_text_round_trip_and_the_handshake_headers():
    async with _csms(_echo) as (url, requests):
        link = await _open(url, password="s3cret")
        await link.send('[2,"1","Heartbeat",{}]')
        assert await link.recv() == '[2,"1","Heartbeat",{}]'
        await link.close()

    assert link.subprotocol == "ocpp1.6"
    headers = requests[0].headers
    assert requests[0].path == "/ocpp/CP-LINK"
    assert headers["User-Agent"] == "voltlab"
    assert headers["Authorization"] == "Basic Q1AtTElOSzpzM2NyZXQ="  # CP-LINK:s3cret
    assert "Sec-WebSocket-Extensions" not in headers  # no compression offered


async def test_a_fragmented_message_arrives_whole_and_binary_stays_bytes():
    async def send(ws: ServerConnection) -> None:
        await ws.send(["[2,", '"7",', '"Reset",{"type":"Soft"}]'])
        await ws.send(b"\x00\xffraw")
        await ws.wait_closed()

    async with _csms(send) as (url, _):
        link = await _open(url)
        assert await link.recv() == '[2,"7","Reset",{"type":"Soft"}]'
        assert await link.recv() == b"\x00\xffraw"
        await link.close()


async def test_pings_both_ways():
    latency: list[float] = []

    async def ping(ws: ServerConnection) -> None:
        latency.append(await (await ws.ping()))  # answered by the link on its own
        await ws.wait_closed()

    async with _csms(ping) as (url, _):
        link = await _open(url)
        async with asyncio.timeout(5):
            await link.ping()  # answered by the server
        await eventually(lambda: latency, timeout=5)
        await link.close()


async def test_the_csms_closing_ends_recv_after_what_it_sent():
    async def say_and_close(ws: ServerConnection) -> None:
        await ws.send("last words")
        await ws.close(1001, "going away")

    async with _csms(say_and_close) as (url, _):
        link = await _open(url)
        assert await link.recv() == "last words"
        with pytest.raises(ConnectionClosedOK) as closed:
            await link.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        with pytest.raises(ConnectionClosed):
            await link.send("too late")
        with pytest.raises(ConnectionClosed):
            link.ping()


async def test_close_performs_the_closing_handshake():
    seen: list[int | None] = []

    async def wait(ws: ServerConnection) -> None:
        await ws.wait_closed()
        seen.append(ws.close_code)

    async with _csms(wait) as (url, _):
        link = await _open(url)
        await link.close(1000, "bye")
        await link.close()  # idempotent
        await eventually(lambda: seen, timeout=5)
    assert seen == [1000]


async def test_close_gives_up_on_a_peer_that_never_answers(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("voltlab.simulator.link.CLOSE_TIMEOUT_S", 0.2)
    server, url = await _mute_peer()
    try:
        link = await _open(url)
        async with asyncio.timeout(2):
            await link.close()  # no close frame back: the TCP link is cut after 0.2 s
        with pytest.raises(ConnectionClosedError):
            await link.recv()
    finally:
        server.close()


async def test_a_message_over_one_mebibyte_fails_the_link_with_1009():
    async def flood(ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.send("x" * (2**20 + 1))
            await ws.wait_closed()

    async with _csms(flood, max_size=None) as (url, _):
        link = await _open(url)
        with pytest.raises(ConnectionClosedError) as closed:
            await link.recv()
    assert closed.value.sent is not None and closed.value.sent.code == 1009


async def test_invalid_utf8_text_fails_the_link_with_1007():
    async def garble(ws: ServerConnection) -> None:
        # A text frame whose payload is not UTF-8, written past the server's encoder.
        ws.protocol.send_frame(Frame(Opcode.TEXT, b"\xc3\x28"))
        ws.send_data()
        await ws.wait_closed()

    async with _csms(garble) as (url, _):
        link = await _open(url)
        with pytest.raises(ConnectionClosedError) as closed:
            await link.recv()
    assert closed.value.sent is not None and closed.value.sent.code == 1007


async def test_a_slow_reader_pauses_reading_and_loses_nothing():
    count = 200

    async def flood(ws: ServerConnection) -> None:
        for n in range(count):
            await ws.send(f"message {n}")
        await ws.wait_closed()

    async with _csms(flood) as (url, _):
        link = await _open(url)
        await asyncio.sleep(0.2)  # the server has sent all it can; we read nothing
        # Reading paused once QUEUE_HIGH messages waited (the rest of the chunk that
        # brought them is queued too): the others wait in the kernel and the server.
        queued = len(link._messages)
        await asyncio.sleep(0.2)
        assert QUEUE_HIGH <= queued == len(link._messages) < count
        got = [await link.recv() for _ in range(count)]
        await link.close()
    assert got == [f"message {n}" for n in range(count)]


async def test_a_handshake_refused_with_401_raises_invalid_status():
    def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(401, "no\n")

    server = await serve(_echo, "127.0.0.1", 0, process_request=refuse)
    try:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp"
        with pytest.raises(InvalidStatus) as refused:
            await _open(url)
        assert refused.value.response.status_code == 401
    finally:
        server.close()


async def test_a_redirect_is_followed_with_the_same_credentials():
    async with _csms(_echo) as (target, requests):

        def moved(connection: ServerConnection, request: Request) -> Response:
            response = connection.respond(302, "")
            response.headers["Location"] = f"{target}/moved{request.path}"
            return response

        server = await serve(_echo, "127.0.0.1", 0, process_request=moved)
        try:
            link = await _open(
                f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp", password="pw"
            )
            await link.send("hello")
            assert await link.recv() == "hello"
            await link.close()
        finally:
            server.close()
    assert requests[0].path == "/ocpp/moved/ocpp/CP-LINK"
    assert requests[0].headers["Authorization"].startswith("Basic ")


async def test_a_redirect_loop_ends_and_a_3xx_without_location_is_refused():
    def loop(connection: ServerConnection, request: Request) -> Response:
        response = connection.respond(307, "")
        response.headers["Location"] = request.path  # itself, again and again
        return response

    def nowhere(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(301, "")

    for process_request, error, text in (
        (loop, SecurityError, "more than 10 redirects"),
        (nowhere, InvalidStatus, "301"),
    ):
        server = await serve(_echo, "127.0.0.1", 0, process_request=process_request)
        try:
            with pytest.raises(error, match=text):
                await _open(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp")
        finally:
            server.close()


def test_a_redirect_from_wss_to_ws_is_refused():
    moved = Response(302, "Found", Headers({"Location": "ws://csms.example/ocpp/CP-1"}))
    with pytest.raises(SecurityError, match="non-secure"):
        _redirected("wss://csms.example/ocpp/CP-1", InvalidStatus(moved))
    relative = Response(308, "Permanent Redirect", Headers({"Location": "/v2/CP-1"}))
    assert _redirected("wss://csms.example/ocpp/CP-1", InvalidStatus(relative)) == (
        "wss://csms.example/v2/CP-1"
    )


async def test_a_subprotocol_the_charger_did_not_offer_is_refused():
    server, url = await _mute_peer(subprotocol="ocpp2.0.1")
    try:
        with pytest.raises(NegotiationError):
            await _open(url)
    finally:
        server.close()


async def test_a_csms_without_the_subprotocol_connects_without_one():
    async with _csms(_echo, subprotocols=["other"], select_subprotocol=lambda c, s: None) as (
        url,
        _,
    ):
        link = await _open(url)
        assert link.subprotocol is None  # the station records this as a finding
        await link.close()


async def test_an_unanswered_handshake_times_out_and_a_closed_port_refuses():
    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads the request, never answers
        writer.close()

    server = await asyncio.start_server(never, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TimeoutError, match="opening handshake"):
            await _open(f"ws://127.0.0.1:{port}/ocpp", timeout=0.3)
    finally:
        server.close()
        await server.wait_closed()
    with pytest.raises(OSError):
        await _open(f"ws://127.0.0.1:{port}/ocpp")


async def test_a_csms_hanging_up_during_the_handshake_raises_invalid_message():
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    try:
        with pytest.raises(InvalidMessage):
            await _open(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp")
    finally:
        server.close()


async def _mute_peer(subprotocol: str | None = None) -> tuple[asyncio.Server, str]:
    """Accepts the handshake (answering ``subprotocol``), then reads and says nothing."""

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_handshake(reader, writer, subprotocol)
        with contextlib.suppress(ConnectionError):
            while await reader.read(4096):
                pass
        writer.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    return server, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp"
