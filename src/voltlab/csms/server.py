"""``CsmsServer``: accepts stations at ``ws://host:port/<path>/<identity>``.

Accepts every boot (interval configurable), tracks connector statuses, transactions and
meter values per station, and can send CSMS-initiated CALLs through ``session(identity)``.
Optional HTTP Basic auth per identity (security profile 1).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import ssl as ssl_module
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from voltlab.csms.state import CsmsStation
from voltlab.csms.v16 import CsmsSession16
from voltlab.csms.v201 import CsmsSession201

log = logging.getLogger(__name__)

SUBPROTOCOLS = ("ocpp1.6", "ocpp2.0.1")


class CsmsServer:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        heartbeat_interval_s: int = 60,
        passwords: dict[str, str] | None = None,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.heartbeat_interval_s = heartbeat_interval_s
        self.passwords = passwords  # None: no auth; else identity -> password
        self.ssl = ssl  # wss:// (security profile 2; 3 when it requires client certs)
        self.stations: dict[str, CsmsStation] = {}
        self._sessions: dict[str, CsmsSession16 | CsmsSession201] = {}
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl is not None else "ws"
        return f"{scheme}://{self.host}:{self.port}/ocpp"

    def session(self, identity: str) -> CsmsSession16 | CsmsSession201 | None:
        return self._sessions.get(identity)

    def _authorized(self, identity: str, header: str | None) -> bool:
        if self.passwords is None:
            return True
        expected = self.passwords.get(identity)
        if expected is None or not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == identity and password == expected

    async def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        identity = request.path.rstrip("/").rsplit("/", 1)[-1]
        if not identity:
            return conn.respond(404, "no charge point identity in the URL\n")
        if not self._authorized(identity, request.headers.get("Authorization")):
            return conn.respond(401, "unknown identity or wrong password\n")
        return None

    async def _handler(self, conn: ServerConnection) -> None:
        identity = conn.request.path.rstrip("/").rsplit("/", 1)[-1] if conn.request else ""
        if conn.subprotocol not in SUBPROTOCOLS:
            await conn.close(1002, "subprotocol ocpp1.6 or ocpp2.0.1 required")
            return
        version = "1.6" if conn.subprotocol == "ocpp1.6" else "2.0.1"
        station = self.stations.get(identity)
        if station is None or station.ocpp_version != version:
            station = CsmsStation(identity=identity, ocpp_version=version)
            self.stations[identity] = station
        station.connected = True
        cls = CsmsSession16 if version == "1.6" else CsmsSession201
        session = cls(
            identity, conn, station=station, heartbeat_interval_s=self.heartbeat_interval_s
        )
        self._sessions[identity] = session
        try:
            await session.start()
        except Exception:  # the socket closed; that ends the session
            pass
        finally:
            station.connected = False
            if self._sessions.get(identity) is session:
                del self._sessions[identity]

    async def start(self) -> CsmsServer:
        self._server = await serve(
            self._handler,
            self.host,
            self.port,
            subprotocols=list(SUBPROTOCOLS),  # type: ignore[arg-type]
            process_request=self._process_request,
            compression=None,
            ping_interval=None,
            ssl=self.ssl,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> CsmsServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
