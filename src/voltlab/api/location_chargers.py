from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from voltlab.api.deps import LimitQ, PageQ, ServicesDep, TextQ, split_ids
from voltlab.auth.dependencies import TenantId
from voltlab.domain.chargers import bulk, service
from voltlab.domain.chargers.schemas import (
    BulkDeleteResult,
    BulkUpdate,
    BulkUpdateResult,
    ChargerGroupIn,
    ChargerOut,
    JobAccepted,
    JobStatus,
)
from voltlab.domain.locations import service as locations
from voltlab.domain.pagination import Page
from voltlab.storage.repositories import LocationRepository

router = APIRouter(prefix="/ocpp/locations/{location_id}/chargers", tags=["location chargers"])

IdsQ = Annotated[
    list[str] | None,
    Query(description="charger ids, comma-separated or repeated", max_length=10_000),
    TextQ,
]


@router.get("")
async def list_location_chargers(
    location_id: str,
    services: ServicesDep,
    org: TenantId,
    page: PageQ = 1,
    limit: LimitQ = 50,
    charger_ids: IdsQ = None,
) -> Page[ChargerOut]:
    async with services.sessions() as session:
        await locations.get(LocationRepository(session, org), location_id)
    rows, total = await service.list_page(
        services,
        org,
        page=page,
        limit=limit,
        location_id=location_id,
        charger_ids=split_ids(charger_ids),
    )
    return Page(
        data=[service.to_out(r, services) for r in rows], total=total, page=page, limit=limit
    )


@router.post("", status_code=202)
async def create_location_chargers(
    location_id: str,
    groups: Annotated[list[ChargerGroupIn], Body(max_length=1_000)],
    services: ServicesDep,
    org: TenantId,
) -> JobAccepted:
    return await bulk.create_job(services, org, location_id, groups)


@router.get("/jobs/{job_id}")
async def location_chargers_job(
    location_id: str, job_id: str, services: ServicesDep, org: TenantId
) -> JobStatus:
    return await bulk.job_status(services, org, location_id, job_id)


@router.put("")
async def update_location_chargers(
    location_id: str, body: BulkUpdate, services: ServicesDep, org: TenantId
) -> BulkUpdateResult:
    return await bulk.bulk_update(services, org, location_id, body)


@router.delete("")
async def delete_location_chargers(
    location_id: str, services: ServicesDep, org: TenantId, charger_ids: IdsQ = None
) -> BulkDeleteResult:
    return await bulk.bulk_delete(services, org, location_id, split_ids(charger_ids))
