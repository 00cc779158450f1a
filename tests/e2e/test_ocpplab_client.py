"""The public ``ocpplab==0.2.1`` SDK, unchanged, against a real ``voltlab serve``.

The SDK is synchronous; its calls run in a worker thread so that the recording CSMS,
which runs in the test's event loop, keeps answering the simulated chargers meanwhile.
A ``ParsingError`` from the SDK means voltlab answered in a shape the SDK cannot read.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from ocpplab import (
    ChargerGroup,
    ChargerTemplate,
    Coordinates,
    OcpplabSDK,
    UpdateLocationChargerItem,
)
from ocpplab.core.api_error import ApiError
from ocpplab.errors import NotFoundError, UnprocessableEntityError

from support.csms import Csms201, RecordingCsms
from support.live import eventually, token

from .conftest import ServedVoltlab

pytestmark = pytest.mark.timeout(120)

T = TypeVar("T")


def sdk_for(served: ServedVoltlab, org: str = "acme") -> OcpplabSDK:
    return OcpplabSDK(base_url=served.base_url, token=token(org), timeout=10)


async def call(method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one blocking SDK call off the event loop."""
    return await asyncio.to_thread(functools.partial(method, *args, **kwargs))


def extra(model: Any, name: str) -> Any:
    """A field voltlab adds beyond the SDK's model (kept by the SDK's ``extra="allow"``)."""
    return (model.model_extra or {})[name]


async def wait_ready(sdk: OcpplabSDK, charger_id: str) -> Any:
    async def ready() -> Any:
        status = await call(sdk.chargers.get_status, charger_id)
        assert status.status != "FAILED", status.error
        return status if status.status == "READY" else None

    return await eventually(ready, timeout=15, interval=0.1)


async def test_the_sdk_reads_the_catalog_and_the_location_templates(served: ServedVoltlab):
    sdk = sdk_for(served)

    brands = await call(sdk.catalog.list_brands, page=1, limit=100)
    assert brands.total >= 8
    assert brands.page == 1
    assert brands.limit == 100
    assert {"abb", "wallbox", "alfen"} <= {b.slug for b in brands.data}

    first_page = await call(sdk.catalog.list_brands, page=1, limit=3)
    second_page = await call(sdk.catalog.list_brands, page=2, limit=3)
    assert len(first_page.data) == 3
    assert {b.slug for b in first_page.data}.isdisjoint(b.slug for b in second_page.data)

    models = await call(sdk.catalog.list_models, "abb")
    assert "terra-184" in {m.slug for m in models.data}
    assert all(m.brand_slug == "abb" for m in models.data)

    model = await call(sdk.catalog.get_model, "abb", "terra-184")
    assert model.slug == "terra-184"
    assert model.current_type == "dc"
    assert model.connector_count == 2
    assert "CCS2" in (model.connector_types or [])
    assert model.supported_kwh
    assert set(extra(model, "ocpp_versions")) == {"OCPP1.6", "OCPP2.0.1"}

    with pytest.raises(NotFoundError):
        await call(sdk.catalog.get_model, "abb", "no-such-model")

    gallery = await call(sdk.location_templates.list)
    slugs = {t["slug"] for t in gallery["data"]}
    assert {"urban-ac-hub", "highway-dc-station", "residential-ac-single"} <= slugs
    dc_only = await call(sdk.location_templates.list, type="DC")
    assert dc_only["data"]
    assert all(t["type"] == "DC" for t in dc_only["data"])
    v201 = await call(sdk.location_templates.list, ocpp_version="OCPP2.0.1")
    for template in v201["data"]:
        assert any(g["ocpp_version"] == "OCPP2.0.1" for g in template["groups"])


