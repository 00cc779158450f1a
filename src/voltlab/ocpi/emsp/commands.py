"""Commands, SENDER interface of an eMSP bundle (OCPI 2.2.1 chapter 13).

``send`` builds a START_SESSION, STOP_SESSION or UNLOCK_CONNECTOR, POSTs it to a
connected CPO's commands RECEIVER and stores it with the CPO's CommandResponse; the CPO
later POSTs the CommandResult to the ``response_url`` handed out with the command,
``{base_url}/ocpi/{bundle_id}/2.2.1/commands/{COMMAND}/{command_id}``, which
``store_result`` records on the same row::

    row = await send(services, bundle, "START_SESSION", CommandRequest(location_id="LOC1"))
    row.response   # {"status_code": 1000, "data": {"result": "ACCEPTED", "timeout": 30}}
    ...            # later: row.result == {"result": "ACCEPTED"}

Rows (``OcpiCommand``, direction ``sent``) hold ``request = {"party": <the CPO>, "url":
<where it was POSTed>, "body": <OCPI body>}`` and ``response = {"status_code", "data":
<CommandResponse>}`` (plus ``http_status`` and ``error`` when the POST failed).

A CPO that answers with an OCPI error but still a CommandResponse (the spec's figure 32:
2003 Unknown Location with ``REJECTED``) has answered the command: the row keeps both and
``send`` returns normally. Anything else that is not a CommandResponse (no answer, HTTP
errors, a body that is not OCPI) is the peer's failure: ``CommandFailed`` (HTTP 502 at the
management API) carrying what the CPO said; the row stays, with the error.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

import orjson
from pydantic import Field, ValidationError, model_validator
from sqlalchemy import func, select

from voltlab.domain.errors import FieldInvalid
from voltlab.domain.inputs import InputModel
from voltlab.errors import InvalidRequest, NotFound, UpstreamFailed
from voltlab.ids import new_id, utcnow
from voltlab.ocpi import urls
from voltlab.ocpi.cpo.commands import party_of, peer_parties
from voltlab.ocpi.cpo.tokens import lookup
from voltlab.ocpi.credentials import check_peer_url
from voltlab.ocpi.models.base import dump
from voltlab.ocpi.models.commands import CommandResponse, CommandResult, CommandType
from voltlab.ocpi.parties import connected_peers, endpoint
from voltlab.ocpi.transport import NotFound as OcpiNotFound
from voltlab.ocpi.transport import OcpiClientError
from voltlab.services import Services
from voltlab.storage.ocpi import OcpiBundle, OcpiCommand, OcpiPeer, OcpiToken

log = logging.getLogger(__name__)

# The commands an eMSP bundle sends (the simulated CPOs answer NOT_SUPPORTED to the others).
SENDABLE = (CommandType.START_SESSION, CommandType.STOP_SESSION, CommandType.UNLOCK_CONNECTOR)

CiString36 = Annotated[str, Field(min_length=1, max_length=36, pattern=r"^[\x20-\x7e]+$")]


class PartyRef(InputModel):
    country_code: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]
    party_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{3}$")]


class CommandRequest(InputModel):
    """The management body of ``POST /ocpi/cpos/{id}/commands/{command}``.

    The CPO is named by ``country_code`` + ``party_id`` (or ``cpo: {country_code,
    party_id}``); without them the only connected CPO is used. START_SESSION takes
    ``location_id`` (required), ``evse_uid``, ``connector_id``, ``authorization_reference``
    (default: a new uuid4 hex) and ``token_uid`` (+ ``token_type``; default: the bundle's
    first APP_USER token). STOP_SESSION takes ``session_id``. UNLOCK_CONNECTOR takes
    ``location_id``, ``evse_uid`` and ``connector_id`` (default ``"1"``).
    """

    country_code: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")] | None = None
    party_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{3}$")] | None = None
    cpo: PartyRef | None = None
    token_uid: CiString36 | None = None
    token_type: Annotated[str, Field(pattern=r"^(AD_HOC_USER|APP_USER|OTHER|RFID)$")] | None = None
    location_id: CiString36 | None = None
    evse_uid: CiString36 | None = None
    connector_id: CiString36 | None = None
    authorization_reference: CiString36 | None = None
    session_id: CiString36 | None = None

    @model_validator(mode="after")
    def _one_party(self) -> CommandRequest:
        if (self.country_code is None) != (self.party_id is None):
            raise ValueError("country_code and party_id name the CPO together: give both")
        if self.cpo is not None and self.country_code is not None:
            raise ValueError("name the CPO once: cpo, or country_code + party_id")
        return self

    def party(self) -> tuple[str, str] | None:
        if self.cpo is not None:
            return self.cpo.country_code.upper(), self.cpo.party_id.upper()
        if self.country_code is not None and self.party_id is not None:
            return self.country_code.upper(), self.party_id.upper()
        return None


class CommandFailed(UpstreamFailed):
    """The CPO did not answer the command with a CommandResponse; ``detail`` says what
    it answered."""


def response_url(bundle: OcpiBundle, command: CommandType, command_id: str) -> str:
    return f"{urls.module_url(bundle.base_url, bundle.id, 'commands')}/{command.value}/{command_id}"


def _is_cpo(peer: OcpiPeer) -> bool:
    return peer.role == "CPO" or any(role.get("role") == "CPO" for role in peer.roles or [])


async def _cpo_peer(
    services: Services, bundle: OcpiBundle, wanted: tuple[str, str] | None
) -> OcpiPeer:
    async with services.sessions() as session:
        peers = [p for p in await connected_peers(session, bundle.id) if _is_cpo(p)]
    if wanted is not None:
        named = [p for p in peers if wanted in peer_parties(p)]
        if not named:
            raise InvalidRequest(f"no connected CPO {wanted[0]}*{wanted[1]} in bundle {bundle.id}")
        return named[0]
    if not peers:
        raise InvalidRequest(f"bundle {bundle.id} has no connected CPO: connect one first")
    if len(peers) > 1:
        names = ", ".join(f"{p.country_code}*{p.party_id}" for p in peers)
        raise InvalidRequest(
            f"several CPOs are connected ({names}): name one with country_code and party_id"
        )
    return peers[0]


async def _token(
    services: Services, bundle: OcpiBundle, uid: str | None, kind: str | None
) -> dict[str, Any]:
    """The bundle's own Token to start with: ``uid`` (and ``kind``), or its first APP_USER
    token (the token type meant for remote starts)."""
    if uid is not None:
        row = await lookup(services, bundle.id, uid, kind)
        if row is None:
            raise FieldInvalid(("token_uid",), f"bundle {bundle.id} has no token {uid!r}")
        return dict(row.data)
    async with services.sessions() as session:
        row = (
            await session.scalars(
                select(OcpiToken)
                .where(OcpiToken.bundle_id == bundle.id, OcpiToken.type == (kind or "APP_USER"))
                .order_by(OcpiToken.id)
            )
        ).first()
    if row is None:
        raise FieldInvalid(
            ("token_uid",), f"bundle {bundle.id} has no {kind or 'APP_USER'} token: name one"
        )
    return dict(row.data)


def _required(body: CommandRequest, *names: str) -> None:
    for name in names:
        if getattr(body, name) is None:
            raise FieldInvalid((name,), "Field required for this command")


async def build(
    services: Services, bundle: OcpiBundle, command: CommandType, body: CommandRequest, url: str
) -> dict[str, Any]:
    """The OCPI request body of ``command`` (``url`` is its response_url)."""
    if command is CommandType.START_SESSION:
        _required(body, "location_id")
        if body.connector_id is not None:
            _required(body, "evse_uid")  # the spec: "Required when connector_id is set"
        request: dict[str, Any] = {
            "response_url": url,
            "token": await _token(services, bundle, body.token_uid, body.token_type),
            "location_id": body.location_id,
            "evse_uid": body.evse_uid,
            "connector_id": body.connector_id,
            # The eMSP's own reference, so the Session and CDR can be matched to this start.
            "authorization_reference": body.authorization_reference or uuid.uuid4().hex,
        }
    elif command is CommandType.STOP_SESSION:
        _required(body, "session_id")
        request = {"response_url": url, "session_id": body.session_id}
    elif command is CommandType.UNLOCK_CONNECTOR:
        _required(body, "location_id", "evse_uid")
        request = {
            "response_url": url,
            "location_id": body.location_id,
            "evse_uid": body.evse_uid,
            # voltlab's EVSEs have one connector, "1"; a CPO with others gets it named.
            "connector_id": body.connector_id or "1",
        }
    else:
        raise InvalidRequest(f"{command.value} cannot be sent from voltlab")
    return {k: v for k, v in request.items() if v is not None}


async def send(
    services: Services, bundle: OcpiBundle, command: CommandType, body: CommandRequest
) -> OcpiCommand:
    """Send ``command`` to a connected CPO; the stored row with the CPO's CommandResponse.

    Raises ``InvalidRequest`` (not an eMSP bundle, no such CPO), ``FieldInvalid`` (a field
    the command needs) and ``CommandFailed`` (the CPO's failure).
    """
    if bundle.role != "EMSP":
        raise InvalidRequest(f"bundle {bundle.id} is a CPO: commands are sent by an eMSP bundle")
    peer = await _cpo_peer(services, bundle, body.party())
    commands_url = endpoint(peer, "commands", "RECEIVER") or endpoint(peer, "commands")
    if commands_url is None:
        raise CommandFailed(
            f"the CPO {peer.country_code}*{peer.party_id} lists no commands endpoint"
        )
    command_id = new_id()
    request = await build(
        services, bundle, command, body, response_url(bundle, command, command_id)
    )
    url = f"{commands_url.rstrip('/')}/{command.value}"
    now = utcnow()
    row = OcpiCommand(
        id=command_id,
        org_id=bundle.org_id,
        bundle_id=bundle.id,
        direction="sent",
        command=command.value,
        request={"party": party_of(peer), "url": url, "body": request},
        response=None,
        result=None,
        created_at=now,
        updated_at=now,
    )
    # Stored before the POST: the CPO may POST the result before its answer reaches us.
    async with services.sessions.begin() as session:
        session.add(row)
    failure: CommandFailed | None = None
    response: dict[str, Any]
    try:
        await check_peer_url(services, url)
        reply = await services.ocpi.client(bundle.id, peer.token_theirs).post(url, json=request)
        response = {"status_code": reply.status_code, "status_message": reply.status_message}
        data = reply.data
    except OcpiClientError as exc:
        response = {"status_code": exc.status_code, "status_message": exc.status_message}
        data = _envelope_data(exc.body)
        failure = CommandFailed(
            f"the CPO did not accept the command: {exc}"
            + (f"; it answered: {exc.body}" if exc.body else "")
        )
        response.update(http_status=exc.http_status, error=str(exc))
    try:
        response["data"] = dump(CommandResponse.model_validate(data))
    except ValidationError:
        response["data"] = data
        if failure is None:
            failure = CommandFailed(
                f"the CPO's answer is not a CommandResponse: {orjson.dumps(data).decode()[:1000]}"
            )
            response["error"] = failure.detail
    else:
        # A CommandResponse answers the command, whatever the envelope's status code
        # (figure 32: 2003 Unknown Location with REJECTED).
        failure = None
        response.pop("error", None)
    async with services.sessions.begin() as session:
        stored = await session.get(OcpiCommand, command_id)
        assert stored is not None
        stored.response = response
        stored.updated_at = utcnow()
    if failure is not None:
        raise failure
    async with services.sessions() as session:
        final = await session.get(OcpiCommand, command_id)
    assert final is not None
    return final


def _envelope_data(body: str | None) -> Any:
    if not body:
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return parsed.get("data") if isinstance(parsed, dict) else None


async def store_result(
    services: Services,
    bundle: OcpiBundle,
    peer: OcpiPeer,
    command: CommandType,
    command_id: str,
    result: CommandResult,
) -> None:
    """Record the CommandResult a CPO POSTed to a response_url we handed out.

    Only the CPO the command went to may answer it; any other caller, or a URL we never
    handed out, is ``voltlab.ocpi.transport.NotFound`` (404, 2000).
    """
    async with services.sessions.begin() as session:
        row = await session.get(OcpiCommand, command_id)
        if (
            row is None
            or row.bundle_id != bundle.id
            or row.direction != "sent"
            or row.command != command.value
            or _addressee(row) not in peer_parties(peer)
        ):
            raise OcpiNotFound(f"no {command.value} command {command_id!r} awaits a result here")
        # The last result wins: a CPO may send a later one (CANCELED_RESERVATION does).
        row.result = dump(result)
        row.updated_at = utcnow()


def _addressee(row: OcpiCommand) -> tuple[str, str]:
    """(country_code, party_id) of the party a command was sent to."""
    party = (row.request or {}).get("party") or {}
    return str(party.get("country_code", "")).upper(), str(party.get("party_id", "")).upper()


async def page(
    services: Services,
    bundle: OcpiBundle,
    *,
    direction: str | None,
    page: int,
    limit: int,
) -> tuple[list[OcpiCommand], int]:
    """The bundle's commands, newest first (both directions unless ``direction``)."""
    query = select(OcpiCommand).where(OcpiCommand.bundle_id == bundle.id)
    if direction is not None:
        query = query.where(OcpiCommand.direction == direction)
    async with services.sessions() as session:
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
        rows = await session.scalars(
            query.order_by(OcpiCommand.created_at.desc(), OcpiCommand.id)
            .offset((page - 1) * limit)
            .limit(limit)
        )
        return list(rows.all()), int(total or 0)


async def get(services: Services, bundle: OcpiBundle, command_id: str) -> OcpiCommand:
    async with services.sessions() as session:
        row = await session.get(OcpiCommand, command_id)
    if row is None or row.bundle_id != bundle.id:
        raise NotFound(f"command {command_id} not found in OCPI bundle {bundle.id}")
    return row
