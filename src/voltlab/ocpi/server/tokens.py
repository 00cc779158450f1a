"""Tokens module endpoints, ``/ocpi/{cpo_id}/2.2.1/tokens``: both roles share the path.

eMSP bundle, Sender interface:

- ``GET ""`` the token list (paginated: ``offset``, ``limit``, ``date_from``, ``date_to``;
  ``Link``, ``X-Total-Count``, ``X-Limit``), oldest first;
- ``POST /{token_uid}/authorize[?type=]`` with an optional LocationReferences body ->
  AuthorizationInfo (``voltlab.ocpi.emsp.tokens.authorize``).

CPO bundle, Receiver interface, ``/{country_code}/{party_id}/{token_uid}[?type=]``:

- ``GET`` the cached Token (404 + 2004 when it is not cached);
- ``PUT`` a full Token: 201 when new, 200 when replaced;
- ``PATCH`` changed fields with ``last_updated`` (without it: 400 + 2001; unknown
  token: 404 + 2004).

Choices where OCPI 2.2.1 leaves room (section 4.1.5.1 and 12.2.1):

- The URL's ``country_code``/``party_id`` must be one of the calling peer's
  CredentialsRoles; otherwise 404 (2000), which 4.1.5.1 allows "blocking client access to
  objects that do not belong to them" (404, not 401: the caller is authenticated).
- A PUT whose body disagrees with the URL (``country_code``, ``party_id``, ``uid``, or
  ``type`` when ``?type=`` is given) -> 400 + 2001, as 4.1.5.1 advises for the object id.
  Without ``?type=`` the body's type is taken (peers often leave it out for non-RFID
  tokens); GET and PATCH default to RFID as 12.2.1 says.
- Comparisons of CiString values (country, party, uid) ignore case.
- A path of the other role's interface (e.g. a PUT to an eMSP) -> 404 (2000).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import Response

# Importing the CPO cache registers its pull on every completed handshake.
from voltlab.ocpi.cpo import tokens as cache
from voltlab.ocpi.emsp import tokens as emsp_tokens
from voltlab.ocpi.models import LocationReferences, Token, TokenPatch, TokenType
from voltlab.ocpi.server.context import Caller, CallerDep, public_url, reply, require_role
from voltlab.ocpi.transport import (
    InvalidParameters,
    NotFound,
    UnknownToken,
    paginate,
    parse_page_params,
    read_json,
    read_json_optional,
)
from voltlab.storage.ocpi import OcpiPeer, OcpiToken

router = APIRouter(prefix="/ocpi/{cpo_id}/2.2.1/tokens", tags=["OCPI protocol"])


def _optional_type(value: str | None) -> str | None:
    """The ``type`` query parameter as a TokenType, None when absent; else 400 + 2001."""
    if value is None or value == "":
        return None
    try:
        return TokenType(value).value
    except ValueError:
        allowed = ", ".join(t.value for t in TokenType)
        raise InvalidParameters(f"type: must be one of {allowed}, got {value[:40]!r}") from None


def _token_type(value: str | None) -> str:
    """``type`` with OCPI's default: "Default if omitted: RFID" (12.2.1, 12.2.2)."""
    return _optional_type(value) or TokenType.RFID.value


# ---- eMSP: Sender interface -----------------------------------------------------------------


@router.get("")
@router.get("/", include_in_schema=False)  # the specification's examples call "tokens/?..."
async def list_tokens(request: Request, caller: CallerDep) -> Response:
    caller.registered  # noqa: B018  (refuses Token A and unknown peers)
    require_role(caller, "EMSP", "tokens (Sender interface)")
    params = parse_page_params(request.query_params)
    rows = await _all_tokens(caller)
    page, headers = paginate(
        rows,
        params,
        last_updated=lambda row: row.last_updated,
        base_url=public_url(caller, request),
    )
    return reply(request, [row.data for row in page], headers=headers)


