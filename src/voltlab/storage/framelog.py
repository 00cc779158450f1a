"""The OCPP frame log: stations append in memory, one task writes batches.

Never a database round trip per frame. Frames beyond the per-charger retention are
pruned and counted in ``frame_log_stats``; frames that find the buffer full are counted
in ``dropped`` (and reported by ``/health``): nothing disappears silently.

The writer shares the event loop with the API and every station, so each unit of its
work is bounded: a batch is at most ``batch_size`` rows that were already tuples when
recorded, and retention is enforced a few chargers at a time for the chargers that got
frames, never by a scan of the whole table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voltlab.ids import utcnow
from voltlab.storage.engine import BulkStatement
from voltlab.storage.models import FrameLog, FrameLogStats

log = logging.getLogger(__name__)

# Retention work per step of the writer task: the chargers whose counts are looked up
# in one query, and the oldest frames one charger loses per statement. Both keep a step
# to milliseconds, so the flushes around it (and the API's writes) never wait long.
PRUNE_CHARGERS_PER_STEP = 500
PRUNE_ROWS_PER_DELETE = 5_000
# A step at most this often: retention is a bound, not a deadline.
PRUNE_EVERY_S = 1.0

_COLUMNS = ("org_id", "charger_id", "direction", "action", "message", "finding", "ts")
_INSERT = BulkStatement(insert(FrameLog.__table__), _COLUMNS)

# (org_id, charger_id, direction, action, message, finding, ts): a tuple costs less to
# build on the hot path and to hold in a 200,000-frame buffer than a dict.
Frame = tuple[str, str, str, str, str, str | None, datetime]


class FrameLogWriter:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        flush_interval_s: float = 0.5,
        batch_size: int = 2_000,
        queue_size: int = 200_000,
        retention: int = 5_000,
        writer: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self._sessions = sessions
        # Writes go through the batch writers' connection when there is one (see
        # ``create_writer_engine``); retention counts are reads and use ``sessions``.
        self._writer = writer or sessions
        self._flush_interval = flush_interval_s
        self._batch_size = max(1, batch_size)
        self._queue_size = queue_size
        self._retention = retention
        self._buffer: deque[Frame] = deque()
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()
        self._last_prune = 0.0
        # Retention bookkeeping, per charger: frames written since its last check, and
        # its row count as of that check (absent: not checked since voltlab started).
        self._added: dict[str, int] = {}
        self._known: dict[str, int] = {}
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
            (
                org_id,
                charger_id,
                direction,
                action[:64],
                # PostgreSQL text cannot hold NUL; a CSMS that sends one is logged escaped.
                message.replace("\x00", "\\u0000") if "\x00" in message else message,
                finding[:255] if finding else None,
                utcnow(),
            )
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
        """Write every buffered frame, one transaction per ``batch_size`` frames."""
        async with self._flushing:  # one batch in flight: frames stay in order
            while self._buffer:
                count = min(len(self._buffer), self._batch_size)
                batch = [self._buffer.popleft() for _ in range(count)]
                try:
                    async with self._writer.begin() as session:
                        await _INSERT.execute(await session.connection(), batch)
                except BaseException:
                    # Keep the frames for the next attempt rather than losing them (also
                    # on a cancel: close() flushes them).
                    self._buffer.extendleft(reversed(batch))
                    raise
                self.written += count
                added = self._added
                for frame in batch:
                    added[frame[1]] = added.get(frame[1], 0) + 1

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_interval):
                    await self._wakeup.wait()
            self._wakeup.clear()
            try:
                await self.flush()
                if not self._closing and loop.time() - self._last_prune >= PRUNE_EVERY_S:
                    self._last_prune = loop.time()
                    await self._prune_step()
            except Exception:
                log.exception("frame log write failed; retrying")
                if not self._closing:
                    await asyncio.sleep(1.0)

    async def prune(self) -> int:
        """Delete the oldest frames of chargers over the retention limit; count them.

        Only chargers that got frames since their last check can have gone over, so
        only those are looked at; returns the number of frames pruned.
        """
        total = 0
        while True:
            pruned, more = await self._prune_step()
            total += pruned
            if not more:
                return total

    def _candidates(self) -> list[str]:
        """Chargers that may be over the retention: new frames, and either never checked
        since start or checked with a count that the new frames push over the limit."""
        out: list[str] = []
        for charger_id, added in self._added.items():
            known = self._known.get(charger_id)
            if known is None or known + added > self._retention:
                out.append(charger_id)
                if len(out) >= PRUNE_CHARGERS_PER_STEP:
                    break
        return out

    async def _prune_step(self) -> tuple[int, bool]:
        """Check a bounded number of candidates; (frames pruned, candidates left)."""
        candidates = self._candidates()
        if not candidates:
            return 0, False
        # Frames flushed while the count runs are not in it: they stay in ``_added``.
        taken = {charger_id: self._added.pop(charger_id, 0) for charger_id in candidates}
        try:
            counts = await self._count(candidates)
            over = {cid: n - self._retention for cid, n in counts.items() if n > self._retention}
            pruned = await self._delete_oldest(over) if over else {}
        except BaseException:
            for charger_id, added in taken.items():  # look again at the next step
                self._added[charger_id] = self._added.get(charger_id, 0) + added
            raise
        for charger_id in candidates:
            self._known[charger_id] = counts.get(charger_id, 0) - pruned.get(charger_id, 0)
            if self._known[charger_id] > self._retention:  # more than one delete's worth
                self._added.setdefault(charger_id, 0)
        return sum(pruned.values()), bool(self._candidates())

    async def _count(self, charger_ids: Sequence[str]) -> dict[str, int]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(FrameLog.charger_id, func.count())
                .where(FrameLog.charger_id.in_(charger_ids))
                .group_by(FrameLog.charger_id)
            )
            return {charger_id: int(count) for charger_id, count in rows.all()}

    async def _delete_oldest(self, over: dict[str, int]) -> dict[str, int]:
        """Delete each charger's oldest frames (at most one bounded delete per charger)
        and add them to its pruned count, in one transaction."""
        pruned: dict[str, int] = {}
        async with self._writer.begin() as session:
            for charger_id, excess in over.items():
                oldest = (
                    select(FrameLog.id)
                    .where(FrameLog.charger_id == charger_id)
                    .order_by(FrameLog.id)
                    .limit(min(excess, PRUNE_ROWS_PER_DELETE))
                )
                deleted = await session.execute(
                    delete(FrameLog).where(FrameLog.id.in_(oldest.scalar_subquery()))
                )
                count = int(deleted.rowcount)  # type: ignore[attr-defined]
                if not count:
                    continue
                pruned[charger_id] = count
                updated = await session.execute(
                    update(FrameLogStats)
                    .where(FrameLogStats.charger_id == charger_id)
                    .values(pruned=FrameLogStats.pruned + count)
                )
                if updated.rowcount == 0:  # type: ignore[attr-defined]
                    await session.execute(
                        insert(FrameLogStats).values(charger_id=charger_id, pruned=count)
                    )
        return pruned


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
    conditions: list[Any] = [FrameLog.org_id == org_id, FrameLog.charger_id == charger_id]
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
