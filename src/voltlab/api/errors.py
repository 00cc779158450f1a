"""Rendering domain errors as REST answers (api.md's error table)."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from voltlab.auth import AuthError
from voltlab.domain.errors import FieldInvalid
from voltlab.errors import (
    CapacityExceeded,
    Conflict,
    InvalidRequest,
    NotFound,
    UpstreamFailed,
    VoltlabError,
)

log = logging.getLogger(__name__)

STATUS = {
    NotFound: 404,
    Conflict: 409,
    InvalidRequest: 400,
    CapacityExceeded: 503,
    UpstreamFailed: 502,
}


def install(app: FastAPI) -> None:
    @app.exception_handler(AuthError)
    async def _auth(_: Request, exc: AuthError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)

    @app.exception_handler(FieldInvalid)
    async def _field(_: Request, exc: FieldInvalid) -> JSONResponse:
        # The same shape FastAPI gives schema failures, so clients parse one format.
        detail = [{"loc": ["body", *exc.loc], "msg": exc.detail, "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(VoltlabError)
    async def _domain(_: Request, exc: VoltlabError) -> JSONResponse:
        status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)
        return JSONResponse({"detail": exc.detail}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for error in exc.errors():
            error = dict(error)
            error.pop("url", None)
            if "input" in error:
                error["input"] = _json_safe(error["input"])
            if "ctx" in error:
                error["ctx"] = _json_safe(error["ctx"])
            errors.append(error)
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # This handler runs outside every middleware (Starlette's ServerErrorMiddleware),
        # so it sets the X-Request-ID header itself, with the id the middleware chose.
        request_id = getattr(request.state, "request_id", None)
        log.exception("unhandled error (request %s)", request_id)
        headers = {"X-Request-ID": request_id} if request_id else None
        return JSONResponse(
            {"detail": "internal error", "request_id": request_id},
            status_code=500,
            headers=headers,
        )


def _json_safe(value: Any) -> Any:
    """The offending input echoed in a 422, made encodable: a NaN, a lone surrogate or an
    exception object must not turn the answer to bad input into a 500."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(_json_safe(k)): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_safe(item) for item in value]
    return _json_safe(str(value))
