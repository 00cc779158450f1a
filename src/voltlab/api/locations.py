from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from voltlab.api.deps import LimitQ, PageQ, ServicesDep
from voltlab.auth.dependencies import TenantId
from voltlab.domain.locations import service
from voltlab.domain.locations.schemas import LocationCreate, LocationOut, LocationUpdate
from voltlab.domain.pagination import Page
from voltlab.storage.repositories import LocationRepository

router = APIRouter(prefix="/ocpp/locations", tags=["locations"])


@router.get("")
async def list_locations(
    services: ServicesDep, org: TenantId, page: PageQ = 1, limit: LimitQ = 50
) -> Page[LocationOut]:
    async with services.sessions() as session:
        rows, total = await LocationRepository(session, org).page(page, limit)
    return Page(data=[service.to_out(r) for r in rows], total=total, page=page, limit=limit)


@router.post("", status_code=201)
async def create_location(
    body: LocationCreate, services: ServicesDep, org: TenantId
) -> LocationOut:
    async with services.sessions.begin() as session:
        row = service.new_location(LocationRepository(session, org), body)
    return service.to_out(row)


@router.get("/{location_id}")
async def get_location(location_id: str, services: ServicesDep, org: TenantId) -> LocationOut:
    async with services.sessions() as session:
        row = await service.get(LocationRepository(session, org), location_id)
    return service.to_out(row)


@router.put("/{location_id}")
async def update_location(
    location_id: str, body: LocationUpdate, services: ServicesDep, org: TenantId
) -> LocationOut:
    async with services.sessions.begin() as session:
        row = await service.update(LocationRepository(session, org), location_id, body)
    return service.to_out(row)


@router.delete("/{location_id}", status_code=204)
async def delete_location(
    location_id: str,
    services: ServicesDep,
    org: TenantId,
    cascade: Annotated[bool, Query(description="also delete the location's chargers")] = False,
) -> Response:
    await service.delete(services, org, location_id, cascade=cascade)
    return Response(status_code=204)
