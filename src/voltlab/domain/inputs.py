"""The base of every request-body schema, and the text rule all inputs share.

Text that reaches the database must be storable on every backend: PostgreSQL refuses
NUL characters, and no driver can encode a lone UTF-16 surrogate. Refusing both at the
edge turns what would be a database error (a 500) into a 422 that names the field.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None when it can."""
    if "\x00" in value:
        return "must not contain NUL characters (\\u0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (it contains a lone surrogate)"
    return None


def storable_text(value: str) -> str:
    """A pydantic ``AfterValidator``: refuse text that cannot be stored."""
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class InputModel(BaseModel):
    """Request bodies: unknown fields are refused, text is stripped and storable."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, str):
                storable_text(item)
        return value
