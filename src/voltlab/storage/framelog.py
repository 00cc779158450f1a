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
(asyncpg); on SQLite ``executemany`` in aiosqlite's thread, which also numbers the
frames and formats the timestamps. The loop does little more per row than move a tuple.

Retention (migration 0005): a frame is keyed (charger_id, seq), seq counting a
charger's frames from 1. The writer keeps each charger's lowest and next seq in memory
(read once, at its first frames since start), so retention is a range delete of the
lowest keys of each charger over its limit: no count, no sort, one statement a step
(SQLite: one ``executemany``). Before 0005 a step counted each charger's rows and
deleted by (charger_id, ts) order, one statement per charger: ~21,000 frames/s on
SQLite at steady state, now ~38,000 on a machine shared with test runs (see
docs/performance.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import delete, func, insert, select, text, union
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from voltlab.ids import utcnow
from voltlab.storage.engine import BulkStatement
from voltlab.storage.models import Charger, FrameLog, FrameLogStats

log = logging.getLogger(__name__)

# Retention work per step of the writer task: the chargers looked at, and the oldest
# frames one charger loses per step. Both keep a step to milliseconds, so the flushes
# around it (and the API's writes) never wait long.
PRUNE_CHARGERS_PER_STEP = 2_000
PRUNE_ROWS_PER_DELETE = 5_000
# A step at most this often: retention is a bound, not a deadline.
PRUNE_EVERY_S = 1.0
# A backlog is written in transactions of up to this many batches; a transaction takes
# no further batch once it has been open this long, since the other batch writers queue
# for the same connection (the only one, on SQLite). Longer transactions share a
# commit's cost among more rows (SQLite before 0005: ~19,000 frames/s with 0.25 s,
# ~23,000 with 0.5 s, ~28,000 with 1 s). The frames of the transaction in flight are out
# of the buffer: at most this many batches on top of ``queue_size`` are in memory.
MAX_BATCHES_PER_TRANSACTION = 16
TRANSACTION_BUDGET_S = 0.5
# A purge step deletes the frames of up to this many deleted chargers, and at most this
# many rows: the step holds the writer (on SQLite the one write connection, which the
# station state and command writes share). 20 whole chargers at the default retention
# of 5,000 were 100,000 rows, 1.5-2.7 s a step on SQLite (``bench/framelog.py --purge``).
PURGE_CHARGERS_PER_STEP = 20
PURGE_ROWS_PER_STEP = 10_000
# Rows per COPY on PostgreSQL: asyncpg encodes them without yielding to the loop, about
# 2.5 us a row (a batch of 2,000 in one COPY held the loop for 5-10 ms).
COPY_ROWS = 500

_COLUMNS = ("charger_id", "seq", "org_id", "direction", "action", "message", "finding", "ts")
_INSERT = BulkStatement(insert(FrameLog.__table__), _COLUMNS)
_TABLE = FrameLog.__tablename__
_SQLITE_INSERT = (
    f"INSERT INTO {_TABLE} ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
)
# COPY goes to asyncpg directly, in the transaction SQLAlchemy opens (and commits or
# rolls back as usual): SQLAlchemy only issues BEGIN with a first statement.
_PG_BEGIN = "SELECT 1"

# A charger's lowest and highest seq, read once per charger (its first frames since
# start): two descents of the primary key each, never a count.
_SQLITE_ENDS = text(
    f"SELECT j.value, (SELECT min(seq) FROM {_TABLE} WHERE charger_id = j.value),"
    f" (SELECT max(seq) FROM {_TABLE} WHERE charger_id = j.value) FROM json_each(:chargers) AS j"
)
_PG_ENDS = text(
    f"SELECT o.cid, (SELECT min(seq) FROM {_TABLE} WHERE charger_id = o.cid),"
    f" (SELECT max(seq) FROM {_TABLE} WHERE charger_id = o.cid)"
    " FROM unnest(CAST(:chargers AS VARCHAR[])) AS o(cid)"
)

# Retention deletes key ranges [low, high) of (charger_id, seq). SQLite: one executemany
# for the whole step; its total row count equals the sum of the ranges' widths exactly
# when every range was full, and then each charger lost exactly its range's width (no
# range holds more). Otherwise (frames deleted elsewhere) the step is redone charger by
# charger, each delete counted on its own: a count is never assumed.
_SQLITE_DELETE_RANGE = f"DELETE FROM {_TABLE} WHERE charger_id = ? AND seq >= ? AND seq < ?"
_DELETE_BELOW = text(f"DELETE FROM {_TABLE} WHERE charger_id = :charger_id AND seq < :high")
_STATS = FrameLogStats.__tablename__
_ADD_PRUNED = text(
    f"INSERT INTO {_STATS} (charger_id, pruned) VALUES (:charger_id, :pruned)"
    f" ON CONFLICT (charger_id) DO UPDATE SET pruned = {_STATS}.pruned + excluded.pruned"
)
# PostgreSQL: one statement for all the step's chargers, the counts from RETURNING. The
# LIMIT (a no-op: a range holds at most that many) keeps each range an index range scan:
# without it the planner flattened the lateral subquery into a hash join over a scan of
# the whole table (3 s a step). The rows go by ctid, read in this same statement.
_PG_PRUNE = text(
    f"""
    WITH doomed AS (
        SELECT oldest.ctid
        FROM unnest(
            CAST(:chargers AS VARCHAR[]), CAST(:lows AS BIGINT[]), CAST(:highs AS BIGINT[])
        ) AS o(cid, low, high)
        CROSS JOIN LATERAL (
            SELECT ctid FROM {_TABLE} WHERE charger_id = o.cid AND seq >= o.low AND seq < o.high
            ORDER BY seq LIMIT o.high - o.low
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
# build on the hot path and to hold in a 200,000-frame buffer than a dict. Its seq is
# given when it is written.
Frame = tuple[str, str, str, str, str, str | None, datetime]
# Writes a batch; the dict holds the next seq of each of the batch's chargers and is
# advanced past the frames written.
InsertBatch = Callable[[list[Frame], dict[str, int]], Awaitable[None]]

_charger_of = itemgetter(1)
# The page cache of the SQLite connection the frame log writes on (KiB), set once per
# connection: sized for the primary key of 10,000 chargers at their retention.
SQLITE_CACHE_KB = 65_536
_sized: weakref.WeakSet[Any] = weakref.WeakSet()


class _RangesNotFull(Exception):
    """A retention step's ranges held fewer frames than their width (rolled back)."""


def _sqlite_rows(frames: Sequence[Frame], seqs: dict[str, int]) -> Iterator[tuple[Any, ...]]:
    """The frames as SQLite rows with their seq, ``ts`` as the ORM stores it (naive UTC
    text, always with microseconds). Iterated by ``executemany`` in aiosqlite's thread,
    so this per-row work is off the event loop; the date and time up to the second are
    formatted once per second (``isoformat`` per row was ~20% of the process)."""
    second: tuple[int, int, int, int, int, int] | None = None
    prefix = ""
    for org_id, charger_id, direction, action, message, finding, ts in frames:
        if ts.tzinfo is not UTC:  # never from record() (utcnow), but stay exact
            ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
        this = (ts.second, ts.minute, ts.hour, ts.day, ts.month, ts.year)
        if this != second:
            second, prefix = this, ts.isoformat(" ", "seconds")[:19]
        seq = seqs[charger_id]
        seqs[charger_id] = seq + 1
        stamp = f"{prefix}.{ts.microsecond:06d}"
        yield (charger_id, seq, org_id, direction, action, message, finding, stamp)


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
        sweep_orphans: bool = False,
    ) -> None:
        self._sessions = sessions
        # Writes go through the batch writers' connection when there is one (see
        # ``create_writer_engine``).
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
        # Per charger, as committed: the next seq to give and the lowest seq stored
        # (read from the table at the charger's first frames since start; absent: not
        # read yet). Its frames are then seq low .. next - 1, so retention needs neither
        # a count nor a sort. Chargers written since their last retention check:
        self._next: dict[str, int] = {}
        self._low: dict[str, int] = {}
        self._dirty: set[str] = set()
        # Deleted chargers whose stored frames are still to delete (see ``forget``); with
        # ``sweep_orphans`` the writer first looks for those a previous process left.
        self._doomed: set[str] = set()
        self._sweep = sweep_orphans
        self.written = 0
        self.dropped = 0
        self.purged = 0

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

    def forget(self, charger_ids: Iterable[str]) -> None:
        """The chargers were deleted and their stations have stopped: their buffered
        frames go now; their stored frames and retention counts go in the writer's next
        steps (a process that stops first leaves them to the next one's sweep). Nobody
        can read them meanwhile: the API reads frames of existing chargers only."""
        gone = set(charger_ids)
        if not gone:
            return
        if any(frame[1] in gone for frame in self._buffer):
            kept = [frame for frame in self._buffer if frame[1] not in gone]
            self._buffer.clear()
            self._buffer.extend(kept)
        self._doomed |= gone
        self._wakeup.set()

    async def purge(self) -> int:
        """Delete the stored frames of every forgotten charger now; how many."""
        total = 0
        while self._doomed:
            total += await self._purge_step()
        return total

    async def _purge_step(self) -> int:
        # Not beside a write (it may hold the chargers' last frames, taken before
        # ``forget``) nor a retention step (it would count their pruned frames again).
        async with self._flushing, self._pruning:
            chunk = list(itertools.islice(self._doomed, PURGE_CHARGERS_PER_STEP))
            for charger_id in chunk:
                self._next.pop(charger_id, None)
                self._low.pop(charger_id, None)
                self._dirty.discard(charger_id)
            deleted, finished = 0, []
            async with self._writer.begin() as session:
                for charger_id in chunk:
                    budget = PURGE_ROWS_PER_STEP - deleted
                    # The seq of the charger's budget-th oldest frame: its frames up to it
                    # are one key range, deleted as retention deletes them.
                    bound = await session.scalar(
                        select(FrameLog.seq)
                        .where(FrameLog.charger_id == charger_id)
                        .order_by(FrameLog.seq)
                        .offset(budget - 1)
                        .limit(1)
                    )
                    rows = FrameLog.charger_id == charger_id
                    if bound is not None:
                        rows &= FrameLog.seq <= bound
                    result = await session.execute(delete(FrameLog).where(rows))
                    deleted += int(result.rowcount or 0)  # type: ignore[attr-defined]
                    if bound is not None:
                        break  # the budget is spent; the charger's rest is the next step's
                    finished.append(charger_id)
                if finished:
                    await session.execute(
                        delete(FrameLogStats).where(FrameLogStats.charger_id.in_(finished))
                    )
        # A charger leaves the set only with its last frame, so nothing stays uncounted.
        self._doomed.difference_update(finished)
        self.purged += deleted
        return deleted

    async def sweep_orphans(self) -> int:
        """Queue for deletion the frames of chargers that no longer exist (deleted while
        a previous process had not yet purged them); how many chargers."""
        stored = union(
            select(FrameLog.charger_id).distinct(), select(FrameLogStats.charger_id)
        ).subquery()
        orphans = select(stored.c.charger_id).where(stored.c.charger_id.not_in(select(Charger.id)))
        async with self._sessions() as session:
            ids = (await session.scalars(orphans)).all()
        self.forget(ids)
        return len(ids)

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
        # This transaction's next seq per charger, and the lowest seq of the chargers
        # read in it: kept only once it commits.
        seqs: dict[str, int] = {}
        lows: dict[str, int] = {}
        try:
            async with self._writer.begin() as session:
                connection = await session.connection()
                insert_batch = await self._inserter(connection)
                for _ in range(MAX_BATCHES_PER_TRANSACTION):
                    count = min(len(self._buffer), self._batch_size)
                    batch = [self._buffer.popleft() for _ in range(count)]
                    taken += batch
                    await self._number(connection, batch, seqs, lows)
                    await insert_batch(batch, seqs)
                    if not self._buffer or loop.time() - started >= TRANSACTION_BUDGET_S:
                        break
        except BaseException:
            self._buffer.extendleft(reversed(taken))
            # What another writer may have added to these chargers meanwhile (their seqs
            # would collide): read their ends again before their next frames.
            for charger_id in seqs:
                self._next.pop(charger_id, None)
                self._low.pop(charger_id, None)
            raise
        self.written += len(taken)
        self._next.update(seqs)
        self._low.update(lows)
        self._dirty.update(seqs)

    async def _number(
        self,
        connection: AsyncConnection,
        batch: list[Frame],
        seqs: dict[str, int],
        lows: dict[str, int],
    ) -> None:
        """Put the next seq of each of the batch's chargers into ``seqs``: from memory,
        or for a charger seen for the first time since start, from its rows."""
        new = set(map(_charger_of, batch)).difference(seqs)
        unread = [charger_id for charger_id in new if charger_id not in self._next]
        for charger_id in new.difference(unread):
            seqs[charger_id] = self._next[charger_id]
        if unread:
            for charger_id, (low, high) in (await self._ends(connection, unread)).items():
                seqs[charger_id] = high + 1
                lows[charger_id] = low

    async def _ends(
        self, connection: AsyncConnection, charger_ids: list[str]
    ) -> dict[str, tuple[int, int]]:
        """Each charger's (lowest, highest) seq; (1, 0) for a charger without rows."""
        name = connection.dialect.name
        if name == "sqlite":
            rows = await connection.execute(_SQLITE_ENDS, {"chargers": json.dumps(charger_ids)})
        elif name == "postgresql":
            rows = await connection.execute(_PG_ENDS, {"chargers": charger_ids})
        else:
            rows = await connection.execute(
                select(FrameLog.charger_id, func.min(FrameLog.seq), func.max(FrameLog.seq))
                .where(FrameLog.charger_id.in_(charger_ids))
                .group_by(FrameLog.charger_id)
            )
        ends = {charger_id: (1, 0) for charger_id in charger_ids}
        for charger_id, low, high in rows.all():
            if high is not None:
                ends[charger_id] = (int(low), int(high))
        return ends

    async def _inserter(self, connection: AsyncConnection) -> InsertBatch:
        """How a batch is written on this connection: the driver's bulk path where there
        is one, else the generic ``BulkStatement``."""
        dialect = connection.dialect
        self._prune_alongside = dialect.name == "postgresql"
        if dialect.name == "postgresql" and dialect.driver == "asyncpg":
            await connection.exec_driver_sql(_PG_BEGIN)
            pg = (await connection.get_raw_connection()).driver_connection

            async def copy(batch: list[Frame], seqs: dict[str, int]) -> None:
                # asyncpg encodes the tuples as they are (ts is an aware UTC datetime),
                # all of them in one step of the loop: a COPY per COPY_ROWS keeps it short.
                for start in range(0, len(batch), COPY_ROWS):
                    chunk = _numbered(batch[start : start + COPY_ROWS], seqs)
                    await pg.copy_records_to_table(_TABLE, records=chunk, columns=_COLUMNS)

            return copy
        if dialect.name == "sqlite" and dialect.driver == "aiosqlite":
            lite = (await connection.get_raw_connection()).driver_connection
            if lite not in _sized:
                # The inserts and deletes touch a leaf of the primary key per charger
                # (2,000 in the bench): with the default 2 MB cache most were read back
                # from the file for each transaction (pread was the top of the profile).
                await lite.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KB}")
                _sized.add(lite)

            async def executemany(batch: list[Frame], seqs: dict[str, int]) -> None:
                # sqlite3 opens the transaction on the first insert; SQLAlchemy commits.
                cursor = await lite.executemany(_SQLITE_INSERT, _sqlite_rows(batch, seqs))
                await cursor.close()

            return executemany

        async def generic(batch: list[Frame], seqs: dict[str, int]) -> None:
            await _INSERT.execute(connection, _numbered(batch, seqs))

        return generic

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        pruning: asyncio.Task[tuple[int, bool]] | None = None
        if self._sweep:
            try:
                if found := await self.sweep_orphans():
                    log.info("frame log: frames of %d deleted charger(s) to delete", found)
            except Exception:
                log.exception("frame log: the sweep for deleted chargers' frames failed")
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
                    if self._doomed and not self._closing:
                        await self._purge_step()
                        if self._doomed:
                            self._wakeup.set()  # the next step at the next turn
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

    def _ranges(self) -> dict[str, tuple[int, int]]:
        """The seq ranges [low, high) to delete: of chargers written since their last
        check, those holding more than the retention, at most ``PRUNE_ROWS_PER_DELETE``
        frames each. Looks at a bounded number of chargers; the rest stay for the next
        step."""
        ranges: dict[str, tuple[int, int]] = {}
        dirty, retention = self._dirty, self._retention
        for _ in range(min(len(dirty), PRUNE_CHARGERS_PER_STEP)):
            charger_id = dirty.pop()
            low = self._low.get(charger_id)
            keep_from = self._next.get(charger_id, 0) - retention
            if low is not None and keep_from > low:
                ranges[charger_id] = (low, min(keep_from, low + PRUNE_ROWS_PER_DELETE))
        return ranges

    async def _prune_step(self) -> tuple[int, bool]:
        """One bounded retention step; (frames pruned, work left).

        Which frames go is known from memory: a charger keeps seq ``next - retention``
        and above. Each deleted frame is counted in ``frame_log_stats`` by the rows the
        deletes report, in the same transaction.
        """
        async with self._pruning:
            ranges = self._ranges()
            if not ranges:
                return 0, bool(self._dirty)
            try:
                pruned = await self._delete_ranges(ranges)
            except BaseException:
                self._dirty.update(ranges)  # look again at the next step
                raise
            for charger_id, (_, high) in ranges.items():
                if charger_id not in self._low:  # its write failed meanwhile: read again
                    continue
                self._low[charger_id] = max(self._low[charger_id], high)
                if self._next[charger_id] - high > self._retention:  # more than one step's
                    self._dirty.add(charger_id)
            return sum(pruned.values()), bool(self._dirty)

    async def _delete_ranges(self, ranges: dict[str, tuple[int, int]]) -> dict[str, int]:
        """Delete the ranges and add what each charger lost to its pruned count, in one
        transaction; {charger: frames deleted}."""
        try:
            async with self._writer.begin() as session:
                connection = await session.connection()
                dialect = connection.dialect
                if dialect.name == "postgresql":
                    # One statement for every charger: the deletes, the counts, the stats.
                    rows = await connection.execute(
                        _PG_PRUNE,
                        {
                            "chargers": list(ranges),
                            "lows": [low for low, _ in ranges.values()],
                            "highs": [high for _, high in ranges.values()],
                        },
                    )
                    return {charger_id: int(count) for charger_id, count in rows.all()}
                if dialect.name == "sqlite" and dialect.driver == "aiosqlite":
                    lite = (await connection.get_raw_connection()).driver_connection
                    params = [(cid, low, high) for cid, (low, high) in ranges.items()]
                    cursor = await lite.executemany(_SQLITE_DELETE_RANGE, params)
                    deleted = cursor.rowcount
                    await cursor.close()
                    if deleted != sum(high - low for _, low, high in params):
                        raise _RangesNotFull
                    pruned = {cid: high - low for cid, (low, high) in ranges.items()}
                    await self._add_pruned(connection, pruned)
                    return pruned
        except _RangesNotFull:
            pass  # rolled back: charger by charger below
        return await self._delete_each(ranges)

    async def _delete_each(self, ranges: dict[str, tuple[int, int]]) -> dict[str, int]:
        """The slow, general path: a delete per charger, each counted as it reports."""
        pruned: dict[str, int] = {}
        async with self._writer.begin() as session:
            connection = await session.connection()
            for charger_id, (_, high) in ranges.items():
                deleted = await connection.execute(
                    _DELETE_BELOW, {"charger_id": charger_id, "high": high}
                )
                if deleted.rowcount:
                    pruned[charger_id] = int(deleted.rowcount)
            await self._add_pruned(connection, pruned)
        return pruned

    @staticmethod
    async def _add_pruned(connection: AsyncConnection, pruned: dict[str, int]) -> None:
        if pruned:
            await connection.execute(
                _ADD_PRUNED, [{"charger_id": c, "pruned": n} for c, n in pruned.items()]
            )


def _numbered(frames: Sequence[Frame], seqs: dict[str, int]) -> list[tuple[Any, ...]]:
    """The frames as rows in ``_COLUMNS`` order, each with the next seq of its charger."""
    rows: list[tuple[Any, ...]] = []
    for org_id, charger_id, direction, action, message, finding, ts in frames:
        seq = seqs[charger_id]
        seqs[charger_id] = seq + 1
        rows.append((charger_id, seq, org_id, direction, action, message, finding, ts))
    return rows


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
            .order_by(FrameLog.seq.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return list(rows), int(total or 0)
