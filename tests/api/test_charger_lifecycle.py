"""start-charger / stop-charger / reset-charger, and HTTP Basic auth to the CSMS."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from support.csms import RecordingCsms
from support.live import Voltlab, eventually
from tests.api.helpers import charger_body, create_charger, error_locs, runtime

QUEUED_COMMAND = {"id", "event_type", "ocpp_version", "payload", "status"}


async def lifecycle(client: httpx.AsyncClient, charger_id: str, action: str) -> dict:
    response = await client.post(f"/ocpp/chargers/{charger_id}/{action}")
    assert response.status_code == 200, response.text
    body: dict = response.json()
    assert set(body) == QUEUED_COMMAND
    return body


async def boots(csms: RecordingCsms, identity: str) -> int:
    return csms.actions(identity).count("BootNotification")


@pytest.mark.parametrize(
    ("action", "event_type"),
    [
        ("start-charger", "start_charger"),
        ("stop-charger", "stop_charger"),
        ("reset-charger", "reset_charger"),
    ],
)
async def test_each_lifecycle_action_answers_a_queued_command(
    client: httpx.AsyncClient, action: str, event_type: str
):
    charger_id = await create_charger(client, "CP-1", ocpp_version="OCPP2.0.1")

    command = await lifecycle(client, charger_id, action)

    assert command["event_type"] == event_type
    assert command["ocpp_version"] == "ocpp2.0.1"
    assert command["payload"] == {}
    assert command["status"] == "succeeded"


async def test_stop_charger_closes_the_socket_and_is_idempotent(
    voltlab: Voltlab, client: httpx.AsyncClient, csms: RecordingCsms
):
    charger_id = await create_charger(client, "CP-1", ws_url=csms.url)
    await csms.wait_for("CP-1", "BootNotification")

    first = await lifecycle(client, charger_id, "stop-charger")
    second = await lifecycle(client, charger_id, "stop-charger")

    assert first["status"] == second["status"] == "succeeded"
    assert first["id"] != second["id"]
    async with asyncio.timeout(5):
        await csms.connections["CP-1"].wait_closed()
    live = await runtime(client, charger_id)
    assert (live["state"], live["connection"]) == ("stopped", "disconnected")
    assert voltlab.services.fleet.running_count() == 0


async def test_start_charger_brings_a_stopped_charger_back(
    client: httpx.AsyncClient, csms: RecordingCsms
):
    charger_id = await create_charger(client, "CP-1", ws_url=csms.url)
    await csms.wait_for("CP-1", "BootNotification")
    await lifecycle(client, charger_id, "stop-charger")

    await lifecycle(client, charger_id, "start-charger")

    await csms.wait_for("CP-1", "BootNotification", count=2)
    assert (await runtime(client, charger_id))["state"] == "running"


async def test_start_charger_leaves_a_running_charger_alone(
    client: httpx.AsyncClient, csms: RecordingCsms
):
    charger_id = await create_charger(client, "CP-1", ws_url=csms.url)
    await csms.wait_for("CP-1", "StatusNotification", count=2)
    socket = csms.connections["CP-1"]

    await lifecycle(client, charger_id, "start-charger")
    await lifecycle(client, charger_id, "start-charger")

    assert csms.connections["CP-1"] is socket
    assert await boots(csms, "CP-1") == 1
    assert (await runtime(client, charger_id))["connection"] == "connected"


async def test_reset_charger_restarts_the_runtime_with_a_new_boot(
    client: httpx.AsyncClient, csms: RecordingCsms
):
    charger_id = await create_charger(client, "CP-1", ws_url=csms.url)
    await csms.wait_for("CP-1", "BootNotification")
    socket = csms.connections["CP-1"]

    await lifecycle(client, charger_id, "reset-charger")

    async with asyncio.timeout(5):
        await socket.wait_closed()
    await csms.wait_for("CP-1", "BootNotification", count=2)
    assert (await runtime(client, charger_id))["state"] == "running"


async def test_reset_charger_starts_a_stopped_charger(
    client: httpx.AsyncClient, csms: RecordingCsms
):
    charger_id = await create_charger(client, "CP-1", ws_url=csms.url)
    await lifecycle(client, charger_id, "stop-charger")

    await lifecycle(client, charger_id, "reset-charger")

    await csms.wait_for("CP-1", "BootNotification", count=2)


async def test_a_stopped_charger_stays_stopped_after_an_unrelated_update(
    client: httpx.AsyncClient, csms: RecordingCsms
):
    charger_id = await create_charger(client, "CP-1", ws_url=csms.url)
    await lifecycle(client, charger_id, "stop-charger")

    await client.put(f"/ocpp/chargers/{charger_id}", json={"heartbeat_interval_s": 30})

    assert (await runtime(client, charger_id))["state"] == "stopped"


async def test_a_charger_with_a_password_sends_http_basic_auth(
    client: httpx.AsyncClient, csms: RecordingCsms
):
    csms.passwords["CP-SECURE"] = "s3cret-Passw0rd"
    charger_id = await create_charger(
        client, "CP-SECURE", ws_url=csms.url, password="s3cret-Passw0rd"
    )

    await csms.wait_for("CP-SECURE", "BootNotification")

    assert csms.auth_headers["CP-SECURE"].startswith("Basic ")

    async def accepted() -> bool:
        # The CSMS has the boot before the charger has read its answer.
        return (await runtime(client, charger_id))["boot_status"] == "Accepted"

    assert await eventually(accepted)


async def test_a_charger_without_a_password_sends_no_authorization(
    client: httpx.AsyncClient, csms: RecordingCsms
):
    await create_charger(client, "CP-OPEN", ws_url=csms.url)

    await csms.wait_for("CP-OPEN", "BootNotification")

    assert csms.auth_headers["CP-OPEN"] is None


async def test_a_wrong_password_keeps_the_charger_out_and_says_why(
    client: httpx.AsyncClient, csms: RecordingCsms
):
    csms.passwords["CP-WRONG"] = "the-right-one"
    charger_id = await create_charger(client, "CP-WRONG", ws_url=csms.url, password="wrong")

    async def refused() -> dict | None:
        live = await runtime(client, charger_id)
        return live if live["last_error"] else None

    live = await eventually(refused)
    assert "401" in live["last_error"]
    assert live["boot_status"] is None
    assert "CP-WRONG" not in csms.received


async def test_the_password_is_never_returned_by_the_api(
    client: httpx.AsyncClient, csms: RecordingCsms
):
    csms.passwords["CP-SECURE"] = "s3cret-Passw0rd"
    charger_id = await create_charger(
        client, "CP-SECURE", ws_url=csms.url, password="s3cret-Passw0rd"
    )
    location_id = (await client.get(f"/ocpp/chargers/{charger_id}")).json()["location_id"]

    answers = [
        await client.get(f"/ocpp/chargers/{charger_id}"),
        await client.get("/ocpp/chargers"),
        await client.get(f"/ocpp/locations/{location_id}/chargers"),
        await client.put(f"/ocpp/chargers/{charger_id}", json={"name": "Renamed"}),
        await client.get(f"/ocpp/chargers/{charger_id}/logs"),
        await client.get("/openapi.json"),
    ]

    for answer in answers:
        assert "s3cret-Passw0rd" not in answer.text
    charger = answers[0].json()
    assert charger["has_password"] is True
    assert "password" not in charger


async def test_a_put_of_the_password_reconnects_with_the_new_one(
    client: httpx.AsyncClient, csms: RecordingCsms
):
    csms.passwords["CP-ROTATE"] = "second-secret"
    charger_id = await create_charger(client, "CP-ROTATE", ws_url=csms.url, password="first")

    response = await client.put(f"/ocpp/chargers/{charger_id}", json={"password": "second-secret"})

    assert response.status_code == 200
    await csms.wait_for("CP-ROTATE", "BootNotification")


async def test_a_password_with_control_characters_is_422(client: httpx.AsyncClient):
    response = await client.post("/ocpp/chargers", json=charger_body("CP-1", password="a\rb"))

    assert error_locs(response) == [["body", "password"]]
    assert "control" in json.dumps(response.json())


async def test_lifecycle_on_an_unknown_charger_is_404(client: httpx.AsyncClient):
    for action in ("start-charger", "stop-charger", "reset-charger"):
        response = await client.post(f"/ocpp/chargers/nope/{action}")

        assert response.status_code == 404
