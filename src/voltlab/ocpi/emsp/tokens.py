"""An eMSP bundle's tokens: management (create, update, invalidate), the pushes to every
connected CPO, and the answer to a real-time authorization (OCPI 2.2.1 tokens module,
Sender side).

Management calls return at once; the pushes run in the background, in order per CPO
peer, and their failures land in the bundle's OCPI log (the client records every call),
never in the management answer::

    change = await create(services, bundle, TokenCreate(whitelist="NEVER"))
    change.token        # the management view of the new token
    change.pushed_to    # [{peer_id, country_code, party_id}]: the pushes started

    info = await authorize(services, bundle, uid, "RFID", refs)   # AuthorizationInfo JSON
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from voltlab.domain.errors import FieldInvalid
from voltlab.errors import Conflict, InvalidRequest, NotFound
from voltlab.ocpi.bundles.behaviour import effective
from voltlab.ocpi.cpo.tokens import lookup, view
from voltlab.ocpi.emsp.schemas import TokenCreate, TokenUpdate
from voltlab.ocpi.models import AuthorizationInfo, LocationReferences, Token, dump
from voltlab.ocpi.parties import connected_peers, endpoint
from voltlab.ocpi.token_store import token_row
from voltlab.ocpi.transport import (
    OcpiClientError,
    OcpiError,
    ServerError,
    UnknownToken,
    ocpi_timestamp,
    validation_message,
)
from voltlab.services import Services
from voltlab.storage.ocpi import OcpiBundle, OcpiPeer, OcpiToken

log = logging.getLogger(__name__)

# ``silent``: the request is held, never answered, but not forever: a client that never
# gives up must not pin a handler (and the server's shutdown) for good.
SILENT_HOLD_S = 120.0
DISCONNECT_POLL_S = 0.2

INFO_TEXT = {
    "BLOCKED": "This token is blocked.",
    "EXPIRED": "This token has expired.",
    "NO_CREDIT": "Not enough credit to charge.",
    "NOT_ALLOWED": "This token may not charge here.",
}

Disconnected = Callable[[], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Change:
    """A management change: the token as shown, and the CPO peers a push started for."""

    token: dict[str, Any]
    pushed_to: list[dict[str, Any]] = field(default_factory=list)

    def out(self) -> dict[str, Any]:
        return {"token": self.token, "pushed_to": self.pushed_to}


def _require_emsp(bundle: OcpiBundle) -> None:
    if bundle.role != "EMSP":
        raise InvalidRequest(
            f"bundle {bundle.id} is a CPO: its tokens are the cache its eMSPs fill (read-only)"
        )


def _valid_token(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as a valid OCPI Token (wire JSON). The management schemas already hold
    the Token's rules, so a failure here names the field that slipped through."""
    try:
        return dump(Token.model_validate(data))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise FieldInvalid(tuple(first["loc"]), validation_message(exc)) from None


# ---- management --------------------------------------------------------------------------


async def create(
    services: Services, bundle: OcpiBundle, body: TokenCreate, *, push: bool = True
) -> Change:
    """A new token of the bundle's own party; pushed (PUT) to every connected CPO unless
    ``push`` is false (a token the CPOs do not know, for real-time tests)."""
    _require_emsp(bundle)
    given = body.model_dump(mode="json", exclude_none=True, exclude={"label"})
    data = _valid_token(
        {
            **given,
            "country_code": bundle.country_code,
            "party_id": bundle.party_id,
            # Like the templates' tokens: 16 hex characters fit OCPP 1.6's 20-char idTag.
            "uid": body.uid or secrets.token_hex(8).upper(),
            "contract_id": body.contract_id
            or f"{bundle.country_code}{bundle.party_id}C{secrets.token_hex(5).upper()}",
            "issuer": body.issuer or bundle.business_name[:64],
            "last_updated": ocpi_timestamp(),
        }
    )
    try:
        async with services.sessions.begin() as session:
            await session.execute(
                insert(OcpiToken), [token_row(bundle.org_id, bundle.id, data, label=body.label)]
            )
    except IntegrityError:
        raise Conflict(f"token {data['uid']} of type {data['type']} exists already") from None
    row = await _own(services, bundle, data["uid"], data["type"])
    return Change(view(row), await start_push(services, bundle, data) if push else [])


