"""The CPO's token cache, per eMSP party (OCPI 2.2.1 tokens module, Receiver side).

The eMSP pushes (``PUT``/``PATCH {tokens}/{cc}/{pid}/{uid}``: ``upsert``, ``patch``) and
the CPO pulls the eMSP's whole list after every handshake (``pull``, registered below as
an ``on_connected`` hook). The CPO's authorization reads the cache with ``lookup``::

    row = await lookup(services, bundle.id, "04A2B3C4D5E6F7", None)
    if row is not None:
        row.data            # the OCPI Token as the eMSP sent it
        row.country_code    # the token's eMSP party
        row.party_id

``lookup`` and ``list_page`` read the token table whatever the bundle's role (an eMSP
bundle's own tokens live in the same table), so the eMSP side uses them too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from voltlab.ocpi import credentials
from voltlab.ocpi.models import Token, dump
from voltlab.ocpi.parties import connected_peers, endpoint, peer_parties
from voltlab.ocpi.token_store import token_row
from voltlab.ocpi.transport import InvalidParameters, OcpiClientError, validation_message
from voltlab.services import Services
from voltlab.storage.ocpi import OcpiBundle, OcpiPeer, OcpiToken

log = logging.getLogger(__name__)

Stored = Literal["created", "updated", "stale"]

# The identity of a Token: its key in the cache, never changed by a PATCH.
IDENTITY = ("country_code", "party_id", "uid", "type")

# After a handshake the eMSP that initiated it stores our token only once our credentials
# answer reached it, so the first GET may be refused with 401: wait and try again.
PULL_RETRY_DELAYS_S = (0.2, 0.4, 0.8, 1.6, 3.2)


# ---- reads (both roles) ----------------------------------------------------------------


async def lookup(
    source: Services | AsyncSession, bundle_id: int, uid: str, ocpi_type: str | None
) -> OcpiToken | None:
    """The token ``uid`` in ``bundle_id``'s table (a CPO's cache or an eMSP's own tokens).

    ``ocpi_type`` (an OCPI TokenType) narrows to that type; ``None`` prefers an RFID token,
    then any type. The uid matches exactly; only when nothing does, it is compared
    case-insensitively (OCPI uids are CiString, OCPP idTags are case-insensitive too).
    Among several eMSP parties caching the same uid, the most recently updated wins.
    ``source`` is the app's ``Services`` or an open ``AsyncSession``.
    """
    if isinstance(source, AsyncSession):
        return await _lookup(source, bundle_id, uid, ocpi_type)
    async with source.sessions() as session:
        return await _lookup(session, bundle_id, uid, ocpi_type)


async def _lookup(
    session: AsyncSession, bundle_id: int, uid: str, ocpi_type: str | None
) -> OcpiToken | None:
    query = select(OcpiToken).where(OcpiToken.bundle_id == bundle_id)
    if ocpi_type is not None:
        query = query.where(OcpiToken.type == ocpi_type)
    rows = list((await session.scalars(query.where(OcpiToken.uid == uid))).all())
    if not rows:
        rows = list(
            (await session.scalars(query.where(func.upper(OcpiToken.uid) == uid.upper()))).all()
        )
    if not rows:
        return None
    rows.sort(key=lambda row: row.last_updated, reverse=True)
    rows.sort(key=lambda row: row.type != "RFID")  # stable: RFID first, newest first within
    return rows[0]


async def list_page(
    services: Services, bundle: OcpiBundle, page: int, limit: int
) -> tuple[list[OcpiToken], int]:
    """One page of the bundle's tokens, oldest first; (rows, total)."""
    async with services.sessions() as session:
        total = await session.scalar(
            select(func.count()).select_from(OcpiToken).where(OcpiToken.bundle_id == bundle.id)
        )
        rows = await session.scalars(
            select(OcpiToken)
            .where(OcpiToken.bundle_id == bundle.id)
            .order_by(OcpiToken.id)
            .offset((page - 1) * limit)
            .limit(limit)
        )
        return list(rows.all()), total or 0


def view(row: OcpiToken) -> dict[str, Any]:
    """A token as the management API shows it: the OCPI Token (its ``country_code`` and
    ``party_id`` are the owning eMSP party) plus the lab's ``label``."""
    return {**row.data, "label": row.label}


