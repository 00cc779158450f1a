"""Command records are queued and written in batches: a command is visible at once, its
row ends with its outcome, and nothing queued is lost on shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voltlab.commands import records
from voltlab.commands.records import CommandRecorder
from voltlab.ids import new_id, utcnow
from voltlab.storage.engine import create_engine, migrate, session_factory
from voltlab.storage.models import Command

from .conftest import Lab


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    await migrate(engine)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


def _row(status: str = "queued", org_id: str = "acme") -> dict[str, Any]:
    return {
        "id": new_id(),
        "org_id": org_id,
        "charger_id": "c1",
        "event_type": "StartSession",
        "ocpp_version": "ocpp1.6",
        "payload": {"id_tag": "T1"},
        "status": status,
        "created_at": utcnow(),
    }


async def _stored(sessions: async_sessionmaker[AsyncSession], command_id: str) -> Command | None:
    async with sessions() as session:
        return await session.get(Command, command_id)


async def test_a_command_finished_before_its_row_is_written_is_inserted_finished(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    recorder = CommandRecorder(sessions)
    row = _row("running")
    recorder.queue([row])
    recorder.finish(row["id"], "succeeded", {"status": "Accepted"}, None)

    pending, outcome = recorder.view(row["id"])
    assert pending is not None and pending["status"] == "succeeded" and outcome is None
    assert await _stored(sessions, row["id"]) is None

    await recorder.flush()
    stored = await _stored(sessions, row["id"])
    assert stored is not None
    assert (stored.status, stored.result) == ("succeeded", {"status": "Accepted"})
    assert recorder.view(row["id"]) == (None, None)
    assert recorder.pending == 0


async def test_an_outcome_after_the_insert_is_visible_until_it_is_written(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    recorder = CommandRecorder(sessions)
    row = _row()
    recorder.queue([row])
    await recorder.flush()
    recorder.finish(row["id"], "failed", None, "the charger did not answer")

    pending, outcome = recorder.view(row["id"])
    assert pending is None and outcome is not None
    assert (outcome["status"], outcome["error"]) == ("failed", "the charger did not answer")
    stored = await _stored(sessions, row["id"])
    assert stored is not None and stored.status == "queued"

    await recorder.flush()
    stored = await _stored(sessions, row["id"])
    assert stored is not None
    assert (stored.status, stored.error) == ("failed", "the charger did not answer")
    assert stored.finished_at is not None


async def test_a_large_fan_out_is_written_in_batches_and_close_loses_nothing(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records, "BATCH_ROWS", 40)
    recorder = CommandRecorder(sessions, interval_s=0.001)
    recorder.start()
    rows = [_row() for _ in range(500)]
    recorder.queue(rows)
    for row in rows[::2]:
        recorder.finish(row["id"], "succeeded", {}, None)
        await asyncio.sleep(0)
    await recorder.close()

    async with sessions() as session:
        rows = await session.execute(select(Command.status, func.count()).group_by(Command.status))
        counts = {status: count for status, count in rows.all()}
    assert counts == {"succeeded": 250, "queued": 250}
    assert recorder.pending == 0


async def test_a_queued_command_is_found_before_its_row_is_written(lab: Lab) -> None:
    cp = await lab.charger("1.6")
    recorder = lab.voltlab.services.commands
    # Holding the recorder's flush lock keeps it from writing: the answers below come
    # from its in-memory view.
    async with recorder._flushing:
        report = await lab.fan_out("plug-connector", {"charger_id": cp.id}, {})
        command_id = report["results"][0]["command"]["id"]
        response = await lab.client.get(f"/ocpp/commands/{command_id}")
        assert response.status_code == 200, response.text
        assert response.json()["charger_id"] == cp.id
        assert response.json()["status"] in ("queued", "succeeded")
        async with lab.voltlab.client_for("globex") as globex:
            assert (await globex.get(f"/ocpp/commands/{command_id}")).status_code == 404
        record = await lab.outcome(command_id)
        assert record["status"] == "succeeded"
        async with lab.voltlab.services.sessions() as session:
            assert await session.get(Command, command_id) is None

    await recorder.flush()
    async with lab.voltlab.services.sessions() as session:
        stored = await session.get(Command, command_id)
    assert stored is not None and stored.status == "succeeded"
    assert (await lab.outcome(command_id))["result"] == record["result"]
