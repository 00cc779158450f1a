"""Durable station state: loaded when a station starts, written in batches when it changes.

A station marks itself dirty on every durable change; one task writes the dirty ones
every ``interval`` (one statement per chunk, never a round trip per frame), and
``close`` writes what is left, so a SIGTERM loses nothing.

The snapshots are taken and encoded on the event loop that also runs the API and every
station, so a flush works in chunks bounded in rows and in time, each its own short
transaction, and yields to the loop between them. A boot storm that marks 10,000
stations dirty at once becomes a few hundred slices of a few milliseconds, not one
stall of seconds holding the loop and SQLite's write lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voltlab.ids import utcnow
from voltlab.storage.engine import BulkStatement, json_text
from voltlab.storage.models import StationState

log = logging.getLogger(__name__)

Snapshot = Callable[[], dict[str, Any]]

# One chunk: at most this many stations, and no more snapshots once this much loop time
# went into taking and encoding them (a large local list or cache costs more).
CHUNK_ROWS = 200
CHUNK_BUDGET_S = 0.002
# Stations woken per loop iteration once their state is written: each one goes on to
# send its transaction message at once, and waking a whole chunk together would run all
# those sends in a single iteration of the loop.
WAKE_PER_ITERATION = 10

# Lazy marks (a change that can wait, see ``mark``) are written at least this often.
LAZY_EVERY_S = 5.0

_COLUMNS = ("charger_id", "org_id", "data", "updated_at")


def _upsert(dialect: Any) -> Any:
    table = StationState.__table__
    statement = dialect.insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.charger_id],
        set_={"data": statement.excluded.data, "updated_at": statement.excluded.updated_at},
    )


# ``data`` is encoded while the chunk is taken, within its time budget.
_UPSERTS = {
    "sqlite": BulkStatement(_upsert(sqlite), _COLUMNS, encoded=("data",)),
    "postgresql": BulkStatement(_upsert(postgresql), _COLUMNS, encoded=("data",)),
}


class StationStateStore:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        interval_s: float = 0.2,
        writer: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self._sessions = sessions
        # Writes go through the batch writers' connection when there is one (see
        # ``create_writer_engine``); loading state is a read and uses ``sessions``.
        self._writer = writer or sessions
        self._interval = interval_s
        self._dirty: dict[str, tuple[str, Snapshot]] = {}
        self._lazy: dict[str, tuple[str, Snapshot]] = {}
        self._lazy_due = time.monotonic() + LAZY_EVERY_S
        # The chunk in its transaction right now: its stations are not durable yet.
        self._writing: dict[str, tuple[str, Snapshot]] = {}
        # One flush at a time: the background task, a read-out and close() may all ask.
        self._flushing = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        # charger id -> futures of stations waiting until its state is written
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self.writes = 0

    async def load_many(self, charger_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        async with self._sessions() as session:
            for start in range(0, len(charger_ids), 500):
                rows = await session.execute(
                    select(StationState.charger_id, StationState.data).where(
                        StationState.charger_id.in_(charger_ids[start : start + 500])
                    )
                )
                found.update({charger_id: data for charger_id, data in rows.all()})
        return found

    def mark(self, charger_id: str, org_id: str, snapshot: Snapshot, *, lazy: bool = False) -> None:
        """O(1); the snapshot is taken when the batch is written, so it is the newest.

        ``lazy``: a change that may wait up to ``LAZY_EVERY_S`` (or the station's next
        change) and that a crash may lose, such as a meter sample's answer popping the
        queue: after a kill -9 that sample is sent again (at least once). SIGTERM still
        writes it. Every charging station answers a sample every 10 s: writing each
        answer at once doubled the state writes of a fleet under meter load."""
        if lazy:
            if charger_id not in self._dirty:
                self._lazy[charger_id] = (org_id, snapshot)
            return
        self._lazy.pop(charger_id, None)
        self._dirty[charger_id] = (org_id, snapshot)

    async def persisted(self, charger_id: str) -> None:
        """Return once this charger's latest marked state is in the database.

        Stations await this before sending a transaction message, so a message the CSMS
        has seen is never missing from the store after a crash (kill -9). One future per
        waiter: a write wakes only the stations it wrote.
        """
        while charger_id in self._dirty or charger_id in self._writing:
            future = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(charger_id, []).append(future)
            await future

    def forget(self, charger_id: str) -> None:
        self._dirty.pop(charger_id, None)
        self._lazy.pop(charger_id, None)

    async def delete(self, charger_ids: Sequence[str]) -> None:
        # Under the flush lock: a chunk in flight must not write a row back after this.
        async with self._flushing:
            for charger_id in charger_ids:
                self._dirty.pop(charger_id, None)
                self._lazy.pop(charger_id, None)
            async with self._writer.begin() as session:
                for start in range(0, len(charger_ids), 500):
                    await session.execute(
                        delete(StationState).where(
                            StationState.charger_id.in_(charger_ids[start : start + 500])
                        )
                    )

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="station-state-writer")

    async def close(self, timeout: float = 10.0) -> None:
        """Stop the writer task and write every dirty station (nothing lost on SIGTERM).

        The task is asked to stop rather than cancelled, so a chunk in its transaction
        is finished, not abandoned half-way.
        """
        task, self._task = self._task, None
        if task is not None:
            self._closing = True
            self._wakeup.set()
            _, pending = await asyncio.wait({task}, timeout=timeout)
            for stuck in pending:  # a database that hangs must not hang the shutdown
                stuck.cancel()
                await asyncio.gather(stuck, return_exceptions=True)
        await self.flush()

    async def flush(self, *, lazy: bool = True) -> None:
        """Write every station marked before the call, chunk by chunk (the lazy marks
        too unless ``lazy`` is False)."""
        async with self._flushing:
            if lazy and self._lazy:
                for charger_id, marked in self._lazy.items():
                    self._dirty.setdefault(charger_id, marked)
                self._lazy.clear()
            due = list(self._dirty)
            at = 0
            while at < len(due):
                if at:
                    await asyncio.sleep(0)  # the loop runs its other work between chunks
                at = await self._write_chunk(due, at)

    async def _write_chunk(self, due: list[str], at: int) -> int:
        """Snapshot and write the stations of ``due`` from ``at`` that are still dirty,
        as many as fit in one chunk; where the next chunk starts."""
        deadline = time.perf_counter() + CHUNK_BUDGET_S
        now = utcnow()
        chunk: dict[str, tuple[str, Snapshot]] = {}
        rows: list[tuple[str, str, str, Any]] = []
        while at < len(due) and len(rows) < CHUNK_ROWS and time.perf_counter() < deadline:
            charger_id = due[at]
            at += 1
            marked = self._dirty.pop(charger_id, None)
            if marked is None:  # written by an earlier chunk, or forgotten
                continue
            chunk[charger_id] = marked
            rows.append((charger_id, marked[0], json_text(marked[1]()), now))
        if not rows:
            return at
        self._writing = chunk
        try:
            async with self._writer.begin() as session:
                connection = await session.connection()
                await _UPSERTS[connection.dialect.name].execute(connection, rows)
        except BaseException:
            for charger_id, value in chunk.items():  # keep them for the next attempt
                self._dirty.setdefault(charger_id, value)
            raise
        finally:
            self._writing = {}
            # Wake the stations of this chunk (after a failure they re-check and wait).
            await self._wake(chunk)
        self.writes += len(rows)
        return at

    async def _wake(self, written: dict[str, Any]) -> None:
        """Resolve the waiters of ``written``, ``WAKE_PER_ITERATION`` per loop iteration;
        all of them whatever happens (a waiter left unresolved would hang its station)."""
        futures = [f for charger_id in written for f in self._waiters.pop(charger_id, ())]
        try:
            for start in range(0, len(futures), WAKE_PER_ITERATION):
                if start:
                    await asyncio.sleep(0)  # let the woken stations send first
                for future in futures[start : start + WAKE_PER_ITERATION]:
                    if not future.done():
                        future.set_result(None)
        finally:
            for future in futures:
                if not future.done():
                    future.set_result(None)

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wakeup.wait()
            self._wakeup.clear()
            lazy = time.monotonic() >= self._lazy_due
            if lazy:
                self._lazy_due = time.monotonic() + LAZY_EVERY_S
            try:
                await self.flush(lazy=lazy)
            except Exception:
                log.exception("station state write failed; retrying")
