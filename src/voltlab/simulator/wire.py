"""One station's WebSocket: ``websockets``' sans-I/O client protocol on an asyncio transport.

Why not ``websockets.asyncio.client``: a fleet holds ten thousand of these, and the
asyncio client's per-connection machinery (a message assembler with its own futures, a
send context per frame, a task-based handshake) costs about as much CPU as the OCPP work
on top. On 2026-12-08 ``bench/floor.py`` booted 10,000 bare clients in 9.9 s on the
asyncio client and in 7.1 s on this link (``--client link``), at 117 against 95 us of
CPU per heartbeat round trip and 13.5 against 8.2 KiB per connection. The framing, the
handshake checks, size limits, automatic pongs and the closing handshake all stay
``websockets``' own (``ClientProtocol``); this class moves bytes, checks a text
message's UTF-8 (which the asyncio client's assembler does, not the protocol), and wakes
the one reader.

The surface is the part of ``ClientConnection`` a station uses: ``send``, ``recv``,
``ping`` (synchronous: a pong future, no task), ``close``, ``wait_closed`` and
``subprotocol``; a closed link raises ``ConnectionClosed`` as ``websockets`` does.
"""

from __future__ import annotations

import asyncio
import random
import struct
from collections import deque
from typing import NoReturn, cast

from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol

# Flow control, as ``websockets`` sets it from ``write_limit=4096`` and ``max_queue=4``:
# a send waits while more than 4 KiB wait in the kernel's stead; reading pauses while
# four messages wait for the reader (a slow station must not buffer a fast CSMS's flood).
WRITE_HIGH = 4096
WRITE_LOW = WRITE_HIGH // 4
QUEUE_HIGH = 4
QUEUE_LOW = QUEUE_HIGH // 4


