"""The station-state store: write-ahead waits, bounded chunks, nothing lost on close."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voltlab.storage import station_state
from voltlab.storage.engine import create_engine, create_writer_engine, migrate, session_factory
from voltlab.storage.models import StationState
from voltlab.storage.station_state import StationStateStore


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    await migrate(engine)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def writer(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    main = create_engine(database_url)
    engine = create_writer_engine(main)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()
        await main.dispose()


async def _stored(sessions: async_sessionmaker[AsyncSession]) -> dict[str, dict[str, Any]]:
    async with sessions() as session:
        rows = await session.execute(select(StationState.charger_id, StationState.data))
        return {charger_id: data for charger_id, data in rows.all()}


class Durable:
    """A station's durable state: ``snapshot`` is what the store writes."""

    def __init__(self, charger_id: str) -> None:
        self.charger_id = charger_id
        self.version = 0

    def change(self, store: StationStateStore) -> None:
        self.version += 1
        store.mark(self.charger_id, "acme", self.snapshot)

    def snapshot(self) -> dict[str, Any]:
        return {"version": self.version}


class FailingOnce:
    """A session factory whose first ``begin()`` fails, as a database that is briefly
    unavailable would."""

    def __init__(self, inner: async_sessionmaker[AsyncSession]) -> None:
        self.inner = inner
        self.failed = False

    def begin(self) -> Any:
        if not self.failed:
            self.failed = True
            raise ConnectionError("database unavailable")
        return self.inner.begin()


