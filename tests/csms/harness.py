"""The CSMS test harness: recording hooks, the ASGI route on uvicorn, attachments."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI

from tests.csms.peers import Peer, running_peer
from voltlab.csms import CsmsHooks, CsmsHub, TagDecision, TagRequest
from voltlab.csms.asgi import websocket_endpoint
from voltlab.csms.state import CsmsStation, CsmsTransaction

CPO_REALM = "cpo-1"


@dataclass
class RecordingHooks(CsmsHooks):
    """Records every hook call; answers tags from ``decisions`` (else Accepted)."""

    decisions: dict[str, TagDecision] = field(default_factory=dict)
    authorize_delay_s: float = 0.0
    events: list[tuple[Any, ...]] = field(default_factory=list)
    requests: list[TagRequest] = field(default_factory=list)

    def of(self, name: str) -> list[tuple[Any, ...]]:
        return [e[1:] for e in self.events if e[0] == name]

    async def authorize(self, station: CsmsStation, request: TagRequest) -> TagDecision:
        self.requests.append(request)
        await asyncio.sleep(self.authorize_delay_s)
        return self.decisions.get(request.id_token, TagDecision("Accepted"))

    async def booted(self, station: CsmsStation) -> None:
        self.events.append(("booted", station.identity, station.boots))

    async def connection_changed(self, station: CsmsStation, connected: bool) -> None:
        self.events.append(("connection_changed", station.identity, connected))

    async def status_changed(
        self, station: CsmsStation, evse_id: int, connector_id: int, status: str
    ) -> None:
        self.events.append(("status_changed", station.identity, evse_id, connector_id, status))

    # Transactions are mutable: record a copy as the hook saw it.
    async def transaction_started(self, station: CsmsStation, tx: CsmsTransaction) -> None:
        self.events.append(("transaction_started", dataclasses.replace(tx)))

    async def transaction_updated(self, station: CsmsStation, tx: CsmsTransaction) -> None:
        self.events.append(("transaction_updated", dataclasses.replace(tx)))

    async def transaction_ended(self, station: CsmsStation, tx: CsmsTransaction) -> None:
        self.events.append(("transaction_ended", dataclasses.replace(tx)))


@contextlib.asynccontextmanager
async def asgi_server(hub: CsmsHub) -> AsyncIterator[str]:
    """A tiny FastAPI app with the CSMS route, served by uvicorn on a free port; its
    ``ws://`` base URL (append ``/<realm>/<identity>``)."""
    app = FastAPI()
    app.add_api_websocket_route("/csms/{realm}/{identity}", websocket_endpoint(lambda _: hub))
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(5):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/csms"
    finally:
        await hub.close()
        server.should_exit = True
        async with asyncio.timeout(5):
            await task


@dataclass
class Attachment:
    """One way into the hub: where stations connect and how they authenticate."""

    name: str  # "standalone" | "asgi"
    hub: CsmsHub
    realm: str
    base_url: str  # + "/<identity>"
    closed: bool  # every peer gets a password

    def peer(self, identity: str, version: str) -> AbstractAsyncContextManager[Peer]:
        password = None
        if self.closed:
            password = f"{identity}-password-0123"
            self.hub.set_password(self.realm, identity, password)
        return running_peer(self.base_url, identity, version, password=password)

    def station(self, identity: str) -> CsmsStation:
        station = self.hub.station(self.realm, identity)
        assert station is not None, f"{identity} never reached the hub"
        return station
