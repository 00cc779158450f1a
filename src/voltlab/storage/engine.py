"""Engine, session factory, the batch writers' engine and start-up migrations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Dialect
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql.dml import Insert, Update

from voltlab.storage import sqlite_driver

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# How long a batch writer waits for the writer connection before its flush fails and is
# retried: far above one bounded batch (milliseconds), so only a stuck database hits it.
WRITER_POOL_TIMEOUT_S = 120.0


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, echo=echo)
    return create_async_engine(
        url,
        echo=echo,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        json_serializer=json_text,
        json_deserializer=orjson.loads,
    )


def create_writer_engine(engine: AsyncEngine) -> AsyncEngine:
    """The engine of the batch writers (frame log, station state, command records), on
    the database of ``engine``.

    SQLite has one write lock per file. Writers on separate connections contend for it
    through SQLite's busy handler, which polls with sleeps of up to 100 ms and is not
    fair: under load a writer (or an API request behind it) could wait for seconds. One
    connection for every batch writer queues them in order in the pool instead, and
    keeps them off the API's pool so its reads never wait for a connection held by a
    writer. PostgreSQL has row locks: a small pool of its own is enough.

    An in-memory SQLite database exists only on ``engine``'s one connection: then
    ``engine`` itself is returned.
    """
    url, echo = engine.url, engine.echo
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:" or url.query.get("mode") == "memory":
            return engine
        return _sqlite_engine(url, echo=echo, pool_size=1, pool_timeout=WRITER_POOL_TIMEOUT_S)
    return create_async_engine(
        url,
        echo=echo,
        pool_size=3,
        max_overflow=0,
        pool_timeout=WRITER_POOL_TIMEOUT_S,
        pool_pre_ping=True,
        json_serializer=json_text,
        json_deserializer=orjson.loads,
    )


def _sqlite_engine(url: str | URL, *, echo: bool, **pool: Any) -> AsyncEngine:
    if pool:
        pool.setdefault("max_overflow", 0)
    engine = create_async_engine(
        url,
        echo=echo,
        connect_args={"timeout": 30},
        # Every statement is a round trip to aiosqlite's thread, and a busy event loop
        # makes each one cost milliseconds. Sessions always end their transaction
        # (commit, or rollback on close), so the pool's own rollback when a connection
        # comes back was a second, empty one on every request.
        pool_reset_on_return=None,
        # One hand-over to aiosqlite's thread per statement, not four (sqlite_driver).
        module=sqlite_driver.dbapi(),
        json_serializer=json_text,
        json_deserializer=orjson.loads,
        **pool,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets the API read while the writers write; NORMAL is durable enough in WAL
        # mode (a power cut may lose the last commits, a crash of voltlab loses nothing)
        # and several times faster than FULL.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def json_text(value: Any) -> str:
    """A JSON column's value as its columns store it (orjson: the station-state and
    command columns are JSON written in batches; the standard library encoder was a top
    entry of the profile under meter load)."""
    return orjson.dumps(value).decode()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


Processor = Callable[[Any], Any]


class BulkStatement:
    """An INSERT or UPDATE run as one executemany of plain tuples.

    SQLAlchemy's Core executemany builds and type-processes a parameter dict per row
    on the event loop (``construct_params`` was a top entry of the meter-load profile).
    Here the statement is compiled once per dialect and each row is a tuple in
    ``names`` order; only the columns whose type needs it (datetimes, JSON) are
    converted, with the dialect's own bind processors, so rows are stored exactly as
    the ORM writes and reads them.

    >>> frames = BulkStatement(insert(FrameLog.__table__), ["charger_id", "message"])
    >>> await frames.execute(connection, [("c1", "..."), ("c2", "...")])
    """

    def __init__(
        self, statement: Insert | Update, names: Sequence[str], *, encoded: Sequence[str] = ()
    ) -> None:
        """``encoded``: columns whose values the caller passes already as the driver
        takes them (e.g. JSON text), so that their cost falls where the caller can
        bound it rather than in one slice of the loop here."""
        if isinstance(statement, Insert):
            statement = statement.inline()  # no RETURNING of generated keys
        self._statement = statement
        self._names = tuple(names)
        self._encoded = frozenset(encoded)
        self._compiled: dict[str, tuple[str, list[int], list[tuple[int, Processor]]]] = {}

    def _for(self, dialect: Dialect) -> tuple[str, list[int], list[tuple[int, Processor]]]:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            sql = self._statement.compile(dialect=dialect, column_keys=list(self._names))
            positions = sql.positiontup or []
            order = [self._names.index(name) for name in positions]
            processors: list[tuple[int, Processor]] = []
            for at, name in enumerate(positions):
                if name in self._encoded:
                    continue
                kind = sql.binds[name].type
                processor = kind.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    processors.append((at, processor))
            compiled = self._compiled[dialect.name] = (str(sql), order, processors)
        return compiled

    async def execute(self, connection: AsyncConnection, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        sql, order, processors = self._for(connection.dialect)
        if processors:
            params: list[tuple[Any, ...]] = []
            for row in rows:
                values = [row[i] for i in order]
                for at, processor in processors:
                    values[at] = processor(values[at])
                params.append(tuple(values))
        elif order == list(range(len(order))):
            params = [tuple(row) for row in rows]
        else:
            params = [tuple(row[i] for i in order) for row in rows]
        await connection.exec_driver_sql(sql, params)


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision; existing rows are kept."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
