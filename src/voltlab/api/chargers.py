from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from voltlab.api.deps import LimitQ, PageQ, ServicesDep, TextQ, UtcQ
from voltlab.auth.dependencies import TenantId
from voltlab.domain.chargers import service
from voltlab.domain.chargers.schemas import (
    ChargerAccepted,
    ChargerCreate,
    ChargerOut,
    ChargerStatus,
    ChargerUpdate,
    LogPage,
    QueuedCommand,
)
from voltlab.domain.pagination import Page

router = APIRouter(prefix="/ocpp/chargers", tags=["chargers"])


@router.post("", status_code=202)
async def create_charger(
    body: ChargerCreate, services: ServicesDep, org: TenantId
) -> ChargerAccepted:
    return await service.create(services, org, body)


@router.get("")
async def list_chargers(
    services: ServicesDep,
    org: TenantId,
    location_id: Annotated[str | None, Query(max_length=64), TextQ] = None,
    ocpi_cpo_id: Annotated[int | None, Query(ge=1, le=999_999_999)] = None,
    page: PageQ = 1,
    limit: LimitQ = 50,
) -> Page[ChargerOut]:
    rows, total = await service.list_page(
        services, org, page=page, limit=limit, location_id=location_id, ocpi_cpo_id=ocpi_cpo_id
    )
    return Page(
        data=[service.to_out(r, services) for r in rows], total=total, page=page, limit=limit
    )


@router.get("/{charger_id}")
async def get_charger(charger_id: str, services: ServicesDep, org: TenantId) -> ChargerOut:
    return service.to_out(await service.get(services, org, charger_id), services)


@router.get("/{charger_id}/status")
async def get_charger_status(
    charger_id: str, services: ServicesDep, org: TenantId
) -> ChargerStatus:
    return service.status_out(await service.get(services, org, charger_id))


@router.put("/{charger_id}")
async def update_charger(
    charger_id: str, body: ChargerUpdate, services: ServicesDep, org: TenantId
) -> ChargerOut:
    return service.to_out(await service.update(services, org, charger_id, body), services)


@router.delete("/{charger_id}", status_code=204)
async def delete_charger(charger_id: str, services: ServicesDep, org: TenantId) -> Response:
    await service.delete(services, org, charger_id)
    return Response(status_code=204)


@router.post("/{charger_id}/start-charger")
async def start_charger(charger_id: str, services: ServicesDep, org: TenantId) -> QueuedCommand:
    return await service.lifecycle(services, org, charger_id, "start_charger")


@router.post("/{charger_id}/stop-charger")
async def stop_charger(charger_id: str, services: ServicesDep, org: TenantId) -> QueuedCommand:
    return await service.lifecycle(services, org, charger_id, "stop_charger")


@router.post("/{charger_id}/reset-charger")
async def reset_charger(charger_id: str, services: ServicesDep, org: TenantId) -> QueuedCommand:
    return await service.lifecycle(services, org, charger_id, "reset_charger")


@router.get("/{charger_id}/logs")
async def charger_logs(
    charger_id: str,
    services: ServicesDep,
    org: TenantId,
    start_date: Annotated[datetime | None, Query(), UtcQ] = None,
    end_date: Annotated[datetime | None, Query(), UtcQ] = None,
    event: Annotated[str | None, Query(max_length=64, description="OCPP action"), TextQ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> LogPage:
    return await service.logs(
        services,
        org,
        charger_id,
        start=start_date,
        end=end_date,
        event=event,
        limit=limit,
        offset=offset,
    )
