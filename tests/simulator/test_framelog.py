"""The frame log: what a station reports (FrameTap) and what the writer stores."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from support.csms import RecordingCsms
from support.frames import ListSink, check_sent_frames
from support.live import eventually
from support.stations import running, spec_for
from voltlab.ids import utcnow
from voltlab.storage import framelog
from voltlab.storage.engine import create_engine, migrate, session_factory
from voltlab.storage.framelog import Frame, FrameLogWriter, query_frames
from voltlab.storage.models import Charger, FrameLog, FrameLogStats, Location


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    await migrate(engine)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def _messages(sessions: async_sessionmaker[AsyncSession], charger_id: str) -> list[str]:
    async with sessions() as session:
        rows = await session.scalars(
            select(FrameLog.message).where(FrameLog.charger_id == charger_id).order_by(FrameLog.seq)
        )
        return list(rows.all())


async def _count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(FrameLog)) or 0)


async def _has(sessions: async_sessionmaker[AsyncSession], count: int) -> bool:
    return await _count(sessions) >= count


# -- what a station reports ---------------------------------------------------------------


async def test_every_frame_sent_and_received_is_reported_once_with_its_action(
    csms: RecordingCsms, version: str
):
    sink = ListSink()
    async with running(spec_for(csms.url, version, "CP-TAP"), sink):
        await csms.wait_for("CP-TAP", "StatusNotification", count=2)
        answer = await csms.call("CP-TAP", "FooBar", {"x": 1})
        assert answer is not None

    assert {f.direction for f in sink.frames} == {"cp_to_csms", "csms_to_cp"}
    assert {(f.org_id, f.charger_id) for f in sink.frames} == {("acme", "id-CP-TAP")}
    # Exactly what reached the CSMS, in order.
    assert [f.message for f in sink.sent()] == csms.frames["CP-TAP"]

    by_id: dict[str, list[tuple[str, int, str]]] = {}
    for frame in sink.frames:
        parsed = json.loads(frame.message)
        by_id.setdefault(parsed[1], []).append((frame.direction, parsed[0], frame.action))
    boot_id = json.loads(sink.sent()[0].message)[1]
    # A result carries the action of the CALL it answers, in both directions.
    assert by_id[boot_id] == [
        ("cp_to_csms", 2, "BootNotification"),
        ("csms_to_cp", 3, "BootNotification"),
    ]
    foobar = [frames for frames in by_id.values() if frames[0][2] == "FooBar"]
    assert foobar == [[("csms_to_cp", 2, "FooBar"), ("cp_to_csms", 4, "FooBar")]]
    assert "Unknown" not in {f.action for f in sink.frames}


async def test_every_frame_a_charger_sends_validates_against_the_official_schema(
    csms: RecordingCsms, version: str
):
    csms.boot_interval = 1
    async with running(spec_for(csms.url, version, "CP-SCH", brand="abb", model="terra-360")):
        await csms.wait_for("CP-SCH", "Heartbeat")
        for action, payload in (("DataTransfer", {"vendorId": "x"}), ("FooBar", {})):
            assert await csms.call("CP-SCH", action, payload) is not None
        await csms.close("CP-SCH")  # and the frames of a second connection
        await csms.wait_for(
            "CP-SCH", "StatusNotification", count=2 * (5 if version == "1.6" else 4)
        )

    checked = check_sent_frames(version, csms.frames["CP-SCH"], csms.sent_calls)
    assert checked >= 12


# -- what the writer stores ---------------------------------------------------------------


async def test_close_writes_every_buffered_frame_even_with_a_batch_in_flight(
    sessions: async_sessionmaker[AsyncSession],
):
    writer = FrameLogWriter(sessions, flush_interval_s=60, batch_size=50)
    writer.start()
    for n in range(1_000):
        writer.record("acme", "c1", "cp_to_csms", "Heartbeat", f'[2,"{n}","Heartbeat",{{}}]')
    # Let the writer pick up a batch and be inside its insert when close() comes.
    await eventually(lambda: writer.pending < 1_000, interval=0)
    await writer.close()

    messages = await _messages(sessions, "c1")
    assert len(messages) == 1_000
    assert messages == [f'[2,"{n}","Heartbeat",{{}}]' for n in range(1_000)]
    assert writer.pending == 0
    assert writer.written == 1_000
    assert writer.dropped == 0


async def test_close_without_start_still_flushes(sessions: async_sessionmaker[AsyncSession]):
    writer = FrameLogWriter(sessions)
    writer.record("acme", "c1", "csms_to_cp", "BootNotification", '[3,"1",{}]', "bad answer")
    await writer.close()
    async with sessions() as session:
        row = (await session.scalars(select(FrameLog))).one()
    assert (row.direction, row.action, row.finding) == (
        "csms_to_cp",
        "BootNotification",
        "bad answer",
    )


async def test_the_writer_flushes_in_the_background(sessions: async_sessionmaker[AsyncSession]):
    writer = FrameLogWriter(sessions, flush_interval_s=0.05)
    writer.start()
    try:
        for n in range(10):
            writer.record("acme", "c1", "cp_to_csms", "Heartbeat", str(n))
        await eventually(lambda: _has(sessions, 10), timeout=5)
    finally:
        await writer.close()
    assert await _count(sessions) == 10


async def test_a_full_buffer_counts_what_it_drops(sessions: async_sessionmaker[AsyncSession]):
    writer = FrameLogWriter(sessions, queue_size=5)
    for n in range(8):
        writer.record("acme", "c1", "cp_to_csms", "Heartbeat", str(n))
    assert (writer.pending, writer.dropped) == (5, 3)
    await writer.close()
    assert await _messages(sessions, "c1") == ["0", "1", "2", "3", "4"]


async def test_prune_keeps_the_newest_frames_per_charger_and_counts_the_rest(
    sessions: async_sessionmaker[AsyncSession],
):
    writer = FrameLogWriter(sessions, retention=10)
    for n in range(25):
        writer.record("acme", "big", "cp_to_csms", "Heartbeat", f"big-{n}")
    for n in range(4):
        writer.record("acme", "small", "cp_to_csms", "Heartbeat", f"small-{n}")
    await writer.flush()

    assert await writer.prune() == 15
    assert await _messages(sessions, "big") == [f"big-{n}" for n in range(15, 25)]
    assert await _messages(sessions, "small") == [f"small-{n}" for n in range(4)]

    for n in range(25, 32):
        writer.record("acme", "big", "cp_to_csms", "Heartbeat", f"big-{n}")
    await writer.flush()
    assert await writer.prune() == 7
    assert await writer.prune() == 0
    assert await _messages(sessions, "big") == [f"big-{n}" for n in range(22, 32)]

    async with sessions() as session:
        big = await session.get(FrameLogStats, "big")
        small = await session.get(FrameLogStats, "small")
    assert big is not None and big.pruned == 22
    assert small is None
    await writer.close()


async def test_a_charger_far_over_its_retention_is_pruned_in_bounded_deletes(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(framelog, "PRUNE_ROWS_PER_DELETE", 3)
    writer = FrameLogWriter(sessions, retention=2)
    for n in range(12):
        writer.record("acme", "big", "cp_to_csms", "Heartbeat", f"big-{n}")
    await writer.flush()

    assert await writer.prune() == 10  # four deletes of at most 3, one prune call
    assert await _messages(sessions, "big") == ["big-10", "big-11"]
    async with sessions() as session:
        stats = await session.get(FrameLogStats, "big")
    assert stats is not None and stats.pruned == 10
    await writer.close()


async def test_the_writer_prunes_in_the_background(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(framelog, "PRUNE_EVERY_S", 0.0)
    writer = FrameLogWriter(sessions, flush_interval_s=0.02, retention=5)
    writer.start()
    try:
        for n in range(20):
            writer.record("acme", "c1", "cp_to_csms", "Heartbeat", str(n))
        await eventually(lambda: _has(sessions, 1), timeout=5)

        async def pruned() -> bool:
            return await _messages(sessions, "c1") == [str(n) for n in range(15, 20)]

        await eventually(pruned, timeout=5)
    finally:
        await writer.close()


async def test_a_forgotten_charger_loses_its_frames_buffered_stored_and_counted(
    sessions: async_sessionmaker[AsyncSession],
):
    writer = FrameLogWriter(sessions, retention=5)
    for n in range(12):
        writer.record("acme", "gone", "cp_to_csms", "Heartbeat", f"gone-{n}")
        writer.record("acme", "kept", "cp_to_csms", "Heartbeat", f"kept-{n}")
    await writer.flush()
    assert await writer.prune() == 14
    for n in range(12, 15):  # still buffered when the charger is deleted
        writer.record("acme", "gone", "cp_to_csms", "Heartbeat", f"gone-{n}")
    writer.record("acme", "kept", "cp_to_csms", "Heartbeat", "kept-12")

    writer.forget(["gone"])

    assert writer.pending == 1  # only kept's frame is left to write
    assert await writer.purge() == 5
    await writer.flush()
    assert await _messages(sessions, "gone") == []
    assert await _messages(sessions, "kept") == [f"kept-{n}" for n in range(7, 13)]
    async with sessions() as session:
        assert await session.get(FrameLogStats, "gone") is None
        kept = await session.get(FrameLogStats, "kept")
    assert kept is not None and kept.pruned == 7
    assert (writer.purged, writer.dropped) == (5, 0)
    assert await writer.purge() == 0  # nothing left to do
    await writer.close()


async def test_a_purge_deletes_a_big_charger_in_bounded_steps(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
):
    """No step deletes more than PURGE_ROWS_PER_STEP rows (a step holds the writer); the
    retention count goes with the last step, when no frame is left."""
    monkeypatch.setattr(framelog, "PURGE_ROWS_PER_STEP", 4)
    writer = FrameLogWriter(sessions, retention=100)
    for charger_id in ("big", "small", "kept"):
        for n in range(10 if charger_id == "big" else 3):
            writer.record("acme", charger_id, "cp_to_csms", "Heartbeat", f"{charger_id}-{n}")
    await writer.flush()
    async with sessions.begin() as session:
        session.add(FrameLogStats(charger_id="big", pruned=7))

    writer.forget(["big", "small"])
    steps = []
    while writer._doomed:
        steps.append(await writer._purge_step())
        async with sessions() as session:
            stats = await session.get(FrameLogStats, "big")
        # The count stays while frames of "big" are left, so nothing is ever uncounted.
        assert (stats is None) == ("big" not in writer._doomed)

    assert steps == [4, 4, 4, 1]
    assert writer.purged == 13
    assert await _messages(sessions, "big") == await _messages(sessions, "small") == []
    assert await _messages(sessions, "kept") == ["kept-0", "kept-1", "kept-2"]
    await writer.close()


async def test_a_sweeping_writer_deletes_the_frames_of_chargers_gone_before_it_started(
    sessions: async_sessionmaker[AsyncSession],
):
    """A charger deleted while the previous process had not yet purged its frames: the
    next process finds them (frames and retention counts without a charger)."""
    first = FrameLogWriter(sessions, retention=2)
    for charger_id in ("gone", "kept"):
        for n in range(4):
            first.record("acme", charger_id, "cp_to_csms", "Heartbeat", f"{charger_id}-{n}")
    await first.flush()
    assert await first.prune() == 4
    await first.close()
    now = utcnow()
    async with sessions.begin() as session:
        session.add(
            Location(id="loc", org_id="acme", slug="l", name="L", created_at=now, updated_at=now)
        )
        await session.flush()
        session.add(
            Charger(
                id="kept",
                org_id="acme",
                identity="CP-KEPT",
                brand_slug="abb",
                model_slug="terra",
                connector_type="CCS2",
                ocpp_version="OCPP1.6",
                ws_url="ws://127.0.0.1:1/ocpp",
                location_id="loc",
                workflow_run_id="run",
                created_at=now,
                updated_at=now,
            )
        )

    second = FrameLogWriter(sessions, flush_interval_s=0.02, sweep_orphans=True)
    second.start()
    try:

        async def swept() -> bool:
            async with sessions() as session:
                stats = await session.get(FrameLogStats, "gone")
            return stats is None and await _messages(sessions, "gone") == []

        await eventually(swept, timeout=5)
    finally:
        await second.close()
    assert await _messages(sessions, "kept") == ["kept-2", "kept-3"]
    assert second.purged == 2


async def test_concurrent_flushes_keep_the_frames_in_order(
    sessions: async_sessionmaker[AsyncSession],
):
    writer = FrameLogWriter(sessions, batch_size=7)
    for n in range(200):
        writer.record("acme", "c1", "cp_to_csms", "Heartbeat", str(n))
    await asyncio.gather(*(writer.flush() for _ in range(4)))
    assert await _messages(sessions, "c1") == [str(n) for n in range(200)]
    assert writer.written == 200
    await writer.close()


async def test_frames_read_back_with_the_time_they_were_recorded(
    sessions: async_sessionmaker[AsyncSession],
):
    # Written as plain tuples, bypassing the ORM: stored in the ORM's format all the same.
    writer = FrameLogWriter(sessions)
    before = utcnow()
    writer.record("acme", "c1", "cp_to_csms", "Heartbeat", "[2]", None)
    after = utcnow()
    await writer.close()
    async with sessions() as session:
        frames, total = await query_frames(
            session,
            org_id="acme",
            charger_id="c1",
            start=before,
            end=after,
            action="Heartbeat",
            limit=10,
            offset=0,
        )
    assert total == 1
    assert before <= frames[0].ts <= after


# -- throughput: transactions of several batches, the drivers' bulk paths -----------------


def _commits(sessions: async_sessionmaker[AsyncSession]) -> list[int]:
    """One entry per transaction committed on the writer's engine from now on."""
    commits: list[int] = []
    engine = sessions.kw["bind"]
    event.listen(engine.sync_engine, "commit", lambda _conn: commits.append(1))
    return commits


