from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")

MAX_LIMIT = 100


class Page(BaseModel, Generic[T]):
    data: list[T]
    total: int
    page: int
    limit: int
