"""A CSMS for the tests, built with the ``ocpp`` library (both versions).

It records what each charger sent and can be told how to answer BootNotification.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call_result as result201
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Received:
    action: str
    payload: dict[str, Any]


@dataclass
class RecordingCsms:
    boot_status: str = "Accepted"
    boot_interval: int = 60
    passwords: dict[str, str] = field(default_factory=dict)
    received: dict[str, list[Received]] = field(default_factory=lambda: defaultdict(list))
    connections: dict[str, ServerConnection] = field(default_factory=dict)
    peers: dict[str, Any] = field(default_factory=dict)
    auth_headers: dict[str, str | None] = field(default_factory=dict)
    server: Server | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def actions(self, identity: str) -> list[str]:
        return [r.action for r in self.received[identity]]

    async def wait_for(self, identity: str, action: str, count: int = 1, timeout: float = 10):
        async def _poll() -> list[Received]:
            while True:
                hits = [r for r in self.received[identity] if r.action == action]
                if len(hits) >= count:
                    return hits
                await asyncio.sleep(0.02)

        return await asyncio.wait_for(_poll(), timeout)

    async def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        identity = request.path.rsplit("/", 1)[-1]
        header = request.headers.get("Authorization")
        self.auth_headers[identity] = header
        if identity in self.passwords:
            expected = base64.b64encode(f"{identity}:{self.passwords[identity]}".encode()).decode()
            if header != f"Basic {expected}":
                return conn.respond(401, "bad credentials\n")
        return None

    async def _handler(self, conn: ServerConnection) -> None:
        identity = conn.request.path.rsplit("/", 1)[-1]
        self.connections[identity] = conn
        peer_cls = Csms16 if conn.subprotocol == "ocpp1.6" else Csms201
        peer = peer_cls(identity, conn, self)
        self.peers[identity] = peer
        with contextlib.suppress(Exception):
            await peer.start()

    async def start(self) -> RecordingCsms:
        self.server = await serve(
            self._handler,
            "127.0.0.1",
            0,
            subprotocols=["ocpp1.6", "ocpp2.0.1"],
            process_request=self._process_request,
        )
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


class _Recording:
    def __init__(self, identity: str, conn: ServerConnection, csms: RecordingCsms) -> None:
        super().__init__(identity, conn)  # type: ignore[call-arg]
        self.csms = csms

    def _note(self, action: str, payload: dict[str, Any]) -> None:
        self.csms.received[self.id].append(Received(action, payload))  # type: ignore[attr-defined]


class Csms16(_Recording, Cp16):
    @on("BootNotification")
    def boot(self, **payload: Any) -> result16.BootNotification:
        self._note("BootNotification", payload)
        return result16.BootNotification(
            current_time=_now(), interval=self.csms.boot_interval, status=self.csms.boot_status
        )

    @on("Heartbeat")
    def heartbeat(self, **payload: Any) -> result16.Heartbeat:
        self._note("Heartbeat", payload)
        return result16.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def status(self, **payload: Any) -> result16.StatusNotification:
        self._note("StatusNotification", payload)
        return result16.StatusNotification()


class Csms201(_Recording, Cp201):
    @on("BootNotification")
    def boot(self, **payload: Any) -> result201.BootNotification:
        self._note("BootNotification", payload)
        return result201.BootNotification(
            current_time=_now(), interval=self.csms.boot_interval, status=self.csms.boot_status
        )

    @on("Heartbeat")
    def heartbeat(self, **payload: Any) -> result201.Heartbeat:
        self._note("Heartbeat", payload)
        return result201.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def status(self, **payload: Any) -> result201.StatusNotification:
        self._note("StatusNotification", payload)
        return result201.StatusNotification()
