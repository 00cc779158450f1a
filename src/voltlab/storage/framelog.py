"""The OCPP frame log: stations append in memory, one task writes batches.

Never a database round trip per frame. Frames beyond the per-charger retention are
pruned and counted in ``frame_log_stats``; frames that find the buffer full are counted
in ``dropped`` (and reported by ``/health``): nothing disappears silently.

The writer shares the event loop with the API and every station, so each unit of its
work is bounded: a batch is at most ``batch_size`` rows that were already tuples when
recorded, and retention is enforced a few chargers at a time for the chargers that got
frames, never by a scan of the whole table.

Throughput (issue 9: >= 50,000 frames/s, measured by ``bench/framelog.py``): a
transaction holds one batch while the writer keeps up, and more batches, up to
``MAX_BATCHES_PER_TRANSACTION``, once a backlog builds: what a commit costs (the WAL
flush on PostgreSQL, on SQLite the index pages a transaction rewrites) is then shared
by more rows. The rows go to the driver directly: binary ``COPY`` on PostgreSQL
(asyncpg); on SQLite ``executemany`` in aiosqlite's thread, which also formats the
timestamps. The loop does little more per row than move a tuple.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

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
# A backlog is written in transactions of up to this many batches; a transaction takes
# no further batch once it has been open this long, since the other batch writers queue
# for the same connection (the only one, on SQLite). On SQLite (bench/framelog.py, two
# shared cores, retention pruning included) a backlog went out at ~19,000 frames/s with
# 0.25 s, ~23,000 with 0.5 s, ~28,000 with 1 s; a retention step holds it about as long.
# The frames of the transaction in flight are out of the buffer: at most this many
# batches on top of ``queue_size`` are in memory.
MAX_BATCHES_PER_TRANSACTION = 16
TRANSACTION_BUDGET_S = 0.5
# Rows per COPY on PostgreSQL: asyncpg encodes them without yielding to the loop, about
# 2.5 us a row (a batch of 2,000 in one COPY held the loop for 5-10 ms).
COPY_ROWS = 500

_COLUMNS = ("org_id", "charger_id", "direction", "action", "message", "finding", "ts")
_INSERT = BulkStatement(insert(FrameLog.__table__), _COLUMNS)
_TABLE = FrameLog.__tablename__
_SQLITE_INSERT = f"INSERT INTO {_TABLE} ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * 7)})"
# COPY goes to asyncpg directly, in the transaction SQLAlchemy opens (and commits or
# rolls back as usual): SQLAlchemy only issues BEGIN with a first statement.
_PG_BEGIN = "SELECT 1"

# Retention's statements, as text: built and compiled once, not per charger per step.
# The oldest frames are found in the (charger_id, ts) index order (id breaks ties):
# ordered by id alone, each delete sorted all of the charger's frames (SQLite), or
# fetched each of them from the table (PostgreSQL).
_DELETE_OLDEST = text(
    f"DELETE FROM {_TABLE} WHERE id IN (SELECT id FROM {_TABLE}"
    " WHERE charger_id = :charger_id ORDER BY ts, id LIMIT :limit)"
)
_STATS = FrameLogStats.__tablename__
_ADD_PRUNED = text(
    f"INSERT INTO {_STATS} (charger_id, pruned) VALUES (:charger_id, :pruned)"
    f" ON CONFLICT (charger_id) DO UPDATE SET pruned = {_STATS}.pruned + excluded.pruned"
)
# PostgreSQL: one statement for all the step's chargers. The doomed rows are deleted by
# ctid (a TID scan, in heap order) rather than joined on id, which probed the primary
# key once per row and took twice as long. Frames are never updated, so a ctid read in
# this statement names the same row when the delete comes.
_PG_PRUNE = text(
    f"""
    WITH doomed AS (
        SELECT oldest.ctid
        FROM unnest(CAST(:chargers AS VARCHAR[]), CAST(:limits AS INTEGER[])) AS o(cid, n)
        CROSS JOIN LATERAL (
            SELECT ctid FROM {_TABLE} WHERE charger_id = o.cid ORDER BY ts, id LIMIT o.n
        ) AS oldest
    ), deleted AS (
        DELETE FROM {_TABLE} WHERE ctid = ANY (ARRAY(SELECT ctid FROM doomed))
        RETURNING charger_id
    ), counted AS (
        SELECT charger_id, count(*) AS n FROM deleted GROUP BY charger_id
    ), stats AS (
        INSERT INTO {_STATS} (charger_id, pruned) SELECT charger_id, n FROM counted
        ON CONFLICT (charger_id) DO UPDATE SET pruned = {_STATS}.pruned + excluded.pruned
    )
    SELECT charger_id, n FROM counted
    """
)

# (org_id, charger_id, direction, action, message, finding, ts): a tuple costs less to
# build on the hot path and to hold in a 200,000-frame buffer than a dict.
Frame = tuple[str, str, str, str, str, str | None, datetime]
InsertBatch = Callable[[list[Frame]], Awaitable[None]]

_charger_of = itemgetter(1)


def _sqlite_rows(frames: Sequence[Frame]) -> Iterator[tuple[Any, ...]]:
    """The frames as SQLite rows, ``ts`` as the ORM stores it (naive UTC text, always
    with microseconds). Iterated by ``executemany`` in aiosqlite's thread, so this
    per-row work is off the event loop."""
    for org_id, charger_id, direction, action, message, finding, ts in frames:
        if ts.tzinfo is not UTC:  # never from record() (utcnow), but stay exact
            ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
        stamp = ts.isoformat(" ", "microseconds")[:26]  # without the "+00:00"
        yield (org_id, charger_id, direction, action, message, finding, stamp)


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
        self._pruning = asyncio.Lock()  # one retention step at a time
        self._last_prune = 0.0
        # PostgreSQL: a retention step runs on a connection of its own while the batches
        # go on (the writers' pool has three, and the step deletes old rows while they
        # add new ones), so a second server process works on it. SQLite has one writer
        # connection: there the step takes its turn between two transactions.
        self._prune_alongside = False
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
        """Write every buffered frame, in transactions of up to
        ``MAX_BATCHES_PER_TRANSACTION`` batches of ``batch_size`` frames."""
        async with self._flushing:  # one transaction in flight: frames stay in order
            while self._buffer:
                await self._write()

    async def _write(self) -> None:
        """One transaction: a batch, then more while frames wait, within the
        transaction's limits. If it fails, its frames are back at the head of the buffer
        (also on a cancel: close() flushes them)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        taken: list[Frame] = []
        chargers: Counter[str] = Counter()
        try:
            async with self._writer.begin() as session:
                insert_batch = await self._inserter(await session.connection())
                for _ in range(MAX_BATCHES_PER_TRANSACTION):
                    count = min(len(self._buffer), self._batch_size)
                    batch = [self._buffer.popleft() for _ in range(count)]
                    taken += batch
                    chargers.update(map(_charger_of, batch))
                    await insert_batch(batch)
                    if not self._buffer or loop.time() - started >= TRANSACTION_BUDGET_S:
                        break
        except BaseException:
            self._buffer.extendleft(reversed(taken))
            raise
        self.written += len(taken)
        added = self._added
        for charger_id, count in chargers.items():
            added[charger_id] = added.get(charger_id, 0) + count

    async def _inserter(self, connection: AsyncConnection) -> InsertBatch:
        """How a batch is written on this connection: the driver's bulk path where there
        is one, else the generic ``BulkStatement``."""
        dialect = connection.dialect
        self._prune_alongside = dialect.name == "postgresql"
        if dialect.name == "postgresql" and dialect.driver == "asyncpg":
            await connection.exec_driver_sql(_PG_BEGIN)
            pg = (await connection.get_raw_connection()).driver_connection

            async def copy(batch: list[Frame]) -> None:
                # asyncpg encodes the tuples as they are (ts is an aware UTC datetime),
                # all of them in one step of the loop: a COPY per COPY_ROWS keeps it short.
                for start in range(0, len(batch), COPY_ROWS):
                    chunk = batch[start : start + COPY_ROWS]
                    await pg.copy_records_to_table(_TABLE, records=chunk, columns=_COLUMNS)

            return copy
        if dialect.name == "sqlite" and dialect.driver == "aiosqlite":
            lite = (await connection.get_raw_connection()).driver_connection

            async def executemany(batch: list[Frame]) -> None:
                # sqlite3 opens the transaction on the first insert; SQLAlchemy commits.
                cursor = await lite.executemany(_SQLITE_INSERT, _sqlite_rows(batch))
                await cursor.close()

            return executemany

        async def generic(batch: list[Frame]) -> None:
            await _INSERT.execute(connection, batch)

        return generic

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        pruning: asyncio.Task[tuple[int, bool]] | None = None
        try:
            while not self._closing:
                if len(self._buffer) < self._batch_size:  # else a full batch is waiting
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._flush_interval):
                            await self._wakeup.wait()
                self._wakeup.clear()
                try:
                    # One transaction per turn: frames that arrive as fast as they are
                    # written must not keep retention from its turn.
                    async with self._flushing:
                        if self._buffer:
                            await self._write()
                    if pruning is not None and pruning.done():
                        done, pruning = pruning, None
                        done.result()  # its failure is logged below
                    if (
                        pruning is None
                        and not self._closing
                        and loop.time() - self._last_prune >= PRUNE_EVERY_S
                    ):
                        self._last_prune = loop.time()
                        if self._prune_alongside:
                            pruning = asyncio.create_task(self._prune_step(), name="framelog-prune")
                        else:
                            await self._prune_step()
                except Exception:
                    log.exception("frame log write failed; retrying")
                    if not self._closing:
                        await asyncio.sleep(1.0)
        finally:
            if pruning is not None:  # a step is short: let it end (close() bounds the wait)
                await asyncio.gather(pruning, return_exceptions=True)

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
        """Check a bounded number of candidates; (frames pruned, candidates left).

        A charger's rows are counted at its first check since start only; from then on
        its count is that one plus the frames written minus those pruned. This holds as
        long as frames are deleted nowhere but here (true today): code that deletes some
        must drop the charger from ``_known`` so that it is counted again. A count scans
        the charger's whole retention (5,000 rows by default), for every charger checked;
        on PostgreSQL it was half of each step at 250 rows a charger.
        """
        async with self._pruning:
            return await self._prune_locked()

    async def _prune_locked(self) -> tuple[int, bool]:
        candidates = self._candidates()
        if not candidates:
            return 0, False
        taken: dict[str, int] = {}
        try:
            # No flush between taking the written counts and counting the rows, so that
            # no frame is in both.
            async with self._flushing:
                taken = {charger_id: self._added.pop(charger_id, 0) for charger_id in candidates}
                unknown = [charger_id for charger_id in candidates if charger_id not in self._known]
                counts = await self._count(unknown) if unknown else {}
            for charger_id in candidates:
                if charger_id in self._known:
                    counts[charger_id] = self._known[charger_id] + taken[charger_id]
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
        limits = {cid: min(excess, PRUNE_ROWS_PER_DELETE) for cid, excess in over.items()}
        async with self._writer.begin() as session:
            connection = await session.connection()
            if connection.dialect.name == "postgresql":
                # One statement for every charger: the deletes, the counts and the stats.
                rows = await connection.execute(
                    _PG_PRUNE, {"chargers": list(limits), "limits": list(limits.values())}
                )
                return {charger_id: int(count) for charger_id, count in rows.all()}
            pruned: dict[str, int] = {}
            for charger_id, limit in limits.items():
                deleted = await connection.execute(
                    _DELETE_OLDEST, {"charger_id": charger_id, "limit": limit}
                )
                if deleted.rowcount:
                    pruned[charger_id] = int(deleted.rowcount)
            if pruned:
                await connection.execute(
                    _ADD_PRUNED, [{"charger_id": c, "pruned": n} for c, n in pruned.items()]
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
