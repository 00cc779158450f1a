"""Classes shared by several modules: DisplayText and Price (spec ch. 16 "Types") and the
Locations data types that Tariffs, CDRs and Credentials reuse (spec 8.4)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from voltlab.ocpi.models.base import URL, CiString, DateTime, OcpiModel, String

# Regexes exactly as the spec gives them.
_LATITUDE = r"^-?[0-9]{1,2}\.[0-9]{5,7}$"
_LONGITUDE = r"^-?[0-9]{1,3}\.[0-9]{5,7}$"
_HOUR_MINUTE = r"^([0-1][0-9]|2[0-3]):[0-5][0-9]$"


class DisplayText(OcpiModel):
    """Text for an end user, in one language (16.3)."""

    language: Annotated[str, String(2)]
    text: Annotated[str, String(512)]


class Price(OcpiModel):
    """A price or cost, excluding and (optionally) including VAT (16.5)."""

    excl_vat: float
    incl_vat: float | None = None


class GeoLocation(OcpiModel):
    """WGS 84 coordinates, as decimal-degree strings (8.4.13)."""

    latitude: Annotated[str, String(10), Field(pattern=_LATITUDE)]
    longitude: Annotated[str, String(11), Field(pattern=_LONGITUDE)]


class AdditionalGeoLocation(OcpiModel):
    """A related point, such as a parking entrance (8.4.1)."""

    latitude: Annotated[str, String(10), Field(pattern=_LATITUDE)]
    longitude: Annotated[str, String(11), Field(pattern=_LONGITUDE)]
    name: DisplayText | None = None


class ImageCategory(StrEnum):
    """What an image shows (8.4.16)."""

    CHARGER = "CHARGER"
    ENTRANCE = "ENTRANCE"
    LOCATION = "LOCATION"
    NETWORK = "NETWORK"
    OPERATOR = "OPERATOR"
    OTHER = "OTHER"
    OWNER = "OWNER"


class Image(OcpiModel):
    """A link to an image (8.4.15)."""

    url: URL
    thumbnail: URL | None = None
    category: ImageCategory
    type: Annotated[str, CiString(4)]
    # int(5): at most five digits.
    width: Annotated[int, Field(ge=0, le=99999)] | None = None
    height: Annotated[int, Field(ge=0, le=99999)] | None = None


class BusinessDetails(OcpiModel):
    """Name, website and logo of a party (8.4.2)."""

    name: Annotated[str, String(100)]
    website: URL | None = None
    logo: Image | None = None


class EnergySourceCategory(StrEnum):
    """Categories of energy sources (8.4.8)."""

    NUCLEAR = "NUCLEAR"
    GENERAL_FOSSIL = "GENERAL_FOSSIL"
    COAL = "COAL"
    GAS = "GAS"
    GENERAL_GREEN = "GENERAL_GREEN"
    SOLAR = "SOLAR"
    WIND = "WIND"
    WATER = "WATER"


class EnvironmentalImpactCategory(StrEnum):
    """Categories of environmental impact values (8.4.10)."""

    NUCLEAR_WASTE = "NUCLEAR_WASTE"
    CARBON_DIOXIDE = "CARBON_DIOXIDE"


class EnergySource(OcpiModel):
    """One energy source and its share of the mix, in percent (8.4.7)."""

    source: EnergySourceCategory
    percentage: float


class EnvironmentalImpact(OcpiModel):
    """Waste produced/emitted per kWh, in g/kWh (8.4.9)."""

    category: EnvironmentalImpactCategory
    amount: float


class EnergyMix(OcpiModel):
    """The energy mix and environmental impact of the supplied energy (8.4.6)."""

    is_green_energy: bool
    energy_sources: list[EnergySource] | None = None
    environ_impact: list[EnvironmentalImpact] | None = None
    supplier_name: Annotated[str, String(64)] | None = None
    energy_product_name: Annotated[str, String(64)] | None = None


class RegularHours(OcpiModel):
    """Regular weekly hours, in local time (8.4.21)."""

    # int(1): 1 = Monday .. 7 = Sunday.
    weekday: Annotated[int, Field(ge=1, le=7)]
    period_begin: Annotated[str, String(5), Field(pattern=_HOUR_MINUTE)]
    period_end: Annotated[str, String(5), Field(pattern=_HOUR_MINUTE)]


class ExceptionalPeriod(OcpiModel):
    """An exceptional opening or closing, in UTC (8.4.11)."""

    period_begin: DateTime
    period_end: DateTime


class Hours(OcpiModel):
    """Opening and access hours (8.4.14)."""

    twentyfourseven: bool
    regular_hours: list[RegularHours] | None = None
    exceptional_openings: list[ExceptionalPeriod] | None = None
    exceptional_closings: list[ExceptionalPeriod] | None = None
