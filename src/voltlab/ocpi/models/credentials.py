"""Credentials module objects (spec ch. 7) and the Role enum (16.6)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from voltlab.ocpi.models.base import URL, CountryCode, OcpiModel, PartyId, String
from voltlab.ocpi.models.common import BusinessDetails


class Role(StrEnum):
    """Market role of a party (16.6)."""

    CPO = "CPO"
    EMSP = "EMSP"
    HUB = "HUB"
    NAP = "NAP"
    NSP = "NSP"
    OTHER = "OTHER"
    SCSP = "SCSP"


class CredentialsRole(OcpiModel):
    """One role a platform plays, with its party identity (7.4.1)."""

    role: Role
    business_details: BusinessDetails
    party_id: PartyId
    country_code: CountryCode


class Credentials(OcpiModel):
    """The token and versions URL a party hands to the other (7.3.1)."""

    # string(64) of printable, non-whitespace ASCII (U+0021..U+007E) only, because it
    # travels in the Authorization header.
    token: Annotated[str, String(64), Field(pattern=r"^[\x21-\x7e]+$")]
    url: URL
    roles: Annotated[list[CredentialsRole], Field(min_length=1)]
