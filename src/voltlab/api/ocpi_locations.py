"""A CPO bundle's OCPI locations: ``/ocpi/cpos/{cpo_id}/locations``."""

from __future__ import annotations

from fastapi import APIRouter, Response

from voltlab.api.deps import LimitQ, PageQ, ServicesDep
from voltlab.auth.dependencies import TenantId
from voltlab.domain.pagination import Page
from voltlab.ocpi.bundles import locations, service
from voltlab.ocpi.bundles.location_schemas import (
    LocationJobAccepted,
    LocationJobStatus,
    OcpiLocationOut,
    OcpiLocationsCreate,
    OcpiLocationUpdate,
)

router = APIRouter(prefix="/ocpi/cpos/{cpo_id}/locations", tags=["OCPI bundle locations"])


@router.get("")
async def list_locations(
    cpo_id: str, services: ServicesDep, org: TenantId, page: PageQ = 1, limit: LimitQ = 50
) -> Page[OcpiLocationOut]:
    bundle = await service.get(services, org, cpo_id)
    items, total = await locations.list_page(services, bundle, page, limit)
    return Page(data=items, total=total, page=page, limit=limit)


@router.post("", status_code=202)
async def create_locations(
    cpo_id: str, body: OcpiLocationsCreate, services: ServicesDep, org: TenantId
) -> LocationJobAccepted:
    bundle = await service.get(services, org, cpo_id)
    return await locations.create_job(services, bundle, body.locations)


@router.get("/jobs/{job_id}")
async def get_job(
    cpo_id: str, job_id: str, services: ServicesDep, org: TenantId
) -> LocationJobStatus:
    bundle = await service.get(services, org, cpo_id)
    return await locations.job_status(services, bundle, job_id)


@router.get("/{location_id}")
async def get_location(
    cpo_id: str, location_id: str, services: ServicesDep, org: TenantId
) -> OcpiLocationOut:
    bundle = await service.get(services, org, cpo_id)
    return await locations.get(services, bundle, location_id)


@router.patch("/{location_id}")
async def update_location(
    cpo_id: str, location_id: str, body: OcpiLocationUpdate, services: ServicesDep, org: TenantId
) -> OcpiLocationOut:
    bundle = await service.get(services, org, cpo_id)
    return await locations.update(services, bundle, location_id, body)


@router.delete("/{location_id}", status_code=204)
async def delete_location(
    cpo_id: str, location_id: str, services: ServicesDep, org: TenantId
) -> Response:
    bundle = await service.get(services, org, cpo_id)
    await locations.delete_location(services, bundle, location_id)
    return Response(status_code=204)
