"""Locations: create, read, partial update, idempotent delete, cascade, pages."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from support.csms import RecordingCsms
from support.live import Voltlab, eventually
from tests.api.helpers import create_charger, error_locs

FULL = {
    "name": "Main Street Hub",
    "address": "Main Street 1",
    "city": "Utrecht",
    "country": "NLD",
    "coordinates": {"latitude": 52.0907, "longitude": 5.1214},
    "timezone": "Europe/Amsterdam",
    "owner_name": "Acme Charging",
    "public": False,
}


async def test_creating_a_location_answers_201_with_a_slug_and_status_active(
    client: httpx.AsyncClient,
):
    response = await client.post("/ocpp/locations", json=FULL)

    location = response.json()
    assert response.status_code == 201
    assert re.fullmatch(r"main-street-hub-[0-9a-f]{6}", location["slug"])
    assert location["status"] == "active"
    assert {k: location[k] for k in FULL} == FULL
    assert location["created_at"] == location["updated_at"]
    assert location["created_at"].endswith("Z")
    assert (await client.get(f"/ocpp/locations/{location['id']}")).json() == location


async def test_a_location_with_only_a_name_is_public_with_empty_fields(client: httpx.AsyncClient):
    location = (await client.post("/ocpp/locations", json={"name": "  Bare  "})).json()

    assert location["name"] == "Bare"
    assert location["public"] is True
    assert location["coordinates"] is None
    assert location["address"] is location["timezone"] is None


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "name"]),
        ({"name": ""}, ["body", "name"]),
        ({"name": "   "}, ["body", "name"]),
        ({"name": "x" * 256}, ["body", "name"]),
        ({"name": "nul\x00byte"}, ["body", "name"]),
        ({"name": "X", "coordinates": {"latitude": 91, "longitude": 0}}, ["latitude"]),
        ({"name": "X", "coordinates": {"latitude": 0, "longitude": -180.5}}, ["longitude"]),
        ({"name": "X", "coordinates": {"latitude": 0}}, ["longitude"]),
        ({"name": "X", "coordinates": {"latitude": "north", "longitude": 0}}, ["latitude"]),
        ({"name": "X", "coordinates": [52.1, 5.1]}, ["body", "coordinates"]),
        ({"name": "X", "timezone": "Mars/Olympus_Mons"}, ["body", "timezone"]),
        ({"name": "X", "timezone": "../../etc/passwd"}, ["body", "timezone"]),
        ({"name": "X", "public": "maybe"}, ["body", "public"]),
        ({"name": "X", "colour": "red"}, ["body", "colour"]),
        ({"name": "X", "status": "active"}, ["body", "status"]),
    ],
)
async def test_an_invalid_location_is_422_naming_the_field(
    client: httpx.AsyncClient, body: dict, loc: list[str]
):
    response = await client.post("/ocpp/locations", json=body)

    locs = error_locs(response)
    if loc[0] != "body":
        loc = ["body", "coordinates", *loc]
    assert locs == [loc]
    assert all(e["msg"] for e in response.json()["detail"])


async def test_non_finite_coordinates_are_422_not_500(client: httpx.AsyncClient):
    for raw in ("NaN", "Infinity", "1e400"):
        response = await client.post(
            "/ocpp/locations",
            content=f'{{"name": "X", "coordinates": {{"latitude": {raw}, "longitude": 0}}}}',
            headers={"Content-Type": "application/json"},
        )

        assert error_locs(response) == [["body", "coordinates", "latitude"]], raw


async def test_a_body_that_is_not_an_object_is_422(client: httpx.AsyncClient):
    response = await client.post("/ocpp/locations", json=["Depot"])

    assert error_locs(response) == [["body"]]


async def test_a_partial_put_changes_only_the_supplied_fields(client: httpx.AsyncClient):
    created = (await client.post("/ocpp/locations", json=FULL)).json()

    response = await client.put(
        f"/ocpp/locations/{created['id']}",
        json={"city": "Amsterdam", "status": "maintenance", "slug": "amsterdam-hub"},
    )

    updated = response.json()
    assert response.status_code == 200
    assert (updated["city"], updated["status"], updated["slug"]) == (
        "Amsterdam",
        "maintenance",
        "amsterdam-hub",
    )
    untouched = {k: v for k, v in created.items() if k not in ("city", "status", "slug")}
    assert {k: updated[k] for k in untouched if k != "updated_at"} == {
        k: v for k, v in untouched.items() if k != "updated_at"
    }
    assert updated["updated_at"] > created["updated_at"]
    assert (await client.get(f"/ocpp/locations/{created['id']}")).json() == updated


async def test_a_put_can_clear_optional_fields_but_not_the_name(client: httpx.AsyncClient):
    created = (await client.post("/ocpp/locations", json=FULL)).json()

    updated = (
        await client.put(
            f"/ocpp/locations/{created['id']}",
            json={"coordinates": None, "timezone": None, "name": None},
        )
    ).json()

    assert updated["coordinates"] is None
    assert updated["timezone"] is None
    assert updated["name"] == FULL["name"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"status": "closed"}, ["body", "status"]),
        ({"slug": "Not A Slug"}, ["body", "slug"]),
        ({"coordinates": {"latitude": -91, "longitude": 0}}, ["body", "coordinates", "latitude"]),
        ({"timezone": "Nowhere/Town"}, ["body", "timezone"]),
        ({"id": "another-id"}, ["body", "id"]),
    ],
)
async def test_an_invalid_put_is_422_and_changes_nothing(
    client: httpx.AsyncClient, location_id: str, body: dict, loc: list[str]
):
    before = (await client.get(f"/ocpp/locations/{location_id}")).json()

    response = await client.put(f"/ocpp/locations/{location_id}", json=body)

    assert error_locs(response) == [loc]
    assert (await client.get(f"/ocpp/locations/{location_id}")).json() == before


async def test_an_unknown_location_is_404_for_get_and_put(client: httpx.AsyncClient):
    for method in ("GET", "PUT"):
        response = await client.request(method, "/ocpp/locations/no-such-id", json={"city": "X"})

        assert response.status_code == 404
        assert "not found" in response.json()["detail"]


async def test_deleting_a_location_is_idempotent(client: httpx.AsyncClient, location_id: str):
    first = await client.delete(f"/ocpp/locations/{location_id}")
    second = await client.delete(f"/ocpp/locations/{location_id}")

    assert first.status_code == second.status_code == 204
    assert first.content == b""
    assert (await client.get(f"/ocpp/locations/{location_id}")).status_code == 404


async def test_deleting_a_location_with_chargers_is_409_and_keeps_everything(
    client: httpx.AsyncClient, location_id: str
):
    charger_id = await create_charger(client, "CP-KEEP", location_id=location_id)

    response = await client.delete(f"/ocpp/locations/{location_id}")

    assert response.status_code == 409
    assert "cascade" in response.json()["detail"]
    assert (await client.get(f"/ocpp/locations/{location_id}")).status_code == 200
    assert (await client.get(f"/ocpp/chargers/{charger_id}")).status_code == 200


async def test_a_cascading_delete_removes_the_chargers_and_stops_their_runtimes(
    voltlab: Voltlab, client: httpx.AsyncClient, location_id: str, csms: RecordingCsms
):
    ids = [
        await create_charger(client, identity, location_id=location_id, ws_url=csms.url)
        for identity in ("CP-A", "CP-B")
    ]
    await csms.wait_for("CP-A", "BootNotification")
    await csms.wait_for("CP-B", "BootNotification")
    sockets = [csms.connections["CP-A"], csms.connections["CP-B"]]

    response = await client.delete(f"/ocpp/locations/{location_id}", params={"cascade": "true"})

    assert response.status_code == 204
    async with asyncio.timeout(5):
        for socket in sockets:
            await socket.wait_closed()
    for charger_id in ids:
        assert (await client.get(f"/ocpp/chargers/{charger_id}")).status_code == 404
    assert await eventually(lambda: voltlab.services.fleet.running_count() == 0)


async def test_locations_page_in_creation_order_with_totals(client: httpx.AsyncClient):
    names = [f"Site {n}" for n in range(5)]
    for name in names:
        await client.post("/ocpp/locations", json={"name": name})

    pages = [
        (await client.get("/ocpp/locations", params={"limit": 2, "page": page})).json()
        for page in (1, 2, 3, 4)
    ]

    assert [[row["name"] for row in page["data"]] for page in pages] == [
        names[0:2],
        names[2:4],
        names[4:5],
        [],
    ]
    assert {page["total"] for page in pages} == {5}
    assert [(page["page"], page["limit"]) for page in pages] == [(1, 2), (2, 2), (3, 2), (4, 2)]


@pytest.mark.parametrize(("param", "value"), [("limit", 101), ("limit", 0), ("page", 0)])
async def test_a_bad_locations_page_is_422(client: httpx.AsyncClient, param: str, value: int):
    response = await client.get("/ocpp/locations", params={param: value})

    assert error_locs(response) == [["query", param]]
