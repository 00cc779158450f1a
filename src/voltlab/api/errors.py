"""Rendering domain errors as REST answers (api.md's error table)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from voltlab.auth import AuthError
from voltlab.domain.errors import FieldInvalid
from voltlab.errors import CapacityExceeded, Conflict, InvalidRequest, NotFound, VoltlabError

log = logging.getLogger(__name__)

STATUS = {NotFound: 404, Conflict: 409, InvalidRequest: 400, CapacityExceeded: 503}


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
            ctx = error.get("ctx")
            if isinstance(ctx, dict):  # exceptions inside ctx are not JSON
                error["ctx"] = {k: str(v) for k, v in ctx.items()}
            if isinstance(error.get("input"), bytes):
                error["input"] = error["input"].decode("utf-8", "replace")
            errors.append(error)
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        request_id = request.headers.get("x-request-id") or getattr(
            request.state, "request_id", None
        )
        log.exception("unhandled error (request %s)", request_id)
        return JSONResponse({"detail": "internal error", "request_id": request_id}, status_code=500)
