"""A location of fifty chargers (both OCPP versions) driven by location-wide commands."""

from __future__ import annotations

import asyncio
from typing import Any

from support.live import eventually

from .conftest import Lab

PER_VERSION = 25


async def _bulk_location(lab: Lab) -> tuple[str, list[dict[str, Any]]]:
    """Bulk-create 2 x 25 chargers in a new location; wait until every one has booted."""
    location = await lab.location("Fifty")
    groups = [
        {
            "template": {
                "brand_slug": "abb",
                "model_slug": "terra-184",
                "connector_type": "CCS2",
                "ocpp_version": version,
                "ws_url": lab.csms.url,
                "identity_prefix": f"HUB{index}-",
                "meter_interval_s": 1,
            },
            "chargers_number": PER_VERSION,
        }
        for index, version in enumerate(("OCPP1.6", "OCPP2.0.1"))
    ]
    response = await lab.client.post(f"/ocpp/locations/{location}/chargers", json=groups)
    assert response.status_code == 202, response.text
    status_url = response.json()["status_url"]

    async def job_done() -> dict[str, Any] | None:
        job: dict[str, Any] = (await lab.client.get(status_url)).json()
        return job if job["status"] in ("READY", "FAILED") else None

    job = await eventually(job_done, timeout=20, interval=0.1)
    assert job["status"] == "READY", job
    assert len(job["results"]["created"]) == 2 * PER_VERSION
    assert job["results"]["failed"] == []

    async def all_booted() -> list[dict[str, Any]] | None:
        page = (
            await lab.client.get("/ocpp/chargers", params={"location_id": location, "limit": 100})
        ).json()
        chargers: list[dict[str, Any]] = page["data"]
        booted = [
            c
            for c in chargers
            if c["runtime"]["connection"] == "connected"
            and c["runtime"]["boot_status"] == "Accepted"
        ]
        return chargers if len(booted) == 2 * PER_VERSION else None

    chargers = await eventually(all_booted, timeout=20, interval=0.2)
    return location, chargers


async def _outcomes(lab: Lab, report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """charger_id -> final record of every queued command of the report."""
    records = await asyncio.gather(*(lab.outcome(r["command"]["id"]) for r in report["results"]))
    return {record["charger_id"]: record for record in records}


async def test_location_fan_out_over_fifty_chargers(lab: Lab) -> None:
    location, chargers = await _bulk_location(lab)
    ids = {c["id"] for c in chargers}
    identities = {c["id"]: c["identity"] for c in chargers}
    target = {"location_id": location}

    report = await lab.fan_out("plug-connector", target, {})
    assert report["targeted_count"] == report["queued_count"] == 50
    assert report["failed_count"] == 0
    assert {r["charger_id"] for r in report["results"]} == ids
    assert all(r["identity"] == identities[r["charger_id"]] for r in report["results"])
    assert {r["command"]["ocpp_version"] for r in report["results"]} == {"ocpp1.6", "ocpp2.0.1"}
    outcomes = await _outcomes(lab, report)
    assert {o["status"] for o in outcomes.values()} == {"succeeded"}
    assert {o["result"]["status"] for o in outcomes.values()} == {"Preparing"}

    report = await lab.fan_out("start-session", target, {"id_tag": "FLEET-1"})
    assert report["queued_count"] == 50
    outcomes = await _outcomes(lab, report)
    assert {o["status"] for o in outcomes.values()} == {"succeeded"}, [
        o for o in outcomes.values() if o["status"] != "succeeded"
    ]
    for charger_id, record in outcomes.items():
        identity = identities[charger_id]
        transaction_id = record["result"]["transaction_id"]
        assert record["result"]["authorization"]["status"] == "Accepted"
        assert transaction_id in lab.csms.stations[identity].transactions

    # A subset: ten of them stop; the forty others keep charging.
    subset = sorted(ids)[:10]
    report = await lab.fan_out("stop-session", {"location_id": location, "charger_ids": subset}, {})
    assert report["targeted_count"] == report["queued_count"] == 10
    outcomes = await _outcomes(lab, report)
    assert set(outcomes) == set(subset)
    assert {o["status"] for o in outcomes.values()} == {"succeeded"}

    def stopped_at_csms() -> dict[str, bool]:
        return {
            charger_id: all(
                tx.stopped_at is not None
                for tx in lab.csms.stations[identities[charger_id]].transactions.values()
            )
            for charger_id in ids
        }

    await eventually(lambda: sum(stopped_at_csms().values()) == 10, timeout=10)
    assert {cid for cid, stopped in stopped_at_csms().items() if stopped} == set(subset)
    page = (
        await lab.client.get("/ocpp/chargers", params={"location_id": location, "limit": 100})
    ).json()
    for charger in page["data"]:
        first = charger["runtime"]["connectors"][0]
        if charger["id"] in subset:
            assert first["transaction_id"] is None
            assert first["status"] == "Available"
        else:
            assert first["transaction_id"] is not None
            assert first["status"] in ("Charging", "Occupied")

    # The rest stop with one location-wide command; the ten idle ones succeed too.
    report = await lab.fan_out("stop-session", target, {})
    outcomes = await _outcomes(lab, report)
    assert {o["status"] for o in outcomes.values()} == {"succeeded"}
    await eventually(lambda: all(stopped_at_csms().values()), timeout=10)