async def _all_tokens(caller: Caller) -> list[OcpiToken]:
    # Oldest first, as OCPI advises, so pages stay stable while tokens are added.
    async with caller.services.sessions() as session:
        rows = await session.scalars(
            select(OcpiToken).where(OcpiToken.bundle_id == caller.bundle.id).order_by(OcpiToken.id)
        )
        return list(rows.all())


@router.post("/{token_uid}/authorize")
async def authorize(
    request: Request, caller: CallerDep, token_uid: str, type: str | None = None
) -> Response:
    caller.registered  # noqa: B018
    require_role(caller, "EMSP", "tokens authorize (Sender interface)")
    token_type = _token_type(type)
    refs = await read_json_optional(request, LocationReferences)
    info = await emsp_tokens.authorize(
        caller.services,
        caller.bundle,
        token_uid,
        token_type,
        refs,
        disconnected=request.is_disconnected,
    )
    return reply(request, info)


# ---- CPO: Receiver interface ----------------------------------------------------------------


def _receiver(caller: Caller, country_code: str, party_id: str) -> OcpiPeer:
    peer = caller.registered
    require_role(caller, "CPO", "tokens (Receiver interface)")
    if (country_code.upper(), party_id.upper()) not in cache.peer_parties(peer):
        raise NotFound(
            f"{country_code}*{party_id} is not a party this client registered (OCPI 2.2.1 4.1.5.1)"
        )
    return peer


@router.get("/{country_code}/{party_id}/{token_uid}")
async def get_token(
    request: Request,
    caller: CallerDep,
    country_code: str,
    party_id: str,
    token_uid: str,
    type: str | None = None,
) -> Response:
    _receiver(caller, country_code, party_id)
    token_type = _token_type(type)
    found = await cache.get(
        caller.services, caller.bundle, country_code, party_id, token_uid, token_type
    )
    if found is None:
        raise UnknownToken(f"token {country_code}*{party_id} {token_uid} ({token_type}) unknown")
    return reply(request, found)


def _mismatch(name: str, url_value: str, body_value: str) -> InvalidParameters:
    return InvalidParameters(
        f"{name}: the URL says {url_value!r}, the Token says {body_value!r} (they must agree)"
    )


@router.put("/{country_code}/{party_id}/{token_uid}")
async def put_token(
    request: Request,
    caller: CallerDep,
    country_code: str,
    party_id: str,
    token_uid: str,
    type: str | None = None,
) -> Response:
    _receiver(caller, country_code, party_id)
    url_type = _optional_type(type)
    token = await read_json(request, Token)
    for name, url_value, body_value in (
        ("country_code", country_code, token.country_code),
        ("party_id", party_id, token.party_id),
        ("uid", token_uid, token.uid),
    ):
        if url_value.upper() != body_value.upper():
            raise _mismatch(name, url_value, body_value)
    if url_type is not None and url_type != token.type:
        raise _mismatch("type", url_type, token.type)
    stored = await cache.upsert(caller.services, caller.bundle, token.model_dump(mode="json"))
    return reply(request, http_status=201 if stored == "created" else 200)


@router.patch("/{country_code}/{party_id}/{token_uid}")
async def patch_token(
    request: Request,
    caller: CallerDep,
    country_code: str,
    party_id: str,
    token_uid: str,
    type: str | None = None,
) -> Response:
    _receiver(caller, country_code, party_id)
    token_type = _token_type(type)
    body = await read_json(request, TokenPatch)  # last_updated missing: 400 + 2001
    changes = body.model_dump(mode="json", exclude_unset=True)
    patched = await cache.patch(
        caller.services, caller.bundle, country_code, party_id, token_uid, token_type, changes
    )
    if patched is None:
        raise UnknownToken(
            f"token {country_code}*{party_id} {token_uid} ({token_type}) unknown: PUT it first"
        )
    return reply(request)
