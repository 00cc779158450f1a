"""Sessions module objects (spec ch. 9), plus the classes a Session shares with the CDR:
CdrToken, AuthMethod, ChargingPeriod, CdrDimension(Type) (spec 10.4)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from voltlab.ocpi.models.base import CiString, CountryCode, DateTime, OcpiModel, PartyId, String
from voltlab.ocpi.models.common import Price
from voltlab.ocpi.models.tokens import ProfileType, TokenType


class SessionStatus(StrEnum):
    """State of a session (9.4.3)."""

    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    INVALID = "INVALID"
    PENDING = "PENDING"
    RESERVATION = "RESERVATION"


class AuthMethod(StrEnum):
    """How the session was authorized (10.4.1)."""

    AUTH_REQUEST = "AUTH_REQUEST"
    COMMAND = "COMMAND"
    WHITELIST = "WHITELIST"


class CdrDimensionType(StrEnum):
    """What a CdrDimension measures (10.4.3).

    CURRENT, ENERGY_EXPORT, ENERGY_IMPORT, POWER and STATE_OF_CHARGE are for Sessions only.
    """

    CURRENT = "CURRENT"
    ENERGY = "ENERGY"
    ENERGY_EXPORT = "ENERGY_EXPORT"
    ENERGY_IMPORT = "ENERGY_IMPORT"
    MAX_CURRENT = "MAX_CURRENT"
    MIN_CURRENT = "MIN_CURRENT"
    MAX_POWER = "MAX_POWER"
    MIN_POWER = "MIN_POWER"
    PARKING_TIME = "PARKING_TIME"
    POWER = "POWER"
    RESERVATION_TIME = "RESERVATION_TIME"
    STATE_OF_CHARGE = "STATE_OF_CHARGE"
    TIME = "TIME"


class ChargingPreferencesResponse(StrEnum):
    """Answer to a PUT of ChargingPreferences (9.4.1)."""

    ACCEPTED = "ACCEPTED"
    DEPARTURE_REQUIRED = "DEPARTURE_REQUIRED"
    ENERGY_NEED_REQUIRED = "ENERGY_NEED_REQUIRED"
    NOT_POSSIBLE = "NOT_POSSIBLE"
    PROFILE_TYPE_NOT_SUPPORTED = "PROFILE_TYPE_NOT_SUPPORTED"


class CdrToken(OcpiModel):
    """The token that started a session, copied into Session and CDR (10.4.5)."""

    country_code: CountryCode
    party_id: PartyId
    uid: Annotated[str, CiString(36)]
    type: TokenType
    contract_id: Annotated[str, CiString(36)]


class CdrDimension(OcpiModel):
    """One measured value of a charging period (10.4.2)."""

    type: CdrDimensionType
    volume: float


class ChargingPeriod(OcpiModel):
    """A period of a session; it ends where the next one starts (10.4.6)."""

    start_date_time: DateTime
    dimensions: Annotated[list[CdrDimension], Field(min_length=1)]
    tariff_id: Annotated[str, CiString(36)] | None = None


class ChargingPreferences(OcpiModel):
    """A driver's charging preferences for a session (9.3.2)."""

    profile_type: ProfileType
    departure_time: DateTime | None = None
    energy_need: float | None = None
    discharge_allowed: bool | None = None


class Session(OcpiModel):
    """One charging session, owned by the CPO (9.3.1)."""

    country_code: CountryCode
    party_id: PartyId
    id: Annotated[str, CiString(36)]
    start_date_time: DateTime
    end_date_time: DateTime | None = None
    kwh: float
    cdr_token: CdrToken
    auth_method: AuthMethod
    authorization_reference: Annotated[str, CiString(36)] | None = None
    location_id: Annotated[str, CiString(36)]
    # evse_uid and connector_id may be "#NA" for a reservation without an EVSE yet.
    evse_uid: Annotated[str, CiString(36)]
    connector_id: Annotated[str, CiString(36)]
    meter_id: Annotated[str, String(255)] | None = None
    currency: Annotated[str, String(3)]
    charging_periods: list[ChargingPeriod] | None = None
    total_cost: Price | None = None
    status: SessionStatus
    last_updated: DateTime


class SessionPatch(OcpiModel):
    """Body of a Session PATCH: any Session field, and ``last_updated`` always (9.2.2).

    ``charging_periods`` in a PATCH are appended to the stored ones, not a replacement.
    """

    country_code: CountryCode | None = None
    party_id: PartyId | None = None
    id: Annotated[str, CiString(36)] | None = None
    start_date_time: DateTime | None = None
    end_date_time: DateTime | None = None
    kwh: float | None = None
    cdr_token: CdrToken | None = None
    auth_method: AuthMethod | None = None
    authorization_reference: Annotated[str, CiString(36)] | None = None
    location_id: Annotated[str, CiString(36)] | None = None
    evse_uid: Annotated[str, CiString(36)] | None = None
    connector_id: Annotated[str, CiString(36)] | None = None
    meter_id: Annotated[str, String(255)] | None = None
    currency: Annotated[str, String(3)] | None = None
    charging_periods: list[ChargingPeriod] | None = None
    total_cost: Price | None = None
    status: SessionStatus | None = None
    last_updated: DateTime
