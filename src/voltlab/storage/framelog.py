"""The OCPP frame log: stations append in memory, one task writes batches.

Never a database round trip per frame. Frames beyond the per-charger retention are
pruned and counted in ``frame_log_stats``; frames that find the buffer full are counted
in ``dropped`` (and reported by ``/health``): nothing disappears silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voltlab.ids import utcnow
from voltlab.storage.models import FrameLog, FrameLogStats

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 30.0


class FrameLogWriter:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        flush_interval_s: float = 0.5,
        batch_size: int = 2_000,
        queue_size: int = 200_000,
        retention: int = 5_000,
    ) -> None:
        self._sessions = sessions
        self._flush_interval = flush_interval_s
        self._batch_size = batch_size
        self._queue_size = queue_size
        self._retention = retention
        self._buffer: deque[dict[str, Any]] = deque()
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0.0
        self.written = 0
        self.dropped = 0

    # Called by stations on every frame: O(1), no awaits.
    def record(
        self,
        org_id: str,
        charger_id: str,
        direction: str,
        action: str,
        message: str,
        finding: str | None = None,
    ) -> None:
        if len(self._buffer) >= self._queue_size:
            self.dropped += 1
            return
        self._buffer.append(
            {
                "org_id": org_id,
                "charger_id": charger_id,
                "direction": direction,
                "action": action[:64],
                # PostgreSQL text cannot hold NUL; a CSMS that sends one is logged escaped.
                "message": message.replace("\x00", "\\u0000") if "\x00" in message else message,
                "finding": finding[:255] if finding else None,
                "ts": utcnow(),
            }
        )
        if len(self._buffer) >= self._batch_size:
            self._wakeup.set()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="framelog-writer")

    async def close(self, timeout: float = 10.0) -> None:
        """Stop the writer and flush every buffered frame (no frame lost on shutdown).

        The writer task is asked to finish its batch rather than cancelled: a cancel
        landing inside an insert would lose the batch in flight.
        """
        task, self._task = self._task, None
        if task is not None:
            self._closing = True
            self._wakeup.set()
            _, pending = await asyncio.wait({task}, timeout=timeout)
            for stuck in pending:  # a database that hangs must not hang the shutdown
                stuck.cancel()
                await asyncio.gather(stuck, return_exceptions=True)
        try:
            await self.flush()
        except Exception:
            log.exception("frame log: %d buffered frame(s) lost on shutdown", len(self._buffer))
            self.dropped += len(self._buffer)
            self._buffer.clear()

    async def flush(self) -> None:
        while self._buffer:
            count = min(len(self._buffer), self._batch_size)
            batch = [self._buffer.popleft() for _ in range(count)]
            try:
                async with self._sessions.begin() as session:
                    # Core executemany: the ORM bulk path costs several times more per row.
                    connection = await session.connection()
                    await connection.execute(insert(FrameLog.__table__), batch)
            except BaseException:
                # Keep the frames for the next attempt rather than losing them.
                self._buffer.extendleft(reversed(batch))
                raise
            self.written += count

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_interval):
                    await self._wakeup.wait()
            self._wakeup.clear()
            try:
                await self.flush()
                if not self._closing and loop.time() - self._last_prune > PRUNE_EVERY_S:
                    self._last_prune = loop.time()
                    await self.prune()
            except Exception:
                log.exception("frame log write failed; retrying")
                if not self._closing:
                    await asyncio.sleep(1.0)

    async def prune(self) -> int:
        """Delete the oldest frames of chargers over the retention limit; count them."""
        pruned_total = 0
        async with self._sessions.begin() as session:
            over = (
                await session.execute(
                    select(FrameLog.charger_id, func.count())
                    .group_by(FrameLog.charger_id)
                    .having(func.count() > self._retention)
                )
            ).all()
            for charger_id, _count in over:
                cutoff = await session.scalar(
                    select(FrameLog.id)
                    .where(FrameLog.charger_id == charger_id)
                    .order_by(FrameLog.id.desc())
                    .offset(self._retention)
                    .limit(1)
                )
                if cutoff is None:
                    continue
                deleted = await session.execute(
                    delete(FrameLog).where(FrameLog.charger_id == charger_id, FrameLog.id <= cutoff)
                )
                pruned = int(deleted.rowcount)  # type: ignore[attr-defined]
                pruned_total += pruned
                updated = await session.execute(
                    update(FrameLogStats)
                    .where(FrameLogStats.charger_id == charger_id)
                    .values(pruned=FrameLogStats.pruned + pruned)
                )
                if updated.rowcount == 0:  # type: ignore[attr-defined]
                    session.add(FrameLogStats(charger_id=charger_id, pruned=pruned))
        return pruned_total


async def query_frames(
    session: AsyncSession,
    *,
    org_id: str,
    charger_id: str,
    start: datetime | None,
    end: datetime | None,
    action: str | None,
    limit: int,
    offset: int,
) -> tuple[list[FrameLog], int]:
    conditions = [FrameLog.org_id == org_id, FrameLog.charger_id == charger_id]
    if start is not None:
        conditions.append(FrameLog.ts >= start)
    if end is not None:
        conditions.append(FrameLog.ts <= end)
    if action:
        conditions.append(FrameLog.action == action)
    total = await session.scalar(select(func.count()).select_from(FrameLog).where(*conditions))
    rows = (
        await session.scalars(
            select(FrameLog)
            .where(*conditions)
            .order_by(FrameLog.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return list(rows), int(total or 0)
