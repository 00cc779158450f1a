"""A restart of voltlab on the same database resumes the chargers that should run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from support.csms import RecordingCsms
from support.live import LiveServer, eventually, token
from voltlab.settings import Settings


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A voltlab on ``settings`` and a client of tenant "acme"; stopped when the block ends."""
    async with LiveServer(settings) as base_url:
        headers = {"Authorization": f"Bearer {token()}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as client:
            yield client


async def _create(
    client: httpx.AsyncClient, csms: RecordingCsms, identity: str, version: str
) -> str:
    response = await client.post(
        "/ocpp/chargers",
        json={
            "identity": identity,
            "brand_slug": "abb",
            "model_slug": "terra-184",
            "connector_type": "CCS2",
            "ws_url": csms.url,
            "ocpp_version": version,
            "location_name": "Depot",
        },
    )
    assert response.status_code == 202, response.text
    return str(response.json()["charger_id"])


async def _runtime(client: httpx.AsyncClient, charger_id: str) -> dict:
    response = await client.get(f"/ocpp/chargers/{charger_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["runtime"])


async def test_running_chargers_come_back_and_boot_again_after_a_restart(
    settings: Settings, csms: RecordingCsms
):
    async with serving(settings) as client:
        ids = {
            "CP-R16": await _create(client, csms, "CP-R16", "OCPP1.6"),
            "CP-R201": await _create(client, csms, "CP-R201", "OCPP2.0.1"),
        }
        for identity in ids:
            await csms.wait_for(identity, "StatusNotification")

    # voltlab is gone: so are its sockets.
    for identity in ids:
        await eventually(
            lambda identity=identity: csms.connections[identity].state.name == "CLOSED"
        )

    async with serving(settings) as client:
        for identity, charger_id in ids.items():
            await csms.wait_for(identity, "BootNotification", count=2)
            await csms.wait_for(identity, "StatusNotification", count=2)
            runtime = await eventually(lambda cid=charger_id: _accepted(client, cid), timeout=5)
            assert runtime["state"] == "running"

            # The frames of the first run were flushed when it shut down; the second
            # boot's frame reaches the log with the writer's next batch.
            async def boots(cid: str = charger_id) -> bool:
                logs = await client.get(
                    f"/ocpp/chargers/{cid}/logs", params={"event": "BootNotification"}
                )
                sent = [e for e in logs.json()["data"] if e["direction"] == "cp_to_csms"]
                assert len(sent) <= 2
                return len(sent) == 2

            await eventually(boots, timeout=5)


async def _accepted(client: httpx.AsyncClient, charger_id: str) -> dict | None:
    runtime = await _runtime(client, charger_id)
    ok = runtime["boot_status"] == "Accepted" and runtime["connection"] == "connected"
    return runtime if ok else None


async def test_a_charger_stopped_with_stop_charger_stays_stopped_after_a_restart(
    settings: Settings, csms: RecordingCsms
):
    async with serving(settings) as client:
        keep = await _create(client, csms, "CP-KEEP", "OCPP1.6")
        halt = await _create(client, csms, "CP-HALT", "OCPP2.0.1")
        await csms.wait_for("CP-KEEP", "StatusNotification")
        await csms.wait_for("CP-HALT", "StatusNotification")
        stopped = await client.post(f"/ocpp/chargers/{halt}/stop-charger")
        assert stopped.status_code == 200, stopped.text
        await eventually(lambda: csms.connections["CP-HALT"].state.name == "CLOSED")
        assert (await _runtime(client, halt))["state"] == "stopped"

    async with serving(settings) as client:
        await csms.wait_for("CP-KEEP", "BootNotification", count=2)
        await csms.wait_for("CP-KEEP", "StatusNotification", count=2)
        assert (await _runtime(client, halt))["state"] == "stopped"
        assert (await _runtime(client, keep))["state"] == "running"

    # Resumed chargers are started before voltlab serves; the stopped one never dialled.
    assert csms.handshakes["CP-HALT"] == 1
    assert csms.actions("CP-HALT").count("BootNotification") == 1
