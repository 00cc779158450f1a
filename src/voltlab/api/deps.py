from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import AfterValidator

from voltlab.domain.inputs import storable_text
from voltlab.domain.pagination import MAX_LIMIT
from voltlab.services import Services


async def services(request: Request) -> Services:
    # async: FastAPI runs sync dependencies in a worker thread (a hop per request).
    return request.app.state.services  # type: ignore[no-any-return]


def _storable(value: str | list[str] | None) -> str | list[str] | None:
    for item in value if isinstance(value, list) else [value]:
        if item is not None:
            storable_text(item)
    return value


def _utc(value: datetime | None) -> datetime | None:
    """Naive means UTC; a time that leaves datetime's range in UTC is refused (not a 500)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("is out of range once converted to UTC") from exc


ServicesDep = Annotated[Services, Depends(services)]
PageQ = Annotated[int, Query(ge=1, le=1_000_000, description="1-based page")]
LimitQ = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
# Query text that reaches a database query: storable on every backend (no NUL).
TextQ = AfterValidator(_storable)
UtcQ = AfterValidator(_utc)


def split_ids(values: list[str] | None) -> list[str] | None:
    """``charger_ids=a,b`` and ``charger_ids=a&charger_ids=b`` both work."""
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]
