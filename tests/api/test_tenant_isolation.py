"""Another tenant's ids answer exactly like unknown ids (api.md "Errors": 404, never say which)."""

from __future__ import annotations

import httpx
import pytest

from tests.api.helpers import CLOSED_PORT_URL, charger_body, create_charger, template


@pytest.fixture
async def acme_rows(client: httpx.AsyncClient, location_id: str) -> dict[str, str]:
    charger_id = await create_charger(client, "ACME-1", location_id=location_id)
    job = await client.post(
        f"/ocpp/locations/{location_id}/chargers",
        json=[{"template": template(), "charger_ids": ["ACME-2"]}],
    )
    assert job.status_code == 202, job.text
    return {"location": location_id, "charger": charger_id, "job": job.json()["job_id"]}


def other_tenant_requests(rows: dict[str, str]) -> list[tuple[str, str, dict | list | None]]:
    loc, cid, job = rows["location"], rows["charger"], rows["job"]
    return [
        ("GET", f"/ocpp/locations/{loc}", None),
        ("PUT", f"/ocpp/locations/{loc}", {"name": "Hijacked"}),
        ("GET", f"/ocpp/chargers/{cid}", None),
        ("GET", f"/ocpp/chargers/{cid}/status", None),
        ("GET", f"/ocpp/chargers/{cid}/logs", None),
        ("PUT", f"/ocpp/chargers/{cid}", {"name": "Hijacked"}),
        ("POST", f"/ocpp/chargers/{cid}/start-charger", None),
        ("POST", f"/ocpp/chargers/{cid}/stop-charger", None),
        ("POST", f"/ocpp/chargers/{cid}/reset-charger", None),
        ("DELETE", f"/ocpp/chargers/{cid}", None),
        ("GET", f"/ocpp/locations/{loc}/chargers", None),
        ("GET", f"/ocpp/locations/{loc}/chargers/jobs/{job}", None),
        (
            "POST",
            f"/ocpp/locations/{loc}/chargers",
            [{"template": template(), "charger_ids": ["X"]}],
        ),
        ("PUT", f"/ocpp/locations/{loc}/chargers", {"chargers": [{"charger_id": cid}]}),
        ("DELETE", f"/ocpp/locations/{loc}/chargers", None),
    ]


async def test_every_route_answers_404_for_another_tenants_ids(
    client: httpx.AsyncClient, globex: httpx.AsyncClient, acme_rows: dict[str, str]
):
    for method, path, body in other_tenant_requests(acme_rows):
        theirs = await globex.request(method, path, json=body)
        unknown_path = path.replace(acme_rows["charger"], "nope").replace(
            acme_rows["location"], "nope"
        )
        unknown = await globex.request(method, unknown_path, json=body)

        assert theirs.status_code == 404, (method, path, theirs.text)
        assert unknown.status_code == 404, (method, path, unknown.text)

    charger = (await client.get(f"/ocpp/chargers/{acme_rows['charger']}")).json()
    assert charger["name"] == "ACME-1"
    assert charger["runtime"]["state"] == "running"
    location = (await client.get(f"/ocpp/locations/{acme_rows['location']}")).json()
    assert location["name"] == "Depot"


async def test_deleting_another_tenants_location_looks_like_an_unknown_id_and_keeps_it(
    client: httpx.AsyncClient, globex: httpx.AsyncClient, acme_rows: dict[str, str]
):
    theirs = await globex.delete(f"/ocpp/locations/{acme_rows['location']}?cascade=true")
    unknown = await globex.delete("/ocpp/locations/no-such-location?cascade=true")

    # DELETE of a location is idempotent (204 for an id already gone): the same answer.
    assert theirs.status_code == unknown.status_code == 204
    assert (await client.get(f"/ocpp/locations/{acme_rows['location']}")).status_code == 200
    assert (await client.get(f"/ocpp/chargers/{acme_rows['charger']}")).status_code == 200


async def test_lists_never_show_another_tenants_rows(
    client: httpx.AsyncClient, globex: httpx.AsyncClient, acme_rows: dict[str, str]
):
    await create_charger(globex, "GLOBEX-1", location_name="Globex Depot")

    for path in ("/ocpp/locations", "/ocpp/chargers"):
        theirs = (await globex.get(path)).json()
        ours = (await client.get(path)).json()
        their_ids = {row["id"] for row in theirs["data"]}
        our_ids = {row["id"] for row in ours["data"]}

        assert their_ids and our_ids
        assert not their_ids & our_ids
        assert theirs["total"] == len(their_ids)

    filtered = await globex.get("/ocpp/chargers", params={"location_id": acme_rows["location"]})
    assert filtered.json() == {"data": [], "total": 0, "page": 1, "limit": 50}


async def test_charger_identities_are_unique_per_tenant_only(
    client: httpx.AsyncClient, globex: httpx.AsyncClient
):
    await create_charger(client, "SHARED-ID", ws_url=CLOSED_PORT_URL)

    again = await client.post("/ocpp/chargers", json=charger_body("SHARED-ID"))
    await create_charger(globex, "SHARED-ID", ws_url=CLOSED_PORT_URL)

    assert again.status_code == 409
    assert "SHARED-ID" in again.json()["detail"]


async def test_a_charger_cannot_be_placed_in_another_tenants_location(
    client: httpx.AsyncClient, globex: httpx.AsyncClient, location_id: str
):
    created = await globex.post("/ocpp/chargers", json=charger_body("G-1", location_id=location_id))
    unknown = await globex.post("/ocpp/chargers", json=charger_body("G-1", location_id="nope"))
    mine = await create_charger(globex, "G-2")
    moved = await globex.put(f"/ocpp/chargers/{mine}", json={"location_id": location_id})

    for answer in (created, unknown, moved):
        assert answer.status_code == 422
        assert answer.json()["detail"][0]["loc"] == ["body", "location_id"]
    assert created.json()["detail"][0]["msg"] == unknown.json()["detail"][0]["msg"].replace(
        "nope", location_id
    )
    assert (await client.get(f"/ocpp/locations/{location_id}/chargers")).json()["total"] == 0