async def test_the_sdk_manages_a_location_and_chargers_that_boot_against_a_csms(
    served: ServedVoltlab, csms: RecordingCsms
):
    sdk = sdk_for(served)

    # -- locations --------------------------------------------------------------------
    location = await call(
        sdk.locations.create,
        name="La Defense Charging Hub",
        address="14 Rue de la Paix",
        city="Paris",
        country="FR",
        coordinates=Coordinates(latitude=48.8566, longitude=2.3522),
        timezone="Europe/Paris",
        owner_name="VINCI Autoroutes",
        public=True,
    )
    assert location.name == "La Defense Charging Hub"
    assert location.slug and location.slug.startswith("la-defense-charging-hub")
    assert location.status == "active"
    assert location.coordinates is not None
    assert location.coordinates.latitude == pytest.approx(48.8566)
    assert location.created_at is not None

    listed = await call(sdk.locations.list, page=1, limit=10)
    assert listed.total == 1
    assert [loc.id for loc in listed.data] == [location.id]
    fetched = await call(sdk.locations.get, location.id)
    assert fetched.id == location.id
    assert fetched.timezone == "Europe/Paris"

    renamed = await call(
        sdk.locations.update, location.id, name="La Defense Hub - West", public=False
    )
    assert renamed.name == "La Defense Hub - West"
    assert renamed.public is False
    assert renamed.city == "Paris"  # untouched fields stay

    # another tenant sees nothing of it
    other = sdk_for(served, org="globex")
    with pytest.raises(NotFoundError):
        await call(other.locations.get, location.id)
    assert (await call(other.locations.list)).total == 0

    # -- one charger per OCPP version, pointed at the recording CSMS -------------------
    accepted16 = await call(
        sdk.chargers.create,
        identity="E2E-16",
        brand_slug="abb",
        model_slug="terra-184",
        connector_type="CCS2",
        ws_url=csms.url,
        ocpp_version="OCPP1.6",
        charge_point_name="Bay 1",
        location_id=location.id,
    )
    assert accepted16.identity == "E2E-16"
    assert accepted16.status in ("PENDING", "PROVISIONING")
    assert accepted16.status_url == f"/ocpp/chargers/{accepted16.charger_id}/status"

    accepted201 = await call(
        sdk.chargers.create,
        identity="E2E-201",
        brand_slug="alfen",
        model_slug="eve-single-pro-line",
        connector_type="Type2",
        ws_url=csms.url,
        ocpp_version="OCPP2.0.1",
        charge_point_name="Depot 1",
        location_name="Depot North",
    )

    status16 = await wait_ready(sdk, accepted16.charger_id)
    assert status16.charger_id == accepted16.charger_id
    assert status16.error is None
    assert status16.provisioned_at is not None
    await wait_ready(sdk, accepted201.charger_id)

    boot16 = (await csms.wait_for("E2E-16", "BootNotification"))[0].payload
    assert boot16["charge_point_vendor"] == "ABB"
    boot201 = (await csms.wait_for("E2E-201", "BootNotification"))[0].payload
    alfen = await call(sdk.catalog.get_model, "alfen", "eve-single-pro-line")
    assert boot201["charging_station"]["vendor_name"] == extra(alfen, "vendor_name")
    assert boot201["charging_station"]["model"] == extra(alfen, "model_name")

    async def booted(charger_id: str) -> Any:
        charger = await call(sdk.chargers.get, charger_id)
        runtime = extra(charger, "runtime")
        return charger if runtime["boot_status"] == "Accepted" else None

    charger16 = await eventually(lambda: booted(accepted16.charger_id))
    assert charger16.identity == "E2E-16"
    assert charger16.ocpp_version == "OCPP1.6"
    assert charger16.number_of_connectors == 2
    assert charger16.connector_type == "CCS2"
    assert charger16.location_id == location.id
    assert extra(charger16, "runtime")["state"] == "running"
    charger201 = await eventually(lambda: booted(accepted201.charger_id))
    assert charger201.ocpp_version == "OCPP2.0.1"
    assert charger201.location_id not in (None, location.id)  # location_name made a new one

    at_location = await call(sdk.chargers.list, location_id=location.id)
    assert [c.id for c in at_location.data] == [accepted16.charger_id]
    everything = await call(sdk.chargers.list, page=1, limit=50)
    assert everything.total == 2

    updated = await call(sdk.chargers.update, accepted16.charger_id, name="Bay One")
    assert updated.name == "Bay One"
    assert updated.connector_type == "CCS2"

    # -- the OCPP frame log -------------------------------------------------------------
    async def boot_frames() -> Any:
        page = await call(sdk.chargers.get_logs, accepted16.charger_id, event="BootNotification")
        return page if {e.direction for e in page.data} == {"cp_to_csms", "csms_to_cp"} else None

    frames = await eventually(boot_frames)
    assert frames.total >= 2
    assert all(e.action == "BootNotification" for e in frames.data)
    call_frame = next(e for e in frames.data if e.direction == "cp_to_csms")
    assert json.loads(call_frame.message or "null")[2] == "BootNotification"
    all_frames = await call(sdk.chargers.get_logs, accepted16.charger_id, limit=1000, offset=0)
    assert all_frames.limit == 1000
    assert all_frames.offset == 0
    timestamps = [e.timestamp for e in all_frames.data]
    assert timestamps == sorted(timestamps, reverse=True)  # newest first

    # -- runtime control: stop, start, reset --------------------------------------------
    stopped = await call(sdk.chargers.stop_runtime, accepted16.charger_id, request={})
    assert stopped.event_type == "stop_charger"
    assert stopped.ocpp_version == "ocpp1.6"
    runtime = extra(await call(sdk.chargers.get, accepted16.charger_id), "runtime")
    assert runtime["state"] == "stopped"

    started = await call(sdk.chargers.start_runtime, accepted16.charger_id, request={})
    assert started.event_type == "start_charger"
    await csms.wait_for("E2E-16", "BootNotification", count=2)

    reset = await call(sdk.chargers.reset_runtime, accepted16.charger_id, request={})
    assert reset.event_type == "reset_charger"
    await csms.wait_for("E2E-16", "BootNotification", count=3)
    await eventually(lambda: booted(accepted16.charger_id))

    # -- errors the SDK maps ------------------------------------------------------------
    with pytest.raises(UnprocessableEntityError):
        await call(
            sdk.chargers.create,
            identity="E2E-BAD",
            brand_slug="abb",
            model_slug="no-such-model",
            connector_type="CCS2",
            ws_url=csms.url,
            location_id=location.id,
        )
    with pytest.raises(ApiError) as duplicate:
        await call(
            sdk.chargers.create,
            identity="E2E-16",
            brand_slug="abb",
            model_slug="terra-184",
            connector_type="CCS2",
            ws_url=csms.url,
            location_id=location.id,
        )
    assert duplicate.value.status_code == 409

    # -- deletion -------------------------------------------------------------------------
    with pytest.raises(ApiError) as still_used:
        await call(sdk.locations.delete, location.id)
    assert still_used.value.status_code == 409

    await call(sdk.chargers.delete, accepted16.charger_id)
    with pytest.raises(NotFoundError):
        await call(sdk.chargers.get, accepted16.charger_id)
    await call(sdk.locations.delete, location.id)
    await call(sdk.locations.delete, location.id)  # idempotent
    with pytest.raises(NotFoundError):
        await call(sdk.locations.get, location.id)
    await call(sdk.chargers.delete, accepted201.charger_id)
    assert (await call(sdk.chargers.list)).total == 0


