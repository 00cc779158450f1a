"""The OCPI response envelope, request bodies and the X-Request-ID / X-Correlation-ID pair.

A handler::

    @router.put("/tokens/{country_code}/{party_id}/{uid}")
    async def put_token(request: Request, ...) -> Response:
        token = await read_json(request, Token)          # 400 + 2001 on bad input
        created = await service.store(token)
        return ocpi_response(
            http_status=201 if created else 200, headers=correlation_headers(request)
        )

and ``install(app)`` once, so that a raised ``OcpiError`` becomes its envelope.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from voltlab.ocpi.transport.errors import InvalidParameters, OcpiError

M = TypeVar("M", bound=BaseModel)

REQUEST_ID = "X-Request-ID"
CORRELATION_ID = "X-Correlation-ID"

# A caller's id is echoed only when it is a sane token (no header injection, no megabytes);
# the same rule as the REST API's RequestIdMiddleware.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_JSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def ocpi_timestamp(when: datetime | None = None) -> str:
    """An OCPI DateTime: UTC, second precision, ``Z`` (``2026-11-22T10:00:00Z``).

    ``when`` defaults to now; a naive ``when`` is taken as UTC (OCPI's own rule).
    """
    if when is None:
        when = datetime.now(UTC)
    elif when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return ocpi_timestamp(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True, by_alias=True)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as OCPI JSON")


def dump_json(value: Any) -> bytes:
    """``value`` as OCPI JSON. Pydantic models as ``voltlab.ocpi.models.dump`` gives them
    (JSON mode, by alias, no ``None`` fields: their own serializers write their fields);
    every other ``datetime``, naive or with an offset too, as an OCPI DateTime."""
    return orjson.dumps(value, default=_default, option=_JSON_OPTIONS)


def envelope(
    data: Any = None, status_code: int = 1000, status_message: str | None = None
) -> dict[str, Any]:
    """``{data?, status_code, status_message?, timestamp}``; ``data=None`` leaves it out,
    as the specification advises when there is nothing to return."""
    body: dict[str, Any] = {}
    if data is not None:
        body["data"] = data
    body["status_code"] = status_code
    if status_message is not None:
        body["status_message"] = status_message
    body["timestamp"] = ocpi_timestamp()
    return body


def ocpi_response(
    data: Any = None,
    *,
    status_code: int = 1000,
    status_message: str | None = None,
    http_status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        content=dump_json(envelope(data, status_code, status_message)),
        status_code=http_status,
        headers=dict(headers) if headers else None,
        media_type="application/json",
    )


def error_response(exc: OcpiError, headers: Mapping[str, str] | None = None) -> Response:
    """The envelope of ``exc`` with its HTTP status; ``exc.headers`` (e.g. the 401's
    ``WWW-Authenticate``) and ``headers`` (e.g. ``correlation_headers``) both go out."""
    return ocpi_response(
        exc.data,
        status_code=exc.status_code,
        status_message=exc.message,
        http_status=exc.http_status,
        headers={**exc.headers, **(headers or {})},
    )


def correlation_headers(request: Request) -> dict[str, str]:
    """``{X-Request-ID, X-Correlation-ID}`` to answer ``request`` with: the caller's values,
    or a new uuid4 for each one missing (or unusable). Stable for one request, so the
    handler and the error handler answer the same ids."""
    ids: dict[str, str] | None = getattr(request.state, "ocpi_ids", None)
    if ids is not None:
        return dict(ids)
    # Behind voltlab's RequestIdMiddleware the answer's X-Request-ID is the middleware's:
    # use the same value, so the two never disagree.
    request_id = getattr(request.state, "request_id", None) or _safe_id(
        request.headers.get(REQUEST_ID)
    )
    correlation_id = _safe_id(request.headers.get(CORRELATION_ID))
    ids = {REQUEST_ID: request_id, CORRELATION_ID: correlation_id}
    request.state.ocpi_ids = ids
    return dict(ids)


def _safe_id(value: str | None) -> str:
    return value if value and _SAFE_ID.fullmatch(value) else str(uuid.uuid4())


def install(app: Any) -> None:
    """Render every ``OcpiError`` raised by a route of ``app`` (a FastAPI or Starlette app)
    as its OCPI envelope, echoing the request's X-Request-ID and X-Correlation-ID."""

    async def _render(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OcpiError)
        return error_response(exc, correlation_headers(request))

    app.add_exception_handler(OcpiError, _render)


async def read_json(request: Request, model: type[M]) -> M:
    """The body of ``request`` as ``model``; bad JSON or a failing field -> ``InvalidParameters``
    (HTTP 400, 2001) whose message names each failing field: ``last_updated: Field required``."""
    return _validate(await request.body(), model)


async def read_json_optional(request: Request, model: type[M]) -> M | None:
    """As ``read_json``, for bodies that may be absent (authorize's LocationReferences):
    an empty body or JSON ``null`` gives ``None``."""
    body = await request.body()
    if not body.strip() or body.strip() == b"null":
        return None
    return _validate(body, model)


def _validate(body: bytes, model: type[M]) -> M:
    if not body.strip():
        raise InvalidParameters("missing JSON body")
    # orjson decides what is JSON (strict RFC 8259: pydantic's parser takes NaN); pydantic
    # then validates in JSON mode, so strict models still take "RFID" for an enum and an
    # RFC 3339 string for a datetime. Two parses of a small body cost less than a surprise.
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidParameters(f"invalid JSON: {exc}") from None
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidParameters(validation_message(exc)) from None


def validation_message(exc: ValidationError) -> str:
    """``evses.0.uid: Field required; last_updated: Input should be a valid datetime``."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(part) for part in error["loc"]) or "body"
        parts.append(f"{path}: {error['msg']}")
    return "; ".join(parts)
