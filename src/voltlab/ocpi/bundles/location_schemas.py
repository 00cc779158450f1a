"""Management API shapes of a CPO bundle's OCPI locations (``/ocpi/cpos/{id}/locations``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from voltlab.domain.inputs import InputModel
from voltlab.domain.locations.schemas import Coordinates
from voltlab.ocpi.countries import alpha3

ParkingType = Literal[
    "ALONG_MOTORWAY",
    "PARKING_GARAGE",
    "PARKING_LOT",
    "ON_DRIVEWAY",
    "ON_STREET",
    "UNDERGROUND_GARAGE",
]
IDENTITY = r"^[A-Za-z0-9._-]*$"


class OcpiChargerTemplateIn(InputModel):
    brand_slug: str = Field(min_length=1, max_length=64)
    model_slug: str = Field(min_length=1, max_length=64)
    connector_type: str = Field(min_length=1, max_length=32)
    ocpp_version: Literal["OCPP1.6", "OCPP2.0.1"]
    # Accepted for compatibility; a bundle's chargers always connect to the built-in
    # CSMS, whose OCPI modules project their statuses and sessions.
    ws_url: str | None = Field(default=None, max_length=2048)
    identity_prefix: str = Field(default="", max_length=32, pattern=IDENTITY)
    template_name: str | None = Field(default=None, max_length=255)


class OcpiChargerGroupIn(InputModel):
    template: OcpiChargerTemplateIn
    charger_ids: list[str] = Field(min_length=1, max_length=1000)

    @field_validator("charger_ids")
    @classmethod
    def _ids(cls, values: list[str]) -> list[str]:
        for value in values:
            if not value or len(value) > 48 or not all(c.isalnum() or c in "._-" for c in value):
                raise ValueError(f"charger id {value!r}: 1-48 characters of [A-Za-z0-9._-]")
            if not value.isascii():
                raise ValueError(f"charger id {value!r}: ASCII only")
        return values


class _LocationFields(InputModel):
    address: str | None = Field(default=None, min_length=1, max_length=45)
    city: str | None = Field(default=None, min_length=1, max_length=45)
    postal_code: str | None = Field(default=None, max_length=10)
    country: str | None = Field(default=None, min_length=2, max_length=3)
    coordinates: Coordinates | None = None
    timezone: str | None = Field(default=None, max_length=255)
    owner_name: str | None = Field(default=None, max_length=100)
    public: bool | None = None
    parking_type: ParkingType | None = None

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return None if value is None else alpha3(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value


class OcpiLocationIn(_LocationFields):
    name: str = Field(min_length=1, max_length=255)
    address: str = Field(min_length=1, max_length=45)
    city: str = Field(min_length=1, max_length=45)
    country: str = Field(min_length=2, max_length=3)
    coordinates: Coordinates
    charges: list[OcpiChargerGroupIn] | None = Field(default=None, max_length=100)


class LocationFromTemplateIn(InputModel):
    template: str = Field(min_length=1, max_length=64, examples=["urban-ac-hub"])
    overrides: dict[str, Any] | None = None


class OcpiLocationsCreate(InputModel):
    locations: list[OcpiLocationIn | LocationFromTemplateIn] = Field(min_length=1, max_length=500)


class OcpiLocationUpdate(_LocationFields):
    name: str | None = Field(default=None, min_length=1, max_length=255)

    @field_validator("name", "address", "city", "country", "coordinates", "timezone", mode="before")
    @classmethod
    def _not_erased(cls, value: Any) -> Any:
        # Omitted means "unchanged"; an explicit null would erase a field every OCPI
        # Location must carry.
        if value is None:
            raise ValueError("an OCPI Location requires this field; it cannot be null")
        return value


class EvseSummary(BaseModel):
    evse_uid: str
    ocpi_evse_id: str | None
    ocpi_connector_id: str = "1"


class ChargerSummary(BaseModel):
    id: str
    identity: str
    connector_type: str
    ocpp_version: str
    charge_point_id: str
    evses: list[EvseSummary]


class OcpiLocationOut(BaseModel):
    id: str
    ocpp_location_id: str
    organization_id: str
    slug: str | None
    name: str
    address: str | None
    city: str | None
    postal_code: str | None
    country: str | None
    coordinates: Coordinates | None
    timezone: str | None
    owner_name: str | None
    public: bool
    parking_type: str | None
    chargers: list[ChargerSummary]
    created_at: datetime
    updated_at: datetime


class LocationJobAccepted(BaseModel):
    job_id: str
    status: Literal["PENDING", "PROVISIONING", "READY", "FAILED"]
    workflow_run_id: str
    status_url: str


class LocationJobStatus(BaseModel):
    job_id: str
    job_type: str
    status: str
    workflow_run_id: str
    error: dict[str, Any] | None
    results: dict[str, Any] | None
    provisioned_at: datetime | None
