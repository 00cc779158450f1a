"""Management bodies for an eMSP bundle's tokens (``/ocpi/cpos/{id}/tokens``).

The fields are the OCPI 2.2.1 Token's, minus what the bundle decides itself:
``country_code`` and ``party_id`` (the bundle's own party) and ``last_updated`` (now).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from voltlab.domain.inputs import InputModel
from voltlab.ocpi.models.tokens import ProfileType, TokenType, WhitelistType

# OCPI CiString(n): printable ASCII; string(n): printable text (no control characters).
_ASCII = r"^[\x20-\x7e]+$"
CiString36 = Annotated[str, StringConstraints(min_length=1, max_length=36, pattern=_ASCII)]
Text64 = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Language = Annotated[str, StringConstraints(min_length=2, max_length=2, pattern=r"^[a-zA-Z]{2}$")]
Label = Annotated[str, StringConstraints(max_length=128)]


class EnergyContractIn(InputModel):
    supplier_name: Text64
    contract_id: Text64 | None = None


class TokenCreate(InputModel):
    """A new token; ``uid`` and ``contract_id`` are generated when omitted, ``issuer``
    defaults to the bundle's business name."""

    uid: CiString36 | None = None
    type: TokenType = TokenType.RFID
    contract_id: CiString36 | None = None
    visual_number: Text64 | None = None
    issuer: Text64 | None = None
    group_id: CiString36 | None = None
    valid: bool = True
    whitelist: WhitelistType = WhitelistType.ALLOWED
    language: Language | None = None
    default_profile_type: ProfileType | None = None
    energy_contract: EnergyContractIn | None = None
    label: Label | None = Field(default=None, description="why the token exists (lab note)")


# Token fields an update may set; ``uid`` and ``type`` identify the token and stay.
UPDATABLE = (
    "contract_id",
    "visual_number",
    "issuer",
    "group_id",
    "valid",
    "whitelist",
    "language",
    "default_profile_type",
    "energy_contract",
)
# Required in an OCPI Token: they can change, never disappear.
REQUIRED = ("contract_id", "issuer", "valid", "whitelist")


class TokenUpdate(InputModel):
    """A partial update: the given fields change; an optional field set to null is removed."""

    contract_id: CiString36 | None = None
    visual_number: Text64 | None = None
    issuer: Text64 | None = None
    group_id: CiString36 | None = None
    valid: bool | None = None
    whitelist: WhitelistType | None = None
    language: Language | None = None
    default_profile_type: ProfileType | None = None
    energy_contract: EnergyContractIn | None = None
    label: Label | None = None

    @field_validator(*REQUIRED, mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("is required in an OCPI Token: it cannot be removed")
        return value