@pytest.mark.parametrize(
    ("max_batches", "budget_s", "transactions"),
    [(16, 10.0, 1), (4, 10.0, 3), (16, 0.0, 10)],
    ids=["one-transaction", "at-most-4-batches-each", "time-budget-spent-after-one-batch"],
)
async def test_a_backlog_is_written_in_transactions_of_several_batches(
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    max_batches: int,
    budget_s: float,
    transactions: int,
):
    monkeypatch.setattr(framelog, "MAX_BATCHES_PER_TRANSACTION", max_batches)
    monkeypatch.setattr(framelog, "TRANSACTION_BUDGET_S", budget_s)
    writer = FrameLogWriter(sessions, flush_interval_s=60, batch_size=10)
    for n in range(100):
        writer.record("acme", "c1", "cp_to_csms", "Heartbeat", str(n))
    commits = _commits(sessions)
    writer.start()
    try:
        await eventually(lambda: writer.written == 100, timeout=5, interval=0.01)
    finally:
        await writer.close()
    assert len(commits) == transactions
    assert await _messages(sessions, "c1") == [str(n) for n in range(100)]


async def test_a_failed_transaction_puts_all_its_frames_back_in_order(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
):
    real = FrameLogWriter._inserter
    batches = 0

    async def failing_second_batch(self: FrameLogWriter, connection: AsyncConnection) -> Any:
        insert = await real(self, connection)

        async def insert_batch(batch: list[Frame], seqs: dict[str, int]) -> None:
            nonlocal batches
            batches += 1
            if batches == 2:
                raise RuntimeError("connection lost")
            await insert(batch, seqs)

        return insert_batch

    monkeypatch.setattr(FrameLogWriter, "_inserter", failing_second_batch)
    writer = FrameLogWriter(sessions, batch_size=10)
    for n in range(30):
        writer.record("acme", "c1", "cp_to_csms", "Heartbeat", str(n))
    with pytest.raises(RuntimeError):
        await writer.flush()
    # The first batch went down with the transaction: nothing written, all still queued.
    assert (writer.written, writer.pending) == (0, 30)
    assert await _count(sessions) == 0

    await writer.close()
    assert writer.written == 30
    assert await _messages(sessions, "c1") == [str(n) for n in range(30)]