# ---- the cache --------------------------------------------------------------------------


def validate(token: dict[str, Any]) -> dict[str, Any]:
    """``token`` as a valid OCPI Token in wire JSON; ``InvalidParameters`` (2001) if not."""
    try:
        return dump(Token.model_validate(token))
    except ValidationError as exc:
        raise InvalidParameters(validation_message(exc)) from None


async def _find(
    session: AsyncSession,
    bundle_id: int,
    country_code: str,
    party_id: str,
    uid: str,
    token_type: str,
) -> OcpiToken | None:
    query = select(OcpiToken).where(
        OcpiToken.bundle_id == bundle_id,
        OcpiToken.country_code == country_code.upper(),
        OcpiToken.party_id == party_id.upper(),
        OcpiToken.type == token_type,
    )
    row = (await session.scalars(query.where(OcpiToken.uid == uid))).first()
    if row is None:
        query = query.where(func.upper(OcpiToken.uid) == uid.upper())
        row = (await session.scalars(query)).first()
    return row


def _apply(row: OcpiToken, data: dict[str, Any]) -> None:
    values = token_row(row.org_id, row.bundle_id, data)
    for name in ("valid", "whitelist", "data", "last_updated"):
        setattr(row, name, values[name])


async def _store(
    session: AsyncSession, bundle: OcpiBundle, data: dict[str, Any], *, only_newer: bool
) -> Stored:
    row = await _find(
        session, bundle.id, data["country_code"], data["party_id"], data["uid"], data["type"]
    )
    if row is None:
        await session.execute(insert(OcpiToken), [token_row(bundle.org_id, bundle.id, data)])
        return "created"
    incoming = token_row(bundle.org_id, bundle.id, data)["last_updated"]
    if only_newer and incoming < row.last_updated:
        return "stale"
    _apply(row, data)
    return "updated"


async def upsert(
    services: Services, bundle: OcpiBundle, token: dict[str, Any], *, only_newer: bool = False
) -> Stored:
    """Store ``token`` (an OCPI Token, validated here: ``InvalidParameters`` when it is not
    one) in the bundle's cache under its own party. A PUT replaces the cached object
    whole; ``only_newer`` (the pull) keeps a cached token whose ``last_updated`` is later,
    so a pull that crossed a push does not undo it."""
    data = validate(token)
    for attempt in range(2):
        try:
            async with services.sessions.begin() as session:
                return await _store(session, bundle, data, only_newer=only_newer)
        except IntegrityError:
            # A concurrent push or pull inserted the same key first: update it instead.
            if attempt:
                raise
    raise AssertionError("unreachable")


async def get(
    services: Services,
    bundle: OcpiBundle,
    country_code: str,
    party_id: str,
    uid: str,
    token_type: str = "RFID",
) -> dict[str, Any] | None:
    """The cached Token of that eMSP party, or None."""
    async with services.sessions() as session:
        row = await _find(session, bundle.id, country_code, party_id, uid, token_type)
        return dict(row.data) if row is not None else None


async def patch(
    services: Services,
    bundle: OcpiBundle,
    country_code: str,
    party_id: str,
    uid: str,
    token_type: str,
    changes: dict[str, Any],
) -> dict[str, Any] | None:
    """Apply a PATCH (wire JSON; a field set to null is removed) to a cached Token; the
    Token afterwards, or None when it is not cached. A change of the token's identity or a
    result that is no valid Token -> ``InvalidParameters``."""
    async with services.sessions.begin() as session:
        row = await _find(session, bundle.id, country_code, party_id, uid, token_type)
        if row is None:
            return None
        for name in IDENTITY:
            if name in changes and str(changes[name]).upper() != str(row.data[name]).upper():
                raise InvalidParameters(
                    f"{name}: a PATCH cannot change a Token's identity "
                    f"({row.data[name]!r} -> {changes[name]!r})"
                )
        merged = {**row.data, **{k: v for k, v in changes.items() if k not in IDENTITY}}
        data = validate({k: v for k, v in merged.items() if v is not None})
        _apply(row, data)
        return data


# ---- the pull ----------------------------------------------------------------------------


