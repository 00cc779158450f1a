"""Commands module objects (spec ch. 13)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from voltlab.ocpi.models.base import URL, CiString, DateTime, OcpiModel
from voltlab.ocpi.models.common import DisplayText
from voltlab.ocpi.models.tokens import Token


class CommandType(StrEnum):
    """The command requested (13.4.3)."""

    CANCEL_RESERVATION = "CANCEL_RESERVATION"
    RESERVE_NOW = "RESERVE_NOW"
    START_SESSION = "START_SESSION"
    STOP_SESSION = "STOP_SESSION"
    UNLOCK_CONNECTOR = "UNLOCK_CONNECTOR"


class CommandResponseType(StrEnum):
    """The CPO's immediate answer to a command request (13.4.1)."""

    NOT_SUPPORTED = "NOT_SUPPORTED"
    REJECTED = "REJECTED"
    ACCEPTED = "ACCEPTED"
    UNKNOWN_SESSION = "UNKNOWN_SESSION"


class CommandResultType(StrEnum):
    """The Charge Point's result, posted later to the response_url (13.4.2)."""

    ACCEPTED = "ACCEPTED"
    CANCELED_RESERVATION = "CANCELED_RESERVATION"
    EVSE_OCCUPIED = "EVSE_OCCUPIED"
    EVSE_INOPERATIVE = "EVSE_INOPERATIVE"
    FAILED = "FAILED"
    NOT_SUPPORTED = "NOT_SUPPORTED"
    REJECTED = "REJECTED"
    TIMEOUT = "TIMEOUT"
    UNKNOWN_RESERVATION = "UNKNOWN_RESERVATION"


class CancelReservation(OcpiModel):
    """Body of CANCEL_RESERVATION (13.3.1)."""

    response_url: URL
    reservation_id: Annotated[str, CiString(36)]


class ReserveNow(OcpiModel):
    """Body of RESERVE_NOW (13.3.4)."""

    response_url: URL
    token: Token
    expiry_date: DateTime
    reservation_id: Annotated[str, CiString(36)]
    location_id: Annotated[str, CiString(36)]
    evse_uid: Annotated[str, CiString(36)] | None = None
    authorization_reference: Annotated[str, CiString(36)] | None = None


class StartSession(OcpiModel):
    """Body of START_SESSION (13.3.5).

    The spec requires evse_uid when connector_id is set; that rule is not enforced here.
    """

    response_url: URL
    token: Token
    location_id: Annotated[str, CiString(36)]
    evse_uid: Annotated[str, CiString(36)] | None = None
    connector_id: Annotated[str, CiString(36)] | None = None
    authorization_reference: Annotated[str, CiString(36)] | None = None


class StopSession(OcpiModel):
    """Body of STOP_SESSION (13.3.6)."""

    response_url: URL
    session_id: Annotated[str, CiString(36)]


class UnlockConnector(OcpiModel):
    """Body of UNLOCK_CONNECTOR (13.3.7)."""

    response_url: URL
    location_id: Annotated[str, CiString(36)]
    evse_uid: Annotated[str, CiString(36)]
    connector_id: Annotated[str, CiString(36)]


class CommandResponse(OcpiModel):
    """The CPO's synchronous answer to a command request (13.3.2)."""

    result: CommandResponseType
    # Seconds the eMSP should wait for the CommandResult before giving up on it.
    timeout: int
    # Cardinality * in the spec: several languages may be given.
    message: list[DisplayText] | None = None


class CommandResult(OcpiModel):
    """The Charge Point's result of a command, POSTed to the response_url (13.3.3)."""

    result: CommandResultType
    message: list[DisplayText] | None = None
