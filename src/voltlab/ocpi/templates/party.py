"""OCPI party identity: checking ``country_code``/``party_id`` and mangling a taken party id.

>>> mangle_party_id("ABC", taken={"ABC"})
'AB2'
>>> mangle_party_id("ABC", taken={"ABC", "AB2"})
'AB3'
"""

from __future__ import annotations

import re
from collections.abc import Collection

from voltlab.domain.errors import FieldInvalid
from voltlab.errors import Conflict

__all__ = [
    "MANGLE_CHARACTERS",
    "BundleFieldError",
    "PartyIdExhausted",
    "mangle_party_id",
    "validate_country_code",
    "validate_party_id",
]

# ocpi.md, "Party-id mangling": the third character becomes the first free one of 2-9A-Z.
MANGLE_CHARACTERS = "23456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_COUNTRY_CODE = re.compile(r"[A-Z]{2}")
_PARTY_ID = re.compile(r"[A-Z0-9]{3}")


class BundleFieldError(FieldInvalid):
    """A bundle's party field (``country_code``, ``party_id``, ``name_prefix``) that OCPI 2.2.1
    or voltlab does not allow; ``field`` names it, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__((field,), f"{field}: {reason}")
        self.field = field
        self.reason = reason


class PartyIdExhausted(Conflict):
    """Every mangled variant of ``party_id`` is taken too (409 at the REST edge)."""

    def __init__(self, party_id: str) -> None:
        super().__init__(
            f"party_id {party_id!r} and every {party_id[:2]}[2-9A-Z] variant are already taken"
        )
        self.party_id = party_id


def validate_country_code(value: object) -> str:
    """``value`` if it is an ISO 3166-1 alpha-2 code in upper case (``"NL"``)."""
    if not isinstance(value, str) or not _COUNTRY_CODE.fullmatch(value):
        raise BundleFieldError("country_code", f"must be 2 uppercase letters, got {value!r}")
    return value


def validate_party_id(value: object) -> str:
    """``value`` if it is 3 uppercase letters or digits (``"ABC"``, ``"A1B"``)."""
    if not isinstance(value, str) or not _PARTY_ID.fullmatch(value):
        raise BundleFieldError("party_id", f"must be 3 uppercase letters or digits, got {value!r}")
    return value


def mangle_party_id(party_id: str, taken: Collection[str]) -> str:
    """``party_id`` when it is free, else the first free ``party_id[:2] + c`` for ``c`` in
    :data:`MANGLE_CHARACTERS`. ``taken`` holds the party ids already used in the tenant for the
    same country code. Raises :class:`PartyIdExhausted` when none is free."""
    validate_party_id(party_id)
    used = {p.upper() for p in taken}
    if party_id not in used:
        return party_id
    for character in MANGLE_CHARACTERS:
        candidate = party_id[:2] + character
        if candidate not in used:
            return candidate
    raise PartyIdExhausted(party_id)
