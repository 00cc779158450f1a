"""The building blocks every OCPI 2.2.1 object uses: the base model, the spec's scalar types
(DateTime, CiString(n), string(n), URL) and ``dump``, the one way to produce wire JSON.

Spec: OCPI 2.2.1, chapter 16 "Types".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from annotated_types import GroupedMetadata, MaxLen
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer


class OcpiModel(BaseModel):
    """Base of every OCPI object.

    Unknown fields are ignored, not refused: a partner on a later 2.2.x (or with custom
    fields) must still be readable.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


def dump(model: BaseModel) -> dict[str, Any]:
    """The wire JSON of ``model``: JSON types, absent optionals left out (never ``null``)."""
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


# --- Text -----------------------------------------------------------------------------------

_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable_ascii(value: str) -> str:
    if not _PRINTABLE_ASCII.fullmatch(value):
        raise ValueError("must be printable ASCII (OCPI CiString)")
    return value


def _printable_text(value: str) -> str:
    # The spec forbids non-printable characters (line breaks, tabs, ...) in every string;
    # refusing them also keeps NUL away from the database.
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (OCPI string)")
    return value


@dataclass(frozen=True, slots=True)
class CiString(GroupedMetadata):
    """``CiString(n)``: case-insensitive, printable ASCII, at most n characters.

    Use as ``Annotated[str, CiString(36)]``. The value is kept as received; comparing
    case-insensitively is the reader's job.
    """

    max_length: int

    def __iter__(self) -> Iterator[object]:
        yield MaxLen(self.max_length)
        yield AfterValidator(_printable_ascii)


@dataclass(frozen=True, slots=True)
class String(GroupedMetadata):
    """``string(n)``: case-sensitive, printable UTF-8, at most n characters."""

    max_length: int

    def __iter__(self) -> Iterator[object]:
        yield MaxLen(self.max_length)
        yield AfterValidator(_printable_text)


URL = Annotated[str, String(255)]
"""An URL: string(255). Kept verbatim (no normalisation, so it round-trips unchanged)."""


def _country_code(value: str) -> str:
    # CiString(2): any case is valid on the wire; upper-case is the canonical form.
    value = value.upper()
    if not re.fullmatch(r"[A-Z]{2}", value):
        raise ValueError("must be an ISO-3166 alpha-2 country code (2 letters)")
    return value


def _party_id(value: str) -> str:
    value = value.upper()
    if not re.fullmatch(r"[A-Z0-9]{3}", value):
        raise ValueError("must be a 3-character party id (letters and digits)")
    return value


CountryCode = Annotated[str, CiString(2), AfterValidator(_country_code)]
"""ISO-3166 alpha-2 country code of a party: CiString(2), stored upper-case."""

PartyId = Annotated[str, CiString(3), AfterValidator(_party_id)]
"""Party (provider) id, ISO-15118: CiString(3), stored upper-case."""


# --- DateTime -------------------------------------------------------------------------------

# RFC 3339 date-time; the zone designator is optional because OCPI reads its absence as UTC.
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?",
)


def _parse_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        match = _RFC3339.fullmatch(value)
        if match is None:
            raise ValueError("must be an RFC 3339 date-time, e.g. 2015-06-29T20:39:09Z")
        day, time, fraction, zone = match.groups()
        # datetime keeps microseconds at most; finer fractions are cut, not rounded.
        fraction = (fraction or "")[:7]
        offset = "+00:00" if zone in (None, "Z", "z") else zone
        parsed = datetime.fromisoformat(f"{day}T{time}{fraction}{offset}")
    else:
        # Numbers (epoch seconds) and dates are not OCPI DateTimes.
        raise ValueError("must be an RFC 3339 date-time string")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _format_datetime(value: datetime) -> str:
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return utc.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


DateTime = Annotated[
    datetime,
    BeforeValidator(_parse_datetime),
    PlainSerializer(_format_datetime, return_type=str, when_used="json"),
]
"""OCPI DateTime: read from RFC 3339 with or without ``Z``/offset/fraction (no zone = UTC),
held as an aware UTC ``datetime``, written as UTC to the second: ``2015-06-29T20:39:09Z``."""
