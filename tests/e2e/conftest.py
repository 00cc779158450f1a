"""A real ``voltlab serve`` process for end-to-end tests: its own port, data dir and database."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.live import serve_env

STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServedVoltlab:
    """A ``voltlab serve`` subprocess on loopback."""

    base_url: str
    process: asyncio.subprocess.Process
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM (uvicorn's graceful shutdown stops the fleet), SIGKILL if that hangs."""
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), SHUTDOWN_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await asyncio.wait_for(process.wait(), 5)


async def _wait_healthy(served: ServedVoltlab) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    async with httpx.AsyncClient(base_url=served.base_url, timeout=2) as client:
        while time.monotonic() < deadline:
            if served.process.returncode is not None:
                raise RuntimeError(
                    f"voltlab serve exited with {served.process.returncode}:\n{served.log_tail()}"
                )
            try:
                response = await client.get("/health")
            except httpx.TransportError:
                pass
            else:
                if response.status_code == 200 and response.json().get("status") == "ok":
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"voltlab serve did not answer /health:\n{served.log_tail()}")


@pytest.fixture
async def served(tmp_path: Path, database_url: str) -> AsyncIterator[ServedVoltlab]:
    """``python -m voltlab serve`` with a known HS256 secret and the test database."""
    port = free_port()
    env = serve_env(database_url)
    log_path = tmp_path / "voltlab-serve.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "voltlab",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    served = ServedVoltlab(f"http://127.0.0.1:{port}", process, log_path)
    try:
        await _wait_healthy(served)
        yield served
    finally:
        await _stop(process)
