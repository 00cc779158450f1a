"""What a session needs from a socket, whichever server accepted it.

``ocpp``'s ``ChargePoint`` only calls ``recv()`` and ``send(str)``; the hub also closes.
Each attachment (``server.py`` for ``websockets``, ``asgi.py`` for Starlette) adapts its
socket to ``CsmsConnection`` and raises ``ConnectionEnded`` once the peer is gone, so the
hub can tell a normal disconnect (logged quietly) from a bug (logged with its trace).
"""

from __future__ import annotations

from typing import Protocol


class ConnectionEnded(Exception):
    """The WebSocket closed: the session is over."""


class CsmsConnection(Protocol):
    async def recv(self) -> str: ...

    async def send(self, message: str) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...
