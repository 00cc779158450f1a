"""Versions, version details and credentials: the endpoints Token A opens."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from voltlab.ocpi import credentials, urls
from voltlab.ocpi.models import Credentials
from voltlab.ocpi.parties import our_credentials, version_details
from voltlab.ocpi.server.context import CallerDep, reply
from voltlab.ocpi.transport import read_json

router = APIRouter(prefix="/ocpi/{cpo_id}", tags=["OCPI protocol"])


@router.get("/versions")
async def versions(request: Request, caller: CallerDep) -> Response:
    bundle = caller.bundle
    return reply(
        request, [{"version": urls.VERSION, "url": urls.details_url(bundle.base_url, bundle.id)}]
    )


@router.get("/2.2.1")
async def details(request: Request, caller: CallerDep) -> Response:
    return reply(request, version_details(caller.bundle))


@router.get("/2.2.1/credentials")
async def get_credentials(request: Request, caller: CallerDep) -> Response:
    peer = caller.registered
    return reply(request, our_credentials(caller.bundle, peer.token_ours))


@router.post("/2.2.1/credentials")
async def post_credentials(request: Request, caller: CallerDep) -> Response:
    body = await read_json(request, Credentials)
    answer = await credentials.register(caller.services, caller.bundle, caller.peer, body)
    return reply(request, answer)


@router.put("/2.2.1/credentials")
async def put_credentials(request: Request, caller: CallerDep) -> Response:
    body = await read_json(request, Credentials)
    answer = await credentials.update(caller.services, caller.bundle, caller.peer, body)
    return reply(request, answer)


@router.delete("/2.2.1/credentials")
async def delete_credentials(request: Request, caller: CallerDep) -> Response:
    await credentials.unregister(caller.services, caller.peer)
    return reply(request)
