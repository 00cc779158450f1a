"""Helpers for tests that talk to a live voltlab."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from voltlab.auth.tokens import mint_token
from voltlab.services import Services
from voltlab.settings import Settings

SECRET = "test-secret-" + "x" * 40


def serve_env(database_url: str, *, flush_interval_s: float = 0.05) -> dict[str, str]:
    """The environment of a ``python -m voltlab serve`` subprocess in a test: the test's
    secret and database, quiet logs, and the fast timeouts of the in-process fixture."""
    return {
        **os.environ,
        "VOLTLAB_JWT_SECRET": SECRET,
        "VOLTLAB_DATABASE_URL": database_url,
        "VOLTLAB_LOG_LEVEL": "WARNING",
        "VOLTLAB_RECONNECT_INITIAL_S": "0.05",
        "VOLTLAB_RECONNECT_MAX_S": "0.5",
        "VOLTLAB_CONNECT_TIMEOUT_S": "3",
        "VOLTLAB_OCPP_RESPONSE_TIMEOUT_S": "3",
        "VOLTLAB_FRAMELOG_FLUSH_INTERVAL_S": str(flush_interval_s),
    }


def token(org: str | None = "acme", role: str = "user", **kwargs: Any) -> str:
    return mint_token(key=SECRET, role=role, org=org, **kwargs)


@dataclass
class Voltlab:
    """A live voltlab: real HTTP on loopback, in the test's event loop."""

    base_url: str
    services: Services
    client: httpx.AsyncClient  # a user token of tenant "acme"

    def client_for(
        self, org: str | None = "acme", role: str = "user", **headers: str
    ) -> httpx.AsyncClient:
        auth = {"Authorization": f"Bearer {token(org, role)}", **headers}
        return httpx.AsyncClient(base_url=self.base_url, headers=auth, timeout=10)


class LiveServer:
    """``async with LiveServer(settings) as base_url``: uvicorn on a free loopback port
    (or on ``port``, to come back where a previous server was)."""

    def __init__(self, settings: Settings, port: int = 0) -> None:
        from voltlab.app import create_app

        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            # A test may leave a request open on purpose (a silent eMSP holds authorize
            # calls): shutdown must not wait for it beyond a few seconds.
            timeout_graceful_shutdown=3,
        )
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    @property
    def services(self) -> Services:
        return self.app.state.services  # type: ignore[no-any-return]

    async def __aenter__(self) -> str:
        self.task = asyncio.create_task(self.server.serve())
        async with asyncio.timeout(20):
            while not self.server.started:
                if self.task.done():
                    self.task.result()
                    raise RuntimeError("voltlab did not start")
                await asyncio.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        assert self.task is not None
        async with asyncio.timeout(20):
            await self.task


async def eventually(check: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``check`` (sync or async) until it returns a truthy value; the value."""
    async with asyncio.timeout(timeout):
        while True:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(interval)
