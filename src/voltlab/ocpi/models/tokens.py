"""Tokens module objects (spec ch. 12), plus ProfileType (9.4.2).

ProfileType belongs to the Sessions chapter but lives here: Token refers to it and the
sessions models import this module, not the other way round.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from voltlab.ocpi.models.base import CiString, CountryCode, DateTime, OcpiModel, PartyId, String
from voltlab.ocpi.models.common import DisplayText


class TokenType(StrEnum):
    """Kind of token (12.4.4)."""

    AD_HOC_USER = "AD_HOC_USER"
    APP_USER = "APP_USER"
    OTHER = "OTHER"
    RFID = "RFID"


class WhitelistType(StrEnum):
    """When the CPO may authorize a token without asking the eMSP (12.4.5)."""

    ALWAYS = "ALWAYS"
    ALLOWED = "ALLOWED"
    ALLOWED_OFFLINE = "ALLOWED_OFFLINE"
    NEVER = "NEVER"


class AllowedType(StrEnum):
    """Outcome of a real-time authorization (12.4.1)."""

    ALLOWED = "ALLOWED"
    BLOCKED = "BLOCKED"
    EXPIRED = "EXPIRED"
    NO_CREDIT = "NO_CREDIT"
    NOT_ALLOWED = "NOT_ALLOWED"


class ProfileType(StrEnum):
    """Smart-charging profile a driver prefers (9.4.2)."""

    CHEAP = "CHEAP"
    FAST = "FAST"
    GREEN = "GREEN"
    REGULAR = "REGULAR"


class EnergyContract(OcpiModel):
    """The driver's own energy supplier and contract (12.4.2)."""

    supplier_name: Annotated[str, String(64)]
    contract_id: Annotated[str, String(64)] | None = None


class LocationReferences(OcpiModel):
    """Location (and EVSEs) a real-time authorization asks about (12.4.3)."""

    location_id: Annotated[str, CiString(36)]
    evse_uids: list[Annotated[str, CiString(36)]] | None = None


class Token(OcpiModel):
    """A charging token of an eMSP (12.3.2)."""

    country_code: CountryCode
    party_id: PartyId
    uid: Annotated[str, CiString(36)]
    type: TokenType
    contract_id: Annotated[str, CiString(36)]
    visual_number: Annotated[str, String(64)] | None = None
    issuer: Annotated[str, String(64)]
    group_id: Annotated[str, CiString(36)] | None = None
    valid: bool
    whitelist: WhitelistType
    language: Annotated[str, String(2)] | None = None
    default_profile_type: ProfileType | None = None
    energy_contract: EnergyContract | None = None
    last_updated: DateTime


class TokenPatch(OcpiModel):
    """Body of a Token PATCH: any Token field, and ``last_updated`` always (12.2.1)."""

    country_code: CountryCode | None = None
    party_id: PartyId | None = None
    uid: Annotated[str, CiString(36)] | None = None
    type: TokenType | None = None
    contract_id: Annotated[str, CiString(36)] | None = None
    visual_number: Annotated[str, String(64)] | None = None
    issuer: Annotated[str, String(64)] | None = None
    group_id: Annotated[str, CiString(36)] | None = None
    valid: bool | None = None
    whitelist: WhitelistType | None = None
    language: Annotated[str, String(2)] | None = None
    default_profile_type: ProfileType | None = None
    energy_contract: EnergyContract | None = None
    last_updated: DateTime


class AuthorizationInfo(OcpiModel):
    """Answer to a real-time authorization request (12.3.1)."""

    allowed: AllowedType
    token: Token
    location: LocationReferences | None = None
    authorization_reference: Annotated[str, CiString(36)] | None = None
    info: DisplayText | None = None
