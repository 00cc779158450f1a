"""``GET /ocpp/chargers/{id}/configuration | local-auth-list | auth-cache | transactions |
authorizations``: what the simulated charge point holds right now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from voltlab.api.deps import ServicesDep
from voltlab.auth.dependencies import TenantId
from voltlab.domain.chargers import readouts

router = APIRouter(prefix="/ocpp/chargers/{charger_id}", tags=["charger state"])


@router.get("/configuration")
async def configuration(charger_id: str, services: ServicesDep, org: TenantId) -> dict[str, Any]:
    """Configuration keys (1.6) or device-model variables (2.0.1); secrets are masked."""
    return {"data": await readouts.read(services, org, charger_id, "configuration")}


@router.get("/local-auth-list")
async def local_auth_list(charger_id: str, services: ServicesDep, org: TenantId) -> dict[str, Any]:
    return await readouts.local_auth_list(services, org, charger_id)


@router.get("/auth-cache")
async def auth_cache(charger_id: str, services: ServicesDep, org: TenantId) -> dict[str, Any]:
    return {"entries": await readouts.read(services, org, charger_id, "auth_cache")}


@router.get("/transactions")
async def transactions(charger_id: str, services: ServicesDep, org: TenantId) -> dict[str, Any]:
    """Running transactions first, then the most recent ended ones."""
    return {"data": await readouts.read(services, org, charger_id, "transactions")}


@router.get("/authorizations")
async def authorizations(charger_id: str, services: ServicesDep, org: TenantId) -> dict[str, Any]:
    """Every authorization decision, newest first, with its source (local_list, cache,
    csms, offline_rule, auth_disabled) and reason."""
    return {"data": await readouts.read(services, org, charger_id, "decisions")}
