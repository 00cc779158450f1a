"""Who is calling a bundle's OCPI endpoints, and how to answer them.

``Authorization: Token ...`` resolves to a registered peer of the bundle (tokens B/C), or
to the bundle's Token A, which only opens versions, version details and the credentials
POST. Anything else is a 401 envelope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select
from starlette.responses import Response

from voltlab.ocpi.parties import find_peer, peer_parties, token_party
from voltlab.ocpi.transport import (
    NotFound,
    Unauthorized,
    correlation_headers,
    ocpi_response,
    paginate,
    parse_page_params,
    token_candidates,
)
from voltlab.services import Services
from voltlab.storage.ocpi import OcpiBundle, OcpiCdr, OcpiPeer, OcpiSession


@dataclass(slots=True)
class Caller:
    services: Services
    bundle: OcpiBundle
    peer: OcpiPeer | None  # None: the caller presented Token A
    token: str

    @property
    def registered(self) -> OcpiPeer:
        """The registered peer; Token A (or a pending peer) is refused here."""
        if self.peer is None or self.peer.status != "CONNECTED":
            raise Unauthorized("this token is not registered: complete the credentials handshake")
        return self.peer


async def _caller(request: Request, cpo_id: str) -> Caller:
    services: Services = request.app.state.services
    candidates = token_candidates(request.headers.get("Authorization"))
    if not candidates:
        raise Unauthorized("Authorization: Token <token> is required")
    bundle_id = int(cpo_id) if cpo_id.isdigit() and len(cpo_id) < 10 else None
    if bundle_id is None:
        raise Unauthorized("unknown token")
    async with services.sessions() as session:
        bundle = await session.get(OcpiBundle, bundle_id)
        if bundle is None:
            raise Unauthorized("unknown token")
        peer = await find_peer(session, bundle_id, candidates)
    if peer is not None:
        return Caller(services, bundle, peer, peer.token_ours)
    if bundle.token_a is not None and bundle.token_a in candidates:
        return Caller(services, bundle, None, bundle.token_a)
    raise Unauthorized("unknown or revoked token")


CallerDep = Annotated[Caller, Depends(_caller)]


def reply(
    request: Request,
    data: Any = None,
    *,
    http_status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A success envelope echoing X-Request-ID / X-Correlation-ID."""
    return ocpi_response(
        data, http_status=http_status, headers={**correlation_headers(request), **(headers or {})}
    )


def public_url(caller: Caller, request: Request) -> str:
    """The URL the peer called, on the bundle's public base (for ``Link`` headers)."""
    query = request.url.query
    return caller.bundle.base_url + request.url.path + (f"?{query}" if query else "")


def require_role(caller: Caller, role: str, module: str) -> None:
    """A module only the CPO (or only the eMSP) serves."""
    if caller.bundle.role != role:
        raise NotFound(f"this party ({caller.bundle.role}) does not serve {module} here")


async def sender_list(
    request: Request, caller: Caller, table: type[OcpiSession] | type[OcpiCdr], module: str
) -> Response:
    """A CPO's SENDER list of Sessions or CDRs, paginated on ``last_updated``. Only the
    objects of the calling eMSP's tokens (10.1.3, 4.1.4.1: what is relevant to it)."""
    peer = caller.registered
    require_role(caller, "CPO", f"the {module} SENDER interface")
    params = parse_page_params(request.query_params)
    query = select(table).where(table.bundle_id == caller.bundle.id)
    if params.date_from is not None:
        query = query.where(table.last_updated >= params.date_from)
    if params.date_to is not None:
        query = query.where(table.last_updated < params.date_to)
    async with caller.services.sessions() as db:
        rows = list((await db.scalars(query.order_by(table.id))).all())
    parties = peer_parties(peer)
    items = [row for row in rows if token_party(row.data) in parties]
    page, headers = paginate(
        items,
        params,
        last_updated=lambda row: row.last_updated,
        base_url=public_url(caller, request),
    )
    return reply(request, [row.data for row in page], headers=headers)
