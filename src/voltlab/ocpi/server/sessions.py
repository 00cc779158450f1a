"""Sessions module (OCPI 2.2.1 ch. 9): one path, two roles.

- CPO bundle, SENDER: ``GET {sessions}`` lists the Sessions of the calling eMSP's tokens
  (paginated, ``date_from``/``date_to`` on ``last_updated``, oldest first);
  ``PUT {sessions}/{session_id}/charging_preferences`` answers that no EVSE takes them.
- eMSP bundle, RECEIVER: ``GET|PUT|PATCH {sessions}/{country_code}/{party_id}/{session_id}``
  stores what the CPO pushes, in the eMSP bundle's ``ocpi_sessions``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from voltlab.ocpi.models import ChargingPreferences, Session, SessionPatch, dump
from voltlab.ocpi.parties import peer_parties, token_party
from voltlab.ocpi.server.context import (
    Caller,
    CallerDep,
    reply,
    require_role,
    sender_list,
)
from voltlab.ocpi.transport import (
    InvalidParameters,
    NotFound,
    ServerError,
    read_json,
    validation_message,
)
from voltlab.storage.ocpi import OcpiSession

router = APIRouter(prefix="/ocpi/{cpo_id}/2.2.1/sessions", tags=["OCPI protocol"])


# --------------------------------------------------------------------------- SENDER (CPO)


@router.get("")
@router.get("/", include_in_schema=False)  # the specification's examples end with "/"
async def list_sessions(request: Request, caller: CallerDep) -> Response:
    return await sender_list(request, caller, OcpiSession, "sessions")


@router.put("/{session_id}/charging_preferences")
async def put_charging_preferences(
    request: Request, caller: CallerDep, session_id: str
) -> Response:
    peer = caller.registered
    require_role(caller, "CPO", "the sessions SENDER interface")
    await read_json(request, ChargingPreferences)
    async with caller.services.sessions() as db:
        row = (
            await db.scalars(
                select(OcpiSession).where(
                    OcpiSession.bundle_id == caller.bundle.id,
                    OcpiSession.session_id == session_id,
                )
            )
        ).first()
    if row is None or token_party(row.data) not in peer_parties(peer):
        raise NotFound(f"unknown session {session_id!r}")
    # 9.4.1: an EVSE without CHARGING_PREFERENCES_CAPABLE (none of voltlab's) -> 404 + 2001.
    raise InvalidParameters("this EVSE is not CHARGING_PREFERENCES_CAPABLE", http_status=404)


# --------------------------------------------------------------------------- RECEIVER (eMSP)


def _owner(caller: Caller, country_code: str, party_id: str) -> tuple[str, str]:
    """The URL's party, which must be one the caller registered (4.1.5.1: 404 otherwise)."""
    peer = caller.registered
    require_role(caller, "EMSP", "the sessions RECEIVER interface")
    party = (country_code.upper(), party_id.upper())
    if party not in peer_parties(peer):
        raise NotFound(f"{party[0]}*{party[1]} is not a party of this client")
    return party


async def _stored(caller: Caller, party: tuple[str, str], session_id: str) -> OcpiSession | None:
    async with caller.services.sessions() as db:
        return (
            await db.scalars(
                select(OcpiSession).where(
                    OcpiSession.bundle_id == caller.bundle.id,
                    OcpiSession.country_code == party[0],
                    OcpiSession.party_id == party[1],
                    OcpiSession.session_id == session_id,
                )
            )
        ).first()


def _check_ids(body: Session | SessionPatch, party: tuple[str, str], session_id: str) -> None:
    # 9.2.2.2: the URL's party SHALL be the object's; 4.1.5.1: an id differing from the
    # URL's is answered with 2001.
    if body.country_code is not None and body.country_code != party[0]:
        raise InvalidParameters(f"country_code {body.country_code!r} differs from the URL's")
    if body.party_id is not None and body.party_id != party[1]:
        raise InvalidParameters(f"party_id {body.party_id!r} differs from the URL's")
    if body.id is not None and body.id.casefold() != session_id.casefold():
        raise InvalidParameters(f"id {body.id!r} differs from the URL's {session_id!r}")


