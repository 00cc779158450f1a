"""The credentials module, both directions (OCPI 2.2.1 section "credentials").

Server (a peer registers with us): POST with Token A -> we fetch the peer's versions and
details with its token B, store it, and answer our token C; Token A dies. PUT rotates
(re-fetch with the new B, new C), GET shows our credentials, DELETE unregisters.

Client (``POST /ocpi/cpos/{id}/connect``): with the peer's Token A we fetch its versions
and details, POST our credentials with a fresh token B (the peer calls our versions with
B meanwhile), and keep the token C it answers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from sqlalchemy import delete, select

from voltlab.errors import InvalidRequest, UpstreamFailed
from voltlab.ids import new_id, utcnow
from voltlab.ocpi import urls
from voltlab.ocpi.client import OcpiClient
from voltlab.ocpi.models import Credentials
from voltlab.ocpi.parties import new_token, our_credentials, primary_party
from voltlab.ocpi.transport import (
    MethodNotAllowed,
    OcpiClientError,
    UnableToUseClientApi,
    UnsupportedVersion,
)
from voltlab.services import Services
from voltlab.storage.ocpi import OcpiBundle, OcpiPeer

log = logging.getLogger(__name__)

# Work to run once a peer is connected (the token pull and push of the token flow).
# Registered by the modules that need it; run in the background, never failing the handshake.
OnConnected = Callable[[Services, int, str], Awaitable[None]]
on_connected: list[OnConnected] = []


class PeerFailed(UpstreamFailed):
    """The peer refused or broke the handshake; ``detail`` says what it answered."""


class PeerRefused(InvalidRequest):
    """A peer URL this deployment does not call (``VOLTLAB_OCPI_BLOCK_PRIVATE_PEERS``)."""


async def check_peer_url(services: Services, url: str) -> None:
    """The SSRF guard: with ``ocpi_block_private_peers`` a peer URL must resolve to
    public addresses only."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is no number)
    except ValueError as exc:
        raise PeerRefused(f"{url!r} is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PeerRefused(f"{url!r} is not an http(s) URL")
    if not services.settings.ocpi_block_private_peers:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443)
    except socket.gaierror as exc:
        raise PeerRefused(f"cannot resolve {parts.hostname}: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise PeerRefused(
                f"{parts.hostname} resolves to {address}, a private or loopback address "
                "(refused: VOLTLAB_OCPI_BLOCK_PRIVATE_PEERS is set)"
            )


async def fetch_endpoints(
    client: OcpiClient, versions_url: str
) -> tuple[str, list[dict[str, Any]]]:
    """GET the peer's versions, pick 2.2.1, GET its details: (version, endpoints).
    Raises ``OcpiClientError`` (the peer's fault) or ``UnsupportedVersion``."""
    versions = (await client.get(versions_url)).data
    if not isinstance(versions, list):
        raise OcpiClientError("versions: data is not a list", url=versions_url)
    match = next(
        (v for v in versions if isinstance(v, dict) and v.get("version") == urls.VERSION), None
    )
    if match is None or not isinstance(match.get("url"), str):
        offered = [v.get("version") for v in versions if isinstance(v, dict)]
        raise UnsupportedVersion(f"the peer offers versions {offered}, not {urls.VERSION}")
    details = (await client.get(match["url"])).data
    if not isinstance(details, dict) or not isinstance(details.get("endpoints"), list):
        raise OcpiClientError("version details: no endpoints list", url=match["url"])
    return urls.VERSION, list(details["endpoints"])


def _spawn_on_connected(services: Services, bundle_id: int, peer_id: str) -> None:
    for hook in on_connected:
        services.tasks.spawn(hook(services, bundle_id, peer_id), name=f"ocpi-connected-{peer_id}")


# ---- server side -------------------------------------------------------------------


async def _peer_side(
    services: Services, bundle: OcpiBundle, body: Credentials
) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """The registering peer's version, endpoints (fetched with its token) and roles."""
    client = services.ocpi.client(bundle.id, body.token)
    try:
        await check_peer_url(services, body.url)
        version, endpoints = await fetch_endpoints(client, body.url)
    except (OcpiClientError, PeerRefused) as exc:
        raise UnableToUseClientApi(f"cannot use the client's API: {exc}") from exc
    roles = [role.model_dump(mode="json", exclude_none=True) for role in body.roles]
    return version, endpoints, roles


