"""Command records: queued in memory, written in batches by one task.

A fan-out over a thousand chargers must answer its 202 without waiting for a thousand
rows to reach the database, and a single command must not queue behind the frame log
for SQLite's write lock. So the API queues the rows (``queue``) and the outcomes
(``finish``) here; the recorder's task inserts and updates them in bounded batches, and
``view`` answers for a command that is not written yet, so ``GET /ocpp/commands/{id}``
finds it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voltlab.ids import utcnow
from voltlab.storage.engine import BulkStatement
from voltlab.storage.models import Command

log = logging.getLogger(__name__)

# Rows per transaction: a fan-out to 10,000 chargers is 20 short transactions, with the
# frame log's and station state's batches fitting in between.
BATCH_ROWS = 500

_COLUMNS = (
    "id",
    "org_id",
    "charger_id",
    "event_type",
    "ocpp_version",
    "payload",
    "status",
    "result",
    "error",
    "created_at",
    "finished_at",
)
_OUTCOME = ("status", "result", "error", "finished_at")
_INSERT = BulkStatement(insert(Command.__table__), _COLUMNS)
_table = Command.__table__
_UPDATE = BulkStatement(
    update(_table)
    .where(_table.c.id == bindparam("b_id"))
    .values({name: bindparam(name) for name in _OUTCOME}),
    (*_OUTCOME, "b_id"),
)


class CommandRecorder:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        interval_s: float = 0.2,
        *,
        writer: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        # Writes go through the batch writers' connection when there is one.
        self._writer = writer or sessions
        self._interval = interval_s
        # Rows not inserted yet (an outcome is merged into its row), then the rows of the
        # insert in flight: both answer ``view`` until their transaction commits.
        self._new: dict[str, dict[str, Any]] = {}
        self._inserting: dict[str, dict[str, Any]] = {}
        # Outcomes of inserted rows, not written yet; the update in flight.
        self._finished: dict[str, dict[str, Any]] = {}
        self._updating: dict[str, dict[str, Any]] = {}
        self._flushing = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def queue(self, rows: Iterable[dict[str, Any]]) -> None:
        """Record new commands (every column of ``commands`` but the outcome); no await."""
        for row in rows:
            self._new[row["id"]] = {
                **row,
                "result": row.get("result"),
                "error": row.get("error"),
                "finished_at": row.get("finished_at"),
            }
            self._idle.clear()

    def finish(self, command_id: str, status: str, result: Any, error: str | None) -> None:
        outcome = {"status": status, "result": result, "error": error, "finished_at": utcnow()}
        row = self._new.get(command_id)
        if row is not None:  # not inserted yet: it is inserted with its outcome
            row.update(outcome)
        else:
            self._finished[command_id] = outcome
        self._idle.clear()

    def view(self, command_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """What the database does not hold yet: (the whole row if it is not inserted,
        else None; its outcome if that is not written, else None)."""
        row = self._new.get(command_id) or self._inserting.get(command_id)
        outcome = self._finished.get(command_id) or self._updating.get(command_id)
        return row, outcome

    @property
    def pending(self) -> int:
        return len(self._new) + len(self._inserting) + len(self._finished) + len(self._updating)

    async def flush(self) -> None:
        """Write every queued row, then every outcome (an update needs its row)."""
        async with self._flushing:
            while self._new:
                await self._insert_batch()
                await asyncio.sleep(0)
            while self._finished:
                await self._update_batch()
                await asyncio.sleep(0)
            if not self._new and not self._finished:
                self._idle.set()

    async def _insert_batch(self) -> None:
        ids = list(itertools.islice(self._new, BATCH_ROWS))
        self._inserting = {command_id: self._new.pop(command_id) for command_id in ids}
        try:
            # Taken when written: an outcome that came in meanwhile is in the row.
            rows = [tuple(row[c] for c in _COLUMNS) for row in self._inserting.values()]
            async with self._writer.begin() as session:
                await _INSERT.execute(await session.connection(), rows)
        except BaseException:
            # Back in front, in order, for the next attempt (also on a cancel: close()
            # writes them).
            self._new = {**self._inserting, **self._new}
            raise
        finally:
            self._inserting = {}

    async def _update_batch(self) -> None:
        ids = list(itertools.islice(self._finished, BATCH_ROWS))
        self._updating = {command_id: self._finished.pop(command_id) for command_id in ids}
        try:
            rows = [
                (*(outcome[c] for c in _OUTCOME), command_id)
                for command_id, outcome in self._updating.items()
            ]
            async with self._writer.begin() as session:
                await _UPDATE.execute(await session.connection(), rows)
        except BaseException:
            for command_id, outcome in self._updating.items():
                self._finished.setdefault(command_id, outcome)  # a newer outcome wins
            raise
        finally:
            self._updating = {}

    async def settled(self) -> None:
        """Wait until every queued command and outcome is written (tests, shutdown)."""
        await self._idle.wait()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="command-recorder")

    async def close(self, timeout: float = 10.0) -> None:
        """Stop the task (it finishes its batch rather than being cancelled in it) and
        write what is left."""
        task, self._task = self._task, None
        if task is not None:
            self._closing = True
            self._wakeup.set()
            _, pending = await asyncio.wait({task}, timeout=timeout)
            for stuck in pending:  # a database that hangs must not hang the shutdown
                stuck.cancel()
                await asyncio.gather(stuck, return_exceptions=True)
        await self.flush()

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wakeup.wait()
            self._wakeup.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("command record write failed; retrying")
