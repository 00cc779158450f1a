"""A bundle's tokens and lab behaviour: ``/ocpi/cpos/{cpo_id}/tokens``, ``.../behaviour``.

eMSP bundle: its own tokens; creating, updating and invalidating one pushes it to every
connected CPO (in the background; ``pushed_to`` lists the pushes started).
CPO bundle: a read-only view of the token cache its eMSPs filled, and ``POST .../pull``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from voltlab.api.deps import LimitQ, PageQ, ServicesDep
from voltlab.auth.dependencies import TenantId
from voltlab.errors import InvalidRequest, NotFound
from voltlab.ocpi.bundles import behaviour, service
from voltlab.ocpi.bundles.behaviour import BehaviourUpdate
from voltlab.ocpi.cpo import tokens as cache
from voltlab.ocpi.emsp import tokens as emsp_tokens
from voltlab.ocpi.emsp.schemas import TokenCreate, TokenUpdate
from voltlab.ocpi.models import TokenType

router = APIRouter(prefix="/ocpi/cpos/{cpo_id}", tags=["OCPI bundle tokens"])

TypeQ = Annotated[
    TokenType | None, Query(description="the token's type when several share the uid")
]


@router.get("/tokens")
async def list_tokens(
    cpo_id: str, services: ServicesDep, org: TenantId, page: PageQ = 1, limit: LimitQ = 50
) -> dict[str, Any]:
    """eMSP: its tokens; CPO: its cache (each token's ``country_code``/``party_id`` is the
    eMSP party that owns it). Oldest first."""
    bundle = await service.get(services, org, cpo_id)
    rows, total = await cache.list_page(services, bundle, page, limit)
    return {"data": [cache.view(row) for row in rows], "total": total, "page": page, "limit": limit}


@router.post("/tokens/pull")
async def pull_tokens(cpo_id: str, services: ServicesDep, org: TenantId) -> dict[str, Any]:
    """CPO: pull every connected eMSP's token list now; the count per eMSP peer."""
    bundle = await service.get(services, org, cpo_id)
    if bundle.role != "CPO":
        raise InvalidRequest(f"bundle {cpo_id} is an eMSP: only a CPO pulls tokens")
    results = await cache.pull_all(services, bundle)
    return {"data": results, "total": sum(result["count"] for result in results)}


@router.get("/tokens/{uid}")
async def get_token(
    cpo_id: str, uid: str, services: ServicesDep, org: TenantId, type: TypeQ = None
) -> dict[str, Any]:
    bundle = await service.get(services, org, cpo_id)
    row = await cache.lookup(services, bundle.id, uid, type.value if type else None)
    if row is None:
        raise NotFound(f"token {uid} not found in OCPI bundle {cpo_id}")
    return cache.view(row)


@router.post("/tokens", status_code=201)
async def create_token(
    cpo_id: str,
    body: TokenCreate,
    services: ServicesDep,
    org: TenantId,
    push: Annotated[bool, Query(description="false: the CPOs are not told")] = True,
) -> dict[str, Any]:
    """eMSP: a new token of the bundle's party, pushed to every connected CPO."""
    bundle = await service.get(services, org, cpo_id)
    return (await emsp_tokens.create(services, bundle, body, push=push)).out()


@router.put("/tokens/{uid}")
async def update_token(
    cpo_id: str,
    uid: str,
    body: TokenUpdate,
    services: ServicesDep,
    org: TenantId,
    type: TypeQ = None,
) -> dict[str, Any]:
    """eMSP: change the given fields (null removes an optional one) and push the change."""
    bundle = await service.get(services, org, cpo_id)
    change = await emsp_tokens.update(
        services, bundle, uid, body, token_type=type.value if type else None
    )
    return change.out()


@router.delete("/tokens/{uid}")
async def delete_token(
    cpo_id: str, uid: str, services: ServicesDep, org: TenantId, type: TypeQ = None
) -> dict[str, Any]:
    """eMSP: OCPI never deletes a token; it becomes ``valid: false`` and that is pushed."""
    bundle = await service.get(services, org, cpo_id)
    change = await emsp_tokens.invalidate(
        services, bundle, uid, token_type=type.value if type else None
    )
    return change.out()


@router.get("/behaviour")
async def get_behaviour(cpo_id: str, services: ServicesDep, org: TenantId) -> dict[str, Any]:
    """Every behaviour field of the bundle's role."""
    return behaviour.visible(await service.get(services, org, cpo_id))


@router.put("/behaviour")
async def put_behaviour(
    cpo_id: str, body: BehaviourUpdate, services: ServicesDep, org: TenantId
) -> dict[str, Any]:
    """Merge the given fields (a field of the other role -> 422); every field afterwards."""
    bundle = await service.get(services, org, cpo_id)
    return await behaviour.update(services, bundle, body)