@router.get("/{country_code}/{party_id}/{session_id}")
async def get_session(
    request: Request, caller: CallerDep, country_code: str, party_id: str, session_id: str
) -> Response:
    party = _owner(caller, country_code, party_id)
    row = await _stored(caller, party, session_id)
    if row is None:
        raise NotFound(f"unknown session {session_id!r}")
    return reply(request, row.data)


@router.put("/{country_code}/{party_id}/{session_id}")
async def put_session(
    request: Request, caller: CallerDep, country_code: str, party_id: str, session_id: str
) -> Response:
    party = _owner(caller, country_code, party_id)
    body = await read_json(request, Session)
    _check_ids(body, party, session_id)
    data = dump(body)
    created = await _save(caller, party, session_id, data)
    # 5: 201 for an object new to the server, 200 for an update; no data (4.1.7 note).
    return reply(request, http_status=201 if created else 200)


@router.patch("/{country_code}/{party_id}/{session_id}")
async def patch_session(
    request: Request, caller: CallerDep, country_code: str, party_id: str, session_id: str
) -> Response:
    party = _owner(caller, country_code, party_id)
    body = await read_json(request, SessionPatch)  # no last_updated -> 400 + 2001
    _check_ids(body, party, session_id)
    changes = body.model_dump(mode="json", by_alias=True, exclude_unset=True)
    async with caller.services.sessions.begin() as db:
        row = (
            await db.scalars(
                select(OcpiSession)
                .where(
                    OcpiSession.bundle_id == caller.bundle.id,
                    OcpiSession.country_code == party[0],
                    OcpiSession.party_id == party[1],
                    OcpiSession.session_id == session_id,
                )
                .with_for_update()
            )
        ).first()
        if row is None:
            # 4.1.4.3: the CPO is expected to GET, find nothing, and PUT the whole Session.
            raise NotFound(f"unknown session {session_id!r}: PUT it first")
        merged = _merge(row.data, changes)
        try:
            valid = dump(Session.model_validate(merged))
        except ValidationError as exc:
            raise InvalidParameters(validation_message(exc)) from None
        _apply(row, valid)
    return reply(request)


def _merge(stored: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """9.2.2.3: fields present replace the stored ones (an explicit null clears an optional
    field), absent ones stay; ``charging_periods`` are appended, and an empty list
    changes nothing (replacing them takes a PUT)."""
    merged = dict(stored)
    for key, value in changes.items():
        if key == "charging_periods":
            if value:
                merged["charging_periods"] = [*(stored.get("charging_periods") or []), *value]
        elif value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _apply(row: OcpiSession, data: dict[str, Any]) -> None:
    row.data = data
    row.status = data["status"]
    row.authorization_reference = data.get("authorization_reference")
    row.last_updated = Session.model_validate(data).last_updated


async def _save(
    caller: Caller, party: tuple[str, str], session_id: str, data: dict[str, Any]
) -> bool:
    """Insert or replace (9.2.2.2: a PUT replaces the object, charging_periods included);
    True when the session is new."""
    for _ in range(2):  # a concurrent PUT of the same new session: the loser updates
        try:
            async with caller.services.sessions.begin() as db:
                row = (
                    await db.scalars(
                        select(OcpiSession).where(
                            OcpiSession.bundle_id == caller.bundle.id,
                            OcpiSession.country_code == party[0],
                            OcpiSession.party_id == party[1],
                            OcpiSession.session_id == session_id,
                        )
                    )
                ).first()
                if row is not None:
                    _apply(row, data)
                    return False
                row = OcpiSession(
                    org_id=caller.bundle.org_id,
                    bundle_id=caller.bundle.id,
                    country_code=party[0],
                    party_id=party[1],
                    session_id=session_id,
                )
                _apply(row, data)
                db.add(row)
            return True
        except IntegrityError:
            continue
    raise ServerError(f"session {session_id!r} is being written concurrently; retry")
