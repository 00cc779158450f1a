"""A bundle's lab behaviour (``GET|PUT /ocpi/cpos/{id}/behaviour``): how its simulated
party misbehaves on purpose.

eMSP fields shape the answer to ``POST {tokens}/{uid}/authorize``; CPO fields shape the
CPO's real-time call and its fallback. ``PUT`` merges the fields it is given (a field is
replaced whole: ``forced_answers`` is one field), ``GET`` shows every field of the role::

    body = BehaviourUpdate.model_validate({"answer_delay_ms": 800})
    current = await behaviour.update(services, bundle, body)   # FieldInvalid: 422
    effective(bundle)["answer_delay_ms"]                         # 800

Stored on ``OcpiBundle.behaviour`` as one JSON object holding both roles' fields (the
defaults of ``DEFAULT_BEHAVIOUR`` for the other role), so readers may use ``.get`` freely.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator

from voltlab.domain.errors import FieldInvalid
from voltlab.domain.inputs import InputModel
from voltlab.errors import NotFound
from voltlab.ids import utcnow
from voltlab.ocpi.bundles.service import DEFAULT_BEHAVIOUR
from voltlab.ocpi.models.tokens import AllowedType
from voltlab.services import Services
from voltlab.storage.ocpi import OcpiBundle

EMSP_FIELDS = ("answer_delay_ms", "forced_answers", "error", "silent")
CPO_FIELDS = ("realtime_timeout_ms", "fallback_policy")
FIELDS_BY_ROLE = {"EMSP": EMSP_FIELDS, "CPO": CPO_FIELDS}

MAX_ANSWER_DELAY_MS = 120_000
# A token uid as OCPI writes it: CiString(36), printable ASCII.
TokenUid = Annotated[str, StringConstraints(min_length=1, max_length=36, pattern=r"^[\x20-\x7e]+$")]


class ForcedError(InputModel):
    """The OCPI error every authorize is answered with."""

    http_status: int = Field(ge=400, le=599)
    status_code: int = Field(ge=2000, le=3999)


class BehaviourUpdate(InputModel):
    """``PUT /ocpi/cpos/{id}/behaviour``: the fields to change; unknown fields -> 422."""

    # eMSP
    answer_delay_ms: int | None = Field(default=None, ge=0, le=MAX_ANSWER_DELAY_MS)
    forced_answers: dict[TokenUid, AllowedType] | None = None
    error: ForcedError | None = None
    silent: bool | None = None
    # CPO
    realtime_timeout_ms: int | None = Field(default=None, ge=100, le=60_000)
    fallback_policy: Literal["whitelist", "refuse", "accept_known"] | None = None

    @field_validator(
        "answer_delay_ms",
        "forced_answers",
        "silent",
        "realtime_timeout_ms",
        "fallback_policy",
        mode="before",
    )
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # ``None`` is only the "not given" default; of these fields only ``error`` may be
        # set to null (no forced error), so an explicit null elsewhere is a mistake.
        if value is None:
            raise ValueError("must not be null")
        return value


def effective(bundle: OcpiBundle) -> dict[str, Any]:
    """The bundle's behaviour, every field present (defaults filled in)."""
    return {**DEFAULT_BEHAVIOUR, **(bundle.behaviour or {})}


def visible(bundle: OcpiBundle) -> dict[str, Any]:
    """What ``GET`` shows: the fields of the bundle's role."""
    current = effective(bundle)
    return {name: current[name] for name in FIELDS_BY_ROLE.get(bundle.role, ())}


def changes(bundle: OcpiBundle, body: BehaviourUpdate) -> dict[str, Any]:
    """The given fields as stored JSON; a field of the other role -> ``FieldInvalid``."""
    allowed = FIELDS_BY_ROLE.get(bundle.role, ())
    given = body.model_dump(mode="json", include=body.model_fields_set)
    for name in sorted(given):
        if name not in allowed:
            role = "eMSP" if bundle.role == "EMSP" else "CPO"
            other = "a CPO" if name in CPO_FIELDS else "an eMSP"
            raise FieldInvalid((name,), f"{name} is {other} field; bundle {bundle.id} is a {role}")
    return given


async def update(services: Services, bundle: OcpiBundle, body: BehaviourUpdate) -> dict[str, Any]:
    """Merge ``body`` into the stored behaviour; the visible behaviour afterwards."""
    given = changes(bundle, body)
    async with services.sessions.begin() as session:
        row = await session.get(OcpiBundle, bundle.id)
        if row is None:  # destroyed meanwhile
            raise NotFound(f"OCPI bundle {bundle.id} not found")
        # A new dict, not an in-place change: the JSON column only sees assignments.
        row.behaviour = {**effective(row), **given}
        row.updated_at = utcnow()
        bundle.behaviour = row.behaviour
    return visible(bundle)
