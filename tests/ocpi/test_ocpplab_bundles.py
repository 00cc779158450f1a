"""The public ``ocpplab==0.2.1`` SDK, unchanged, driving OCPI bundles and their locations.

A ``ParsingError`` from the SDK means voltlab answered in a shape the SDK cannot read: a
bug in voltlab, not in this test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ocpplab import (
    AsyncOcpplabSDK,
    CpoAcceptedResponse,
    CpoResponse,
    LocationFromTemplateRequest,
    OcpiChargerGroup,
    OcpiChargerTemplate,
    OcpiCoordinates,
    OcpiCreateLocationRequest,
)
from ocpplab.errors import NotFoundError, UnprocessableEntityError

from support.live import Voltlab, eventually, token

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sdk(voltlab: Voltlab) -> AsyncOcpplabSDK:
    return AsyncOcpplabSDK(base_url=voltlab.base_url, token=token("acme"), timeout=10)


async def test_the_sdk_lists_the_template_gallery(sdk: AsyncOcpplabSDK) -> None:
    gallery = await sdk.ocpi_templates.list()
    by_slug = {t.slug: t for t in gallery.data}
    assert gallery.total == len(gallery.data)
    assert (by_slug["small-urban-ac"].locations, by_slug["small-urban-ac"].chargers) == (2, 6)
    assert (by_slug["highway-dc"].locations, by_slug["highway-dc"].chargers) == (3, 6)
    assert (by_slug["mixed-depot"].locations, by_slug["mixed-depot"].chargers) == (1, 6)
    # voltlab's addition survives as an extra field.
    assert (by_slug["emsp-basic"].model_extra or {})["role"] == "emsp"


async def test_the_sdk_runs_a_bundle_from_create_to_delete(
    voltlab: Voltlab, sdk: AsyncOcpplabSDK
) -> None:
    accepted = await sdk.ocpi_cpos.create(
        template="small-urban-ac",
        country_code="FR",
        party_id="ABC",
        name_prefix="alice",
        seed=11,
        ttl_seconds=600,
    )
    assert isinstance(accepted, CpoAcceptedResponse)
    assert accepted.cpo_id.isdigit()
    assert accepted.party.country_code == "FR"
    assert accepted.party.party_id == "ABC"
    assert accepted.party.role == "CPO"
    assert accepted.token_a
    assert accepted.ocpi_peer_url.endswith(f"/ocpi/{accepted.cpo_id}/versions")
    assert accepted.roam_helper is not None
    assert accepted.roam_helper.credentials_payload == {
        "token": accepted.token_a,
        "url": accepted.ocpi_peer_url,
    }
    assert accepted.status in ("PENDING", "PROVISIONING")
    assert accepted.expires_at is not None
    assert abs(accepted.expires_at - (datetime.now(UTC) + timedelta(seconds=600))) < timedelta(
        seconds=30
    )
    cpo_id = accepted.cpo_id

    async def ready() -> bool:
        status = await sdk.ocpi_cpos.get_status(cpo_id)
        assert status.status != "FAILED", status
        return status.status == "READY"

    await eventually(ready, timeout=20)
    status = await sdk.ocpi_cpos.get_status(cpo_id)
    assert status.status_url == accepted.status_url
    assert status.progress is not None
    assert (status.progress.model_extra or {})["chargers_ready"] == 6

    bundle = await sdk.ocpi_cpos.get(cpo_id)
    assert isinstance(bundle, CpoResponse)
    assert bundle.token_a is None
    assert bundle.topology.locations == 2
    assert bundle.topology.chargers == 6
    assert bundle.topology.evses == bundle.topology.connectors == 10
    assert bundle.report_url == f"/ocpi/cpos/{cpo_id}/report"

    report = await sdk.ocpi_cpos.get_report(cpo_id)
    assert report.cpo_id == cpo_id
    assert accepted.ocpi_peer_url in report.markdown
    assert "alice-FRABC-L001-C01" in report.markdown

    listed = await sdk.ocpi_cpos.list(page=1, limit=10)
    assert listed.total == 1
    assert [b.cpo_id for b in listed.data] == [cpo_id]

    # -- its locations ---------------------------------------------------------------
    locations = sdk.ocpi_locations
    first = await locations.list(cpo_id)
    assert first.total == 2
    assert all(len(loc.chargers or []) == 3 for loc in first.data)

    job = await locations.create(
        cpo_id,
        locations=[
            OcpiCreateLocationRequest(
                name="SDK Street",
                address="Rue du SDK 1",
                city="Paris",
                country="FR",
                coordinates=OcpiCoordinates(latitude=48.8566, longitude=2.3522),
                timezone="Europe/Paris",
                parking_type="ON_STREET",
                charges=[
                    OcpiChargerGroup(
                        template=OcpiChargerTemplate(
                            brand_slug="alfen",
                            model_slug="eve-single-pro-line",
                            connector_type="Type2",
                            ocpp_version="OCPP1.6",
                            ws_url="ws://127.0.0.1:1/ocpp",
                            identity_prefix="SDK-",
                            template_name="SDK post",
                        ),
                        charger_ids=["1", "2"],
                    )
                ],
            ),
            LocationFromTemplateRequest(
                template="residential-ac-single", overrides={"name": "SDK Home"}
            ),
        ],
    )
    assert job.status in ("PENDING", "PROVISIONING")

    async def job_done() -> bool:
        current = await locations.get_bulk_job(cpo_id, job.job_id)
        assert current.status != "FAILED", current
        return current.status == "READY"

    await eventually(job_done, timeout=20)
    finished = await locations.get_bulk_job(cpo_id, job.job_id)
    assert finished.results is not None
    created = finished.results["created"]
    assert [c["name"] for c in created] == ["SDK Street", "SDK Home"]
    street_id = created[0]["location_id"]

    street = await locations.get(cpo_id, street_id)
    assert street.name == "SDK Street"
    assert street.country == "FRA"
    assert street.coordinates is not None and street.coordinates.latitude == 48.8566
    assert sorted(c.identity for c in street.chargers or []) == ["SDK-1", "SDK-2"]
    assert all(c.evses and c.evses[0].evse_uid == c.identity for c in street.chargers or [])
    assert (await locations.list(cpo_id, page=1, limit=50)).total == 4

    updated = await locations.update(cpo_id, street_id, city="Lyon", public=False)
    assert updated.city == "Lyon"
    assert updated.public is False
    assert updated.name == "SDK Street"
    assert (await locations.get(cpo_id, street_id)).city == "Lyon"

    with pytest.raises(UnprocessableEntityError):
        await locations.update(cpo_id, street_id, country="XX")

    await locations.delete(cpo_id, street_id)
    with pytest.raises(NotFoundError):
        await locations.get(cpo_id, street_id)
    assert (await locations.list(cpo_id)).total == 3

    # -- gone ------------------------------------------------------------------------
    await sdk.ocpi_cpos.delete(cpo_id)
    with pytest.raises(NotFoundError):
        await sdk.ocpi_cpos.get(cpo_id)
    await sdk.ocpi_cpos.delete(cpo_id)  # idempotent
    assert (await sdk.ocpi_cpos.list()).total == 0
    chargers = (await voltlab.client.get("/ocpp/chargers")).json()
    assert chargers["total"] == 0


async def test_the_sdk_creates_an_emsp_bundle_and_reads_its_refusals(
    sdk: AsyncOcpplabSDK,
) -> None:
    accepted = await sdk.ocpi_cpos.create(
        template="emsp-basic",
        country_code="NL",
        party_id="EMS",
        name_prefix="bob",
        role="emsp",
        ttl_seconds=None,
    )
    assert accepted.party.role == "EMSP"
    assert accepted.expires_at is None

    async def ready() -> bool:
        return (await sdk.ocpi_cpos.get_status(accepted.cpo_id)).status == "READY"

    await eventually(ready, timeout=20)
    bundle = await sdk.ocpi_cpos.get(accepted.cpo_id)
    assert (bundle.topology.model_extra or {})["tokens"] > 0

    with pytest.raises(UnprocessableEntityError) as refused:
        await sdk.ocpi_cpos.create(
            template="no-such-template", country_code="NL", party_id="ABC", name_prefix="x"
        )
    assert "template" in str(refused.value.body)
    with pytest.raises(NotFoundError):
        await sdk.ocpi_cpos.get("424242")
