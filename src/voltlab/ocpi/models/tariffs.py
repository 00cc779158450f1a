"""Tariffs module objects (spec ch. 11)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from voltlab.ocpi.models.base import (
    URL,
    CiString,
    CountryCode,
    DateTime,
    OcpiModel,
    PartyId,
    String,
)
from voltlab.ocpi.models.common import DisplayText, EnergyMix, Price

_HOUR_MINUTE = r"^([0-1][0-9]|2[0-3]):[0-5][0-9]$"
_DATE = r"^([12][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


class TariffDimensionType(StrEnum):
    """What a PriceComponent prices (11.4.5)."""

    ENERGY = "ENERGY"
    FLAT = "FLAT"
    PARKING_TIME = "PARKING_TIME"
    TIME = "TIME"


class DayOfWeek(StrEnum):
    """Day of the week (11.4.1)."""

    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


class ReservationRestrictionType(StrEnum):
    """Marks a TariffElement as pricing a reservation (11.4.3)."""

    RESERVATION = "RESERVATION"
    RESERVATION_EXPIRES = "RESERVATION_EXPIRES"


class TariffType(StrEnum):
    """Which sessions a tariff applies to (11.4.7)."""

    AD_HOC_PAYMENT = "AD_HOC_PAYMENT"
    PROFILE_CHEAP = "PROFILE_CHEAP"
    PROFILE_FAST = "PROFILE_FAST"
    PROFILE_GREEN = "PROFILE_GREEN"
    REGULAR = "REGULAR"


class PriceComponent(OcpiModel):
    """How one dimension is priced (11.4.2)."""

    type: TariffDimensionType
    # Per unit, excluding VAT.
    price: float
    # Percent; absent means no VAT applies, which is not the same as 0.0.
    vat: float | None = None
    step_size: int


class TariffRestrictions(OcpiModel):
    """When a TariffElement is active; all set fields must match (11.4.6).

    Times and dates are local to the Location's time_zone.
    """

    start_time: Annotated[str, String(5), Field(pattern=_HOUR_MINUTE)] | None = None
    end_time: Annotated[str, String(5), Field(pattern=_HOUR_MINUTE)] | None = None
    start_date: Annotated[str, String(10), Field(pattern=_DATE)] | None = None
    end_date: Annotated[str, String(10), Field(pattern=_DATE)] | None = None
    min_kwh: float | None = None
    max_kwh: float | None = None
    min_current: float | None = None
    max_current: float | None = None
    min_power: float | None = None
    max_power: float | None = None
    min_duration: int | None = None
    max_duration: int | None = None
    day_of_week: list[DayOfWeek] | None = None
    reservation: ReservationRestrictionType | None = None


class TariffElement(OcpiModel):
    """Price components sharing one set of restrictions (11.4.4)."""

    price_components: Annotated[list[PriceComponent], Field(min_length=1)]
    restrictions: TariffRestrictions | None = None


class Tariff(OcpiModel):
    """A tariff of a CPO (11.3.1)."""

    country_code: CountryCode
    party_id: PartyId
    id: Annotated[str, CiString(36)]
    currency: Annotated[str, String(3)]
    type: TariffType | None = None
    tariff_alt_text: list[DisplayText] | None = None
    tariff_alt_url: URL | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    elements: Annotated[list[TariffElement], Field(min_length=1)]
    start_date_time: DateTime | None = None
    end_date_time: DateTime | None = None
    energy_mix: EnergyMix | None = None
    last_updated: DateTime
