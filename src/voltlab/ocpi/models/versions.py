"""Versions module objects: version list and version details (spec ch. 6)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from voltlab.ocpi.models.base import URL, OcpiModel


class VersionNumber(StrEnum):
    """Known OCPI versions (6.2.5)."""

    V2_0 = "2.0"
    V2_1 = "2.1"
    V2_1_1 = "2.1.1"
    V2_2 = "2.2"
    V2_2_1 = "2.2.1"


class ModuleID(StrEnum):
    """Identifiers of the OCPI 2.2.1 modules (6.2.4)."""

    CDRS = "cdrs"
    CHARGING_PROFILES = "chargingprofiles"
    COMMANDS = "commands"
    CREDENTIALS = "credentials"
    HUB_CLIENT_INFO = "hubclientinfo"
    LOCATIONS = "locations"
    SESSIONS = "sessions"
    TARIFFS = "tariffs"
    TOKENS = "tokens"


class InterfaceRole(StrEnum):
    """Which side of a module an endpoint implements (6.2.3)."""

    SENDER = "SENDER"
    RECEIVER = "RECEIVER"


class Version(OcpiModel):
    """One supported version and where its details live (6.1.2)."""

    version: VersionNumber
    url: URL


class Endpoint(OcpiModel):
    """One module endpoint of a version (6.2.2)."""

    # The spec lets parties extend ModuleID with custom modules ("nltnm-tokens", 6.2.5.1),
    # so an unknown identifier is kept as a plain string instead of failing the whole list;
    # left_to_right makes the known ones come out as ModuleID members.
    identifier: Annotated[ModuleID | str, Field(union_mode="left_to_right")]
    role: InterfaceRole
    url: URL


class VersionDetails(OcpiModel):
    """The endpoints a party implements for one version (6.2.1)."""

    version: VersionNumber
    endpoints: Annotated[list[Endpoint], Field(min_length=1)]