def is_emsp(peer: OcpiPeer) -> bool:
    return peer.role == "EMSP" or any(role.get("role") == "EMSP" for role in peer.roles or [])


async def pull(services: Services, bundle: OcpiBundle, peer: OcpiPeer) -> int:
    """GET the eMSP's whole token list (every page) and store each token; how many were
    stored. Objects that are no valid Token, or belong to a party the peer did not
    register, are skipped (OCPI 2.2.1, 4.1.4.1 and 4.1.6). Each page is stored as it
    arrives: a failing page raises ``OcpiClientError`` (and is in the bundle's OCPI log)
    with the pages before it kept."""
    url = endpoint(peer, "tokens", "SENDER") or endpoint(peer, "tokens")
    if url is None:
        raise OcpiClientError("the peer lists no tokens endpoint", url=peer.versions_url)
    stored = 0
    async for page in services.ocpi.client(bundle.id, peer.token_theirs).pages(url):
        tokens = _acceptable(bundle, peer, page)
        await _store_all(services, bundle, tokens)
        stored += len(tokens)
    return stored


def _acceptable(bundle: OcpiBundle, peer: OcpiPeer, received: list[Any]) -> list[dict[str, Any]]:
    parties = peer_parties(peer)
    tokens: list[dict[str, Any]] = []
    for item in received:
        try:
            data = validate(item if isinstance(item, dict) else {})
        except InvalidParameters as exc:
            log.warning("bundle %s: skipped a pulled token: %s", bundle.id, exc.message)
            continue
        if (data["country_code"], data["party_id"]) not in parties:
            log.warning(
                "bundle %s: skipped token %s of %s*%s, not a party of peer %s",
                bundle.id,
                data["uid"],
                data["country_code"],
                data["party_id"],
                peer.id,
            )
            continue
        tokens.append(data)
    return tokens


async def _store_all(services: Services, bundle: OcpiBundle, tokens: list[dict[str, Any]]) -> None:
    try:
        # One transaction for the whole list: a pull is hundreds of tokens.
        async with services.sessions.begin() as session:
            for data in tokens:
                await _store(session, bundle, data, only_newer=True)
    except IntegrityError:
        # A push inserted one of them meanwhile: token by token, each retrying its clash.
        for data in tokens:
            await upsert(services, bundle, data, only_newer=True)


async def pull_all(services: Services, bundle: OcpiBundle) -> list[dict[str, Any]]:
    """Pull from every connected eMSP: per peer ``{peer_id, party, count}`` or, when the
    pull failed, ``{peer_id, party, count: 0, error}``."""
    async with services.sessions() as session:
        peers = [p for p in await connected_peers(session, bundle.id) if is_emsp(p)]
    results: list[dict[str, Any]] = []
    for peer in peers:
        result: dict[str, Any] = {
            "peer_id": peer.id,
            "party": {"country_code": peer.country_code, "party_id": peer.party_id},
            "count": 0,
        }
        try:
            result["count"] = await pull(services, bundle, peer)
        except OcpiClientError as exc:
            result["error"] = str(exc)
        results.append(result)
    return results


async def pull_on_connected(services: Services, bundle_id: int, peer_id: str) -> None:
    """``credentials.on_connected`` hook: a CPO bundle pulls a newly connected eMSP's
    tokens. Failures are logged (and the calls are in the OCPI log), never raised."""
    async with services.sessions() as session:
        bundle = await session.get(OcpiBundle, bundle_id)
        peer = await session.get(OcpiPeer, peer_id)
    if bundle is None or peer is None or bundle.role != "CPO" or not is_emsp(peer):
        return
    for delay in (*PULL_RETRY_DELAYS_S, None):
        try:
            count = await pull(services, bundle, peer)
        except OcpiClientError as exc:
            if exc.http_status == 401 and delay is not None:
                await asyncio.sleep(delay)
                continue
            log.warning(
                "bundle %s: pulling tokens from peer %s failed: %s", bundle_id, peer_id, exc
            )
            return
        log.info("bundle %s: pulled %d tokens from peer %s", bundle_id, count, peer_id)
        return


if pull_on_connected not in credentials.on_connected:
    credentials.on_connected.append(pull_on_connected)
