"""Shared fixtures: a real database, a live voltlab on loopback, a test CSMS.

``VOLTLAB_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres`` runs
every test against PostgreSQL (a fresh database per test); the default is a SQLite file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from support.csms import RecordingCsms
from support.live import SECRET, LiveServer, Voltlab, token
from voltlab.settings import Settings

PG_URL = os.environ.get("VOLTLAB_TEST_DATABASE_URL")


async def _pg_admin(url: str, statement: str) -> None:
    import asyncpg

    parsed = make_url(url).set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(parsed.render_as_string(hide_password=False))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    if not PG_URL:
        yield f"sqlite+aiosqlite:///{tmp_path / 'voltlab.db'}"
        return
    name = f"voltlab_test_{uuid.uuid4().hex[:12]}"
    await _pg_admin(PG_URL, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await _pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        jwt_secret=SECRET,
        reconnect_initial_s=0.05,
        reconnect_max_s=0.5,
        connect_timeout_s=3,
        ocpp_response_timeout_s=3,
        framelog_flush_interval_s=0.05,
    )


@pytest.fixture
async def voltlab(settings: Settings) -> AsyncIterator[Voltlab]:
    live = LiveServer(settings)
    async with live as base_url:
        headers = {"Authorization": f"Bearer {token()}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as client:
            yield Voltlab(base_url, live.services, client)


@pytest.fixture
async def csms() -> AsyncIterator[RecordingCsms]:
    server = await RecordingCsms(boot_interval=60).start()
    try:
        yield server
    finally:
        await server.stop()
