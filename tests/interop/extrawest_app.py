"""An OCPI 2.2.1 party built with extrawest-ocpi (``py_ocpi``), for voltlab's interop tests.

It runs in extrawest's own virtualenv (extrawest pins FastAPI 0.101 and pydantic 1) and its
own process; pytest never imports it (``harness.ExtrawestPeer`` starts it)::

    python extrawest_app.py --role EMSP --port 8123 --token-a secret-a

``--role EMSP``: credentials and tokens (SENDER, two tokens of its own, ``XW00000001`` and
``XW00000002``, both ALLOWED; its authorize answers ALLOWED for a valid token).
``--role CPO``: credentials, locations (SENDER, one location) and tokens (RECEIVER).

Everything lives in memory: the Token A it accepts (``--token-a``; it dies once a peer
registers with it, as the spec says), the parties registered with it and the tokens of
each, the tokens pushed to it. Debug endpoints, without authentication, serve the tests
(loopback only):

``GET /debug/state``
    ``{role, party, versions_url, tokens_a, parties: [...], tokens_pushed: [...],
    tokens_own: [...], authorize_calls: [...], config: {...}, requests: [...]}``; a party
    is ``{country_code, party_id, role, roles, versions_url, endpoints, token_ours (what it
    calls us with), token_theirs (what we call it with), initiated_by ("them" | "us"),
    status}``; a pushed token is the Token as extrawest parsed it plus ``pushed_by``
    (``cc*pid`` of the pushing party) and ``token_type_arg`` (the type extrawest's router
    handed over); ``requests`` are the OCPI requests served (with their query string);
    ``authorize_calls`` what extrawest handed to ``Crud.do`` for each authorize (token_uid,
    token_type, location_reference), as extrawest parsed it.

``POST /debug/tokens {field: value, ...}``
    Adds a token of its own (eMSP): the given Token fields over a seeded one's
    (``{"uid": "XW00000003", "whitelist": "NEVER"}``); the token afterwards.

``POST /debug/config {"max_page_size": int | null, "spec_single_objects": bool}``
    ``max_page_size`` caps every page of its lists (the ``limit`` a client asks for, or
    extrawest's default 50, is lowered to it, and extrawest's ``X-Limit`` and ``Link``
    follow), so a short list spans several pages. ``spec_single_objects`` rewrites the
    ``data: [object]`` extrawest answers on its single-object token endpoints (authorize;
    GET, PUT, PATCH of one token) into ``data: object`` as OCPI says: a control for what a
    peer does with an answer that differs from extrawest's in that one respect. Both off
    by default. The whole config afterwards.

``POST /debug/fetch {"method", "url", "params"?, "json"?, "parse"?}``
    One OCPI request to a registered party, as extrawest's side would send it: the token
    that party gave us (``token_theirs`` of the party one of whose endpoints or versions
    URL the ``url`` starts with), Base64-encoded, fresh ``X-Request-ID`` and
    ``X-Correlation-ID``. ``{"http_status", "headers", "body", "envelope_error",
    "parsed", "errors"}``: ``parse`` ``"tokens"`` (a list of Tokens) or
    ``"authorization_info"`` validates the envelope's ``data`` with extrawest's own pydantic
    models, ``parsed`` being the models' ``.dict()`` and ``errors`` what they refused.

``POST /debug/connect {"versions_url", "token_a"}``
    Registers with another party, this one initiating. extrawest has no client side of
    the credentials handshake (only the server side: POST/PUT/GET/DELETE credentials), so
    this follows OCPI 2.2.1 section 7.1.1 with extrawest's own models and helpers: GET
    versions and version details with Token A, POST our credentials with a fresh token B
    (valid at once: the other party calls our versions with it meanwhile), keep the token C
    it answers. 200 with the party, or 502 with the step that failed and every answer.

extrawest reads its settings (host, protocol, ...) from the environment when ``py_ocpi`` is
imported, so the arguments are read, and the environment set, before that import.
"""

