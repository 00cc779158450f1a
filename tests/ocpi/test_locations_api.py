"""A CPO bundle's OCPI locations through the management API (``/ocpi/cpos/{id}/locations``):
bulk create (raw and from templates), list, get, patch, delete, and bad input."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest

from support.live import Voltlab, eventually
from support.ocpi import bundle_chargers, connect_emsp_to_cpo, create_bundle, ocpi_client

pytestmark = pytest.mark.timeout(60)


def raw_location(name: str = "Lab Street", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "address": "Labstraat 1",
        "city": "Delft",
        "country": "NL",
        "coordinates": {"latitude": 52.0116, "longitude": 4.3571},
        "timezone": "Europe/Amsterdam",
        "parking_type": "PARKING_LOT",
        "charges": [
            {
                "template": {
                    "brand_slug": "alfen",
                    "model_slug": "eve-single-pro-line",
                    "connector_type": "Type2",
                    "ocpp_version": "OCPP1.6",
                    "ws_url": "ws://ignored.example/ocpp",
                    "identity_prefix": "RAW-",
                    "template_name": "Raw post",
                },
                "charger_ids": ["001", "002"],
            },
            {
                "template": {
                    "brand_slug": "alfen",
                    "model_slug": "eve-double-pro-line",
                    "connector_type": "Type2",
                    "ocpp_version": "OCPP2.0.1",
                    "identity_prefix": "RAW-D",
                },
                "charger_ids": ["01"],
            },
        ],
        **fields,
    }


async def run_job(
    client: httpx.AsyncClient, cpo_id: str, locations: list[dict[str, Any]]
) -> dict[str, Any]:
    """POST the locations and wait until the job settles; the finished job."""
    answer = await client.post(f"/ocpi/cpos/{cpo_id}/locations", json={"locations": locations})
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert accepted["status"] in ("PENDING", "PROVISIONING")
    assert accepted["status_url"] == f"/ocpi/cpos/{cpo_id}/locations/jobs/{accepted['job_id']}"
    assert accepted["workflow_run_id"]

    async def settled() -> dict[str, Any] | None:
        job = (await client.get(accepted["status_url"])).json()
        return job if job["status"] in ("READY", "FAILED") else None

    job = await eventually(settled, timeout=20)
    assert job["job_id"] == accepted["job_id"]
    return job


def loc_names(answer: httpx.Response) -> list[str]:
    return [".".join(str(part) for part in error["loc"]) for error in answer.json()["detail"]]


async def test_bulk_create_makes_raw_and_template_locations_with_booted_chargers(
    voltlab: Voltlab,
) -> None:
    client = voltlab.client
    roaming = await connect_emsp_to_cpo(voltlab, template="mixed-depot")
    cpo_id = roaming.cpo["cpo_id"]
    job = await run_job(
        client,
        cpo_id,
        [
            raw_location(),
            {
                "template": "urban-ac-hub",
                "overrides": {"name": "Hub From Template", "city": "Leiden"},
            },
        ],
    )
    assert job["status"] == "READY", job
    assert job["error"] is None
    assert job["provisioned_at"] is not None
    created = job["results"]["created"]
    assert job["results"]["failed"] == []
    assert [c["name"] for c in created] == ["Lab Street", "Hub From Template"]
    raw, hub = created
    assert sorted(c["identity"] for c in raw["chargers"]) == ["RAW-001", "RAW-002", "RAW-D01"]
    assert len(hub["chargers"]) == 10  # 6 Alfen Eve Double + 4 ABB Terra AC
    assert raw["errors"] == [] and hub["errors"] == []

    # The management API lists them after the bundle's own.
    listed = (await client.get(f"/ocpi/cpos/{cpo_id}/locations")).json()
    assert listed["total"] == 3
    assert [loc["id"] for loc in listed["data"]][1:] == [raw["location_id"], hub["location_id"]]

    one = (await client.get(f"/ocpi/cpos/{cpo_id}/locations/{raw['location_id']}")).json()
    assert one["name"] == "Lab Street"
    assert one["country"] == "NLD"
    assert one["city"] == "Delft"
    assert one["timezone"] == "Europe/Amsterdam"
    assert one["parking_type"] == "PARKING_LOT"
    assert one["coordinates"] == {"latitude": 52.0116, "longitude": 4.3571}
    by_identity = {c["identity"]: c for c in one["chargers"]}
    assert set(by_identity) == {"RAW-001", "RAW-002", "RAW-D01"}
    assert [e["evse_uid"] for e in by_identity["RAW-001"]["evses"]] == ["RAW-001"]
    assert [e["evse_uid"] for e in by_identity["RAW-D01"]["evses"]] == [
        "RAW-D01_C1",
        "RAW-D01_C2",
    ]
    assert by_identity["RAW-D01"]["ocpp_version"] == "OCPP2.0.1"
    hub_out = (await client.get(f"/ocpi/cpos/{hub['location_id']}")).status_code
    assert hub_out == 404  # a location id is not a bundle id
    hub_one = (await client.get(f"/ocpi/cpos/{cpo_id}/locations/{hub['location_id']}")).json()
    assert hub_one["city"] == "Leiden"
    assert hub_one["country"] == "NLD"
    assert len(hub_one["chargers"]) == 10

    # The connected peer sees them with their EVSEs.
    async with ocpi_client(base64.b64encode(roaming.token_c.encode()).decode()) as ocpi:
        ocpi_locations = (await ocpi.get(roaming.locations_url)).json()["data"]
    ocpi_by_id = {loc["id"]: loc for loc in ocpi_locations}
    assert {raw["location_id"], hub["location_id"]} <= set(ocpi_by_id)
    assert sorted(e["uid"] for e in ocpi_by_id[raw["location_id"]]["evses"]) == sorted(
        e["evse_uid"] for c in one["chargers"] for e in c["evses"]
    )
    assert ocpi_by_id[raw["location_id"]]["name"] == "Lab Street"

    # The chargers are the bundle's, and they boot at the built-in CSMS.
    new_ids = {c["charger_id"] for c in raw["chargers"] + hub["chargers"]}

    async def booted() -> bool:
        chargers = [c for c in await bundle_chargers(client, cpo_id) if c["id"] in new_ids]
        return len(chargers) == len(new_ids) and all(
            c["runtime"]["connection"] == "connected" and c["runtime"]["boot_status"] == "Accepted"
            for c in chargers
        )

    await eventually(booted, timeout=20)
    bundle = (await client.get(f"/ocpi/cpos/{cpo_id}")).json()
    assert bundle["topology"]["locations"] == 3
    assert bundle["topology"]["chargers"] == 6 + 3 + 10


async def test_patch_changes_only_the_supplied_fields(voltlab: Voltlab) -> None:
    client = voltlab.client
    cpo = await create_bundle(client, "mixed-depot")
    cpo_id = cpo["cpo_id"]
    job = await run_job(client, cpo_id, [raw_location()])
    location_id = job["results"]["created"][0]["location_id"]
    path = f"/ocpi/cpos/{cpo_id}/locations/{location_id}"
    before = (await client.get(path)).json()

    answer = await client.patch(path, json={"name": "Renamed", "public": False})
    assert answer.status_code == 200, answer.text
    after = answer.json()
    assert after["name"] == "Renamed"
    assert after["public"] is False
    unchanged = ("address", "city", "country", "coordinates", "timezone", "parking_type")
    for key in (*unchanged, "chargers", "created_at", "ocpp_location_id"):
        assert after[key] == before[key], key
    assert after["updated_at"] > before["updated_at"]
    assert (await client.get(path)).json() == after

    moved = (
        await client.patch(
            path, json={"coordinates": {"latitude": 51.5, "longitude": 5.25}, "country": "BE"}
        )
    ).json()
    assert moved["coordinates"] == {"latitude": 51.5, "longitude": 5.25}
    assert moved["country"] == "BEL"
    assert moved["name"] == "Renamed"
    # The tenant's OCPP-side location follows.
    tenant = (await client.get(f"/ocpp/locations/{before['ocpp_location_id']}")).json()
    assert tenant["name"] == "Renamed"

    refused = await client.patch(path, json={"country": "XX"})
    assert refused.status_code == 422
    assert "body.country" in loc_names(refused)
    unknown = await client.patch(f"/ocpi/cpos/{cpo_id}/locations/no-such-location", json={})
    assert unknown.status_code == 404


async def test_patch_cannot_erase_a_field_an_ocpi_location_requires(voltlab: Voltlab) -> None:
    client = voltlab.client
    roaming = await connect_emsp_to_cpo(voltlab, template="mixed-depot")
    cpo_id = roaming.cpo["cpo_id"]
    location_id = (await client.get(f"/ocpi/cpos/{cpo_id}/locations")).json()["data"][0]["id"]
    path = f"/ocpi/cpos/{cpo_id}/locations/{location_id}"
    before = (await client.get(path)).json()
    for field in ("name", "address", "city", "country", "coordinates", "timezone"):
        answer = await client.patch(path, json={field: None})
        assert answer.status_code == 422, answer.text
        assert f"body.{field}" in loc_names(answer)
        assert (await client.get(path)).json()[field] == before[field], field
    async with ocpi_client(roaming.token_c) as ocpi:
        location = (await ocpi.get(f"{roaming.locations_url}/{location_id}")).json()["data"]
    for field in ("address", "city", "country", "coordinates", "time_zone"):
        assert location.get(field), field


async def test_deleting_a_location_removes_its_chargers(voltlab: Voltlab) -> None:
    client = voltlab.client
    roaming = await connect_emsp_to_cpo(voltlab, template="mixed-depot")
    cpo_id = roaming.cpo["cpo_id"]
    job = await run_job(client, cpo_id, [raw_location()])
    created = job["results"]["created"][0]
    location_id = created["location_id"]
    charger_ids = [c["charger_id"] for c in created["chargers"]]
    await eventually(
        lambda: all(voltlab.services.fleet.runtime(i).state == "running" for i in charger_ids)
    )
    tenant_location = (await client.get(f"/ocpi/cpos/{cpo_id}/locations/{location_id}")).json()[
        "ocpp_location_id"
    ]

    path = f"/ocpi/cpos/{cpo_id}/locations/{location_id}"
    assert (await client.delete(path)).status_code == 204
    assert (await client.get(path)).status_code == 404
    assert (await client.delete(path)).status_code == 204  # idempotent
    listed = (await client.get(f"/ocpi/cpos/{cpo_id}/locations")).json()
    assert location_id not in {loc["id"] for loc in listed["data"]}
    assert listed["total"] == 1
    remaining = {c["id"] for c in await bundle_chargers(client, cpo_id)}
    assert remaining.isdisjoint(charger_ids)
    assert len(remaining) == 6
    for charger_id in charger_ids:
        assert voltlab.services.fleet.runtime(charger_id).state == "stopped"
        assert (await client.get(f"/ocpp/chargers/{charger_id}")).status_code == 404
    assert (await client.get(f"/ocpp/locations/{tenant_location}")).status_code == 404
    async with ocpi_client(roaming.token_c) as ocpi:
        gone = await ocpi.get(f"{roaming.locations_url}/{location_id}")
    assert gone.status_code == 404
    assert gone.json()["status_code"] == 2003


async def test_a_charger_identity_already_in_the_tenant_fails_that_location(
    voltlab: Voltlab,
) -> None:
    client = voltlab.client
    cpo = await create_bundle(client, "mixed-depot")
    first = await run_job(client, cpo["cpo_id"], [raw_location()])
    assert first["status"] == "READY"
    again = await run_job(client, cpo["cpo_id"], [raw_location("Second Street")])
    assert again["status"] == "FAILED"
    assert again["results"]["created"] == []
    [failed] = again["results"]["failed"]
    assert "RAW-001" in failed["error"]
    assert again["error"]["code"]
    listed = (await client.get(f"/ocpi/cpos/{cpo['cpo_id']}/locations")).json()
    assert listed["total"] == 2


async def test_an_unknown_catalog_slug_in_a_charge_group_is_a_422_naming_its_path(
    voltlab: Voltlab,
) -> None:
    cpo = await create_bundle(voltlab.client, "mixed-depot")
    location = raw_location()
    location["charges"][1]["template"]["model_slug"] = "no-such-model"
    answer = await voltlab.client.post(
        f"/ocpi/cpos/{cpo['cpo_id']}/locations", json={"locations": [raw_location("A"), location]}
    )
    assert answer.status_code == 422, answer.text
    assert "body.locations.1.charges.1.template.model_slug" in loc_names(answer)
    listed = (await voltlab.client.get(f"/ocpi/cpos/{cpo['cpo_id']}/locations")).json()
    assert listed["total"] == 1  # nothing of the request was written


async def test_an_unknown_location_template_is_a_400(voltlab: Voltlab) -> None:
    cpo = await create_bundle(voltlab.client, "mixed-depot")
    answer = await voltlab.client.post(
        f"/ocpi/cpos/{cpo['cpo_id']}/locations",
        json={"locations": [{"template": "no-such-template"}]},
    )
    assert answer.status_code == 400, answer.text
    assert "no-such-template" in answer.json()["detail"]


async def test_an_unknown_country_is_a_422(voltlab: Voltlab) -> None:
    cpo = await create_bundle(voltlab.client, "mixed-depot")
    answer = await voltlab.client.post(
        f"/ocpi/cpos/{cpo['cpo_id']}/locations",
        json={"locations": [raw_location(country="XX")]},
    )
    assert answer.status_code == 422, answer.text
    assert any(name.startswith("body.locations.0") for name in loc_names(answer))
    assert "country" in answer.text


async def test_an_emsp_bundle_has_no_locations(voltlab: Voltlab) -> None:
    emsp = await create_bundle(voltlab.client, "emsp-basic", role="emsp")
    base = f"/ocpi/cpos/{emsp['cpo_id']}/locations"
    created = await voltlab.client.post(base, json={"locations": [raw_location()]})
    assert created.status_code == 400, created.text
    assert (await voltlab.client.get(base)).status_code == 400


async def test_another_tenants_bundle_locations_and_jobs_are_not_found(voltlab: Voltlab) -> None:
    client = voltlab.client
    cpo = await create_bundle(client, "mixed-depot")
    other = await create_bundle(client, "mixed-depot", party_id="OTH")
    job = await run_job(client, cpo["cpo_id"], [raw_location()])
    location_id = job["results"]["created"][0]["location_id"]
    # The job and the location belong to their bundle only.
    assert (
        await client.get(f"/ocpi/cpos/{other['cpo_id']}/locations/jobs/{job['job_id']}")
    ).status_code == 404
    assert (
        await client.get(f"/ocpi/cpos/{other['cpo_id']}/locations/{location_id}")
    ).status_code == 404
    async with voltlab.client_for("globex") as globex:
        base = f"/ocpi/cpos/{cpo['cpo_id']}/locations"
        assert (await globex.get(base)).status_code == 404
        assert (await globex.get(f"{base}/{location_id}")).status_code == 404
        assert (await globex.get(f"{base}/jobs/{job['job_id']}")).status_code == 404
        assert (await globex.patch(f"{base}/{location_id}", json={"name": "x"})).status_code == 404
        assert (await globex.delete(f"{base}/{location_id}")).status_code == 404
        assert (
            await globex.post(base, json={"locations": [raw_location("Theirs")]})
        ).status_code == 404
    assert (await client.get(f"/ocpi/cpos/{cpo['cpo_id']}/locations/{location_id}")).json()[
        "name"
    ] == "Lab Street"


async def test_deleting_the_bundle_during_a_location_job_leaves_nothing_behind(
    voltlab: Voltlab,
) -> None:
    client = voltlab.client
    cpo = await create_bundle(client, "mixed-depot")
    answer = await client.post(
        f"/ocpi/cpos/{cpo['cpo_id']}/locations",
        json={"locations": [raw_location(), {"template": "urban-ac-hub"}]},
    )
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]
    assert (await client.delete(cpo["destroy_url"])).status_code == 204
    # The job's task (same event loop: the server runs in the test's) runs its course.
    name = f"ocpi-locations-{job_id}"
    await eventually(lambda: all(t.get_name() != name for t in asyncio.all_tasks()), timeout=20)
    assert (await client.get("/ocpp/chargers")).json()["total"] == 0
    assert (await client.get("/ocpp/locations")).json()["total"] == 0
    assert voltlab.services.fleet.running_count() == 0


async def test_one_identity_twice_in_a_request_is_a_400(voltlab: Voltlab) -> None:
    cpo = await create_bundle(voltlab.client, "mixed-depot")
    answer = await voltlab.client.post(
        f"/ocpi/cpos/{cpo['cpo_id']}/locations",
        json={"locations": [raw_location("A"), raw_location("B")]},
    )
    assert answer.status_code == 400, answer.text
    assert "RAW-001" in answer.json()["detail"]
    listed = (await voltlab.client.get(f"/ocpi/cpos/{cpo['cpo_id']}/locations")).json()
    assert listed["total"] == 1
