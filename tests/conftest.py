"""Shared fixtures: a real database, a live voltlab on loopback, a test CSMS.

``VOLTLAB_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres`` runs
every test against PostgreSQL (one database per test process, emptied before each test);
the default is a fresh SQLite file per test.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from support.csms import RecordingCsms
from support.databases import pg_admin
from support.live import SECRET, LiveServer, Voltlab, token
from voltlab.settings import Settings

PG_URL = os.environ.get("VOLTLAB_TEST_DATABASE_URL")


_database: str | None = None


def _pg_url(name: str) -> str:
    assert PG_URL is not None
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


async def _migrated_database() -> str:
    """One database per test process, migrated once; each test empties it first. Creating
    a database per test cost about a second each (PostgreSQL copies its template)."""
    global _database
    if _database is None:
        from voltlab.storage.engine import create_engine, migrate

        name = f"voltlab_test_{uuid.uuid4().hex[:12]}"
        await pg_admin(PG_URL or "", f'CREATE DATABASE "{name}"')
        engine = create_engine(_pg_url(name))
        try:
            await migrate(engine)
        finally:
            await engine.dispose()
        _database = name
    return _database


async def _empty(name: str) -> None:
    import asyncpg

    from voltlab.storage import models  # noqa: F401  (registers every table)
    from voltlab.storage.base import Base

    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    url = make_url(_pg_url(name)).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if PG_URL and _database is not None:
        asyncio.run(pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{_database}" WITH (FORCE)'))


@pytest.fixture
async def database_url(tmp_path: Path) -> str:
    if not PG_URL:
        return f"sqlite+aiosqlite:///{tmp_path / 'voltlab.db'}"
    name = await _migrated_database()
    await _empty(name)
    return _pg_url(name)


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
