"""SQLAlchemy's aiosqlite adapter with one thread hand-over per statement.

aiosqlite runs each sqlite3 call in its own thread, and SQLAlchemy's adapter makes one
call per DB-API step: a one-row read was five round trips (cursor, execute, fetchall,
cursor close, rollback). Each round trip waits for the event loop's current turn to
end, and with 10,000 stations on the loop that is milliseconds: under meter load the
API's p99 was mostly these waits (docs/performance.md). This adapter runs a statement's
cursor, execution, fetch and close as one function in aiosqlite's thread, and skips
commit and rollback when the connection holds no transaction (sqlite3 begins one only
before a write), so a read is one round trip and a write two.

It is the same driver (aiosqlite, sqlite3) and the same dialect; only the DB-API shim
differs, passed to the engine as ``module``.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

# What one statement leaves behind: description, rows (None without a result set),
# rowcount and lastrowid.
_Outcome = tuple[Any, list[Any] | None, int, int | None]


def _run(conn: sqlite3.Connection, many: bool, operation: str, parameters: Any) -> _Outcome:
    """In aiosqlite's thread: the whole life of one cursor."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement, rows and metadata come back in one hand-over."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    # Nothing to close in the thread: the sqlite3 cursor is closed where it ran.
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: OneTripConnection) -> None:
        # No aiosqlite cursor (the base class creates one: a round trip of its own).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = {}
        self._rows = deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> None:
        self._run(False, operation, parameters)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        self._run(True, operation, seq_of_parameters)

    def _run(self, many: bool, operation: Any, parameters: Any) -> None:
        try:
            await_(self._run_async(many, operation, parameters))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _run_async(self, many: bool, operation: Any, parameters: Any) -> None:
        adapt = self._adapt_connection
        async with adapt._execute_mutex:
            connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
            outcome: _Outcome = await connection._execute(
                _run, connection._conn, many, operation, parameters
            )
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = deque(rows) if rows else deque()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """Commit and rollback cost a hand-over only when there is a transaction to end."""

    __slots__ = ()
    _cursor_cls = OneTripCursor

    def _open(self) -> bool:
        # sqlite3's flag (sqlite3_get_autocommit), read on the loop's thread as aiosqlite
        # itself does: nothing runs on this connection in between, since SQLAlchemy ends
        # a transaction only after its statements (and raw driver calls) were awaited.
        # Read live, never cached: the frame log writes through the raw driver.
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        return connection._connection is None or connection.in_transaction

    def commit(self) -> None:
        if self._open():
            super().commit()

    def rollback(self) -> None:
        if self._open():
            super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


def dbapi() -> OneTripDBAPI:
    """The ``module`` argument of an aiosqlite engine."""
    return OneTripDBAPI(aiosqlite, sqlite3)
