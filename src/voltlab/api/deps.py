from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from voltlab.domain.pagination import MAX_LIMIT
from voltlab.services import Services


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(services)]
PageQ = Annotated[int, Query(ge=1, le=1_000_000, description="1-based page")]
LimitQ = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def split_ids(values: list[str] | None) -> list[str] | None:
    """``charger_ids=a,b`` and ``charger_ids=a&charger_ids=b`` both work."""
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]
