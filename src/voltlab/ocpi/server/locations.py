"""Locations, SENDER interface of a CPO bundle: list (paginated), Location, EVSE, Connector."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from voltlab.ocpi.cpo import projection
from voltlab.ocpi.server.context import CallerDep, public_url, reply, require_role
from voltlab.ocpi.transport import NotFound, UnknownLocation, paginate, parse_page_params

router = APIRouter(prefix="/ocpi/{cpo_id}/2.2.1/locations", tags=["OCPI protocol"])


@router.get("")
async def list_locations(request: Request, caller: CallerDep) -> Response:
    caller.registered  # noqa: B018  (refuses Token A and unknown peers)
    require_role(caller, "CPO", "locations")
    params = parse_page_params(request.query_params)
    items = await projection.locations(caller.services, caller.bundle)
    page, headers = paginate(
        items,
        params,
        last_updated=lambda item: item["last_updated"],
        base_url=public_url(caller, request),
    )
    return reply(request, page, headers=headers)


async def _location(caller: CallerDep, location_id: str) -> dict:
    caller.registered  # noqa: B018
    require_role(caller, "CPO", "locations")
    found = await projection.location(caller.services, caller.bundle, location_id)
    if found is None:
        raise UnknownLocation(f"unknown location {location_id!r}")
    return found


def _evse(location: dict, evse_uid: str) -> dict:
    for evse in location["evses"]:
        if evse["uid"] == evse_uid:
            return evse
    raise NotFound(f"unknown EVSE {evse_uid!r} in location {location['id']!r}")


@router.get("/{location_id}")
async def get_location(request: Request, caller: CallerDep, location_id: str) -> Response:
    return reply(request, await _location(caller, location_id))


@router.get("/{location_id}/{evse_uid}")
async def get_evse(
    request: Request, caller: CallerDep, location_id: str, evse_uid: str
) -> Response:
    return reply(request, _evse(await _location(caller, location_id), evse_uid))


@router.get("/{location_id}/{evse_uid}/{connector_id}")
async def get_connector(
    request: Request, caller: CallerDep, location_id: str, evse_uid: str, connector_id: str
) -> Response:
    evse = _evse(await _location(caller, location_id), evse_uid)
    for connector in evse["connectors"]:
        if connector["id"] == connector_id:
            return reply(request, connector)
    raise NotFound(f"unknown connector {connector_id!r} of EVSE {evse_uid!r}")