# ruff: noqa: E402  (py_ocpi is imported after its environment is set, on purpose)

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import uuid
from datetime import UTC, datetime
from typing import Any


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", type=str.upper, choices=("CPO", "EMSP"), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token-a", required=True, help="the Token A this party accepts")
    parser.add_argument("--country-code", default="DE")
    parser.add_argument("--party-id", default=None, help="default: XWC (CPO) or XWE (eMSP)")
    parser.add_argument("--name", default=None, help="business name")
    args = parser.parse_args(argv)
    args.party_id = args.party_id or ("XWC" if args.role == "CPO" else "XWE")
    args.name = args.name or f"Extrawest {args.role.title()}"
    return args


ARGS = _arguments(sys.argv[1:]) if __name__ == "__main__" else None
if ARGS is not None:
    os.environ.update(
        {
            "ENVIRONMENT": "production",  # INFO logs; "development" logs every header
            "PROTOCOL": "http",
            "OCPI_HOST": f"{ARGS.host}:{ARGS.port}",
            "OCPI_PREFIX": "ocpi",
            "COUNTRY_CODE": ARGS.country_code,
            "PARTY_ID": ARGS.party_id,
            "NO_AUTH": "false",
            "TRAILING_SLASH": "true",
        }
    )

import httpx
import py_ocpi
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from py_ocpi import get_application
from py_ocpi.core.authentication.authenticator import Authenticator
from py_ocpi.core.crud import Crud
from py_ocpi.core.enums import Action, ModuleID, RoleEnum
from py_ocpi.core.schemas import OCPIResponse
from py_ocpi.core.utils import decode_string_base64, encode_string_base64
from py_ocpi.modules.credentials.v_2_2_1.schemas import Credentials, CredentialsRole
from py_ocpi.modules.tokens.v_2_2_1.schemas import AuthorizationInfo, Token
from py_ocpi.modules.versions.enums import VersionNumber
from py_ocpi.modules.versions.schemas import Version
from py_ocpi.modules.versions.v_2_2_1.schemas import VersionDetail
from pydantic import BaseModel, Field, ValidationError

