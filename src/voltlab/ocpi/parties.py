"""Who is who: a bundle's own credentials, its peers, and the endpoints they serve."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voltlab.ocpi import urls
from voltlab.storage.ocpi import OcpiBundle, OcpiPeer


def new_token() -> str:
    """A credentials token (A, B or C). OCPI tokens are string(64); 32 random bytes in
    URL-safe base64 are 43 characters."""
    return secrets.token_urlsafe(32)


def our_role(bundle: OcpiBundle) -> dict[str, Any]:
    """The bundle's CredentialsRole."""
    return {
        "role": bundle.role,
        "business_details": {"name": bundle.business_name},
        "party_id": bundle.party_id,
        "country_code": bundle.country_code,
    }


def our_credentials(bundle: OcpiBundle, token: str) -> dict[str, Any]:
    """The Credentials object the bundle hands a peer (``token`` is what the peer uses)."""
    return {
        "token": token,
        "url": urls.versions_url(bundle.base_url, bundle.id),
        "roles": [our_role(bundle)],
    }


def version_details(bundle: OcpiBundle) -> dict[str, Any]:
    return {
        "version": urls.VERSION,
        "endpoints": [
            {
                "identifier": module,
                "role": role,
                "url": urls.module_url(bundle.base_url, bundle.id, module),
            }
            for module, role in urls.modules(bundle.role)
        ],
    }


def endpoint(peer: OcpiPeer, module: str, role: str | None = None) -> str | None:
    """The peer's URL for ``module`` (in interface ``role`` when given), or None."""
    for item in peer.endpoints or []:
        if item.get("identifier") == module and (role is None or item.get("role") == role):
            return str(item["url"])
    return None


def primary_party(roles: Sequence[dict[str, Any]]) -> tuple[str | None, str | None, str | None]:
    """(country_code, party_id, role) of the first role a peer registered."""
    if not roles:
        return None, None, None
    first = roles[0]
    return first.get("country_code"), first.get("party_id"), first.get("role")


async def find_peer(
    session: AsyncSession, bundle_id: int, tokens: Sequence[str]
) -> OcpiPeer | None:
    if not tokens:
        return None
    rows = await session.scalars(
        select(OcpiPeer).where(OcpiPeer.bundle_id == bundle_id, OcpiPeer.token_ours.in_(tokens))
    )
    return rows.first()


async def connected_peers(
    session: AsyncSession, bundle_id: int, role: str | None = None
) -> list[OcpiPeer]:
    query = select(OcpiPeer).where(OcpiPeer.bundle_id == bundle_id, OcpiPeer.status == "CONNECTED")
    if role is not None:
        query = query.where(OcpiPeer.role == role)
    return list((await session.scalars(query.order_by(OcpiPeer.created_at))).all())


def peer_parties(peer: OcpiPeer) -> set[tuple[str, str]]:
    """Every (country_code, party_id) the peer registered (a hub may register several),
    upper-cased: OCPI compares them without case."""
    parties = {
        (str(role.get("country_code", "")).upper(), str(role.get("party_id", "")).upper())
        for role in peer.roles or []
    }
    if peer.country_code and peer.party_id:
        parties.add((peer.country_code.upper(), peer.party_id.upper()))
    return parties


def token_party(obj: Mapping[str, Any]) -> tuple[str, str]:
    """The eMSP whose token a Session or CDR is for (its ``cdr_token``), upper-cased."""
    token = obj.get("cdr_token") or {}
    return str(token.get("country_code", "")).upper(), str(token.get("party_id", "")).upper()


def peer_out(peer: OcpiPeer) -> dict[str, Any]:
    """A peer as the management API shows it."""
    return {
        "id": peer.id,
        "party": {"country_code": peer.country_code, "party_id": peer.party_id, "role": peer.role},
        "versions_url": peer.versions_url,
        "version": peer.version,
        "roles": peer.roles or [],
        "endpoints": peer.endpoints or [],
        "status": peer.status,
        "initiated_by": peer.initiated_by,
        "created_at": peer.created_at,
        "updated_at": peer.updated_at,
    }
