"""A charging session survives a restart of voltlab: the transaction resumes with the same
id and a register that keeps rising; configuration and local list are kept."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from support.csms import RecordingCsms
from support.frames import ListSink
from support.live import LiveServer, eventually, token
from support.sessions import (
    ENERGY,
    FAST_METER,
    all_frames_valid,
    booted,
    of,
    periodic,
    readings,
    tx_messages,
)
from support.stations import running, spec_for
from voltlab.settings import Settings
from voltlab.simulator import Station
from voltlab.simulator.model.authorization import IdTagInfo

TIMEOUT_KEY = {"1.6": "ConnectionTimeOut", "2.0.1": "TxCtrlr.EVConnectionTimeOut"}


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with LiveServer(settings) as base_url:
        headers = {"Authorization": f"Bearer {token()}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as client:
            yield client


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def _command_result(client: httpx.AsyncClient, command_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        record = await _ok(await client.get(f"/ocpp/commands/{command_id}"))
        return record if record["status"] in ("succeeded", "failed") else None

    record = await eventually(done, timeout=10)
    assert record["status"] == "succeeded", record
    return dict(record["result"])


def _transaction_ids(csms: RecordingCsms, identity: str, version: str) -> set[Any]:
    if version == "1.6":
        return {p["transactionId"] for p in of(csms, identity, "MeterValues")}
    return {p["transactionInfo"]["transactionId"] for p in of(csms, identity, "TransactionEvent")}


async def test_a_charging_session_resumes_after_voltlab_restarts(
    settings: Settings, csms: RecordingCsms, version: str
):
    identity = f"CP-RESUME-{version.replace('.', '')}"
    key = TIMEOUT_KEY[version]
    async with serving(settings) as client:
        created = await _ok(
            await client.post(
                "/ocpp/chargers",
                json={
                    "identity": identity,
                    "brand_slug": "abb",
                    "model_slug": "terra-ac-wallbox",
                    "connector_type": "Type2",
                    "ws_url": csms.url,
                    "ocpp_version": "OCPP1.6" if version == "1.6" else "OCPP2.0.1",
                    "location_name": "Depot",
                    "meter_interval_s": 1,
                },
            ),
            202,
        )
        charger_id = created["charger_id"]
        await csms.wait_for(identity, "StatusNotification")
        target = {"charger_id": charger_id}

        configured = await _ok(
            await client.post(
                "/ocpp/commands/configuration",
                json={"target": target, "event": {"configuration": {key: 45}}},
            )
        )
        assert configured["status"] == "Accepted", configured
        listed = await _ok(
            await client.post(
                "/ocpp/commands/local-auth-list",
                json={
                    "target": target,
                    "event": {"list_version": 3, "entries": [{"id_tag": "LIST-R"}]},
                },
            )
        )
        assert listed["status"] == "Accepted"

        report = await _ok(
            await client.post(
                "/ocpp/commands/start-session",
                json={"target": target, "event": {"id_tag": "TAG-RESUME", "connector_id": 1}},
            ),
            202,
        )
        (queued,) = report["results"]
        session = await _command_result(client, queued["command"]["id"])
        transaction_id = session["transaction_id"]
        assert transaction_id is not None
        await eventually(lambda: len(periodic(csms, identity)) >= 2, timeout=15)
        before = len(periodic(csms, identity))

    # voltlab is gone, and with it the socket; the CSMS saw no end of the transaction.
    await eventually(lambda: csms.connections[identity].state.name == "CLOSED")
    last_before = readings(periodic(csms, identity)[-1])[ENERGY]
    assert not of(csms, identity, "StopTransaction")
    assert not of(csms, identity, "TransactionEvent", "Ended")

    async with serving(settings) as client:
        await csms.wait_for(identity, "BootNotification", count=2)
        await eventually(lambda: len(periodic(csms, identity)) >= before + 2, timeout=15)

        transactions = (await _ok(await client.get(f"/ocpp/chargers/{charger_id}/transactions")))[
            "data"
        ]
        active = [t for t in transactions if t["status"] == "Active"]
        assert [t["transaction_id"] for t in active] == [transaction_id]
        charger = await _ok(await client.get(f"/ocpp/chargers/{charger_id}"))
        assert charger["runtime"]["connectors"][0]["transaction_id"] == transaction_id
        assert charger["runtime"]["connectors"][0]["status"] == (
            "Charging" if version == "1.6" else "Occupied"
        )

        configuration = (await _ok(await client.get(f"/ocpp/chargers/{charger_id}/configuration")))[
            "data"
        ]
        assert {c["key"]: c["value"] for c in configuration}[key] == "45"
        local_list = await _ok(await client.get(f"/ocpp/chargers/{charger_id}/local-auth-list"))
        assert local_list["list_version"] == 3
        assert [e["id_tag"] for e in local_list["entries"]] == ["LIST-R"]

        stopped = await _ok(
            await client.post(
                "/ocpp/commands/stop-session",
                json={"target": {"charger_id": charger_id}, "event": {"connector_id": 1}},
            ),
            202,
        )
        await _command_result(client, stopped["results"][0]["command"]["id"])
        if version == "1.6":
            await csms.wait_for(identity, "StopTransaction")
        else:
            await eventually(lambda: of(csms, identity, "TransactionEvent", "Ended"))

    samples = periodic(csms, identity)
    energies = [readings(p)[ENERGY] for p in samples]
    assert energies == sorted(energies), energies
    assert energies[before] >= last_before  # the register went on from where it was
    assert energies[-1] > last_before
    # The same transaction before and after the restart, and only that one.
    if version == "1.6":
        assert _transaction_ids(csms, identity, version) == {int(transaction_id)}
        assert csms.actions(identity).count("StartTransaction") == 1
        (stop,) = of(csms, identity, "StopTransaction")
        assert stop["transactionId"] == int(transaction_id)
        assert stop["meterStop"] >= int(last_before)
    else:
        assert _transaction_ids(csms, identity, version) == {transaction_id}
        events = of(csms, identity, "TransactionEvent")
        # At-least-once: an event sent but unanswered when voltlab stopped is sent again
        # after the restart, with the same seqNo and content. No seqNo is skipped, and
        # none is reused for a different event.
        by_seq: dict[int, dict] = {}
        for event in events:
            assert by_seq.setdefault(event["seqNo"], event) == event, event
        assert sorted(by_seq) == list(range(len(by_seq)))
        assert [e["eventType"] for e in events].count("Started") == 1
    all_frames_valid(csms, identity, version)


async def test_messages_queued_offline_are_sent_by_the_station_that_restarts_from_its_state(
    csms: RecordingCsms, version: str
):
    """The queue is durable: a transaction run offline reaches the CSMS after a restart."""
    identity = "CP-QUEUED"
    spec = spec_for(csms.url, version, identity)
    async with running(spec, options=FAST_METER) as station:
        await booted(station)
        station.send_local_list(1, "Full", [("LIST-Q", IdTagInfo("Accepted"))])
        await csms.stop()
        await eventually(lambda: not station.online)
        connector = station.connector()
        await station.plug(connector)
        await station.present_tag("LIST-Q", connector)
        await station.present_tag("LIST-Q", connector)  # stopped, still offline
        queued = [m.action for m in station.queue]
        state = json.loads(json.dumps(station.durable()))  # as the database keeps it

    await csms.start()
    restarted = Station(spec, ListSink(), FAST_METER, state=state)
    task = asyncio.create_task(restarted.run())
    try:
        await eventually(lambda: restarted.online and not restarted.queue, timeout=15)
        assert restarted.local_list.version == 1
        assert restarted.transactions == {}
        (summary,) = restarted.transactions_view()
        assert summary["status"] == "Ended"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert [a for a, _ in tx_messages(csms, identity)] == queued
    if version == "1.6":
        (stop,) = of(csms, identity, "StopTransaction")
        assert stop["transactionId"] == csms.transaction_ids[0]
        assert summary["transaction_id"] == str(csms.transaction_ids[0])
    else:
        events = of(csms, identity, "TransactionEvent")
        assert [(e["eventType"], e["seqNo"], e["offline"]) for e in events] == [
            ("Started", 0, True),
            ("Ended", 1, True),
        ]
    all_frames_valid(csms, identity, version)