class WsLink(asyncio.Protocol):
    __slots__ = (
        "_close_timeout",
        "_close_timer",
        "_closed",
        "_drain",
        "_fragments",
        "_loop",
        "_messages",
        "_opened",
        "_pongs",
        "_protocol",
        "_reader",
        "_reading_paused",
        "_request",
        "_transport",
        "_write_paused",
    )

    def __init__(self, protocol: ClientProtocol, request: Request, close_timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._protocol = protocol
        self._request: Request | None = request  # sent once the TCP (and TLS) link is up
        self._close_timeout = close_timeout
        self._transport: asyncio.Transport | None = None
        # Set on the handshake's answer, or when the connection is lost before it.
        self._opened: asyncio.Future[None] = self._loop.create_future()
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._messages: deque[str | bytes] = deque()
        self._reader: asyncio.Future[str | bytes] | None = None
        self._fragments: tuple[Opcode, list[bytes]] | None = None  # a fragmented message
        self._pongs: dict[bytes, asyncio.Future[None]] = {}
        self._drain: list[asyncio.Future[None]] | None = None  # None: writing not paused
        self._write_paused = False
        self._reading_paused = False
        self._close_timer: asyncio.TimerHandle | None = None

    # -- what a station uses ----------------------------------------------------------

    @property
    def subprotocol(self) -> Subprotocol | None:
        return self._protocol.subprotocol

    @property
    def handshake_exc(self) -> Exception | None:
        return self._protocol.handshake_exc

    async def opened(self) -> None:
        """Until the handshake's answer came (or the connection was lost before it)."""
        await asyncio.shield(self._opened)

    async def send(self, message: str | bytes) -> None:
        protocol = self._protocol
        if protocol.state is not State.OPEN:
            await self._closing()
        if type(message) is str:
            protocol.send_text(message.encode())
        else:
            protocol.send_binary(cast(bytes, message))
        self._flush()
        if self._write_paused:
            waiter = self._loop.create_future()
            cast(list[asyncio.Future[None]], self._drain).append(waiter)
            await waiter
            if self._closed.done():  # resumed by the loss of the link, not by the CSMS
                raise self._protocol.close_exc

    async def recv(self) -> str | bytes:
        """The next message; ``ConnectionClosed`` once none is left and the link is down."""
        messages = self._messages
        if messages:
            message = messages.popleft()
            if self._reading_paused and len(messages) <= QUEUE_LOW:
                self._reading_paused = False
                if self._transport is not None:
                    self._transport.resume_reading()
            return message
        if self._closed.done():
            raise self._protocol.close_exc
        reader = self._reader = self._loop.create_future()
        try:
            return await reader
        finally:
            self._reader = None

    def ping(self) -> asyncio.Future[None]:
        """Send a ping now; the future is done when its pong (or a later one) comes."""
        protocol = self._protocol
        if protocol.state is not State.OPEN:
            raise ConnectionClosed(
                protocol.close_rcvd, protocol.close_sent, protocol.close_rcvd_then_sent
            )
        data = struct.pack("!I", random.getrandbits(32))
        while data in self._pongs:
            data = struct.pack("!I", random.getrandbits(32))
        pong = self._pongs[data] = self._loop.create_future()
        protocol.send_ping(data)
        self._flush()
        return pong

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """The closing handshake; the TCP link is cut when the CSMS does not finish it."""
        protocol = self._protocol
        if protocol.state is State.OPEN:
            protocol.send_close(code, reason)
            self._flush()
        elif protocol.state is State.CONNECTING and self._transport is not None:
            self._transport.abort()
        self._expect_close()  # whatever state it was in, it ends within the timeout
        await self.wait_closed()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(WRITE_HIGH, WRITE_LOW)
        self._transport = transport
        request, self._request = self._request, None
        self._protocol.send_request(cast(Request, request))
        self._flush()

    def data_received(self, data: bytes) -> None:
        protocol = self._protocol
        protocol.receive_data(data)
        events = protocol.events_received()
        self._flush()  # pongs to the CSMS's pings, a close frame's answer
        if protocol.close_expected():
            self._expect_close()
        for event in events:
            if type(event) is Frame:
                self._frame(event)
            elif type(event) is Response and not self._opened.done():
                self._opened.set_result(None)

    def eof_received(self) -> None:
        self._protocol.receive_eof()
        self._flush()
        # None: the transport closes itself; a WebSocket never writes after the EOF.

    def connection_lost(self, exc: Exception | None) -> None:
        protocol = self._protocol
        protocol.receive_eof()  # idempotent: the state is CLOSED from here on
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        if not self._opened.done():
            self._opened.set_result(None)  # the dialer reads handshake_exc
        self._closed.set_result(None)
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_exception(protocol.close_exc)
        for pong in self._pongs.values():
            pong.cancel()
        self._pongs.clear()
        self._resume_writers()

    def pause_writing(self) -> None:
        self._write_paused = True
        self._drain = []

    def resume_writing(self) -> None:
        self._write_paused = False
        self._resume_writers()

    # -- internals ----------------------------------------------------------------------

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                self._deliver(opcode, frame.data)
            else:
                self._fragments = (opcode, [bytes(frame.data)])
        elif opcode is Opcode.CONT and self._fragments is not None:
            # (A continuation without a start is a protocol error the parser refuses.)
            first, parts = self._fragments
            parts.append(bytes(frame.data))
            if frame.fin:
                self._fragments = None
                self._deliver(first, b"".join(parts))
        elif opcode is Opcode.PONG:
            self._pong(bytes(frame.data))

    def _deliver(self, opcode: Opcode, data: bytes | bytearray | memoryview) -> None:
        message: str | bytes
        if opcode is Opcode.TEXT:
            try:
                message = bytes(data).decode()
            except UnicodeDecodeError as exc:
                # RFC 6455 §8.1: invalid UTF-8 in a text message fails the connection (1007).
                self._protocol.fail(1007, f"{exc.reason} at position {exc.start}")
                self._flush()
                self._expect_close()
                return
        else:
            message = bytes(data)
        reader = self._reader
        if reader is not None and not reader.done():
            self._reader = None
            reader.set_result(message)
            return
        self._messages.append(message)
        if len(self._messages) >= QUEUE_HIGH and not self._reading_paused:
            self._reading_paused = True
            if self._transport is not None:
                self._transport.pause_reading()

    def _pong(self, data: bytes) -> None:
        if data not in self._pongs:
            return  # unsolicited
        # A pong may answer only the latest ping: it acknowledges the earlier ones too.
        for key in list(self._pongs):
            pong = self._pongs.pop(key)
            if not pong.done():
                pong.set_result(None)
            if key == data:
                break

    def _flush(self) -> None:
        transport = self._transport
        if transport is None:
            return
        for data in self._protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                try:
                    transport.write_eof()
                except Exception:  # uvloop raises RuntimeError on a closed socket
                    transport.abort()
            else:  # TLS: no half-close
                transport.close()

    def _expect_close(self) -> None:
        """The CSMS should end the TCP link now; cut it when it has not after the timeout."""
        if self._close_timer is None and not self._closed.done() and self._transport is not None:
            self._close_timer = self._loop.call_later(self._close_timeout, self._transport.abort)

    async def _closing(self) -> NoReturn:
        """Wait out a closing link, then raise why it closed (as ``websockets`` does)."""
        self._expect_close()
        await self.wait_closed()
        raise self._protocol.close_exc

    def _resume_writers(self) -> None:
        waiters, self._drain = self._drain, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)