async def test_messages_and_findings_are_stored_exactly(
    sessions: async_sessionmaker[AsyncSession],
):
    # What COPY (PostgreSQL) and the SQLite rows must carry through unchanged.
    messages = [
        "tab\there",
        "line\nbreak\r\n",
        "back\\slash \\N",
        "\"quoted\", 'single'",
        "unicode: Ladesäule ⚡ 🔌",
        "",
        "x" * 70_000,
    ]
    writer = FrameLogWriter(sessions, batch_size=3)
    for message in messages:
        writer.record("acme", "c1", "csms_to_cp", "DataTransfer", message, "bad: ⚡\t\\")
    writer.record("acme", "c1", "csms_to_cp", "DataTransfer", "nul\x00inside")
    await writer.close()
    assert await _messages(sessions, "c1") == [*messages, "nul\\u0000inside"]
    async with sessions() as session:
        findings = (await session.scalars(select(FrameLog.finding).order_by(FrameLog.seq))).all()
    assert findings == ["bad: ⚡\t\\"] * len(messages) + [None]


async def test_stored_times_are_those_the_orm_writes_and_queries(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
):
    # SQLite keeps times as text and compares them as text: the writer's own formatting
    # must match the ORM's to the character, whole seconds included.
    stamps = [
        datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC),
        datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC),
        datetime(2025, 6, 1, 14, 0, 0, 5, tzinfo=timezone(timedelta(hours=2))),
    ]
    clock: Iterator[datetime] = iter(stamps)
    monkeypatch.setattr(framelog, "utcnow", lambda: next(clock))
    writer = FrameLogWriter(sessions)
    for n in range(len(stamps)):
        writer.record("acme", "c1", "cp_to_csms", "Heartbeat", str(n))
    await writer.close()
    async with sessions() as session:
        for n, stamp in enumerate(stamps):
            found = await session.scalars(select(FrameLog.message).where(FrameLog.ts == stamp))
            assert found.all() == [str(n)]
        stored = (await session.scalars(select(FrameLog.ts).order_by(FrameLog.seq))).all()
    assert stored == [stamp.astimezone(UTC) for stamp in stamps]