async def test_the_sdk_bulk_creates_updates_and_deletes_the_chargers_of_a_location(
    served: ServedVoltlab, csms: RecordingCsms
):
    sdk = sdk_for(served)
    location = await call(
        sdk.locations.create,
        name="Bulk Site",
        address="1 Main St",
        city="Utrecht",
        country="NL",
        coordinates=Coordinates(latitude=52.09, longitude=5.12),
    )

    accepted = await call(
        sdk.location_chargers.create,
        location.id,
        request=[
            ChargerGroup(
                template=ChargerTemplate(
                    brand_slug="abb",
                    model_slug="terra-ac-wallbox",
                    connector_type="Type2",
                    ocpp_version="OCPP1.6",
                    ws_url=csms.url,
                    identity_prefix="BULK16-",
                    template_name="Bay",
                ),
                charger_ids=["001", "002"],
                chargers_number=3,  # pads with one random suffix
            ),
            ChargerGroup(
                template=ChargerTemplate(
                    brand_slug="zaptec",
                    model_slug="pro",
                    connector_type="Type2",
                    ocpp_version="OCPP2.0.1",
                    ws_url=csms.url,
                    identity_prefix="BULK201-",
                ),
                charger_ids=["A", "B"],
            ),
        ],
    )
    assert accepted.status in ("PENDING", "PROVISIONING")
    assert accepted.status_url == f"/ocpp/locations/{location.id}/chargers/jobs/{accepted.job_id}"

    async def job_done() -> Any:
        job = await call(sdk.location_chargers.get_bulk_job, location.id, accepted.job_id)
        return job if job.status in ("READY", "FAILED") else None

    job = await eventually(job_done, timeout=20, interval=0.1)
    assert job.status == "READY", job.error
    assert job.job_id == accepted.job_id
    assert job.provisioned_at is not None
    assert job.results is not None
    assert job.results["failed"] == []
    created = {c["identity"]: c["charger_id"] for c in job.results["created"]}
    assert len(created) == 5
    assert {"BULK16-001", "BULK16-002", "BULK201-A", "BULK201-B"} <= set(created)
    for identity in ("BULK16-001", "BULK16-002", "BULK201-A", "BULK201-B"):
        await csms.wait_for(identity, "BootNotification")

    listed = await call(sdk.location_chargers.list, location.id, page=1, limit=100)
    assert listed.total == 5
    assert {c.identity for c in listed.data} == set(created)
    by_id = {c.id: c for c in listed.data}
    assert by_id[created["BULK16-001"]].name == "Bay 001"

    some = [created["BULK16-001"], created["BULK201-A"]]
    picked = await call(sdk.location_chargers.list, location.id, charger_ids=some)
    assert {c.id for c in picked.data} == set(some)

    # PUT /ocpp/locations/{id}/chargers: see the last test.
    moved = await call(
        sdk.chargers.update, created["BULK16-001"], name="Bay One", ocpp_version="OCPP2.0.1"
    )
    assert moved.name == "Bay One"
    assert moved.ocpp_version == "OCPP2.0.1"  # the runtime reconnects speaking 2.0.1
    await csms.wait_for("BULK16-001", "BootNotification", count=2)
    assert isinstance(csms.peers["BULK16-001"], Csms201)

    deleted = await call(
        sdk.location_chargers.delete, location.id, charger_ids=[created["BULK16-002"]]
    )
    assert deleted.deleted_count == 1
    assert deleted.deleted == [created["BULK16-002"]]
    assert deleted.failed_count == 0
    with pytest.raises(NotFoundError):
        await call(sdk.chargers.get, created["BULK16-002"])

    rest = await call(sdk.location_chargers.delete, location.id)
    assert rest.deleted_count == 4
    assert (await call(sdk.location_chargers.list, location.id)).total == 0
    await call(sdk.locations.delete, location.id)


async def test_the_sdk_reads_the_answer_of_a_location_bulk_update(
    served: ServedVoltlab, csms: RecordingCsms
):
    sdk = sdk_for(served)
    location = await call(
        sdk.locations.create,
        name="Update Site",
        address="2 Main St",
        city="Utrecht",
        country="NL",
        coordinates=Coordinates(latitude=52.09, longitude=5.12),
    )
    charger = await call(
        sdk.chargers.create,
        identity="UPD-1",
        brand_slug="zaptec",
        model_slug="pro",
        connector_type="Type2",
        ws_url=csms.url,
        location_id=location.id,
    )

    result = await call(
        sdk.location_chargers.update,
        location.id,
        chargers=[
            UpdateLocationChargerItem(charger_id=charger.charger_id, charge_point_name="Bay A02"),
            UpdateLocationChargerItem(charger_id="not-a-charger", name="Nope"),
        ],
    )

    assert result.updated_count == 1
    assert result.failed_count == 1
    assert [c.id for c in result.updated] == [charger.charger_id]
    assert result.failed[0].charger_id == "not-a-charger"
    updated = await call(sdk.chargers.get, charger.charger_id)
    assert extra(updated, "charge_point_name") == "Bay A02"
