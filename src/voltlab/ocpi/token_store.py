"""Token rows: an eMSP bundle's own tokens and a CPO bundle's cache, one shape for both."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from voltlab.ids import utcnow


def token_row(
    org_id: str, bundle_id: int, token: dict[str, Any], *, label: str | None = None
) -> dict[str, Any]:
    """``token`` is an OCPI 2.2.1 Token object as on the wire (already validated)."""
    last_updated = token.get("last_updated")
    when = _parse(last_updated) if last_updated else utcnow()
    return {
        "org_id": org_id,
        "bundle_id": bundle_id,
        "country_code": token["country_code"],
        "party_id": token["party_id"],
        "uid": token["uid"],
        "type": token.get("type", "RFID"),
        "valid": bool(token["valid"]),
        "whitelist": token["whitelist"],
        "label": label,
        "data": token,
        "last_updated": when,
    }


def _parse(value: str) -> datetime:
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
