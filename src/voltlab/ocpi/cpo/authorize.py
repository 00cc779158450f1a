"""The CPO's token decision with its I/O: cache lookup, real-time authorize at the eMSP,
fallback, the authorization log. The rules themselves are ``decision`` (pure).

``decide`` answers one presented tag with a ``Grant``: the decision plus what a session
and a CDR need later (the token, its eMSP, the auth method, the authorization_reference).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from voltlab.ids import new_id, utcnow
from voltlab.ocpi.cpo.decision import (
    AskEmsp,
    CachedToken,
    EmspAnswer,
    EmspError,
    EmspTimeout,
    EmspUnknownToken,
    Outcome,
    first_step,
    merge_outcomes,
    resolve,
)
from voltlab.ocpi.cpo.grants import Grant
from voltlab.ocpi.cpo.tokens import lookup
from voltlab.ocpi.parties import connected_peers, endpoint
from voltlab.ocpi.transport import OcpiClientError, OcpiTimeout
from voltlab.services import Services
from voltlab.storage.ocpi import OcpiAuthorization, OcpiBundle, OcpiPeer


@dataclass(frozen=True, slots=True)
class Where:
    """The charger and EVSE a tag was presented at."""

    charger_id: str
    location_id: str | None
    evse_uid: str | None


def new_reference() -> str:
    return uuid.uuid4().hex  # 32 characters, within OCPI's 36


def _minimal_token(uid: str, ocpi_type: str) -> dict[str, Any]:
    return {"uid": uid, "type": ocpi_type}


async def _ask(
    services: Services,
    bundle: OcpiBundle,
    peer: OcpiPeer,
    uid: str,
    ocpi_type: str,
    where: Where,
    timeout_ms: int,
) -> Outcome:
    url = endpoint(peer, "tokens", "SENDER") or endpoint(peer, "tokens")
    if url is None:
        return EmspError(f"the eMSP {peer.country_code}*{peer.party_id} has no tokens endpoint")
    body: dict[str, Any] | None = None
    if where.location_id is not None:
        body = {"location_id": where.location_id}
        if where.evse_uid is not None:
            body["evse_uids"] = [where.evse_uid]
    client = services.ocpi.client(bundle.id, peer.token_theirs)
    try:
        # asyncio.timeout bounds the whole call, whatever httpx's own timeouts are.
        async with asyncio.timeout(timeout_ms / 1000):
            reply = await client.post(
                f"{url.rstrip('/')}/{uid}/authorize",
                params={"type": ocpi_type},
                json=body,
                timeout_s=timeout_ms / 1000,
            )
    except (TimeoutError, OcpiTimeout):
        return EmspTimeout(timeout_ms)
    except OcpiClientError as exc:
        # Only OCPI 2004 says "unknown Token" (decision.EmspUnknownToken); any other failure,
        # a bare HTTP 404 included, is an error: the fallback policy decides.
        if exc.status_code == 2004:
            return EmspUnknownToken(exc.http_status, exc.status_code)
        return EmspError(str(exc), exc.http_status, exc.status_code)
    try:
        return EmspAnswer.from_authorization_info(reply.data)
    except ValueError as exc:
        return EmspError(f"unreadable AuthorizationInfo: {exc}")


async def _ask_emsps(
    services: Services,
    bundle: OcpiBundle,
    plan: AskEmsp,
    uid: str,
    ocpi_type: str,
    where: Where,
    timeout_ms: int,
) -> tuple[Outcome, OcpiPeer | None]:
    async with services.sessions() as session:
        peers = await connected_peers(session, bundle.id, role="EMSP")
    if not plan.every_emsp:
        peers = [
            p for p in peers if (p.country_code, p.party_id) == (plan.country_code, plan.party_id)
        ]
        if not peers:
            party = f"{plan.country_code}*{plan.party_id}"
            return EmspError(f"the token's eMSP {party} is not connected"), None
    if not peers:
        return EmspUnknownToken(), None
    outcomes = await asyncio.gather(
        *(_ask(services, bundle, peer, uid, ocpi_type, where, timeout_ms) for peer in peers)
    )
    merged = merge_outcomes(outcomes)
    answering = next((p for p, o in zip(peers, outcomes, strict=True) if o is merged), None)
    return merged, answering


async def decide(
    services: Services,
    bundle: OcpiBundle,
    *,
    uid: str,
    ocpi_type: str | None,
    where: Where,
    trigger: str,
    ocpp_status_of: Any,
) -> Grant:
    """Decide on a tag, log the decision, and return it as a ``Grant``.

    ``ocpp_status_of(decision)`` renders the OCPP status for the log (the caller knows the
    charger's version).
    """
    started = time.perf_counter()
    behaviour = bundle.behaviour or {}
    timeout_ms = int(behaviour.get("realtime_timeout_ms", 5_000))
    policy = behaviour.get("fallback_policy", "whitelist")
    row = await lookup(services, bundle.id, uid, ocpi_type)
    cached = CachedToken.from_ocpi(row.data) if row is not None else None
    token = dict(row.data) if row is not None else _minimal_token(uid, ocpi_type or "RFID")
    emsp = (row.country_code, row.party_id) if row is not None else None
    plan = first_step(cached)
    if isinstance(plan, AskEmsp):
        outcome, answering = await _ask_emsps(
            services, bundle, plan, uid, ocpi_type or token.get("type", "RFID"), where, timeout_ms
        )
        decision = resolve(cached, outcome, policy)
        if isinstance(outcome, EmspAnswer):
            if answering is not None:
                emsp = (answering.country_code or "", answering.party_id or "")
            if outcome.token:
                token = {**token, **outcome.token}
    else:
        decision = plan.decision
    reference = decision.authorization_reference
    if reference is None and decision.accepted:
        reference = new_reference()
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    grant = Grant(
        path=decision.path,
        accepted=decision.accepted,
        auth_method=decision.auth_method,
        token=token,
        emsp=emsp,
        authorization_reference=reference,
        decision=decision,
    )
    await log(
        services,
        bundle,
        grant,
        where=where,
        trigger=trigger,
        ocpp_status=ocpp_status_of(decision),
        latency_ms=latency_ms,
        error=decision.error,
        ocpi_allowed=decision.ocpi_allowed,
    )
    return grant


async def log(
    services: Services,
    bundle: OcpiBundle,
    grant: Grant,
    *,
    where: Where,
    trigger: str,
    ocpp_status: str,
    latency_ms: float,
    error: str | None = None,
    ocpi_allowed: str | None = None,
) -> None:
    async with services.sessions.begin() as session:
        session.add(
            OcpiAuthorization(
                id=new_id(),
                org_id=bundle.org_id,
                bundle_id=bundle.id,
                token_uid=grant.token["uid"],
                token_type=grant.token.get("type"),
                emsp_country_code=grant.emsp[0] if grant.emsp else None,
                emsp_party_id=grant.emsp[1] if grant.emsp else None,
                charger_id=where.charger_id,
                location_id=where.location_id,
                evse_uid=where.evse_uid,
                trigger=trigger,
                path=grant.path,
                ocpi_allowed=ocpi_allowed,
                ocpp_status=ocpp_status,
                latency_ms=latency_ms,
                authorization_reference=grant.authorization_reference,
                error=error,
                created_at=utcnow(),
            )
        )