async def test_retention_reads_a_charger_once_then_deletes_ranges_it_knows_without_counting(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
):
    writer = FrameLogWriter(sessions, retention=10)
    read: list[list[str]] = []
    real_ends = writer._ends

    async def ends(connection: AsyncConnection, charger_ids: list[str]) -> Any:
        read.append(sorted(charger_ids))
        return await real_ends(connection, charger_ids)

    monkeypatch.setattr(writer, "_ends", ends)
    for round_ in range(3):
        for n in range(15):
            writer.record("acme", "c1", "cp_to_csms", "Heartbeat", f"{round_}-{n}")
        await writer.flush()
        assert await writer.prune() == (5 if round_ == 0 else 15)
    assert read == [["c1"]]  # its first frames only
    assert await _messages(sessions, "c1") == [f"2-{n}" for n in range(5, 15)]
    async with sessions() as session:
        stats = await session.get(FrameLogStats, "c1")
        seqs = (await session.scalars(select(FrameLog.seq).order_by(FrameLog.seq))).all()
    assert stats is not None and stats.pruned == 35
    assert seqs == list(range(36, 46))
    await writer.close()


async def test_a_restarted_writer_numbers_on_from_the_stored_frames(
    sessions: async_sessionmaker[AsyncSession],
):
    first = FrameLogWriter(sessions, retention=10)
    for n in range(12):
        first.record("acme", "c1", "cp_to_csms", "Heartbeat", f"a-{n}")
    await first.close()  # not pruned: 12 rows for a retention of 10

    second = FrameLogWriter(sessions, retention=10)
    for n in range(3):
        second.record("acme", "c1", "cp_to_csms", "Heartbeat", f"b-{n}")
    await second.flush()
    assert await second.prune() == 5
    assert await _messages(sessions, "c1") == [
        *(f"a-{n}" for n in range(5, 12)),
        *(f"b-{n}" for n in range(3)),
    ]
    await second.close()