async def register(
    services: Services, bundle: OcpiBundle, peer: OcpiPeer | None, body: Credentials
) -> dict[str, Any]:
    """Credentials POST. ``peer`` is the caller's registration (None: Token A)."""
    if peer is not None:
        raise MethodNotAllowed("already registered: use PUT to update or DELETE to unregister")
    version, endpoints, roles = await _peer_side(services, bundle, body)
    country_code, party_id, role = primary_party(roles)
    token_c = new_token()
    now = utcnow()
    async with services.sessions.begin() as session:
        row = await session.get(OcpiBundle, bundle.id)
        if row is None or row.token_a != bundle.token_a:  # used by a concurrent POST
            raise MethodNotAllowed("this Token A was used meanwhile")
        row.token_a = None  # Token A dies once used
        row.updated_at = now
        peer_id = new_id()
        session.add(
            OcpiPeer(
                id=peer_id,
                org_id=bundle.org_id,
                bundle_id=bundle.id,
                token_ours=token_c,
                token_theirs=body.token,
                versions_url=body.url,
                version=version,
                endpoints=endpoints,
                country_code=country_code,
                party_id=party_id,
                role=role,
                roles=roles,
                status="CONNECTED",
                initiated_by="them",
                created_at=now,
                updated_at=now,
            )
        )
    _spawn_on_connected(services, bundle.id, peer_id)
    return our_credentials(bundle, token_c)


async def update(
    services: Services, bundle: OcpiBundle, peer: OcpiPeer | None, body: Credentials
) -> dict[str, Any]:
    """Credentials PUT: re-fetch the peer's endpoints with its new token, rotate ours."""
    if peer is None or peer.status != "CONNECTED":
        raise MethodNotAllowed("not registered: POST credentials with Token A first")
    version, endpoints, roles = await _peer_side(services, bundle, body)
    country_code, party_id, role = primary_party(roles)
    token_c = new_token()
    async with services.sessions.begin() as session:
        row = await session.get(OcpiPeer, peer.id)
        if row is None:
            raise MethodNotAllowed("not registered")
        row.token_ours = token_c
        row.token_theirs = body.token
        row.versions_url = body.url
        row.version = version
        row.endpoints = endpoints
        row.roles = roles
        row.country_code, row.party_id, row.role = country_code, party_id, role
        row.updated_at = utcnow()
    return our_credentials(bundle, token_c)


async def unregister(services: Services, peer: OcpiPeer | None) -> None:
    if peer is None or peer.status != "CONNECTED":
        raise MethodNotAllowed("not registered")
    async with services.sessions.begin() as session:
        await session.execute(delete(OcpiPeer).where(OcpiPeer.id == peer.id))


# ---- client side -------------------------------------------------------------------


async def connect(
    services: Services, bundle: OcpiBundle, versions_url: str, token_a: str
) -> OcpiPeer:
    """Run the handshake as initiator; the connected peer. ``PeerFailed`` on refusal."""
    await check_peer_url(services, versions_url)
    client = services.ocpi.client(bundle.id, token_a)
    try:
        version, endpoints = await fetch_endpoints(client, versions_url)
    except (OcpiClientError, UnsupportedVersion) as exc:
        raise PeerFailed(f"fetching the peer's versions failed: {exc}") from exc
    credentials_url = next(
        (e.get("url") for e in endpoints if e.get("identifier") == "credentials"), None
    )
    if not isinstance(credentials_url, str):
        raise PeerFailed("the peer's version details list no credentials endpoint")
    token_b = new_token()
    now = utcnow()
    peer = OcpiPeer(
        id=new_id(),
        org_id=bundle.org_id,
        bundle_id=bundle.id,
        token_ours=token_b,  # the peer calls our versions with B during its POST
        token_theirs=None,
        versions_url=versions_url,
        version=version,
        endpoints=endpoints,
        status="PENDING",
        initiated_by="us",
        created_at=now,
        updated_at=now,
    )
    async with services.sessions.begin() as session:
        session.add(peer)
    try:
        reply = await client.post(credentials_url, json=our_credentials(bundle, token_b))
        answer = Credentials.model_validate(reply.data)
    except (OcpiClientError, ValidationError) as exc:
        async with services.sessions.begin() as session:
            await session.execute(delete(OcpiPeer).where(OcpiPeer.id == peer.id))
        raise PeerFailed(f"the credentials POST failed: {exc}") from exc
    roles = [role.model_dump(mode="json", exclude_none=True) for role in answer.roles]
    country_code, party_id, role = primary_party(roles)
    async with services.sessions.begin() as session:
        row = await session.get(OcpiPeer, peer.id)
        assert row is not None
        row.token_theirs = answer.token
        row.roles = roles
        row.country_code, row.party_id, row.role = country_code, party_id, role
        row.status = "CONNECTED"
        row.updated_at = utcnow()
        # Connecting again to the same peer replaces the earlier registration.
        await session.execute(
            delete(OcpiPeer).where(
                OcpiPeer.bundle_id == bundle.id,
                OcpiPeer.versions_url == versions_url,
                OcpiPeer.id != peer.id,
            )
        )
        peer = row
    _spawn_on_connected(services, bundle.id, peer.id)
    return peer


async def peers(services: Services, bundle_id: int) -> list[OcpiPeer]:
    async with services.sessions() as session:
        rows = await session.scalars(
            select(OcpiPeer).where(OcpiPeer.bundle_id == bundle_id).order_by(OcpiPeer.created_at)
        )
        return list(rows.all())