MODULES = {
    "EMSP": [ModuleID.credentials_and_registration, ModuleID.tokens],
    "CPO": [ModuleID.credentials_and_registration, ModuleID.locations, ModuleID.tokens],
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _new_token() -> str:
    return secrets.token_urlsafe(32)


class State:
    """Everything the party knows, in memory."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.role: str = args.role
        self.country_code: str = args.country_code
        self.party_id: str = args.party_id
        self.name: str = args.name
        self.versions_url = f"http://{args.host}:{args.port}/ocpi/versions"
        self.tokens_a: list[str] = [args.token_a]
        self.parties: list[dict[str, Any]] = []
        self.tokens_pushed: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.authorize_calls: list[dict[str, Any]] = []
        self.config: dict[str, Any] = {"max_page_size": None, "spec_single_objects": False}
        self.tokens_own: list[dict[str, Any]] = self._seed_tokens() if self.role == "EMSP" else []
        self.locations: list[dict[str, Any]] = self._seed_locations() if self.role == "CPO" else []

    def our_role(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "business_details": {"name": self.name},
            "party_id": self.party_id,
            "country_code": self.country_code,
        }

    def our_credentials(self, token: str) -> dict[str, Any]:
        return {"token": token, "url": self.versions_url, "roles": [self.our_role()]}

    def party_by_token(self, token: str | None) -> dict[str, Any] | None:
        return next((p for p in self.parties if p["token_ours"] == token), None)

    def valid_tokens(self) -> list[str]:
        """The tokens others call us with: the C we handed out, the B we sent."""
        return [p["token_ours"] for p in self.parties]

    def new_token(self, n: int, **fields: Any) -> dict[str, Any]:
        """A token of our own party: number ``n``'s defaults, ``fields`` over them."""
        return {
            "country_code": self.country_code,
            "party_id": self.party_id,
            "uid": f"XW{n:08d}",
            "type": "RFID",
            "contract_id": f"{self.country_code}-{self.party_id}-C{n:08d}",
            "visual_number": f"XW-{n:04d}",
            "issuer": self.name,
            "valid": True,
            "whitelist": "ALLOWED",
            "last_updated": _now(),
            **fields,
        }

    def _seed_tokens(self) -> list[dict[str, Any]]:
        return [self.new_token(n) for n in (1, 2)]

    def _seed_locations(self) -> list[dict[str, Any]]:
        now = _now()
        return [
            {
                "country_code": self.country_code,
                "party_id": self.party_id,
                "id": "XWLOC1",
                "publish": True,
                "name": "Extrawest test site",
                "address": "Teststrasse 1",
                "city": "Berlin",
                "postal_code": "10115",
                "country": "DEU",
                "coordinates": {"latitude": "52.53001", "longitude": "13.38462"},
                "time_zone": "Europe/Berlin",
                "evses": [
                    {
                        "uid": "XWLOC1-1",
                        "evse_id": f"{self.country_code}*{self.party_id}*E1",
                        "status": "AVAILABLE",
                        "capabilities": ["RFID_READER"],
                        "connectors": [
                            {
                                "id": "1",
                                "standard": "IEC_62196_T2",
                                "format": "SOCKET",
                                "power_type": "AC_3_PHASE",
                                "max_voltage": 230,
                                "max_amperage": 32,
                                "max_electric_power": 22080,
                                "last_updated": now,
                            }
                        ],
                        "last_updated": now,
                    }
                ],
                "last_updated": now,
            }
        ]


STATE: State


# ---- extrawest's extension points: an Authenticator and a Crud ---------------------


class MemoryAuthenticator(Authenticator):
    """extrawest decodes the header (Base64 for 2.2.x) and asks for the valid tokens."""

    @classmethod
    async def get_valid_token_a(cls) -> list[str]:
        return list(STATE.tokens_a)

    @classmethod
    async def get_valid_token_c(cls) -> list[str]:
        return STATE.valid_tokens()


def _page(items: list[dict[str, Any]], filters: dict[str, Any]) -> tuple[list, int, bool]:
    offset, limit = int(filters.get("offset") or 0), int(filters.get("limit") or 50)
    cap = STATE.config.get("max_page_size")
    if cap:
        # The server's maximum: extrawest builds X-Limit and the Link from this dict.
        limit = filters["limit"] = min(limit, int(cap))
    page = items[offset : offset + limit]
    return page, len(items), offset + limit >= len(items)


def _key(country_code: Any, party_id: Any, uid: Any) -> tuple[str, str, str]:
    # extrawest lower-cases CiStrings it reads (CI_STRING_LOWERCASE_PREFERENCE)
    return str(country_code).upper(), str(party_id).upper(), str(uid).upper()


class MemoryCrud(Crud):
    @classmethod
    async def get(cls, module: ModuleID, role: RoleEnum, id: Any, *args: Any, **kwargs: Any):
        if module == ModuleID.credentials_and_registration:
            party = STATE.party_by_token(kwargs.get("auth_token"))
            return STATE.our_credentials(party["token_ours"]) if party else None
        if module == ModuleID.locations:  # ids are CiStrings: extrawest lower-cases them
            return next((loc for loc in STATE.locations if loc["id"].upper() == id.upper()), None)
        if module == ModuleID.tokens and role == RoleEnum.cpo:
            key = _key(kwargs.get("country_code"), kwargs.get("party_id"), id)
            return STATE.tokens_pushed.get(key)
        if module == ModuleID.tokens:
            return next((t for t in STATE.tokens_own if t["uid"].upper() == id.upper()), None)
        return None

    @classmethod
    async def list(cls, module: ModuleID, role: RoleEnum, filters: dict, *args, **kwargs):
        if module == ModuleID.locations:
            return _page(STATE.locations, filters)
        if module == ModuleID.tokens:
            return _page(STATE.tokens_own, filters)
        return [], 0, True

    @classmethod
    async def create(cls, module: ModuleID, role: RoleEnum, data: dict, *args, **kwargs):
        if module == ModuleID.credentials_and_registration:
            return _register(data, token_a=kwargs.get("auth_token"))
        if module == ModuleID.tokens:
            key = _key(kwargs.get("country_code"), kwargs.get("party_id"), data["uid"])
            STATE.tokens_pushed[key] = {**data, **_push_record(kwargs)}
            return data
        raise NotImplementedError(f"create {module}")

    @classmethod
    async def update(cls, module: ModuleID, role: RoleEnum, data: dict, id: Any, *args, **kwargs):
        if module == ModuleID.credentials_and_registration:
            return _update_registration(data, token=kwargs.get("auth_token"))
        if module == ModuleID.tokens:
            key = _key(kwargs.get("country_code"), kwargs.get("party_id"), id)
            STATE.tokens_pushed[key] = {**data, **_push_record(kwargs)}
            return data
        raise NotImplementedError(f"update {module}")

    @classmethod
    async def delete(cls, module: ModuleID, role: RoleEnum, id: Any, *args, **kwargs):
        if module == ModuleID.credentials_and_registration:
            party = STATE.party_by_token(kwargs.get("auth_token"))
            if party is not None:
                STATE.parties.remove(party)

    @classmethod
    async def do(cls, module: ModuleID, role, action: Action, *args, data=None, **kwargs):
        if module == ModuleID.tokens and action == Action.authorize_token and data:
            token_type = getattr(data["token_type"], "value", data["token_type"])
            STATE.authorize_calls.append({**data, "token_type": token_type})
            token = await cls.get(module, RoleEnum.emsp, data["token_uid"])
            if token is None:
                return None
            return {
                "allowed": "ALLOWED" if token["valid"] else "BLOCKED",
                "token": token,
                "location": data.get("location_reference"),
                "authorization_reference": uuid.uuid4().hex[:36],
            }
        return None


def _push_record(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Who pushed, and the token type extrawest's router handed to the Crud (it reads a
    ``token_type`` query parameter, not OCPI's ``type``)."""
    party = STATE.party_by_token(kwargs.get("auth_token"))
    token_type = kwargs.get("token_type")
    return {
        "pushed_by": f"{party['country_code']}*{party['party_id']}" if party else None,
        "token_type_arg": getattr(token_type, "value", token_type),
    }


def _party_fields(credentials: dict[str, Any]) -> dict[str, Any]:
    roles = [dict(role) for role in credentials.get("roles") or []]
    first = roles[0] if roles else {}
    return {
        "country_code": first.get("country_code"),
        "party_id": first.get("party_id"),
        "role": first.get("role"),
        "roles": roles,
        "versions_url": credentials.get("url"),
    }


def _register(data: dict[str, Any], *, token_a: str | None) -> dict[str, Any]:
    """Credentials POST with Token A (extrawest already fetched the caller's versions and
    details with its token B): keep B, hand out C, retire A."""
    credentials = data["credentials"]
    token_c = _new_token()
    STATE.parties.append(
        {
            **_party_fields(credentials),
            "endpoints": (data.get("endpoints") or {}).get("endpoints", []),
            "version": (data.get("endpoints") or {}).get("version"),
            "token_ours": token_c,
            "token_theirs": credentials["token"],
            "initiated_by": "them",
            "status": "CONNECTED",
            "registered_at": _now(),
        }
    )
    if token_a in STATE.tokens_a:
        STATE.tokens_a.remove(token_a)
    return STATE.our_credentials(token_c)


def _update_registration(data: dict[str, Any], *, token: str | None) -> dict[str, Any]:
    party = STATE.party_by_token(token)
    if party is None:
        raise LookupError("not registered")
    credentials = data["credentials"]
    party.update(_party_fields(credentials))
    party["endpoints"] = (data.get("endpoints") or {}).get("endpoints", [])
    party["token_theirs"] = credentials["token"]
    party["token_ours"] = _new_token()
    return STATE.our_credentials(party["token_ours"])


# ---- the initiator side: POST /debug/connect ----------------------------------------


class ConnectBody(BaseModel):
    versions_url: str
    token_a: str


class ConnectFailed(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason
        self.steps: list[dict[str, Any]] = []


async def _call(
    client: httpx.AsyncClient,
    steps: list[dict[str, Any]],
    step: str,
    method: str,
    url: str,
    token: str,
    json: Any = None,
) -> OCPIResponse:
    """One OCPI request, recorded in ``steps``; its envelope (extrawest's own model)."""
    headers = {
        "Authorization": f"Token {encode_string_base64(token)}",
        "X-Request-ID": str(uuid.uuid4()),
        "X-Correlation-ID": str(uuid.uuid4()),
    }
    record: dict[str, Any] = {"step": step, "method": method, "url": url, "sent": json}
    steps.append(record)
    try:
        answer = await client.request(method, url, headers=headers, json=json)
    except httpx.HTTPError as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
        raise ConnectFailed(step, record["error"]) from exc
    record["http_status"] = answer.status_code
    try:
        record["body"] = answer.json()
    except ValueError:
        record["body"] = answer.text[:2000]
    if answer.status_code != 200:
        raise ConnectFailed(step, f"HTTP {answer.status_code}")
    try:
        envelope = OCPIResponse.parse_obj(record["body"])
    except ValidationError as exc:
        raise ConnectFailed(step, f"not an OCPI envelope: {exc}") from exc
    if not 1000 <= envelope.status_code < 2000:
        raise ConnectFailed(step, f"OCPI status {envelope.status_code}")
    return envelope


async def connect(body: ConnectBody) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    pending: dict[str, Any] | None = None
    try:
        async with httpx.AsyncClient(timeout=15) as client:
            versions = await _call(
                client, steps, "versions", "GET", body.versions_url, body.token_a
            )
            try:
                offered = [Version.parse_obj(v) for v in versions.data]
            except (ValidationError, TypeError) as exc:
                raise ConnectFailed("versions", f"bad versions list: {exc}") from exc
            match = next((v for v in offered if v.version == VersionNumber.v_2_2_1), None)
            if match is None:
                raise ConnectFailed("versions", f"no 2.2.1 in {[v.version for v in offered]}")
            details = await _call(client, steps, "details", "GET", match.url, body.token_a)
            try:
                detail = VersionDetail.parse_obj(details.data)
            except (ValidationError, TypeError) as exc:
                raise ConnectFailed("details", f"bad version details: {exc}") from exc
            credentials_url = next(
                (
                    e.url
                    for e in detail.endpoints
                    if e.identifier == ModuleID.credentials_and_registration
                ),
                None,
            )
            if credentials_url is None:
                raise ConnectFailed("details", "no credentials endpoint")
            token_b = _new_token()
            pending = {
                "country_code": None,
                "party_id": None,
                "role": None,
                "roles": [],
                "versions_url": body.versions_url,
                "version": detail.version,
                "endpoints": [e.dict() for e in detail.endpoints],
                "token_ours": token_b,
                "token_theirs": None,
                "initiated_by": "us",
                "status": "PENDING",
                "registered_at": _now(),
            }
            STATE.parties.append(pending)
            ours = Credentials(
                token=token_b,
                url=STATE.versions_url,
                roles=[CredentialsRole.parse_obj(STATE.our_role())],
            ).dict()
            answer = await _call(
                client, steps, "credentials", "POST", credentials_url, body.token_a, json=ours
            )
            try:
                theirs = Credentials.parse_obj(answer.data)
            except (ValidationError, TypeError) as exc:
                raise ConnectFailed("credentials", f"bad credentials answer: {exc}") from exc
    except ConnectFailed as exc:
        if pending is not None:
            STATE.parties.remove(pending)  # token B dies with the attempt
        exc.steps = steps
        raise
    pending.update(_party_fields(theirs.dict()))
    pending["token_theirs"] = theirs.token
    pending["status"] = "CONNECTED"
    # Connecting again to the same party replaces the earlier registration.
    STATE.parties[:] = [
        p for p in STATE.parties if p is pending or p["versions_url"] != body.versions_url
    ]
    return {"party": pending, "steps": steps}


# ---- the client side of other modules: POST /debug/fetch ----------------------------


class FetchBody(BaseModel):
    method: str = "GET"
    url: str
    params: dict[str, Any] | None = None
    json_body: Any = Field(default=None, alias="json")  # "json" is a BaseModel method
    parse: str | None = None  # "tokens" | "authorization_info"


class TokenBody(BaseModel):
    class Config:
        extra = "allow"


class ConfigBody(BaseModel):
    max_page_size: int | None = None
    spec_single_objects: bool | None = None

    class Config:
        extra = "forbid"


def _party_for(url: str) -> dict[str, Any] | None:
    """The registered party ``url`` belongs to: one of its endpoints (or its versions URL)
    is a prefix of it."""
    for party in STATE.parties:
        prefixes = [e.get("url") or "" for e in party.get("endpoints") or []]
        prefixes.append(party.get("versions_url") or "")
        if any(prefix and url.startswith(prefix.rstrip("/")) for prefix in prefixes):
            return party
    return None


def _parse(kind: str, data: Any) -> tuple[Any, list[str]]:
    """``data`` validated by extrawest's own models: (their ``.dict()``, the errors)."""
    if kind == "authorization_info":
        try:
            return AuthorizationInfo.parse_obj(data).dict(), []
        except ValidationError as exc:
            return None, [str(exc)]
    if kind == "tokens":
        if not isinstance(data, list):
            return None, [f"expected a list of Tokens, got {type(data).__name__}"]
        parsed, errors = [], []
        for item in data:
            try:
                parsed.append(Token.parse_obj(item).dict())
            except ValidationError as exc:
                errors.append(str(exc))
        return parsed, errors
    return None, [f"unknown parse kind {kind!r}"]


async def fetch(body: FetchBody) -> dict[str, Any]:
    party = _party_for(body.url)
    if party is None or not party.get("token_theirs"):
        return {"error": f"no registered party serves {body.url}"}
    headers = {
        "Authorization": f"Token {encode_string_base64(party['token_theirs'])}",
        "X-Request-ID": str(uuid.uuid4()),
        "X-Correlation-ID": str(uuid.uuid4()),
    }
    async with httpx.AsyncClient(timeout=15) as client:
        answer = await client.request(
            body.method.upper(), body.url, params=body.params, json=body.json_body, headers=headers
        )
    result: dict[str, Any] = {
        "http_status": answer.status_code,
        "headers": dict(answer.headers),
        "sent_headers": headers,
        "body": None,
        "envelope_error": None,
        "parsed": None,
        "errors": [],
    }
    try:
        result["body"] = answer.json()
    except ValueError:
        result["body"] = answer.text[:2000]
        result["envelope_error"] = "not JSON"
        return result
    try:
        OCPIResponse.parse_obj(result["body"])
    except ValidationError as exc:
        result["envelope_error"] = str(exc)
        return result
    if body.parse:
        # The raw ``data``: OCPIResponse's Union[list, dict] may coerce it.
        result["parsed"], result["errors"] = _parse(body.parse, result["body"].get("data"))
    return result


def _single_object_path(path: str) -> bool:
    """extrawest's token endpoints that answer one object (as a one-element list)."""
    if "/tokens/" not in path:
        return False
    rest = [part for part in path.split("/tokens/", 1)[1].split("/") if part]
    return (len(rest) == 2 and rest[1] == "authorize") or len(rest) == 3


async def _as_single_object(response: Any) -> Any:
    """``data: [object]`` -> ``data: object`` (``spec_single_objects``)."""
    content = b"".join([chunk async for chunk in response.body_iterator])
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length",)}
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("data"), list) and len(body["data"]) == 1:
        body["data"] = body["data"][0]
        content = json.dumps(body).encode()
    return Response(content, status_code=response.status_code, headers=headers)


# ---- the app -------------------------------------------------------------------------


def _token_of(header: str | None) -> str | None:
    if not header or " " not in header:
        return None
    value = header.split(" ", 1)[1].strip()
    try:
        return decode_string_base64(value)
    except ValueError:  # binascii.Error, UnicodeDecodeError
        return None


def build_app(args: argparse.Namespace) -> FastAPI:
    global STATE
    STATE = State(args)
    role = RoleEnum.cpo if args.role == "CPO" else RoleEnum.emsp
    app = get_application(
        version_numbers=[VersionNumber.v_2_2_1],
        roles=[role],
        modules=MODULES[args.role],
        authenticator=MemoryAuthenticator,
        crud=MemoryCrud,
    )

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Any:
        if not request.url.path.startswith("/ocpi/"):
            return await call_next(request)
        # Who called, as the request found us (a credentials POST retires Token A).
        token = _token_of(request.headers.get("authorization"))
        party = STATE.party_by_token(token)
        seen = {
            "method": request.method,
            "path": request.url.path,
            "authorization": request.headers.get("authorization"),
            "token": token,
            "party": f"{party['country_code']}*{party['party_id']}" if party else None,
            "token_a": token in STATE.tokens_a,
            "query": request.url.query,
        }
        response = await call_next(request)
        if STATE.config["spec_single_objects"] and _single_object_path(request.url.path):
            response = await _as_single_object(response)
        STATE.requests.append({**seen, "http_status": response.status_code})
        return response

    @app.get("/debug/state")
    async def debug_state() -> dict[str, Any]:
        return {
            "implementation": f"extrawest-ocpi {py_ocpi.__version__}",
            "role": STATE.role,
            "party": STATE.our_role(),
            "versions_url": STATE.versions_url,
            "tokens_a": STATE.tokens_a,
            "parties": STATE.parties,
            "tokens_pushed": list(STATE.tokens_pushed.values()),
            "tokens_own": STATE.tokens_own,
            "authorize_calls": STATE.authorize_calls,
            "config": STATE.config,
            "requests": STATE.requests,
        }

    @app.post("/debug/tokens")
    async def debug_add_token(body: TokenBody) -> dict[str, Any]:
        fields = body.dict()
        token = STATE.new_token(len(STATE.tokens_own) + 1, **fields)
        STATE.tokens_own = [t for t in STATE.tokens_own if t["uid"] != token["uid"]]
        STATE.tokens_own.append(token)
        return token

    @app.post("/debug/config")
    async def debug_config(body: ConfigBody) -> dict[str, Any]:
        STATE.config.update(body.dict(exclude_unset=True))
        return STATE.config

    @app.post("/debug/fetch")
    async def debug_fetch(body: FetchBody) -> Any:
        result = await fetch(body)
        if "error" in result:
            return JSONResponse(status_code=404, content=result)
        return result

    @app.post("/debug/connect")
    async def debug_connect(body: ConnectBody) -> Any:
        try:
            return await connect(body)
        except ConnectFailed as exc:
            return JSONResponse(
                status_code=502,
                content={"failed_at": exc.step, "reason": exc.reason, "steps": exc.steps},
            )

    return app


def main() -> None:
    assert ARGS is not None
    app = build_app(ARGS)
    uvicorn.run(app, host=ARGS.host, port=ARGS.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
