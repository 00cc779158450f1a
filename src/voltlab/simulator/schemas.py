"""The official OCPP JSON schemas shipped with ``ocpp``, compiled with fastjsonschema.

Same schemas as ``ocpp`` validates with, about 25x faster than ``jsonschema``; each is
compiled on first use and cached for the life of the process. Each is compiled with the
JSON Schema draft it declares: draft-04 for 1.6 (``1.0`` is not an integer, as in
``ocpp``'s validator), draft-06 for 2.0.1 (where it is). Unlike ``ocpp``'s validator, these
enforce ``format`` (``date-time``, ``uri``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import fastjsonschema

Validator = Callable[[Any], Any]


class SchemaViolation(ValueError):
    """A payload that fails its official schema; the message names the field."""


def _schema_file(version: str, action: str, response: bool) -> str:
    if version == "1.6":
        return f"{action}Response.json" if response else f"{action}.json"
    return f"{action}Response.json" if response else f"{action}Request.json"


@functools.cache
def _validator(version: str, action: str, response: bool) -> Validator | None:
    package = "ocpp.v16.schemas" if version == "1.6" else "ocpp.v201.schemas"
    path = resources.files(package) / _schema_file(version, action, response)
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    # ``$schema`` stays: fastjsonschema picks its rules by it, and without it uses its
    # latest draft, where 1.0 is an integer (not on 1.6, a draft-04 schema).
    # use_default=False: validation must not write schema defaults into our frames.
    return fastjsonschema.compile(schema, use_default=False)


def known_action(version: str, action: str) -> bool:
    # Actions come from the CSMS: only names the schemas define may become file names
    # or keys of the validator cache (which would otherwise grow with every new name).
    return action in actions(version)


def validate(version: str, action: str, payload: Any, *, response: bool) -> None:
    """Raise :class:`SchemaViolation` if ``payload`` fails the official schema."""
    validator = _validator(version, action, response) if action in actions(version) else None
    if validator is None:
        kind = "response" if response else "request"
        raise SchemaViolation(f"OCPP {version} has no {kind} schema for action {action!r}")
    try:
        validator(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise SchemaViolation(f"{action}{'Response' if response else ''}: {exc.message}") from exc


# Actions a charging station initiates (the rest are the CSMS's), per version.
CHARGER_ACTIONS = {
    "1.6": frozenset(
        {
            "Authorize",
            "BootNotification",
            "DataTransfer",
            "DiagnosticsStatusNotification",
            "FirmwareStatusNotification",
            "Heartbeat",
            "MeterValues",
            "StartTransaction",
            "StatusNotification",
            "StopTransaction",
            "LogStatusNotification",
            "SecurityEventNotification",
            "SignCertificate",
            "SignedFirmwareStatusNotification",
        }
    ),
    "2.0.1": frozenset(
        {
            "Authorize",
            "BootNotification",
            "ClearedChargingLimit",
            "DataTransfer",
            "FirmwareStatusNotification",
            "Get15118EVCertificate",
            "GetCertificateStatus",
            "Heartbeat",
            "LogStatusNotification",
            "MeterValues",
            "NotifyChargingLimit",
            "NotifyCustomerInformation",
            "NotifyDisplayMessages",
            "NotifyEVChargingNeeds",
            "NotifyEVChargingSchedule",
            "NotifyEvent",
            "NotifyMonitoringReport",
            "NotifyReport",
            "PublishFirmwareStatusNotification",
            "ReportChargingProfiles",
            "ReservationStatusUpdate",
            "SecurityEventNotification",
            "SignCertificate",
            "StatusNotification",
            "TransactionEvent",
        }
    ),
}


@functools.cache
def actions(version: str) -> frozenset[str]:
    """Every action the official schemas of ``version`` define (both directions)."""
    package = "ocpp.v16.schemas" if version == "1.6" else "ocpp.v201.schemas"
    names = set()
    for entry in resources.files(package).iterdir():
        name = entry.name
        if not name.endswith(".json"):
            continue
        stem = name.removesuffix(".json")
        if stem.endswith("Response"):
            continue
        names.add(stem.removesuffix("Request") if version != "1.6" else stem)
    return frozenset(names)


@functools.cache
def wire_names(version: str) -> dict[str, str]:
    """``"bootnotification"`` -> ``"BootNotification"``: match user spellings
    (``boot_notification``, ``BootNotification``) by squashing case and underscores."""
    return {name.lower(): name for name in actions(version)}
