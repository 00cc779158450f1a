from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator

from voltlab.domain.inputs import InputModel

LocationStatus = Literal["active", "inactive", "maintenance"]


class Coordinates(InputModel):
    latitude: float = Field(ge=-90, le=90, allow_inf_nan=False)
    longitude: float = Field(ge=-180, le=180, allow_inf_nan=False)


class _LocationFields(InputModel):
    address: str | None = Field(default=None, max_length=255)
    city: str | None = Field(default=None, max_length=255)
    country: str | None = Field(default=None, max_length=64)
    coordinates: Coordinates | None = None
    timezone: str | None = Field(default=None, max_length=64, examples=["Europe/Amsterdam"])
    owner_name: str | None = Field(default=None, max_length=255)
    public: bool | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value


class LocationCreate(_LocationFields):
    name: str = Field(min_length=1, max_length=255)


class LocationUpdate(_LocationFields):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    slug: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")
    status: LocationStatus | None = None


class LocationOut(BaseModel):
    id: str
    slug: str
    name: str
    address: str | None
    city: str | None
    country: str | None
    coordinates: Coordinates | None
    timezone: str | None
    owner_name: str | None
    public: bool
    status: str
    created_at: datetime
    updated_at: datetime
