"""OCPI DateTimes as sessions and CDRs write and read them: aware UTC, whole seconds."""

from __future__ import annotations

from datetime import UTC, datetime

from voltlab.ids import utcnow


def whole_second(when: datetime | None) -> datetime:
    """Aware UTC to the second: OCPI DateTimes carry no fractions, so every period boundary
    voltlab computes is on a whole second and reads back exactly."""
    when = when or utcnow()
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.replace(microsecond=0)


def ocpi_datetime(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
