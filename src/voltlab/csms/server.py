"""``CsmsServer``: the built-in CSMS on its own port, ``ws://host:port/ocpp/<identity>``.

A ``websockets`` server in front of a ``CsmsHub`` whose default realm ``""`` holds every
station. Accepts every boot (interval configurable), tracks connector statuses,
transactions and meter values per station, and sends CSMS-initiated CALLs through
``call(identity, ...)`` or ``session(identity)``. Optional HTTP Basic auth per identity
(security profile 1); ``ssl`` makes it ``wss://`` (profiles 2 and 3).
"""

from __future__ import annotations

import contextlib
import logging
import ssl as ssl_module
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from voltlab.csms.connection import ConnectionEnded
from voltlab.csms.hooks import CsmsHooks
from voltlab.csms.hub import DEFAULT_REALM, SUBPROTOCOLS, VERSIONS, Admission, CsmsHub
from voltlab.csms.state import CsmsStation

# Looked up here when a server is built, so tests can substitute recording sessions.
from voltlab.csms.v16 import CsmsSession16
from voltlab.csms.v201 import CsmsSession201

log = logging.getLogger(__name__)


class WebsocketsConnection:
    """A ``websockets`` server connection as a ``CsmsConnection``."""

    def __init__(self, conn: ServerConnection) -> None:
        self._conn = conn

    async def recv(self) -> str:
        try:
            message = await self._conn.recv()
        except ConnectionClosed as closed:
            raise ConnectionEnded(str(closed)) from None
        # OCPP-J frames are text; a binary frame still gets a CALLERROR, not a crash.
        return message if isinstance(message, str) else message.decode(errors="replace")

    async def send(self, message: str) -> None:
        try:
            await self._conn.send(message)
        except ConnectionClosed as closed:
            raise ConnectionEnded(str(closed)) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._conn.close(code, reason)


class CsmsServer:
    """``async with CsmsServer() as csms``: ``csms.url`` + ``/<identity>`` for chargers."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        heartbeat_interval_s: int = 60,
        passwords: dict[str, str] | None = None,
        ssl: ssl_module.SSLContext | None = None,
        hooks: CsmsHooks | None = None,
        hub: CsmsHub | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl = ssl  # wss:// (security profile 2; 3 when it requires client certs)
        # A shared ``hub`` keeps its own heartbeat interval and is not closed with us.
        self._owns_hub = hub is None
        self.hub = hub or CsmsHub(
            heartbeat_interval_s=heartbeat_interval_s,
            session_classes={"1.6": CsmsSession16, "2.0.1": CsmsSession201},
        )
        self.hub.add_realm(DEFAULT_REALM, require_auth=passwords is not None, hooks=hooks)
        self.passwords = passwords
        self._server: Server | None = None

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl is not None else "ws"
        return f"{scheme}://{self.host}:{self.port}/ocpp"

    @property
    def heartbeat_interval_s(self) -> int:
        return self.hub.heartbeat_interval_s

    @property
    def passwords(self) -> dict[str, str] | None:
        """``None``: no auth; else identity -> password (the live mapping)."""
        if not self.hub.requires_auth(DEFAULT_REALM):
            return None
        return self.hub.passwords(DEFAULT_REALM)

    @passwords.setter
    def passwords(self, passwords: dict[str, str] | None) -> None:
        self.hub.add_realm(DEFAULT_REALM, require_auth=passwords is not None)
        self.hub.set_passwords(DEFAULT_REALM, passwords if passwords is not None else {})

    @property
    def stations(self) -> dict[str, CsmsStation]:
        return self.hub.stations(DEFAULT_REALM)

    def session(self, identity: str) -> CsmsSession16 | CsmsSession201 | None:
        return self.hub.session(DEFAULT_REALM, identity)

    async def call(
        self, identity: str, action: str, payload: dict[str, Any], *, timeout_s: float = 30.0
    ) -> dict[str, Any]:
        """``CsmsHub.call`` in the default realm: camelCase in, camelCase out."""
        return await self.hub.call(DEFAULT_REALM, identity, action, payload, timeout_s=timeout_s)

    @staticmethod
    def _identity(path: str) -> str:
        return path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]

    async def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        identity = self._identity(request.path)
        if not identity:
            return conn.respond(404, "no charge point identity in the URL\n")
        admission = self.hub.admit(DEFAULT_REALM, identity, request.headers.get("Authorization"))
        if admission is not Admission.ADMITTED:
            return conn.respond(401, f"{admission.value}\n")
        return None

    async def _handler(self, conn: ServerConnection) -> None:
        identity = self._identity(conn.request.path) if conn.request else ""
        version = VERSIONS.get(conn.subprotocol or "")
        if version is None:  # websockets refuses a missing one with 400 already
            await conn.close(1002, "subprotocol ocpp1.6 or ocpp2.0.1 required")
            return
        await self.hub.attach(DEFAULT_REALM, identity, version, WebsocketsConnection(conn))

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
            self._server.close()  # closes every connection, which ends its session
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        if self._owns_hub:
            await self.hub.close()

    async def __aenter__(self) -> CsmsServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