async def _own(
    services: Services, bundle: OcpiBundle, uid: str, token_type: str | None
) -> OcpiToken:
    row = await lookup(services, bundle.id, uid, token_type)
    if row is None:
        kind = f" of type {token_type}" if token_type else ""
        raise NotFound(f"token {uid}{kind} not found in OCPI bundle {bundle.id}")
    return row


async def _save(
    services: Services, row: OcpiToken, data: dict[str, Any], label: str | None
) -> OcpiToken:
    values = token_row(row.org_id, row.bundle_id, data, label=label)
    async with services.sessions.begin() as session:
        stored = await session.get(OcpiToken, row.id)
        if stored is None:
            raise NotFound(f"token {row.uid} not found")
        for name in ("valid", "whitelist", "data", "last_updated", "label"):
            setattr(stored, name, values[name])
    return stored


async def update(
    services: Services,
    bundle: OcpiBundle,
    uid: str,
    body: TokenUpdate,
    *,
    token_type: str | None = None,
) -> Change:
    """Change the given fields, bump ``last_updated`` and push: a PATCH with the changed
    fields, or a full PUT when a field was removed (a PATCH cannot say "remove"). A change
    of ``label`` alone is the lab's note, not OCPI data: no bump, no push."""
    _require_emsp(bundle)
    row = await _own(services, bundle, uid, token_type)
    given = body.model_dump(mode="json", include=body.model_fields_set)
    label = given.pop("label", row.label)
    if not given:
        return Change(view(await _save(services, row, row.data, label)))
    now = ocpi_timestamp()
    merged = {**row.data, **given, "last_updated": now}
    data = _valid_token({k: v for k, v in merged.items() if v is not None})
    stored = await _save(services, row, data, label)
    removed = any(value is None for value in given.values())
    patch = None if removed else {**given, "last_updated": now}
    return Change(view(stored), await start_push(services, bundle, data, patch=patch))


async def invalidate(
    services: Services, bundle: OcpiBundle, uid: str, *, token_type: str | None = None
) -> Change:
    """OCPI tokens are never deleted: ``valid`` becomes false and that is pushed."""
    _require_emsp(bundle)
    row = await _own(services, bundle, uid, token_type)
    now = ocpi_timestamp()
    data = _valid_token({**row.data, "valid": False, "last_updated": now})
    stored = await _save(services, row, data, row.label)
    patch = {"valid": False, "last_updated": now}
    return Change(view(stored), await start_push(services, bundle, data, patch=patch))


# ---- pushes ------------------------------------------------------------------------------

# One lock per CPO peer keeps its pushes in the order they were started (asyncio locks
# are FIFO): a PATCH must not overtake the PUT that created the token. Weak values: a
# lock lives as long as a push holds it.
_peer_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


def _peer_lock(peer_id: str) -> asyncio.Lock:
    lock = _peer_locks.get(peer_id)
    if lock is None:
        lock = asyncio.Lock()
        _peer_locks[peer_id] = lock
    return lock


def _is_cpo(peer: OcpiPeer) -> bool:
    return peer.role == "CPO" or any(role.get("role") == "CPO" for role in peer.roles or [])