async def test_a_flush_writes_every_dirty_station_in_bounded_chunks(
    sessions: async_sessionmaker[AsyncSession],
    writer: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(station_state, "CHUNK_ROWS", 7)
    store = StationStateStore(sessions, writer=writer)
    stations = [Durable(f"c{n:03d}") for n in range(100)]
    for station in stations:
        station.change(store)

    chunks: list[int] = []
    upsert = station_state._UPSERTS

    class Counting:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def execute(self, connection: Any, rows: list[Any]) -> None:
            chunks.append(len(rows))
            await self.inner.execute(connection, rows)

    monkeypatch.setattr(
        station_state, "_UPSERTS", {name: Counting(s) for name, s in upsert.items()}
    )
    await store.flush()

    assert await _stored(sessions) == {s.charger_id: {"version": 1} for s in stations}
    assert store.writes == 100
    assert max(chunks) <= 7 and sum(chunks) == 100


async def test_a_waiting_station_wakes_only_once_its_newest_state_is_stored(
    sessions: async_sessionmaker[AsyncSession],
    writer: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Small chunks and several flushes at once (the writer task, read-outs, more marks
    # in between): a station must never be woken before the state it waits for is in.
    monkeypatch.setattr(station_state, "CHUNK_ROWS", 5)
    monkeypatch.setattr(station_state, "WAKE_PER_ITERATION", 3)
    store = StationStateStore(sessions, writer=writer, interval_s=0.01)
    store.start()
    stations = [Durable(f"c{n:03d}") for n in range(60)]
    late: list[str] = []

    async def station_sends(station: Durable) -> None:
        for round_ in range(3):
            station.change(store)
            wanted = station.version
            # A station reaches its write-ahead wait a little after marking: by then
            # its state may be in a chunk in flight.
            for _ in range((hash(station.charger_id) + round_) % 4):
                await asyncio.sleep(0)
            await store.persisted(station.charger_id)
            stored = (await _stored(sessions)).get(station.charger_id)
            if stored is None or stored["version"] < wanted:
                late.append(f"{station.charger_id} v{wanted}: {stored}")

    async def readouts() -> None:
        while True:
            await store.flush()
            await asyncio.sleep(0)

    reading = [asyncio.create_task(readouts()) for _ in range(2)]
    try:
        await asyncio.wait_for(asyncio.gather(*(station_sends(s) for s in stations)), 30)
    finally:
        for task in reading:
            task.cancel()
        await asyncio.gather(*reading, return_exceptions=True)
        await store.close()
    assert late == []


async def test_a_failed_write_keeps_the_states_and_their_waiters(
    sessions: async_sessionmaker[AsyncSession],
    writer: async_sessionmaker[AsyncSession],
) -> None:
    failing = FailingOnce(writer)
    store = StationStateStore(sessions, writer=failing)  # type: ignore[arg-type]
    station = Durable("c1")
    station.change(store)
    waiter = asyncio.create_task(store.persisted("c1"))

    with pytest.raises(ConnectionError):
        await store.flush()
    await asyncio.sleep(0.01)
    assert not waiter.done()  # woken by the failed chunk, it went back to waiting

    await store.flush()
    await asyncio.wait_for(waiter, timeout=5)
    assert await _stored(sessions) == {"c1": {"version": 1}}


async def test_close_writes_what_was_marked_while_the_writer_task_runs(
    sessions: async_sessionmaker[AsyncSession],
    writer: async_sessionmaker[AsyncSession],
) -> None:
    store = StationStateStore(sessions, writer=writer, interval_s=0.001)
    store.start()
    stations = [Durable(f"c{n:03d}") for n in range(300)]
    for round_ in range(3):
        for station in stations:
            station.change(store)
        await asyncio.sleep(0.002 * round_)
    await store.close()

    assert await _stored(sessions) == {s.charger_id: {"version": 3} for s in stations}


async def test_delete_wins_over_a_state_marked_before_it(
    sessions: async_sessionmaker[AsyncSession],
    writer: async_sessionmaker[AsyncSession],
) -> None:
    store = StationStateStore(sessions, writer=writer)
    kept, deleted = Durable("kept"), Durable("deleted")
    for station in (kept, deleted):
        station.change(store)
    await store.flush()
    deleted.change(store)
    flushing = asyncio.create_task(store.flush())
    await store.delete(["deleted"])
    await flushing
    await store.flush()
    assert await _stored(sessions) == {"kept": {"version": 1}}


async def test_a_lazy_mark_waits_for_its_turn_but_close_writes_it(
    sessions: async_sessionmaker[AsyncSession],
    writer: async_sessionmaker[AsyncSession],
) -> None:
    store = StationStateStore(sessions, writer=writer)
    lazy, eager = Durable("lazy"), Durable("eager")
    lazy.version = eager.version = 1
    store.mark("lazy", "acme", lazy.snapshot, lazy=True)
    eager.change(store)
    # A lazy mark holds no station back: nothing waits on it.
    await asyncio.wait_for(store.persisted("lazy"), timeout=1)
    await store.flush(lazy=False)  # the writer's turns between two lazy rounds
    assert await _stored(sessions) == {"eager": {"version": 2}}

    await store.close()  # SIGTERM: the lazy change is written too
    assert await _stored(sessions) == {"eager": {"version": 2}, "lazy": {"version": 1}}


async def test_an_eager_mark_takes_over_a_lazy_one_and_a_lazy_one_never_delays_it(
    sessions: async_sessionmaker[AsyncSession],
    writer: async_sessionmaker[AsyncSession],
) -> None:
    store = StationStateStore(sessions, writer=writer)
    station = Durable("c1")
    station.change(store)
    store.mark("c1", "acme", station.snapshot, lazy=True)  # does not demote the eager mark
    waiting = asyncio.create_task(store.persisted("c1"))
    await store.flush(lazy=False)
    await asyncio.wait_for(waiting, timeout=1)
    assert await _stored(sessions) == {"c1": {"version": 1}}

    store.mark("c1", "acme", station.snapshot, lazy=True)
    station.change(store)  # eager now: written by the next turn, lazy or not
    await store.flush(lazy=False)
    assert await _stored(sessions) == {"c1": {"version": 2}}


def _never_called() -> Callable[[], dict[str, Any]]:
    def snapshot() -> dict[str, Any]:
        raise AssertionError("a forgotten station is not written")

    return snapshot


async def test_a_forgotten_station_is_not_written(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = StationStateStore(sessions)
    store.mark("gone", "acme", _never_called())
    store.forget("gone")
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(store.persisted("gone"), timeout=1)
    await store.flush()
    assert await _stored(sessions) == {}


async def test_the_writers_get_one_connection_of_their_own_on_a_sqlite_file(
    tmp_path: Path,
) -> None:
    main = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'v.db'}")
    writer = create_writer_engine(main)
    try:
        assert writer is not main
        assert writer.pool.size() == 1  # type: ignore[attr-defined]
    finally:
        await writer.dispose()
        await main.dispose()
    # An in-memory database lives on its engine's connection: the writers share it.
    memory = create_engine("sqlite+aiosqlite://")
    assert create_writer_engine(memory) is memory
    await memory.dispose()
