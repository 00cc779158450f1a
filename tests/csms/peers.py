"""Charging-station peers for the CSMS tests: ``ocpp``'s own ChargePoint, client side.

They answer the CSMS-initiated CALLs the tests send and record what they received; a
CALL without a handler here is answered with ``ocpp``'s NotImplemented CALLERROR.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from voltlab.ids import isoformat, utcnow

QUIET = logging.getLogger("tests.csms.peer")
QUIET.setLevel(logging.WARNING)
SLOW_ANSWER_S = 5.0  # a Reset the peer answers too late for the tests' timeouts


def now() -> str:
    return isoformat(utcnow()) or ""


def basic(identity: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()


class _Recording:
    def __init__(self, identity: str, connection: ClientConnection) -> None:
        super().__init__(identity, connection, response_timeout=5, logger=QUIET)  # type: ignore[call-arg]
        self.connection = connection
        self.received: list[tuple[str, dict[str, Any]]] = []


class Peer16(_Recording, ChargePoint16):
    @on("RemoteStartTransaction")
    def on_remote_start(self, **payload: Any) -> result16.RemoteStartTransaction:
        self.received.append(("RemoteStartTransaction", payload))
        return result16.RemoteStartTransaction(status="Accepted")

    @on("Reset")
    async def on_reset(self, **payload: Any) -> result16.Reset:
        await asyncio.sleep(SLOW_ANSWER_S)
        return result16.Reset(status="Accepted")


class Peer201(_Recording, ChargePoint201):
    @on("RequestStartTransaction")
    def on_request_start(self, **payload: Any) -> result201.RequestStartTransaction:
        self.received.append(("RequestStartTransaction", payload))
        return result201.RequestStartTransaction(status="Accepted", transaction_id="TX-R")

    @on("Reset")
    async def on_reset(self, **payload: Any) -> result201.Reset:
        await asyncio.sleep(SLOW_ANSWER_S)
        return result201.Reset(status="Accepted")


Peer = Peer16 | Peer201


async def open_socket(
    url: str, *, subprotocols: list[str], authorization: str | None = None
) -> ClientConnection:
    return await connect(
        url,
        subprotocols=[Subprotocol(p) for p in subprotocols],
        additional_headers={"Authorization": authorization} if authorization else None,
        open_timeout=5,
        close_timeout=2,
        compression=None,
        proxy=None,
    )


@contextlib.asynccontextmanager
async def running_peer(
    url: str, identity: str, version: str, *, password: str | None = None
) -> AsyncIterator[Peer]:
    """A connected peer whose receive loop runs until the block ends."""
    connection = await open_socket(
        f"{url}/{identity}",
        subprotocols=[f"ocpp{version}"],
        authorization=basic(identity, password) if password is not None else None,
    )
    peer: Peer = (Peer16 if version == "1.6" else Peer201)(identity, connection)
    loop = asyncio.create_task(peer.start(), name=f"peer-{identity}")
    try:
        yield peer
    finally:
        await connection.close()
        loop.cancel()  # it may be inside a slow handler; the socket is closed anyway
        with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
            await loop
