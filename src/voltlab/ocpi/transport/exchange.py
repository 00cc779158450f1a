"""One OCPI HTTP exchange, as recorded: the client reports its calls ("out"), the server
its answers ("in"), both with this dataclass so one log holds both directions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

MAX_BODY_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class Exchange:
    direction: Literal["in", "out"]
    method: str
    url: str
    http_status: int | None  # None: no answer (transport error, timeout)
    status_code: int | None  # the envelope's, None when there was none
    request_body: str | None  # cut to MAX_BODY_BYTES like the answer
    response_body: str | None  # cut to MAX_BODY_BYTES
    duration_ms: float
    error: str | None  # None on success; what went wrong otherwise
    request_id: str | None
    correlation_id: str | None
    created_at: datetime  # aware UTC, when the request started


_CUT = "...[cut: {} more bytes]"


def body_text(raw: bytes | str | None, limit: int = MAX_BODY_BYTES) -> str | None:
    """``raw`` as text of at most ``limit`` UTF-8 bytes; a cut body says how much is missing.

    >>> body_text(b"x" * 40, limit=30)
    'xxxxxxx...[cut: 33 more bytes]'
    """
    if raw is None:
        return None
    data = raw.encode("utf-8", "replace") if isinstance(raw, str) else raw
    if len(data) <= limit:
        return data.decode("utf-8", "replace")
    keep = max(0, limit - len(_CUT.format(len(data))))
    # "ignore": a multi-byte character split at the cut is dropped, not turned into U+FFFD.
    return data[:keep].decode("utf-8", "ignore") + _CUT.format(len(data) - keep)
