"""Chargers: create (202 + provisioning), validation, read, list, partial update, delete."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from support.csms import RecordingCsms
from support.live import eventually
from tests.api.helpers import (
    CLOSED_PORT_URL,
    charger_body,
    create_charger,
    error_locs,
    runtime,
    wait_status,
)


async def test_creating_a_charger_answers_202_then_its_status_reaches_ready(
    client: httpx.AsyncClient, location_id: str
):
    response = await client.post(
        "/ocpp/chargers", json=charger_body("CP-1", location_id=location_id)
    )

    accepted = response.json()
    assert response.status_code == 202
    assert set(accepted) == {"charger_id", "identity", "status", "status_url", "workflow_run_id"}
    assert accepted["identity"] == "CP-1"
    assert accepted["status"] in ("PENDING", "PROVISIONING")
    assert accepted["status_url"] == f"/ocpp/chargers/{accepted['charger_id']}/status"
    status = await wait_status(client, accepted["charger_id"], "READY")
    assert status["workflow_run_id"] == accepted["workflow_run_id"]
    assert status["error"] is None
    assert status["provisioned_at"].endswith("Z")


@pytest.mark.parametrize(
    "identity", ["", "has space", "x" * 49, "CP/1", "CP#1", "ÄBC", "CP:1", "a\x00b", 42]
)
async def test_an_identity_outside_the_pattern_is_422_naming_identity(
    client: httpx.AsyncClient, identity: object
):
    response = await client.post("/ocpp/chargers", json=charger_body("x") | {"identity": identity})

    assert error_locs(response) == [["body", "identity"]]


async def test_the_longest_allowed_identity_uses_every_allowed_character(
    client: httpx.AsyncClient,
):
    identity = ("Az09._-" * 7)[:48]

    response = await client.post("/ocpp/chargers", json=charger_body(identity))

    assert response.status_code == 202
    assert response.json()["identity"] == identity


@pytest.mark.parametrize(
    "ws_url",
    [
        "http://127.0.0.1:9000/ocpp",
        "https://csms.example.com/ocpp",
        "csms.example.com/ocpp",
        "ws://",
        "ws:///ocpp",
        "ws://127.0.0.1:99999/ocpp",
        "ws://127.0.0.1:port/ocpp",
        "ws://csms.example.com/ocpp?token=1",
        "ws://csms.example.com/ocpp#frag",
        "ws://csms example.com/ocpp",
        "ws://csms.example.com/oc\tpp",
        "ws://[::1/ocpp",
        "ws://user:secret@csms.example.com/ocpp",
        "",
    ],
)
async def test_a_ws_url_that_is_not_a_usable_ws_or_wss_url_is_422(
    client: httpx.AsyncClient, ws_url: str
):
    response = await client.post("/ocpp/chargers", json=charger_body("CP-1", ws_url=ws_url))

    assert error_locs(response) == [["body", "ws_url"]]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"brand_slug": "teslo"}, "brand_slug"),
        ({"model_slug": "terra-9000"}, "model_slug"),
        ({"brand_slug": "wallbox"}, "model_slug"),
        ({"connector_type": "Type2"}, "connector_type"),
        ({"ocpp_version": "OCPP2.1"}, "ocpp_version"),
        ({"ocpp_version": 1.6}, "ocpp_version"),
        ({"model_slug": "terra-54", "connector_type": "CCS2", "ocpp_version": "OCPP2.0.1"}, None),
        ({"heartbeat_interval_s": 0}, "heartbeat_interval_s"),
        ({"meter_interval_s": 86_401}, "meter_interval_s"),
        ({"password": ""}, "password"),
        ({"password": "line\nbreak"}, "password"),
        ({"charge_point_name": "x" * 256}, "charge_point_name"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_a_field_that_does_not_fit_the_catalog_or_schema_is_422_naming_it(
    client: httpx.AsyncClient, fields: dict, field: str | None
):
    response = await client.post("/ocpp/chargers", json=charger_body("CP-1", **fields))

    assert error_locs(response) == [["body", field or "ocpp_version"]]
    assert (await client.get("/ocpp/chargers")).json()["total"] == 0


async def test_an_unknown_catalog_slug_is_explained_in_the_message(client: httpx.AsyncClient):
    response = await client.post(
        "/ocpp/chargers", json=charger_body("CP-1", connector_type="Type2")
    )

    (error,) = response.json()["detail"]
    assert "Type2" in error["msg"] and "CCS2" in error["msg"]


async def test_an_ocpp_version_is_accepted_in_its_short_spellings(client: httpx.AsyncClient):
    for identity, spelling in (("CP-A", "1.6"), ("CP-B", "ocpp2.0.1"), ("CP-C", "OCPP 2.0.1")):
        response = await client.post(
            "/ocpp/chargers", json=charger_body(identity, ocpp_version=spelling)
        )
        assert response.status_code == 202, response.text

    versions = sorted(
        c["ocpp_version"] for c in (await client.get("/ocpp/chargers")).json()["data"]
    )
    assert versions == ["OCPP1.6", "OCPP2.0.1", "OCPP2.0.1"]


async def test_a_charger_needs_a_location_id_or_a_location_name(client: httpx.AsyncClient):
    body = charger_body("CP-1")
    del body["location_name"]

    response = await client.post("/ocpp/chargers", json=body)

    assert error_locs(response) == [["body"]]
    assert "location" in response.json()["detail"][0]["msg"]


async def test_an_unknown_location_id_is_422_naming_location_id(client: httpx.AsyncClient):
    response = await client.post("/ocpp/chargers", json=charger_body("CP-1", location_id="nope"))

    assert error_locs(response) == [["body", "location_id"]]


async def test_a_duplicate_identity_in_the_tenant_is_409(client: httpx.AsyncClient):
    await create_charger(client, "CP-DUP")

    response = await client.post("/ocpp/chargers", json=charger_body("CP-DUP"))

    assert response.status_code == 409
    assert "CP-DUP" in response.json()["detail"]
    assert (await client.get("/ocpp/chargers")).json()["total"] == 1


async def test_concurrent_creates_of_one_identity_make_one_charger(client: httpx.AsyncClient):
    answers = await asyncio.gather(
        *(client.post("/ocpp/chargers", json=charger_body("CP-RACE")) for _ in range(8))
    )

    assert sorted(a.status_code for a in answers) == [202] + [409] * 7
    assert (await client.get("/ocpp/chargers")).json()["total"] == 1


async def test_a_location_name_without_a_location_id_creates_the_location(
    client: httpx.AsyncClient,
):
    first = await create_charger(client, "CP-1", location_name="Harbour Lot")
    second = await create_charger(client, "CP-2", location_name="Harbour Lot")

    chargers = [(await client.get(f"/ocpp/chargers/{cid}")).json() for cid in (first, second)]
    location = (await client.get(f"/ocpp/locations/{chargers[0]['location_id']}")).json()
    assert location["name"] == "Harbour Lot"
    assert location["slug"].startswith("harbour-lot-")
    # A name is not a lookup key: each call creates its own location.
    assert chargers[0]["location_id"] != chargers[1]["location_id"]


async def test_a_charger_reads_back_with_its_model_and_runtime(
    client: httpx.AsyncClient, csms: RecordingCsms, location_id: str
):
    charger_id = await create_charger(
        client,
        "CP-1",
        ws_url=csms.url,
        location_id=location_id,
        charge_point_name="Bay 1",
        heartbeat_interval_s=120,
    )
    await csms.wait_for("CP-1", "StatusNotification", count=2)

    charger = (await client.get(f"/ocpp/chargers/{charger_id}")).json()

    assert charger["id"] == charger_id
    assert (charger["identity"], charger["name"], charger["charge_point_name"]) == (
        "CP-1",
        "Bay 1",
        "Bay 1",
    )
    assert (charger["vendor_name"], charger["model"]) == ("ABB", "Terra 184")
    assert (charger["number_of_connectors"], charger["max_charging_power"]) == (2, 180)
    assert (charger["location_id"], charger["ocpp_version"]) == (location_id, "OCPP1.6")
    assert (charger["ws_url"], charger["has_password"]) == (csms.url, False)
    assert (charger["heartbeat_interval_s"], charger["status"]) == (120, "READY")
    live = await runtime(client, charger_id)
    assert (live["state"], live["connection"], live["boot_status"]) == (
        "running",
        "connected",
        "Accepted",
    )
    assert [(c["evse_id"], c["connector_id"]) for c in live["connectors"]] == [(1, 1), (2, 2)]
    assert {c["status"] for c in live["connectors"]} == {"Available"}
    assert live["last_message_at"].endswith("Z")


async def test_an_unknown_charger_is_404(client: httpx.AsyncClient):
    for method, path in (
        ("GET", "/ocpp/chargers/nope"),
        ("GET", "/ocpp/chargers/nope/status"),
        ("PUT", "/ocpp/chargers/nope"),
        ("DELETE", "/ocpp/chargers/nope"),
        ("GET", "/ocpp/chargers/%00"),
    ):
        response = await client.request(method, path, json={} if method == "PUT" else None)

        assert response.status_code == 404, (method, path)


async def test_chargers_list_filters_by_location_and_pages(
    client: httpx.AsyncClient, location_id: str
):
    north_id = location_id
    north = [await create_charger(client, f"N-{n}", location_id=north_id) for n in range(3)]
    await create_charger(client, "S-0", location_name="South")

    everything = (await client.get("/ocpp/chargers")).json()
    filtered = (await client.get("/ocpp/chargers", params={"location_id": north_id})).json()
    page = (
        await client.get("/ocpp/chargers", params={"location_id": north_id, "limit": 2, "page": 2})
    ).json()

    assert everything["total"] == 4
    assert [c["id"] for c in filtered["data"]] == north
    assert filtered["total"] == 3
    assert [c["id"] for c in page["data"]] == north[2:]
    assert (page["total"], page["page"], page["limit"]) == (3, 2, 2)


@pytest.mark.parametrize(
    "params",
    [{"limit": 101}, {"page": 0}, {"location_id": "x" * 65}, {"location_id": "a\x00"}],
)
async def test_a_bad_chargers_list_query_is_422(client: httpx.AsyncClient, params: dict):
    response = await client.get("/ocpp/chargers", params=params)

    assert error_locs(response) == [["query", next(iter(params))]]


async def test_a_partial_put_changes_only_the_supplied_fields(client: httpx.AsyncClient):
    charger_id = await create_charger(client, "CP-1", charge_point_name="Old")
    before = (await client.get(f"/ocpp/chargers/{charger_id}")).json()

    response = await client.put(
        f"/ocpp/chargers/{charger_id}", json={"name": "New name", "connector_type": "CHAdeMO"}
    )

    after = response.json()
    assert response.status_code == 200
    assert (after["name"], after["connector_type"]) == ("New name", "CHAdeMO")
    same = ("identity", "charge_point_name", "ws_url", "ocpp_version", "location_id", "created_at")
    assert {k: after[k] for k in same} == {k: before[k] for k in same}
    assert after["updated_at"] > before["updated_at"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"connector_type": "Type2"}, "connector_type"),
        ({"ocpp_version": "OCPP3"}, "ocpp_version"),
        ({"ws_url": "http://csms.example.com"}, "ws_url"),
        ({"location_id": "nope"}, "location_id"),
        ({"identity": "CP-2"}, "identity"),
        ({"brand_slug": "abb"}, "brand_slug"),
    ],
)
async def test_an_invalid_put_is_422_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient, body: dict, field: str
):
    charger_id = await create_charger(client, "CP-1")
    before = (await client.get(f"/ocpp/chargers/{charger_id}")).json()

    response = await client.put(f"/ocpp/chargers/{charger_id}", json=body)

    assert error_locs(response) == [["body", field]]
    after = (await client.get(f"/ocpp/chargers/{charger_id}")).json()
    assert {k: v for k, v in after.items() if k != "runtime"} == {
        k: v for k, v in before.items() if k != "runtime"
    }


async def test_a_put_location_name_moves_the_charger_to_a_new_location(
    client: httpx.AsyncClient, location_id: str
):
    charger_id = await create_charger(client, "CP-1", location_id=location_id)

    moved = (
        await client.put(f"/ocpp/chargers/{charger_id}", json={"location_name": "Overflow Lot"})
    ).json()

    assert moved["location_id"] != location_id
    location = (await client.get(f"/ocpp/locations/{moved['location_id']}")).json()
    assert location["name"] == "Overflow Lot"


async def test_a_put_of_ws_url_reconnects_the_runtime_to_the_new_csms(
    client: httpx.AsyncClient, csms: RecordingCsms
):
    charger_id = await create_charger(client, "CP-MOVE", ws_url=csms.url)
    await csms.wait_for("CP-MOVE", "BootNotification")
    old_socket = csms.connections["CP-MOVE"]
    second = await RecordingCsms().start()
    try:
        response = await client.put(f"/ocpp/chargers/{charger_id}", json={"ws_url": second.url})

        assert response.status_code == 200
        assert response.json()["ws_url"] == second.url
        boot = await second.wait_for("CP-MOVE", "BootNotification")
        assert boot[0].payload["charge_point_vendor"] == "ABB"
        async with asyncio.timeout(5):
            await old_socket.wait_closed()
        await eventually(lambda: _booted(client, charger_id))
    finally:
        await second.stop()


async def test_a_put_of_ocpp_version_reconnects_speaking_the_new_version(
    client: httpx.AsyncClient, csms: RecordingCsms
):
    charger_id = await create_charger(client, "CP-UP", ws_url=csms.url)
    await csms.wait_for("CP-UP", "BootNotification")
    assert csms.connections["CP-UP"].subprotocol == "ocpp1.6"

    response = await client.put(f"/ocpp/chargers/{charger_id}", json={"ocpp_version": "2.0.1"})

    assert response.json()["ocpp_version"] == "OCPP2.0.1"
    await csms.wait_for("CP-UP", "BootNotification", count=2)
    assert csms.connections["CP-UP"].subprotocol == "ocpp2.0.1"
    await eventually(lambda: _booted(client, charger_id))


async def _booted(client: httpx.AsyncClient, charger_id: str) -> bool:
    # The CSMS has the new BootNotification before the charger has read its
    # answer, so boot_status is None for a moment after the reconnect.
    live = await runtime(client, charger_id)
    return live["connection"] == "connected" and live["boot_status"] == "Accepted"


async def test_deleting_a_charger_stops_its_runtime_and_forgets_it(
    client: httpx.AsyncClient, csms: RecordingCsms
):
    charger_id = await create_charger(client, "CP-GONE", ws_url=csms.url)
    await csms.wait_for("CP-GONE", "BootNotification")

    response = await client.delete(f"/ocpp/chargers/{charger_id}")

    assert response.status_code == 204
    async with asyncio.timeout(5):
        await csms.connections["CP-GONE"].wait_closed()
    assert (await client.get(f"/ocpp/chargers/{charger_id}")).status_code == 404
    assert (await client.delete(f"/ocpp/chargers/{charger_id}")).status_code == 404
    boots = len([a for a in csms.actions("CP-GONE") if a == "BootNotification"])
    assert boots == 1


async def test_a_charger_that_cannot_reach_its_csms_is_ready_and_keeps_connecting(
    client: httpx.AsyncClient,
):
    charger_id = await create_charger(client, "CP-LONELY", ws_url=CLOSED_PORT_URL)

    live = await runtime(client, charger_id)

    assert live["state"] == "running"
    assert live["connection"] in ("connecting", "disconnected")
    assert live["boot_status"] is None