async def start_push(
    services: Services,
    bundle: OcpiBundle,
    token: dict[str, Any],
    *,
    patch: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Start pushing ``token`` (the full OCPI Token) to every connected CPO: a PUT, or a
    PATCH with ``patch`` (changed fields and ``last_updated``). A PATCH the CPO answers
    with 404 (it never got the token, e.g. one created without a push) is followed by a
    PUT, as OCPI 2.2.1 4.1.4.3 advises. Returns the peers a push was started for."""
    async with services.sessions() as session:
        peers = [p for p in await connected_peers(session, bundle.id) if _is_cpo(p)]
    started: list[dict[str, Any]] = []
    for peer in peers:
        base = endpoint(peer, "tokens", "RECEIVER") or endpoint(peer, "tokens")
        if base is None or peer.token_theirs is None:
            continue
        url = "/".join(
            (base.rstrip("/"), token["country_code"], token["party_id"], quote(token["uid"], ""))
        )
        services.tasks.spawn(
            _push_one(
                services, bundle.id, peer.token_theirs, url, token, patch, _peer_lock(peer.id)
            ),
            name=f"ocpi-token-push-{bundle.id}-{peer.id}",
        )
        started.append(
            {"peer_id": peer.id, "country_code": peer.country_code, "party_id": peer.party_id}
        )
    return started


push = start_push  # the name the token flow's description uses


async def _push_one(
    services: Services,
    bundle_id: int,
    token_theirs: str,
    url: str,
    token: dict[str, Any],
    patch: dict[str, Any] | None,
    lock: asyncio.Lock,
) -> None:
    async with lock:
        client = services.ocpi.client(bundle_id, token_theirs)
        params = {"type": token["type"]}
        try:
            if patch is not None:
                try:
                    await client.patch(url, json=patch, params=params)
                    return
                except OcpiClientError as exc:
                    if exc.http_status != 404:
                        raise
            await client.put(url, json=token, params=params)
        except OcpiClientError as exc:
            # In the OCPI log already; a push has nobody to report to.
            log.warning("bundle %s: token push failed: %s", bundle_id, exc)


# ---- real-time authorization --------------------------------------------------------------


async def _hold(seconds: float, disconnected: Disconnected | None) -> bool:
    """Wait ``seconds``, or less when the caller went away; True when it did."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(left, DISCONNECT_POLL_S) if disconnected else left)
        if disconnected is not None and await disconnected():
            return True
    return False


def _info(allowed: str, token: dict[str, Any]) -> dict[str, str]:
    if allowed == "ALLOWED":
        text = f"Welcome, {token.get('visual_number') or token['uid']}"
    else:
        text = INFO_TEXT[allowed]
    return {"language": "en", "text": text}


async def authorize(
    services: Services,
    bundle: OcpiBundle,
    uid: str,
    token_type: str,
    refs: LocationReferences | None,
    *,
    disconnected: Disconnected | None = None,
) -> dict[str, Any]:
    """The eMSP's answer to ``POST {tokens}/{uid}/authorize?type=``: AuthorizationInfo JSON.

    The bundle's behaviour comes first: ``silent`` holds the request unanswered (up to
    ``SILENT_HOLD_S``, or until the caller hangs up: ``disconnected``), then
    ``answer_delay_ms`` waits, then ``error`` raises that OCPI error. An unknown token
    (uid and type) raises ``UnknownToken`` (404 + 2004). Otherwise ``allowed`` is
    ``forced_answers[uid]``, else ALLOWED for a valid token and BLOCKED for an invalid one.
    Every answer has ``token`` and ``info``; an ALLOWED one also a fresh
    ``authorization_reference`` and, when the request named one, the ``location`` (OCPI
    returns it only where the driver may charge).
    """
    behaviour = effective(bundle)
    if behaviour.get("silent"):
        await _hold(SILENT_HOLD_S, disconnected)
        raise ServerError("silent (lab behaviour): the request was held without an answer")
    delay_ms = int(behaviour.get("answer_delay_ms") or 0)
    if delay_ms > 0:
        await _hold(delay_ms / 1000, disconnected)
    error = behaviour.get("error")
    if error:
        raise OcpiError(
            "refused (lab behaviour)",
            status_code=int(error["status_code"]),
            http_status=int(error["http_status"]),
        )
    row = await lookup(services, bundle.id, uid, token_type)
    if row is None:
        raise UnknownToken(f"unknown token {uid!r} of type {token_type}")
    forced = behaviour.get("forced_answers") or {}
    allowed = forced.get(row.uid) or forced.get(uid) or ("ALLOWED" if row.valid else "BLOCKED")
    answer: dict[str, Any] = {
        "allowed": allowed,
        "token": row.data,
        "info": _info(allowed, row.data),
    }
    if allowed == "ALLOWED":
        answer["authorization_reference"] = uuid.uuid4().hex  # 32 characters (max 36)
        if refs is not None:
            answer["location"] = dump(refs)
    return dump(AuthorizationInfo.model_validate(answer))
