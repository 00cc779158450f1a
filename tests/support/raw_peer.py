"""A WebSocket peer written on bare asyncio streams, for what a ``websockets`` server
will not do: answer the handshake, then stay silent (no pong, no close frame)."""

from __future__ import annotations

import asyncio
import base64
import hashlib

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def accept_handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, subprotocol: str | None = None
) -> None:
    """Read the client's upgrade request and answer 101, with ``subprotocol`` or else
    the first one offered."""
    request = await reader.readuntil(b"\r\n\r\n")
    headers = {
        name.lower(): value
        for name, value in (
            line.split(": ", 1) for line in request.decode().split("\r\n")[1:] if ": " in line
        )
    }
    key = headers["sec-websocket-key"].encode()
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
    chosen = subprotocol or headers["sec-websocket-protocol"].split(",")[0].strip()
    writer.write(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
            f"Sec-WebSocket-Protocol: {chosen}\r\n\r\n"
        ).encode()
    )


def complete_frames(data: bytes) -> tuple[list[int], int]:
    """The opcodes of the whole client frames (masked, RFC 6455 §5.2) at the start of
    ``data``, and how many bytes they take."""
    opcodes: list[int] = []
    at = 0
    while at + 2 <= len(data):
        length, head = data[at + 1] & 0x7F, 2
        if length == 126:
            length, head = int.from_bytes(data[at + 2 : at + 4]), 4
        elif length == 127:
            length, head = int.from_bytes(data[at + 2 : at + 10]), 10
        size = head + 4 + length
        if at + size > len(data):
            break
        opcodes.append(data[at] & 0x0F)
        at += size
    return opcodes, at
