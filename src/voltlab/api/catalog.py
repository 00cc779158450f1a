from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from voltlab import catalog
from voltlab.api.deps import LimitQ, PageQ
from voltlab.auth.dependencies import Authenticated
from voltlab.errors import NotFound

router = APIRouter(prefix="/ocpp", tags=["catalog"])


def _page(items: list[dict[str, Any]], page: int, limit: int) -> dict[str, Any]:
    start = (page - 1) * limit
    return {"data": items[start : start + limit], "total": len(items), "page": page, "limit": limit}


@router.get("/catalog/brands")
async def list_brands(_: Authenticated, page: PageQ = 1, limit: LimitQ = 50) -> dict[str, Any]:
    return _page([b.to_dict() for b in catalog.brands()], page, limit)


@router.get("/catalog/brands/{brand_slug}/models")
async def list_models(
    brand_slug: str, _: Authenticated, page: PageQ = 1, limit: LimitQ = 50
) -> dict[str, Any]:
    models = catalog.models(brand_slug)
    if models is None:
        raise NotFound(f"brand {brand_slug!r} not found")
    return _page([m.to_dict() for m in models], page, limit)


@router.get("/catalog/brands/{brand_slug}/models/{model_slug}")
async def get_model(brand_slug: str, model_slug: str, _: Authenticated) -> dict[str, Any]:
    model = catalog.model(brand_slug, model_slug)
    if model is None:
        raise NotFound(f"model {brand_slug}/{model_slug} not found")
    return model.to_dict()


@router.get("/templates/locations")
async def list_location_templates(
    _: Authenticated,
    type: Annotated[Literal["AC", "DC", "AC-DC"] | None, Query()] = None,
    ocpp_version: Annotated[
        Literal["OCPP1.6", "OCPP2.0.1", "1.6", "2.0.1", "ocpp1.6", "ocpp2.0.1"] | None, Query()
    ] = None,
) -> dict[str, Any]:
    templates = catalog.location_templates(type=type, ocpp_version=ocpp_version)
    return {"data": [t.to_dict() for t in templates], "total": len(templates)}
