"""Migration 0005 (frame log keyed by charger and seq) keeps every frame of a 0004 database.

Runs on SQLite, and on PostgreSQL with ``VOLTLAB_TEST_DATABASE_URL`` (a throwaway
database of its own: the shared test database is already at the newest revision).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from support.databases import pg_admin
from voltlab.storage.engine import alembic_config, create_engine, session_factory
from voltlab.storage.framelog import FrameLogWriter
from voltlab.storage.models import FrameLog, FrameLogStats

PG_URL = os.environ.get("VOLTLAB_TEST_DATABASE_URL")
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if not PG_URL:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'upgrade.db'}")
        try:
            yield engine
        finally:
            await engine.dispose()
        return
    name = f"voltlab_test_migration_{uuid.uuid4().hex[:12]}"
    await pg_admin(PG_URL, f'CREATE DATABASE "{name}"')
    engine = create_engine(make_url(PG_URL).set(database=name).render_as_string(False))
    try:
        yield engine
    finally:
        await engine.dispose()
        await pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _alembic(engine: AsyncEngine, verb: str, revision: str) -> None:
    def run(connection: Connection) -> None:
        getattr(command, verb)(alembic_config(connection), revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


# Frames of three chargers, interleaved as a fleet writes them; c3 has none.
OLD_FRAMES: list[dict[str, Any]] = [
    {
        "org_id": "acme",
        "charger_id": ("c1", "c2", "c1", "c1", "c2")[n % 5],
        "direction": ("cp_to_csms", "csms_to_cp")[n % 2],
        "action": "MeterValues" if n % 3 else "Heartbeat",
        "message": f'[2,"{n}","MeterValues",{{"n":{n}}}] ⚡\t',
        "finding": "late answer" if n == 7 else None,
        # Not in id order everywhere: seq follows the order the rows were written (id).
        "ts": T0 + timedelta(seconds=n if n != 4 else 1),
    }
    for n in range(40)
]


async def test_upgrade_from_0004_keeps_every_frame_in_its_order(engine: AsyncEngine):
    await _alembic(engine, "upgrade", "0004")
    async with engine.begin() as conn:
        stamp = "%Y-%m-%d %H:%M:%S.%f"
        sqlite = conn.dialect.name == "sqlite"
        for frame in OLD_FRAMES:
            values = {**frame, "ts": frame["ts"].strftime(stamp) if sqlite else frame["ts"]}
            await conn.execute(
                text(
                    "INSERT INTO frame_logs (org_id, charger_id, direction, action, message,"
                    " finding, ts) VALUES (:org_id, :charger_id, :direction, :action,"
                    " :message, :finding, :ts)"
                ),
                values,
            )
        await conn.execute(
            text("INSERT INTO frame_log_stats (charger_id, pruned) VALUES ('c1', 9)")
        )

    await _alembic(engine, "upgrade", "head")

    sessions = session_factory(engine)
    async with sessions() as session:
        rows = (
            await session.scalars(select(FrameLog).order_by(FrameLog.charger_id, FrameLog.seq))
        ).all()
        stats = await session.get(FrameLogStats, "c1")
    expected: list[tuple[Any, ...]] = []
    for charger_id in ("c1", "c2"):
        mine = [f for f in OLD_FRAMES if f["charger_id"] == charger_id]
        expected += [
            (
                charger_id,
                seq,
                f["org_id"],
                f["direction"],
                f["action"],
                f["message"],
                f["finding"],
                f["ts"],
            )
            for seq, f in enumerate(mine, start=1)
        ]
    assert [
        (r.charger_id, r.seq, r.org_id, r.direction, r.action, r.message, r.finding, r.ts)
        for r in rows
    ] == expected
    assert stats is not None and stats.pruned == 9

    # The writer numbers on from the migrated frames, and retention keeps the newest.
    c1_before = sum(1 for f in OLD_FRAMES if f["charger_id"] == "c1")
    writer = FrameLogWriter(sessions, retention=10)
    for n in range(3):
        writer.record("acme", "c1", "cp_to_csms", "Heartbeat", f"new-{n}")
    await writer.flush()
    assert await writer.prune() == c1_before + 3 - 10
    await writer.close()
    async with sessions() as session:
        kept = (
            await session.execute(
                select(FrameLog.seq, FrameLog.message)
                .where(FrameLog.charger_id == "c1")
                .order_by(FrameLog.seq)
            )
        ).all()
        stats = await session.get(FrameLogStats, "c1")
    assert [seq for seq, _ in kept] == list(range(c1_before + 3 - 9, c1_before + 4))
    assert [message for _, message in kept][-3:] == ["new-0", "new-1", "new-2"]
    assert stats is not None and stats.pruned == 9 + c1_before + 3 - 10


async def test_downgrade_to_0004_keeps_the_frames_too(engine: AsyncEngine):
    await _alembic(engine, "upgrade", "head")
    sessions = session_factory(engine)
    writer = FrameLogWriter(sessions)
    for frame in OLD_FRAMES[:10]:
        writer.record(
            "acme", frame["charger_id"], frame["direction"], frame["action"], frame["message"]
        )
    await writer.close()

    await _alembic(engine, "downgrade", "0004")
    async with engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT charger_id, message FROM frame_logs ORDER BY id"))
        ).all()
    assert sorted(rows) == sorted((f["charger_id"], f["message"]) for f in OLD_FRAMES[:10])
    await _alembic(engine, "upgrade", "head")  # and up again
