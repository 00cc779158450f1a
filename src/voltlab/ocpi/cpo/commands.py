"""Commands, RECEIVER interface of a CPO bundle (OCPI 2.2.1 chapter 13).

An eMSP POSTs a command; the CPO answers a ``CommandResponse`` at once (did it understand
the request and can it reach a charger?), then drives the charger over OCPP in the
background and POSTs the ``CommandResult`` to the eMSP's ``response_url``::

    answer = await receive(services, bundle, peer, CommandType.START_SESSION, body)
    # answer.response == {"result": "ACCEPTED", "timeout": 30}; the result follows later

CommandResponse (the synchronous answer), per situation:

- START_SESSION / UNLOCK_CONNECTOR, location unknown to this CPO: REJECTED in an
  envelope with status_code 2003 (HTTP 200), as the spec's figure 32 shows.
- START_SESSION / UNLOCK_CONNECTOR, EVSE or connector unknown in the location: REJECTED.
- START_SESSION with a token of a party the caller did not register as: REJECTED ("An
  eMSP sending a StartSession SHALL only use Token that are owned by this eMSP").
- STOP_SESSION, no session of this CPO with that id (or none with an OCPP transaction):
  UNKNOWN_SESSION; a session whose cdr_token is another eMSP's: REJECTED.
- RESERVE_NOW, CANCEL_RESERVATION: NOT_SUPPORTED (no reservations in this simulation).
- otherwise: ACCEPTED, timeout ``COMMAND_TIMEOUT_S`` (30 s).

CommandResult (POSTed to ``response_url``), from what the charger did:

==================================================  ===================================
situation                                           CommandResult
==================================================  ===================================
charger not connected to the built-in CSMS          FAILED
START_SESSION: a transaction runs on the EVSE       EVSE_OCCUPIED (checked before sending)
START_SESSION: the EVSE is Faulted or Unavailable   EVSE_INOPERATIVE (checked first too)
Remote/RequestStart/StopTransaction ``Accepted``    ACCEPTED
Remote/RequestStart/StopTransaction ``Rejected``    REJECTED
UnlockConnector ``Unlocked``                        ACCEPTED
UnlockConnector ``UnlockFailed``                    FAILED (tried, the lock stuck)
UnlockConnector ``OngoingAuthorizedTransaction``    REJECTED (2.0.1: refused while charging)
UnlockConnector ``UnknownConnector``                REJECTED (2.0.1: refused, no such target)
UnlockConnector ``NotSupported``                    NOT_SUPPORTED (1.6)
CALLERROR ``NotImplemented`` / ``NotSupported``     NOT_SUPPORTED
any other CALLERROR, or a payload refused           FAILED
no answer within ``CHARGER_TIMEOUT_S`` (20 s)       TIMEOUT
==================================================  ===================================

The spec's figure 29 shows a ``RemoteStartTransaction.conf(Rejected)`` becoming FAILED;
its enum text ("REJECTED: Command request rejected by the Charge Point") is what voltlab
follows, so a charger's ``Rejected`` is REJECTED.

A START_SESSION registers a remote-start ``Grant`` before the charger is asked, so the
CPO's CSMS hooks accept the command's token on that charger without a real-time check
(the spec: "the CPO SHALL NOT check the validity of the Token") and the session and CDR
carry the command's ``authorization_reference`` (or one minted here).

Every received command is an ``OcpiCommand`` row (direction ``received``): ``request``
holds ``{"party": <the eMSP>, "url": None, "body": <OCPI body>}``, ``response``
``{"status_code", "data": <CommandResponse>}`` and ``result`` the CommandResult once known
(the same shapes ``voltlab.ocpi.emsp.commands`` stores for sent commands).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError as OcppNotSupported
from ocpp.exceptions import OCPPError
from sqlalchemy import select

from voltlab import catalog
from voltlab.csms.errors import StationOffline
from voltlab.ids import new_id, utcnow
from voltlab.ocpi.cpo.decision import ocpi_type_to_ocpp
from voltlab.ocpi.cpo.grants import Grant

# Charger.ocpp_version ("OCPP1.6") -> the CSMS's and the simulator's "1.6".
from voltlab.ocpi.cpo.projection import WIRE_VERSION
from voltlab.ocpi.credentials import PeerRefused, check_peer_url
from voltlab.ocpi.models.base import dump
from voltlab.ocpi.models.commands import (
    CommandResponse,
    CommandResponseType,
    CommandResult,
    CommandResultType,
    CommandType,
    StartSession,
    StopSession,
    UnlockConnector,
)
from voltlab.ocpi.models.common import DisplayText
from voltlab.ocpi.parties import peer_parties
from voltlab.ocpi.templates import evse_uid_for
from voltlab.ocpi.transport import OcpiClientError
from voltlab.services import Services
from voltlab.simulator.spec import ConnectorRef, connectors_for
from voltlab.storage.models import Charger
from voltlab.storage.ocpi import OcpiBundle, OcpiCommand, OcpiLocation, OcpiPeer, OcpiSession
from voltlab.storage.repositories import chargers_of_bundle

log = logging.getLogger(__name__)

# What the CommandResponse promises the eMSP: the result arrives within this many seconds.
COMMAND_TIMEOUT_S = 30
# How long the charger may take to answer; well below COMMAND_TIMEOUT_S so that even a
# TIMEOUT result reaches the eMSP before it gives up on the command.
CHARGER_TIMEOUT_S = 20.0

UNKNOWN_LOCATION = 2003

INOPERATIVE = frozenset({"Faulted", "Unavailable"})
# Every EVSE voltlab projects has one connector, id "1" (see ``projection``).
CONNECTOR_IDS = frozenset({"1"})

UNLOCK_RESULTS = {
    "Unlocked": CommandResultType.ACCEPTED,
    "UnlockFailed": CommandResultType.FAILED,
    "OngoingAuthorizedTransaction": CommandResultType.REJECTED,
    "UnknownConnector": CommandResultType.REJECTED,
    "NotSupported": CommandResultType.NOT_SUPPORTED,
}
START_STOP_RESULTS = {
    "Accepted": CommandResultType.ACCEPTED,
    "Rejected": CommandResultType.REJECTED,
}


@dataclass(frozen=True, slots=True)
class Evse:
    """One OCPI EVSE of the bundle and the charger outlet behind it."""

    charger: Charger
    ref: ConnectorRef  # evse_id / connector_id on the charger's own OCPP version
    uid: str

    @property
    def ocpp_version(self) -> str:
        return WIRE_VERSION.get(self.charger.ocpp_version, self.charger.ocpp_version)


@dataclass(frozen=True, slots=True)
class Answer:
    """The synchronous answer: a CommandResponse in an envelope with ``status_code``."""

    response: dict[str, Any]
    status_code: int = 1000
    status_message: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    result: CommandResultType
    message: str | None = None

    def wire(self) -> dict[str, Any]:
        return dump(CommandResult(result=self.result, message=_text(self.message)))


def command_response(
    result: CommandResponseType, message: str | None = None, timeout: int = COMMAND_TIMEOUT_S
) -> dict[str, Any]:
    return dump(CommandResponse(result=result, timeout=timeout, message=_text(message)))


def _text(message: str | None) -> list[DisplayText] | None:
    # DisplayText is string(512) of printable text: a charger's description may be neither.
    if not message:
        return None
    printable = "".join(c if c.isprintable() else " " for c in message)[:512]
    return [DisplayText(language="en", text=printable)]


def party_of(peer: OcpiPeer) -> dict[str, Any]:
    return {"country_code": peer.country_code, "party_id": peer.party_id}


# -- where a command goes -------------------------------------------------------------------


async def evses_at(services: Services, bundle: OcpiBundle, location_id: str) -> list[Evse] | None:
    """The EVSEs of a location in the order the Locations module lists them; None when the
    bundle has no such location."""
    async with services.sessions() as session:
        location = await session.get(OcpiLocation, (bundle.id, location_id))
        if location is None:
            return None
        chargers = await chargers_of_bundle(session, bundle.id, location_id)
    evses = []
    for charger in chargers:
        model = catalog.model(charger.brand_slug, charger.model_slug)
        if model is None:
            continue
        version = WIRE_VERSION.get(charger.ocpp_version, charger.ocpp_version)
        refs = connectors_for(version, model.connector_count)
        for n, ref in enumerate(refs, start=1):
            evses.append(Evse(charger, ref, evse_uid_for(charger.identity, n, len(refs))))
    return evses


def _status(services: Services, bundle: OcpiBundle, evse: Evse) -> tuple[bool, str | None, bool]:
    """(connected, OCPP status, a transaction runs) of the EVSE at the built-in CSMS."""
    station = services.csms.station(str(bundle.id), evse.charger.identity)
    if station is None:
        return False, None, False
    status = station.connectors.get((evse.ref.evse_id, evse.ref.connector_id))
    # A transaction without a tag is one the cable started (2.0.1 TxStartPoint
    # EVConnected) waiting for authorization: the remote start is what it needs, not a
    # session of someone else.
    busy = any(
        tx.active and tx.evse_id == evse.ref.evse_id and tx.id_tag is not None
        for tx in station.transactions.values()
    )
    return station.connected, status, busy


def pick_evse(
    services: Services,
    bundle: OcpiBundle,
    evses: list[Evse],
    evse_uid: str | None,
    connector_id: str | None,
) -> Evse | str:
    """The EVSE a command names, or why there is none (the REJECTED message).

    Uids are CiStrings: compared case-insensitively. Without ``evse_uid`` (START_SESSION
    allows it: "the Charge Point can itself decide") the first EVSE that is online, free
    and operative is taken, else the first EVSE of the location.
    """
    if evse_uid is None:
        if connector_id is not None:
            return "connector_id is set without evse_uid"
        if not evses:
            return "the location has no EVSE"
        for evse in evses:
            connected, status, busy = _status(services, bundle, evse)
            if connected and not busy and status not in INOPERATIVE:
                return evse
        return evses[0]
    wanted = evse_uid.casefold()
    evse = next((e for e in evses if e.uid.casefold() == wanted), None)
    if evse is None:
        return f"unknown EVSE {evse_uid!r} in this location"
    if connector_id is not None and connector_id not in CONNECTOR_IDS:
        return f"unknown connector {connector_id!r} of EVSE {evse.uid!r}"
    return evse


# -- the synchronous part -------------------------------------------------------------------

ACCEPTED = Answer(command_response(CommandResponseType.ACCEPTED))

# What an ACCEPTED command does next, in the background: drive the charger, say how it went.
Work = Callable[[], Awaitable[Outcome]] | None


async def receive(
    services: Services,
    bundle: OcpiBundle,
    peer: OcpiPeer,
    command: CommandType,
    body: Any,
) -> Answer:
    """Answer a command and, when it is ACCEPTED, drive the charger in the background.

    ``body`` is the parsed model of the command (``StartSession``, ``StopSession``,
    ``UnlockConnector``) or, for the commands answered NOT_SUPPORTED, the raw JSON.
    """
    work: Work = None
    if command is CommandType.START_SESSION:
        answer, work = await _start_session(services, bundle, peer, body)
    elif command is CommandType.STOP_SESSION:
        answer, work = await _stop_session(services, bundle, peer, body)
    elif command is CommandType.UNLOCK_CONNECTOR:
        answer, work = await _unlock_connector(services, bundle, body)
    else:
        answer = Answer(
            command_response(
                CommandResponseType.NOT_SUPPORTED, f"{command.value} is not supported by this CPO"
            )
        )
    request = dump(body) if hasattr(body, "model_dump") else body
    row_id = await _store(services, bundle, peer, command, request, answer)
    if work is not None:
        services.tasks.spawn(
            _complete(services, bundle.id, peer.id, row_id, body.response_url, work),
            name=f"ocpi-command-{row_id}",
        )
    return answer


def _rejected(message: str, status_code: int = 1000) -> Answer:
    return Answer(
        command_response(CommandResponseType.REJECTED, message),
        status_code=status_code,
        status_message=message if status_code != 1000 else None,
    )


async def _start_session(
    services: Services, bundle: OcpiBundle, peer: OcpiPeer, body: StartSession
) -> tuple[Answer, Work]:
    evses = await evses_at(services, bundle, body.location_id)
    if evses is None:
        return _rejected(f"unknown location {body.location_id!r}", UNKNOWN_LOCATION), None
    picked = pick_evse(services, bundle, evses, body.evse_uid, body.connector_id)
    if isinstance(picked, str):
        return _rejected(picked), None
    token = body.token
    if (token.country_code, token.party_id) not in peer_parties(peer):
        return _rejected(
            f"the token belongs to {token.country_code}*{token.party_id}, not to the caller"
        ), None
    evse = picked

    async def work() -> Outcome:
        return await _run_start(services, bundle, evse, body)

    return ACCEPTED, work


async def _run_start(
    services: Services, bundle: OcpiBundle, evse: Evse, body: StartSession
) -> Outcome:
    connected, status, busy = _status(services, bundle, evse)
    if not connected:
        return Outcome(CommandResultType.FAILED, f"charger {evse.charger.identity} is offline")
    if status in INOPERATIVE:
        return Outcome(CommandResultType.EVSE_INOPERATIVE, f"EVSE {evse.uid} is {status}")
    if busy:
        return Outcome(CommandResultType.EVSE_OCCUPIED, f"a session runs on EVSE {evse.uid}")
    token = dump(body.token)
    uid = body.token.uid
    grant = Grant(
        path="command",
        accepted=True,
        auth_method="COMMAND",
        token=token,
        emsp=(body.token.country_code, body.token.party_id),
        # 32 hex characters: within OCPI's CiString(36).
        authorization_reference=body.authorization_reference or uuid.uuid4().hex,
    )
    cpo = services.ocpi.cpo
    # Before the call: the charger may present the tag (Authorize, StartTransaction)
    # before its answer to the remote start reaches us.
    cpo.expect_remote_start(evse.charger.id, grant)
    if evse.ocpp_version == "1.6":
        action = "RemoteStartTransaction"
        payload: dict[str, Any] = {"connectorId": evse.ref.connector_id, "idTag": uid}
    else:
        action = "RequestStartTransaction"
        payload = {
            "idToken": {"idToken": uid, "type": ocpi_type_to_ocpp(body.token.type.value)},
            "evseId": evse.ref.evse_id,
            "remoteStartId": secrets.randbelow(2**31 - 1) + 1,
        }
    outcome = await _ask(services, bundle, evse.charger, action, payload, START_STOP_RESULTS)
    if outcome.result not in (CommandResultType.ACCEPTED, CommandResultType.TIMEOUT):
        # Nothing will start: a pending grant would let this uid through on the charger
        # later without a decision. After a TIMEOUT the charger may still act on it.
        cpo.remote_start(evse.charger.id, uid, consume=True)
    return outcome


async def _stop_session(
    services: Services, bundle: OcpiBundle, peer: OcpiPeer, body: StopSession
) -> tuple[Answer, Work]:
    async with services.sessions() as session:
        row = (
            await session.scalars(
                select(OcpiSession).where(
                    OcpiSession.bundle_id == bundle.id,
                    OcpiSession.country_code == bundle.country_code,
                    OcpiSession.party_id == bundle.party_id,
                    OcpiSession.session_id == body.session_id,
                )
            )
        ).first()
        charger = (
            await session.get(Charger, row.charger_id)
            if row is not None and row.charger_id
            else None
        )
    if row is None or charger is None or charger.ocpi_cpo_id != bundle.id or not row.transaction_id:
        answer = Answer(
            command_response(
                CommandResponseType.UNKNOWN_SESSION, f"unknown session {body.session_id!r}"
            )
        )
        return answer, None
    owner = (row.data or {}).get("cdr_token") or {}
    if owner.get("country_code") and owner.get("party_id"):
        party = (str(owner["country_code"]).upper(), str(owner["party_id"]).upper())
        if party not in peer_parties(peer):
            return _rejected("the session belongs to another eMSP's customer"), None
    transaction_id = row.transaction_id

    async def work() -> Outcome:
        station = services.csms.station(str(bundle.id), charger.identity)
        if station is None or not station.connected:
            return Outcome(CommandResultType.FAILED, f"charger {charger.identity} is offline")
        if WIRE_VERSION.get(charger.ocpp_version) == "1.6":
            try:
                payload: dict[str, Any] = {"transactionId": int(transaction_id)}
            except ValueError:
                return Outcome(CommandResultType.FAILED, f"not a 1.6 transaction: {transaction_id}")
            action = "RemoteStopTransaction"
        else:
            action, payload = "RequestStopTransaction", {"transactionId": transaction_id}
        return await _ask(services, bundle, charger, action, payload, START_STOP_RESULTS)

    return ACCEPTED, work


async def _unlock_connector(
    services: Services, bundle: OcpiBundle, body: UnlockConnector
) -> tuple[Answer, Work]:
    evses = await evses_at(services, bundle, body.location_id)
    if evses is None:
        return _rejected(f"unknown location {body.location_id!r}", UNKNOWN_LOCATION), None
    picked = pick_evse(services, bundle, evses, body.evse_uid, body.connector_id)
    if isinstance(picked, str):
        return _rejected(picked), None
    evse = picked

    async def work() -> Outcome:
        connected, _, _ = _status(services, bundle, evse)
        if not connected:
            return Outcome(CommandResultType.FAILED, f"charger {evse.charger.identity} is offline")
        if evse.ocpp_version == "1.6":
            payload: dict[str, Any] = {"connectorId": evse.ref.connector_id}
        else:
            payload = {"evseId": evse.ref.evse_id, "connectorId": evse.ref.connector_id}
        return await _ask(
            services, bundle, evse.charger, "UnlockConnector", payload, UNLOCK_RESULTS
        )

    return ACCEPTED, work


# -- the asynchronous part ------------------------------------------------------------------


async def _ask(
    services: Services,
    bundle: OcpiBundle,
    charger: Charger,
    action: str,
    payload: dict[str, Any],
    results: dict[str, CommandResultType],
) -> Outcome:
    """One CSMS call; its answer (or failure) as a CommandResult."""
    try:
        answer = await services.csms.call(
            str(bundle.id), charger.identity, action, payload, timeout_s=CHARGER_TIMEOUT_S
        )
    except StationOffline:
        return Outcome(CommandResultType.FAILED, f"charger {charger.identity} is offline")
    except TimeoutError:
        return Outcome(
            CommandResultType.TIMEOUT,
            f"charger {charger.identity} did not answer {action} in {CHARGER_TIMEOUT_S:g} s",
        )
    except (OcppNotImplemented, OcppNotSupported) as exc:
        return Outcome(CommandResultType.NOT_SUPPORTED, f"{action}: {exc.code}")
    except OCPPError as exc:
        return Outcome(CommandResultType.FAILED, f"{action}: {exc.code} {exc.description or ''}")
    except ValueError as exc:  # a payload the charger's OCPP version cannot carry
        return Outcome(CommandResultType.FAILED, f"{action}: {exc}")
    status = str(answer.get("status"))
    result = results.get(status, CommandResultType.FAILED)
    return Outcome(result, None if result is CommandResultType.ACCEPTED else f"{action}: {status}")


async def _complete(
    services: Services,
    bundle_id: int,
    peer_id: str,
    row_id: str,
    response_url: str,
    work: Callable[[], Awaitable[Outcome]],
) -> None:
    """Run the charger side of a command, store its result, POST it to the eMSP."""
    try:
        outcome = await work()
    except Exception as exc:  # a bug must still give the eMSP a result
        log.exception("command %s failed", row_id)
        outcome = Outcome(CommandResultType.FAILED, f"internal error: {type(exc).__name__}")
    result = outcome.wire()
    async with services.sessions.begin() as session:
        row = await session.get(OcpiCommand, row_id)
        if row is not None:
            row.result = result
            row.updated_at = utcnow()
        bundle = await session.get(OcpiBundle, bundle_id)
        # Re-read: the peer may have rotated its token (credentials PUT) meanwhile.
        peer = await session.get(OcpiPeer, peer_id)
    if bundle is None or peer is None or peer.status != "CONNECTED":
        log.info("command %s: the eMSP is gone, result %s kept", row_id, result["result"])
        return
    try:
        await check_peer_url(services, response_url)
        await services.ocpi.client(bundle_id, peer.token_theirs).post(response_url, json=result)
    except (OcpiClientError, PeerRefused) as exc:
        # OCPI has no retries for results; the exchange log shows the failed POST.
        log.warning("command %s: posting the result to %s failed: %s", row_id, response_url, exc)


async def _store(
    services: Services,
    bundle: OcpiBundle,
    peer: OcpiPeer,
    command: CommandType,
    request: Any,
    answer: Answer,
) -> str:
    now = utcnow()
    row = OcpiCommand(
        id=new_id(),
        org_id=bundle.org_id,
        bundle_id=bundle.id,
        direction="received",
        command=command.value,
        request={"party": party_of(peer), "url": None, "body": request},
        response={"status_code": answer.status_code, "data": answer.response},
        result=None,
        created_at=now,
        updated_at=now,
    )
    async with services.sessions.begin() as session:
        session.add(row)
    return row.id
