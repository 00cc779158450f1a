"""Per-location bulk work: create chargers as a job, list, update and delete many."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from support.csms import RecordingCsms
from support.live import Voltlab, eventually
from tests.api.helpers import create_charger, error_locs, template


async def start_job(client: httpx.AsyncClient, location_id: str, groups: list[Any]) -> dict:
    response = await client.post(f"/ocpp/locations/{location_id}/chargers", json=groups)
    assert response.status_code == 202, response.text
    accepted: dict = response.json()
    return accepted


async def finished_job(
    client: httpx.AsyncClient, location_id: str, groups: list[Any], timeout: float = 10
) -> dict:
    accepted = await start_job(client, location_id, groups)

    async def done() -> dict | None:
        job = (await client.get(accepted["status_url"])).json()
        return job if job["status"] in ("READY", "FAILED") else None

    job: dict = await eventually(done, timeout=timeout)
    return job


def identities(job: dict) -> list[str]:
    return [row["identity"] for row in job["results"]["created"]]


async def test_a_bulk_create_answers_202_with_a_job_that_reaches_ready(
    client: httpx.AsyncClient, location_id: str
):
    accepted = await start_job(
        client, location_id, [{"template": template(), "charger_ids": ["CP-1"]}]
    )

    assert set(accepted) == {"job_id", "status", "workflow_run_id", "status_url"}
    assert accepted["status"] == "PENDING"
    assert accepted["status_url"] == (
        f"/ocpp/locations/{location_id}/chargers/jobs/{accepted['job_id']}"
    )
    job = await finished_job(client, location_id, [{"template": template(), "charger_ids": ["B"]}])
    assert set(job) == {
        "job_id",
        "job_type",
        "status",
        "workflow_run_id",
        "error",
        "results",
        "provisioned_at",
    }
    assert (job["status"], job["error"]) == ("READY", None)
    assert job["provisioned_at"].endswith("Z")
    created = job["results"]["created"][0]
    charger = (await client.get(f"/ocpp/chargers/{created['charger_id']}")).json()
    assert (charger["identity"], charger["location_id"]) == ("B", location_id)
    assert charger["runtime"]["state"] == "running"
    assert charger["status"] == "READY"


async def test_charger_ids_only_create_exactly_those_identities(
    client: httpx.AsyncClient, location_id: str
):
    group = {"template": template(identity_prefix="BAY-"), "charger_ids": ["001", "002", "003"]}

    job = await finished_job(client, location_id, [group])

    assert identities(job) == ["BAY-001", "BAY-002", "BAY-003"]
    assert job["results"]["failed"] == []


async def test_chargers_number_only_pads_with_random_hex_suffixes(
    client: httpx.AsyncClient, location_id: str
):
    group = {"template": template(identity_prefix="AUTO-"), "chargers_number": 5}

    job = await finished_job(client, location_id, [group])

    made = identities(job)
    assert len(made) == len(set(made)) == 5
    assert all(re.fullmatch(r"AUTO-[0-9a-f]{6}", identity) for identity in made)


async def test_explicit_suffixes_come_first_and_random_ones_pad_to_the_number(
    client: httpx.AsyncClient, location_id: str
):
    group = {"template": template(identity_prefix="P-"), "charger_ids": ["a"], "chargers_number": 3}

    made = identities(await finished_job(client, location_id, [group]))

    assert made[0] == "P-a"
    assert len(made) == 3
    assert all(re.fullmatch(r"P-[0-9a-f]{6}", identity) for identity in made[1:])


async def test_more_suffixes_than_the_number_are_truncated(
    client: httpx.AsyncClient, location_id: str
):
    group = {"template": template(), "charger_ids": ["a", "b", "c"], "chargers_number": 2}

    assert identities(await finished_job(client, location_id, [group])) == ["a", "b"]


async def test_template_name_and_suffix_make_the_charger_names(
    client: httpx.AsyncClient, location_id: str
):
    group = {
        "template": template(identity_prefix="BAY-", template_name="Bay"),
        "charger_ids": ["001", "002"],
    }

    await finished_job(client, location_id, [group])

    listed = (await client.get(f"/ocpp/locations/{location_id}/chargers")).json()["data"]
    assert [(c["identity"], c["name"], c["charge_point_name"]) for c in listed] == [
        ("BAY-001", "Bay 001", "Bay 001"),
        ("BAY-002", "Bay 002", "Bay 002"),
    ]


async def test_several_groups_with_their_own_templates(client: httpx.AsyncClient, location_id: str):
    groups = [
        {"template": template(identity_prefix="DC-"), "charger_ids": ["1", "2"]},
        {
            "template": template(
                brand_slug="alfen",
                model_slug="eve-single-pro-line",
                connector_type="Type2",
                ocpp_version="OCPP2.0.1",
                identity_prefix="AC-",
            ),
            "chargers_number": 2,
        },
    ]

    job = await finished_job(client, location_id, groups)

    listed = (await client.get(f"/ocpp/locations/{location_id}/chargers")).json()["data"]
    kinds = [(c["identity"][:3], c["model_slug"], c["ocpp_version"]) for c in listed]
    assert len(job["results"]["created"]) == 4
    assert kinds == [
        ("DC-", "terra-184", "OCPP1.6"),
        ("DC-", "terra-184", "OCPP1.6"),
        ("AC-", "eve-single-pro-line", "OCPP2.0.1"),
        ("AC-", "eve-single-pro-line", "OCPP2.0.1"),
    ]


async def test_duplicate_identities_go_to_failed_and_the_rest_are_created(
    client: httpx.AsyncClient, location_id: str
):
    await create_charger(client, "TAKEN", location_id=location_id)
    group = {"template": template(), "charger_ids": ["TAKEN", "FRESH", "FRESH"]}

    job = await finished_job(client, location_id, [group])

    assert job["status"] == "READY"
    assert identities(job) == ["FRESH"]
    assert [f["identity"] for f in job["results"]["failed"]] == ["TAKEN", "FRESH"]
    assert all("exists" in f["error"] for f in job["results"]["failed"])


async def test_a_job_that_creates_nothing_is_failed_with_an_error(
    client: httpx.AsyncClient, location_id: str
):
    await create_charger(client, "ONLY", location_id=location_id)

    job = await finished_job(
        client, location_id, [{"template": template(), "charger_ids": ["ONLY"]}]
    )

    assert job["status"] == "FAILED"
    assert job["error"]["code"] == "no_charger_created"
    assert job["results"]["created"] == []


@pytest.mark.parametrize(
    ("groups", "loc"),
    [
        (
            [{"template": template(model_slug="nope"), "chargers_number": 1}],
            [0, "template", "model_slug"],
        ),
        (
            [{"template": template(brand_slug="nope"), "chargers_number": 1}],
            [0, "template", "brand_slug"],
        ),
        (
            [
                {"template": template(), "chargers_number": 1},
                {"template": template(connector_type="Type2"), "chargers_number": 1},
            ],
            [1, "template", "connector_type"],
        ),
        (
            [
                {
                    "template": template(ocpp_version="OCPP2.0.1", model_slug="terra-54"),
                    "chargers_number": 1,
                }
            ],
            [0, "template", "ocpp_version"],
        ),
        (
            [{"template": template(ws_url="http://x/ocpp"), "chargers_number": 1}],
            [0, "template", "ws_url"],
        ),
        (
            [{"template": template(identity_prefix="bad prefix"), "chargers_number": 1}],
            [0, "template", "identity_prefix"],
        ),
        (
            [{"template": template(identity_prefix="P" * 40), "charger_ids": ["123456789"]}],
            [0, "template", "identity_prefix"],
        ),
        ([{"template": template(), "charger_ids": ["bad id"]}], [0, "charger_ids", 0]),
        ([{"template": template()}], [0]),
        ([{"template": template(), "charger_ids": []}], [0]),
        ([{"template": template(), "chargers_number": 0}], [0, "chargers_number"]),
        ([{"template": template(), "chargers_number": 10_001}], [0, "chargers_number"]),
        ([{"charger_ids": ["a"]}], [0, "template"]),
        ([{"template": template(colour="red"), "charger_ids": ["a"]}], [0, "template", "colour"]),
        ([], []),
        ({"template": template()}, []),
    ],
)
async def test_an_invalid_bulk_create_is_422_naming_the_field(
    client: httpx.AsyncClient, location_id: str, groups: Any, loc: list
):
    response = await client.post(f"/ocpp/locations/{location_id}/chargers", json=groups)

    assert error_locs(response) == [["body", *loc]]
    assert (await client.get(f"/ocpp/locations/{location_id}/chargers")).json()["total"] == 0


async def test_more_than_ten_thousand_chargers_in_one_call_is_422_at_once(
    client: httpx.AsyncClient, location_id: str
):
    groups = [{"template": template(), "chargers_number": 10_000}] * 1000

    async with asyncio.timeout(5):  # refused before ten million identities are made up
        response = await client.post(f"/ocpp/locations/{location_id}/chargers", json=groups)

    assert error_locs(response) == [["body"]]
    assert "10000" in response.json()["detail"][0]["msg"]


async def test_a_bulk_create_into_an_unknown_location_is_404(client: httpx.AsyncClient):
    response = await client.post(
        "/ocpp/locations/nope/chargers", json=[{"template": template(), "chargers_number": 1}]
    )

    assert response.status_code == 404


async def test_a_job_is_only_found_under_its_own_location(
    client: httpx.AsyncClient, location_id: str
):
    other = (await client.post("/ocpp/locations", json={"name": "Other"})).json()["id"]
    accepted = await start_job(
        client, location_id, [{"template": template(), "chargers_number": 1}]
    )

    wrong = await client.get(f"/ocpp/locations/{other}/chargers/jobs/{accepted['job_id']}")
    unknown = await client.get(f"/ocpp/locations/{location_id}/chargers/jobs/nope")

    assert wrong.status_code == unknown.status_code == 404


async def test_a_thousand_chargers_in_one_call(
    voltlab: Voltlab, client: httpx.AsyncClient, location_id: str
):
    group = {"template": template(identity_prefix="LOAD-"), "chargers_number": 1000}

    job = await finished_job(client, location_id, [group], timeout=20)

    assert job["status"] == "READY"
    assert len(job["results"]["created"]) == 1000
    assert job["results"]["failed"] == []
    listed = (await client.get(f"/ocpp/locations/{location_id}/chargers")).json()
    assert listed["total"] == 1000
    assert voltlab.services.fleet.running_count() == 1000
    deleted = (await client.delete(f"/ocpp/locations/{location_id}/chargers")).json()
    assert deleted["deleted_count"] == 1000
    assert voltlab.services.fleet.running_count() == 0


@pytest.fixture
async def five(client: httpx.AsyncClient, location_id: str) -> list[str]:
    group = {"template": template(identity_prefix="C-"), "charger_ids": list("12345")}
    job = await finished_job(client, location_id, [group])
    return [row["charger_id"] for row in job["results"]["created"]]


async def test_listing_a_locations_chargers_pages_in_creation_order(
    client: httpx.AsyncClient, location_id: str, five: list[str]
):
    await create_charger(client, "ELSEWHERE", location_name="Elsewhere")

    everything = (await client.get(f"/ocpp/locations/{location_id}/chargers")).json()
    page = (
        await client.get(f"/ocpp/locations/{location_id}/chargers", params={"limit": 2, "page": 3})
    ).json()

    assert [c["id"] for c in everything["data"]] == five
    assert everything["total"] == 5
    assert [c["id"] for c in page["data"]] == five[4:]
    assert (page["total"], page["page"], page["limit"]) == (5, 3, 2)


async def test_listing_by_charger_ids_takes_commas_and_repeats(
    client: httpx.AsyncClient, location_id: str, five: list[str]
):
    path = f"/ocpp/locations/{location_id}/chargers"

    commas = (await client.get(path, params={"charger_ids": f"{five[0]},{five[2]}"})).json()
    repeated = await client.get(path, params=[("charger_ids", five[1]), ("charger_ids", five[3])])
    mixed = await client.get(
        path, params=[("charger_ids", f"{five[0]}, {five[1]}"), ("charger_ids", five[4])]
    )

    assert [c["id"] for c in commas["data"]] == [five[0], five[2]]
    assert [c["id"] for c in repeated.json()["data"]] == [five[1], five[3]]
    assert mixed.json()["total"] == 3


async def test_charger_ids_that_no_database_can_store_are_422(
    client: httpx.AsyncClient, location_id: str
):
    for method in ("GET", "DELETE"):
        response = await client.request(
            method, f"/ocpp/locations/{location_id}/chargers", params={"charger_ids": "a\x00b"}
        )

        assert error_locs(response) == [["query", "charger_ids"]]


async def test_listing_chargers_of_an_unknown_location_is_404(client: httpx.AsyncClient):
    assert (await client.get("/ocpp/locations/nope/chargers")).status_code == 404


async def test_a_bulk_update_reports_updated_and_failed_chargers(
    client: httpx.AsyncClient, location_id: str, five: list[str]
):
    stranger = await create_charger(client, "STRANGER", location_name="Elsewhere")

    response = await client.put(
        f"/ocpp/locations/{location_id}/chargers",
        json={
            "chargers": [
                {"charger_id": five[0], "name": "First"},
                {"charger_id": five[1], "connector_type": "CHAdeMO", "heartbeat_interval_s": 30},
                {"charger_id": five[2], "connector_type": "Type2"},
                {"charger_id": stranger, "name": "Not mine"},
                {"charger_id": "nope", "name": "Ghost"},
            ]
        },
    )

    result = response.json()
    assert response.status_code == 200
    assert (result["updated_count"], result["failed_count"]) == (2, 3)
    assert [charger["id"] for charger in result["updated"]] == five[:2]
    assert result["updated"][0]["name"] == "First"
    failures = {f["charger_id"]: f["error"] for f in result["failed"]}
    assert set(failures) == {five[2], stranger, "nope"}
    assert "Type2" in failures[five[2]]
    first = (await client.get(f"/ocpp/chargers/{five[0]}")).json()
    second = (await client.get(f"/ocpp/chargers/{five[1]}")).json()
    third = (await client.get(f"/ocpp/chargers/{five[2]}")).json()
    assert first["name"] == "First"
    assert (second["connector_type"], second["heartbeat_interval_s"]) == ("CHAdeMO", 30)
    assert third["connector_type"] == "CCS2"
    assert (await client.get(f"/ocpp/chargers/{stranger}")).json()["name"] == "STRANGER"


async def test_a_bulk_update_of_ws_url_reconnects_those_chargers(
    client: httpx.AsyncClient, location_id: str, five: list[str], csms: RecordingCsms
):
    targets = [{"charger_id": charger_id, "ws_url": csms.url} for charger_id in five[:2]]

    result = (
        await client.put(f"/ocpp/locations/{location_id}/chargers", json={"chargers": targets})
    ).json()

    assert result["updated_count"] == 2
    await csms.wait_for("C-1", "BootNotification")
    await csms.wait_for("C-2", "BootNotification")
    assert "C-3" not in csms.received


async def test_an_invalid_bulk_update_body_is_422(client: httpx.AsyncClient, location_id: str):
    bad = [
        ({"chargers": [{"name": "no id"}]}, ["body", "chargers", 0, "charger_id"]),
        (
            {"chargers": [{"charger_id": "x", "ws_url": "ftp://x"}]},
            ["body", "chargers", 0, "ws_url"],
        ),
        ({"chargers": [{"charger_id": "x", "colour": "red"}]}, ["body", "chargers", 0, "colour"]),
        ({}, ["body", "chargers"]),
    ]
    for body, loc in bad:
        response = await client.put(f"/ocpp/locations/{location_id}/chargers", json=body)

        assert error_locs(response) == [loc], body


async def test_a_bulk_delete_with_charger_ids_deletes_only_those(
    voltlab: Voltlab, client: httpx.AsyncClient, location_id: str, five: list[str]
):
    response = await client.delete(
        f"/ocpp/locations/{location_id}/chargers",
        params={"charger_ids": f"{five[0]},{five[1]},nope"},
    )

    result = response.json()
    assert response.status_code == 200
    assert (result["deleted_count"], result["failed_count"]) == (2, 1)
    assert result["deleted"] == five[:2]
    assert result["failed"] == [{"charger_id": "nope", "error": "not in this location"}]
    remaining = (await client.get(f"/ocpp/locations/{location_id}/chargers")).json()
    assert [c["id"] for c in remaining["data"]] == five[2:]
    assert voltlab.services.fleet.running_count() == 3


async def test_a_bulk_delete_without_charger_ids_deletes_them_all(
    voltlab: Voltlab, client: httpx.AsyncClient, location_id: str, five: list[str]
):
    elsewhere = await create_charger(client, "ELSEWHERE", location_name="Elsewhere")

    result = (await client.delete(f"/ocpp/locations/{location_id}/chargers")).json()

    assert sorted(result["deleted"]) == sorted(five)
    assert (result["deleted_count"], result["failed_count"]) == (5, 0)
    assert (await client.get(f"/ocpp/locations/{location_id}/chargers")).json()["total"] == 0
    assert (await client.get(f"/ocpp/chargers/{elsewhere}")).status_code == 200
    assert voltlab.services.fleet.running_count() == 1
    assert (await client.delete(f"/ocpp/locations/{location_id}")).status_code == 204


async def test_a_bulk_delete_with_an_empty_id_list_deletes_nothing(
    client: httpx.AsyncClient, location_id: str, five: list[str]
):
    result = (
        await client.delete(f"/ocpp/locations/{location_id}/chargers", params={"charger_ids": ""})
    ).json()

    assert result["deleted_count"] == 0
    assert (await client.get(f"/ocpp/locations/{location_id}/chargers")).json()["total"] == 5
