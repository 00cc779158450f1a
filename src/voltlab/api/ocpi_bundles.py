"""OCPI bundles: ``/ocpi/cpos`` (both roles), templates, peers, connect, report, logs."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field, field_validator

from voltlab.api.deps import LimitQ, PageQ, ServicesDep
from voltlab.auth.dependencies import TenantId
from voltlab.domain.inputs import InputModel
from voltlab.domain.pagination import Page
from voltlab.ocpi import credentials
from voltlab.ocpi.bundles import logs, report, service
from voltlab.ocpi.bundles.schemas import (
    BundleAccepted,
    BundleCreate,
    BundleOut,
    BundleStatusOut,
    Report,
    TemplateList,
    TokenANew,
)
from voltlab.ocpi.parties import peer_out

router = APIRouter(tags=["OCPI bundles"])


def public_base_url(request: Request) -> str:
    configured = request.app.state.services.settings.public_base_url
    return str(configured or request.base_url).rstrip("/")


@router.get("/ocpi/templates/cpos")
async def list_templates() -> TemplateList:
    return service.templates()


@router.get("/ocpi/cpos/templates", include_in_schema=False)
async def list_templates_alias() -> TemplateList:
    return service.templates()


@router.post("/ocpi/cpos", status_code=202)
async def create_bundle(
    body: BundleCreate, request: Request, services: ServicesDep, org: TenantId
) -> BundleAccepted:
    return await service.create(services, org, body, public_base_url(request))


@router.get("/ocpi/cpos")
async def list_bundles(
    services: ServicesDep, org: TenantId, page: PageQ = 1, limit: LimitQ = 50
) -> Page[BundleOut]:
    rows, total = await service.list_page(services, org, page, limit)
    return Page(
        data=[await service.to_out(services, row) for row in rows],
        total=total,
        page=page,
        limit=limit,
    )


@router.get("/ocpi/cpos/{cpo_id}")
async def get_bundle(cpo_id: str, services: ServicesDep, org: TenantId) -> BundleOut:
    return await service.to_out(services, await service.get(services, org, cpo_id))


@router.get("/ocpi/cpos/{cpo_id}/status")
async def get_bundle_status(cpo_id: str, services: ServicesDep, org: TenantId) -> BundleStatusOut:
    return service.status_out(await service.get(services, org, cpo_id))


@router.get("/ocpi/cpos/{cpo_id}/report")
async def get_bundle_report(cpo_id: str, services: ServicesDep, org: TenantId) -> Report:
    bundle = await service.get(services, org, cpo_id)
    return Report(cpo_id=cpo_id, markdown=await report.markdown(services, bundle))


@router.delete("/ocpi/cpos/{cpo_id}", status_code=204)
async def delete_bundle(cpo_id: str, services: ServicesDep, org: TenantId) -> Response:
    await service.delete(services, org, cpo_id)
    return Response(status_code=204)


@router.post("/ocpi/cpos/{cpo_id}/token-a")
async def new_token_a(cpo_id: str, services: ServicesDep, org: TenantId) -> TokenANew:
    """A fresh Token A for the next peer (Token A dies once a peer registers with it)."""
    return await service.new_token_a(services, org, cpo_id)


@router.get("/ocpi/cpos/{cpo_id}/peers")
async def list_peers(cpo_id: str, services: ServicesDep, org: TenantId) -> dict[str, Any]:
    bundle = await service.get(services, org, cpo_id)
    items = [peer_out(peer) for peer in await credentials.peers(services, bundle.id)]
    return {"data": items, "total": len(items)}


class ConnectBody(InputModel):
    versions_url: str = Field(min_length=8, max_length=2048, pattern=r"^https?://")
    token: str = Field(min_length=1, max_length=255, description="the peer's Token A")

    @field_validator("versions_url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018  (raises on a port that is no number)
        except ValueError as exc:
            raise ValueError(f"not a valid URL: {exc}") from exc
        if not parts.hostname:
            raise ValueError("the URL names no host")
        return value

    @field_validator("token")
    @classmethod
    def _token(cls, value: str) -> str:
        # It travels in an HTTP header: printable ASCII only.
        if not (value.isascii() and value.isprintable()):
            raise ValueError("must be printable ASCII (it is sent in the Authorization header)")
        return value


@router.post("/ocpi/cpos/{cpo_id}/connect")
async def connect(
    cpo_id: str, body: ConnectBody, services: ServicesDep, org: TenantId
) -> dict[str, Any]:
    """Run the credentials handshake with a peer, this bundle initiating: 200 with the
    connected peer, 502 with the peer's answer when it failed."""
    bundle = await service.get(services, org, cpo_id)
    peer = await credentials.connect(services, bundle, body.versions_url, body.token)
    return peer_out(peer)


@router.get("/ocpi/cpos/{cpo_id}/logs")
async def list_exchanges(
    cpo_id: str,
    services: ServicesDep,
    org: TenantId,
    direction: Annotated[str | None, Query(pattern="^(in|out)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    """Every OCPI exchange the bundle served ("in") or made ("out"), newest first."""
    bundle = await service.get(services, org, cpo_id)
    return await logs.page(services, bundle, direction=direction, limit=limit, offset=offset)
