"""Pushing a CPO's Sessions and CDRs to the eMSP that owns the token (OCPI 2.2.1 9.1.1,
10.1.2): PUT a new Session, PATCH a change (a whole PUT after a failed PATCH), POST a CDR,
with the routing headers. Nothing raises: a failure is logged (and in the exchange log)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from voltlab.ocpi.parties import connected_peers, endpoint, token_party
from voltlab.ocpi.transport import OcpiClientError
from voltlab.storage.ocpi import OcpiBundle, OcpiPeer

if TYPE_CHECKING:
    from voltlab.services import Services

log = logging.getLogger(__name__)


def _parties(peer: OcpiPeer) -> set[tuple[str, str]]:
    parties = {
        (str(r.get("country_code", "")).upper(), str(r.get("party_id", "")).upper())
        for r in peer.roles or []
        if r.get("role") in (None, "EMSP")
    }
    if peer.role == "EMSP" and peer.country_code and peer.party_id:
        parties.add((peer.country_code.upper(), peer.party_id.upper()))
    return parties


async def _emsp_peer(
    services: Services, bundle: OcpiBundle, party: tuple[str, str]
) -> OcpiPeer | None:
    """The connected eMSP peer that owns ``party``'s tokens; None for the CPO's own party
    (an unknown token) and for an eMSP that is not connected."""
    if party == (bundle.country_code, bundle.party_id):
        return None
    async with services.sessions() as db:
        peers = await connected_peers(db, bundle.id)
    return next((p for p in peers if party in _parties(p) and p.token_theirs), None)


def _routing(bundle: OcpiBundle, to: tuple[str, str]) -> dict[str, str]:
    # 4.1.8.2: functional modules carry the routing headers, party to party too.
    return {
        "OCPI-from-country-code": bundle.country_code,
        "OCPI-from-party-id": bundle.party_id,
        "OCPI-to-country-code": to[0],
        "OCPI-to-party-id": to[1],
    }


async def push_session(
    services: Services,
    bundle: OcpiBundle,
    data: dict[str, Any],
    patch: dict[str, Any] | None,
) -> None:
    """PUT ``data`` (``patch`` None) or PATCH ``patch`` to the token's eMSP."""
    party = token_party(data)
    peer = await _emsp_peer(services, bundle, party)
    base = endpoint(peer, "sessions", "RECEIVER") if peer is not None else None
    if peer is None or base is None:
        return
    url = f"{base.rstrip('/')}/{bundle.country_code}/{bundle.party_id}/{quote(data['id'], safe='')}"
    client = services.ocpi.client(bundle.id, peer.token_theirs)
    headers = _routing(bundle, party)
    try:
        if patch is None:
            await client.put(url, json=data, headers=headers)
            return
        try:
            await client.patch(url, json=patch, headers=headers)
        except OcpiClientError as exc:
            # 4.1.4.3: after a failed PATCH the eMSP's copy is in doubt; a PUT replaces it
            # whole (periods included), which also covers "the object doesn't exist".
            log.info("PATCH of session %s failed (%s); sending it whole", data["id"], exc)
            await client.put(url, json=data, headers=headers)
    except OcpiClientError as exc:
        log.warning("session %s not pushed to %s*%s: %s", data["id"], *party, exc)


async def push_cdr(services: Services, bundle: OcpiBundle, cdr: dict[str, Any]) -> None:
    party = token_party(cdr)
    peer = await _emsp_peer(services, bundle, party)
    url = endpoint(peer, "cdrs", "RECEIVER") if peer is not None else None
    if peer is None or url is None:
        return
    client = services.ocpi.client(bundle.id, peer.token_theirs)
    try:
        reply = await client.post(url, json=cdr, headers=_routing(bundle, party))
    except OcpiClientError as exc:
        log.warning("CDR %s not pushed to %s*%s: %s", cdr["id"], *party, exc)
        return
    # 10.2.2.2: the eMSP answers where the CDR now lives; the CPO may GET it there later.
    log.info("CDR %s accepted by %s*%s at %s", cdr["id"], *party, reply.headers.get("Location"))
