"""Command records: inserted in bulk, finished in batches (a fan-out over a thousand
chargers must not cost a thousand transactions)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voltlab.ids import utcnow
from voltlab.storage.models import Command

log = logging.getLogger(__name__)


class CommandRecorder:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], interval_s: float = 0.2):
        self._sessions = sessions
        self._interval = interval_s
        self._finished: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    async def insert(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        async with self._sessions.begin() as session:
            # Core executemany: a fan-out to a thousand chargers is one statement.
            connection = await session.connection()
            await connection.execute(insert(Command.__table__), rows)

    def finish(self, command_id: str, status: str, result: Any, error: str | None) -> None:
        self._finished.append(
            {
                "b_id": command_id,
                "status": status,
                "result": result,
                "error": error,
                "finished_at": utcnow(),
            }
        )
        self._idle.clear()

    async def flush(self) -> None:
        if not self._finished:
            self._idle.set()
            return
        batch, self._finished = self._finished, []
        table = Command.__table__
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                status=bindparam("status"),
                result=bindparam("result"),
                error=bindparam("error"),
                finished_at=bindparam("finished_at"),
            )
        )
        try:
            async with self._sessions.begin() as session:
                connection = await session.connection()
                await connection.execute(statement, batch)
        except Exception:
            self._finished[:0] = batch
            raise
        if not self._finished:
            self._idle.set()

    async def settled(self) -> None:
        """Wait until every finished command is written (tests, shutdown)."""
        await self._idle.wait()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="command-recorder")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:
                log.exception("command record write failed; retrying")
