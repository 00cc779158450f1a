from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["user", "admin"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the verified claims of a bearer token."""

    sub: str
    role: Role
    org: str | None
