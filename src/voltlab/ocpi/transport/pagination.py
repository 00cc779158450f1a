"""OCPI pagination: ``offset``, ``limit``, ``date_from`` (inclusive), ``date_to`` (exclusive)
in; ``X-Total-Count``, ``X-Limit`` and ``Link: <next>; rel="next"`` out.

A Sender's list endpoint::

    params = parse_page_params(request.query_params)         # 400 + 2001 when malformed
    page, headers = paginate(
        tokens, params, last_updated=lambda t: t.last_updated, base_url=str(request.url)
    )
    return ocpi_response(page, headers={**headers, **correlation_headers(request)})

``items`` must come in a stable order (oldest created first, as the specification advises),
or the pages of one crawl overlap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from voltlab.ocpi.transport.errors import InvalidParameters

T = TypeVar("T")

TOTAL_COUNT = "X-Total-Count"
LIMIT = "X-Limit"
LINK = "Link"


@dataclass(frozen=True, slots=True)
class PageParams:
    offset: int = 0
    limit: int = 50
    date_from: datetime | None = None  # aware UTC
    date_to: datetime | None = None  # aware UTC


def parse_page_params(
    query: Mapping[str, str], *, default_limit: int = 50, max_limit: int = 100
) -> PageParams:
    """The pagination parameters of ``query`` (e.g. ``request.query_params``).

    A ``limit`` above ``max_limit`` is lowered to it ("the server limits the maximum number
    of objects to return"), and ``X-Limit`` says so. A malformed value, a negative
    ``offset`` or a ``limit`` below 1 raises ``InvalidParameters`` naming the parameter.
    """
    offset = _int(query, "offset", 0, minimum=0)
    limit = min(_int(query, "limit", default_limit, minimum=1), max_limit)
    return PageParams(
        offset=offset,
        limit=limit,
        date_from=_datetime(query, "date_from"),
        date_to=_datetime(query, "date_to"),
    )


def paginate(
    items: Sequence[T],
    params: PageParams,
    *,
    last_updated: Callable[[T], datetime],
    base_url: str,
) -> tuple[list[T], dict[str, str]]:
    """The page of ``items`` that ``params`` asks for, and the headers to send with it.

    ``base_url`` is the URL the client called (``str(request.url)``, or its public form
    behind a proxy): the next link keeps its path and every other query parameter.
    """
    matching = [item for item in items if _in_window(_utc(last_updated(item)), params)]
    page = matching[params.offset : params.offset + params.limit]
    headers = {TOTAL_COUNT: str(len(matching)), LIMIT: str(params.limit)}
    if params.offset + len(page) < len(matching):
        headers[LINK] = link_header(
            next_page_url(base_url, offset=params.offset + len(page), limit=params.limit)
        )
    return page, headers


def next_page_url(base_url: str, *, offset: int, limit: int) -> str:
    """``base_url`` with ``offset`` and ``limit`` set and its other parameters kept.

    >>> url = "https://x.org/cdrs/?date_from=2016-01-01T00:00:00Z&offset=0"
    >>> next_page_url(url, offset=100, limit=100)
    'https://x.org/cdrs/?offset=100&limit=100&date_from=2016-01-01T00:00:00Z'
    """
    parts = urlsplit(str(base_url))
    kept = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key not in ("offset", "limit")
    ]
    query = urlencode(
        [("offset", str(offset)), ("limit", str(limit)), *kept], quote_via=quote, safe=":"
    )
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def link_header(url: str, rel: str = "next") -> str:
    """``<url>; rel="next"``, the specification's form."""
    return f'<{url}>; rel="{rel}"'


_LINK = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]+)*)")
_REL = re.compile(r"""rel\s*=\s*"?([^";]+)"?""", re.IGNORECASE)


def next_link(header_value: str | None) -> str | None:
    """The URL of ``rel="next"`` in a ``Link`` header (which may list several links).

    >>> next_link('<https://x.org/a?offset=2>; rel="prev", <https://x.org/a?offset=4>; rel="next"')
    'https://x.org/a?offset=4'
    """
    if not header_value:
        return None
    for match in _LINK.finditer(header_value):
        for rel in _REL.finditer(match.group(2)):
            if "next" in rel.group(1).lower().split():
                return match.group(1).strip()
    return None


def _int(query: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise InvalidParameters(f"{name}: not an integer: {raw[:40]!r}") from None
    if value < minimum:
        raise InvalidParameters(f"{name}: must be at least {minimum}, got {value}")
    return value


# "+00:00" arrives as " 00:00" when a client does not percent-encode the "+".
_SPACED_OFFSET = re.compile(r"(T[0-9:.]+) (\d{2}:?\d{2})$")


def _datetime(query: Mapping[str, str], name: str) -> datetime | None:
    """An OCPI DateTime: RFC 3339, ``Z`` optional (no designator means UTC); an offset is
    accepted and converted, though OCPI peers should not send one."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    text = _SPACED_OFFSET.sub(r"\1+\2", raw.strip())
    try:
        if "T" not in text.upper():
            raise ValueError("no time part")
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameters(
            f"{name}: not an RFC 3339 date-time (e.g. 2026-11-22T10:00:00Z): {raw[:40]!r}"
        ) from None
    return _utc(value)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in_window(when: datetime, params: PageParams) -> bool:
    if params.date_from is not None and when < params.date_from:
        return False
    return params.date_to is None or when < params.date_to
