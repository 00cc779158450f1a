"""Durable station state: loaded when a station starts, written in batches when it changes.

A station marks itself dirty on every durable change; one task writes the dirty ones
every ``interval`` (one statement per batch, never a round trip per frame), and
``close`` writes what is left, so a SIGTERM loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voltlab.ids import utcnow
from voltlab.storage.models import StationState

log = logging.getLogger(__name__)

Snapshot = Callable[[], dict[str, Any]]


class StationStateStore:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, interval_s: float = 0.2
    ) -> None:
        self._sessions = sessions
        self._interval = interval_s
        self._dirty: dict[str, tuple[str, Snapshot]] = {}
        self._writing: dict[str, tuple[str, Snapshot]] = {}
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

    def mark(self, charger_id: str, org_id: str, snapshot: Snapshot) -> None:
        """O(1); the snapshot is taken when the batch is written, so it is the newest."""
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

    async def delete(self, charger_ids: Sequence[str]) -> None:
        for charger_id in charger_ids:
            self._dirty.pop(charger_id, None)
        async with self._sessions.begin() as session:
            for start in range(0, len(charger_ids), 500):
                await session.execute(
                    delete(StationState).where(
                        StationState.charger_id.in_(charger_ids[start : start + 500])
                    )
                )

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="station-state-writer")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        if not self._dirty:
            return
        batch, self._dirty = self._dirty, {}
        self._writing = batch
        now = utcnow()
        rows = [
            {"charger_id": cid, "org_id": org, "data": snapshot(), "updated_at": now}
            for cid, (org, snapshot) in batch.items()
        ]
        try:
            async with self._sessions.begin() as session:
                await _upsert(session, rows)
        except Exception:
            for cid, value in batch.items():  # keep them for the next attempt
                self._dirty.setdefault(cid, value)
            raise
        finally:
            self._writing = {}
            # Wake the stations of this batch (on failure they re-check and wait again).
            for charger_id in batch:
                for future in self._waiters.pop(charger_id, ()):
                    if not future.done():
                        future.set_result(None)
        self.writes += len(rows)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:
                log.exception("station state write failed; retrying")


async def _upsert(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """One executemany of a single-row upsert: compiled once and cached, unlike a
    500-row VALUES statement that SQLAlchemy would build anew for every batch."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    table = StationState.__table__
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.charger_id],
        set_={"data": statement.excluded.data, "updated_at": statement.excluded.updated_at},
    )
    connection = await session.connection()
    await connection.execute(statement, rows)
