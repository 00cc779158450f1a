"""The SQLite adapter that runs each statement in one hand-over to aiosqlite's thread.

What it must keep of the DB-API: rows and their description, rowcount and lastrowid,
executemany, errors mapped to SQLAlchemy's, transactions ended (never left holding
SQLite's write lock), including after writes made through the raw driver connection as
the frame log makes them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from voltlab.storage.engine import create_engine, create_writer_engine

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    async with engine.begin() as conn:
        await conn.exec_driver_sql(
            "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL)"
        )
    yield engine
    await engine.dispose()


@pytest.fixture
def handovers(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Calls made in aiosqlite's thread, by function name (a spy on the library)."""
    seen: Counter[str] = Counter()
    original = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen[getattr(fn, "__name__", repr(fn))] += 1
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    return seen


async def test_a_read_is_one_hand_over_and_a_write_two(
    engine: AsyncEngine, handovers: Counter[str]
) -> None:
    async with engine.connect() as conn:  # a pooled connection, as a request gets it
        await conn.execute(text("SELECT 1"))
        await conn.rollback()
    handovers.clear()
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, name FROM t"))).all()
    assert rows == []
    assert sum(handovers.values()) == 1, handovers  # no cursor, fetch, close or rollback

    handovers.clear()
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
    assert sum(handovers.values()) == 2, handovers  # the statement and the commit


async def test_rows_description_rowcount_and_lastrowid(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        first = await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
        second = await conn.execute(text("INSERT INTO t (name) VALUES ('b')"))
        assert (first.lastrowid, second.lastrowid) == (1, 2)
        many = await conn.execute(
            text("INSERT INTO t (name) VALUES (:name)"), [{"name": "c"}, {"name": "d"}]
        )
        assert many.rowcount == 2
        updated = await conn.execute(text("UPDATE t SET name = name || '!' WHERE id > 2"))
        assert updated.rowcount == 2
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT id, name FROM t ORDER BY id"))
        assert list(result.keys()) == ["id", "name"]
        assert [tuple(r) for r in result] == [(1, "a"), (2, "b"), (3, "c!"), (4, "d!")]
        assert (await conn.execute(text("SELECT name FROM t WHERE id = 9"))).first() is None
        assert await conn.scalar(text("SELECT count(*) FROM t")) == 4


async def test_a_failed_write_rolls_back_and_leaves_no_lock(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
    with pytest.raises(IntegrityError, match="UNIQUE"):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES ('b')"))
            await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
    with pytest.raises(OperationalError, match="no such table"):
        async with engine.connect() as conn:
            await conn.execute(text("SELECT * FROM missing"))
    # Another connection can write at once: nothing kept the write lock.
    other = create_engine(str(engine.url))
    try:
        async with asyncio.timeout(5), other.begin() as conn:
            await conn.exec_driver_sql("PRAGMA busy_timeout=100")
            await conn.execute(text("INSERT INTO t (name) VALUES ('c')"))
    finally:
        await other.dispose()
    async with engine.connect() as conn:
        names = (await conn.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all()
    assert names == ["a", "c"]  # 'b' went with its transaction


async def test_a_raw_driver_write_is_committed(engine: AsyncEngine) -> None:
    """The frame log writes through aiosqlite directly, then commits through SQLAlchemy:
    the adapter must see that transaction (its skip of empty commits reads sqlite3's
    own flag, not what its last statement left)."""
    writer = create_writer_engine(engine)
    try:
        async with writer.begin() as conn:
            await conn.execute(text("SELECT count(*) FROM t"))  # a read first, no transaction
            raw = (await conn.get_raw_connection()).driver_connection
            await raw.executemany("INSERT INTO t (name) VALUES (?)", [("x",), ("y",)])
        async with engine.connect() as conn:
            count = await conn.scalar(text("SELECT count(*) FROM t"))
        assert count == 2
        async with asyncio.timeout(5), engine.begin() as conn:  # and the lock is free
            await conn.exec_driver_sql("PRAGMA busy_timeout=100")
            await conn.execute(text("INSERT INTO t (name) VALUES ('z')"))
    finally:
        await writer.dispose()