async def test_frames_deleted_elsewhere_never_make_retention_miscount(
    sessions: async_sessionmaker[AsyncSession],
):
    writer = FrameLogWriter(sessions, retention=5)
    for charger_id in ("c1", "c2"):
        for n in range(12):
            writer.record("acme", charger_id, "cp_to_csms", "Heartbeat", f"{charger_id}-{n}")
    await writer.flush()
    # Holes among the frames retention is about to delete: its ranges are not full.
    async with sessions.begin() as session:
        await session.execute(
            FrameLog.__table__.delete().where(
                FrameLog.charger_id == "c1", FrameLog.seq.in_([2, 4, 6])
            )
        )
    assert await writer.prune() == 4 + 7
    assert await _messages(sessions, "c1") == [f"c1-{n}" for n in range(7, 12)]
    assert await _messages(sessions, "c2") == [f"c2-{n}" for n in range(7, 12)]
    async with sessions() as session:
        c1 = await session.get(FrameLogStats, "c1")
        c2 = await session.get(FrameLogStats, "c2")
    assert c1 is not None and c1.pruned == 4
    assert c2 is not None and c2.pruned == 7
    await writer.close()


async def test_a_charger_written_by_another_writer_meanwhile_is_read_again(
    sessions: async_sessionmaker[AsyncSession],
):
    # Two writers on one charger (e.g. a handover): the second one's seqs collide, its
    # transaction fails, and the retry numbers on from what is stored, losing nothing.
    first = FrameLogWriter(sessions)
    second = FrameLogWriter(sessions)
    first.record("acme", "c1", "cp_to_csms", "Heartbeat", "first-0")
    second.record("acme", "c1", "cp_to_csms", "Heartbeat", "second-0")
    await first.flush()  # seq 1; the first writer's next is 2
    await second.flush()  # reads c1's end: seq 2
    first.record("acme", "c1", "cp_to_csms", "Heartbeat", "first-1")
    # seq 2 again (the driver's own error: the rows go to it directly): rolled back, kept.
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await first.flush()
    assert first.pending == 1
    await first.close()
    await second.close()
    assert await _messages(sessions, "c1") == ["first-0", "second-0", "first-1"]
