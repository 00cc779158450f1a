"""Records every OCPI request a bundle serves (direction "in") in its exchange log.

A plain ASGI middleware: it sees the bytes as they went over the wire, whatever route or
error handler produced the answer.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any

import orjson

from voltlab.ids import utcnow
from voltlab.ocpi.transport import Exchange
from voltlab.ocpi.transport.exchange import body_text

_BUNDLE_PATH = re.compile(r"^/ocpi/(\d{1,9})/")


class OcpiRecordingMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        match = _BUNDLE_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        bundle_id = int(match.group(1))
        started, began = time.perf_counter(), utcnow()
        request_body = bytearray()
        response_body = bytearray()
        answer: dict[str, Any] = {}

        async def recording_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                request_body.extend(message.get("body", b""))
            return message

        async def recording_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = {
                    k.decode("latin-1").lower(): v.decode("latin-1")
                    for k, v in message.get("headers", [])
                }
            elif message["type"] == "http.response.body":
                response_body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    # Recorded before the client can read the end of the answer: the log
                    # is then in the order the peer saw its exchanges finish (a request
                    # it sends next is never logged before this one).
                    answer["recorded"] = True
                    self._record(
                        scope, bundle_id, began, started, request_body, response_body, answer
                    )
            await send(message)

        error: str | None = None
        try:
            await self.app(scope, recording_receive, recording_send)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if not answer.get("recorded"):
                self._record(
                    scope, bundle_id, began, started, request_body, response_body, answer, error
                )

    def _record(
        self,
        scope: dict[str, Any],
        bundle_id: int,
        began: Any,
        started: float,
        request_body: bytearray,
        response_body: bytearray,
        answer: dict[str, Any],
        error: str | None = None,
    ) -> None:
        services = getattr(scope["app"].state, "services", None)
        if services is None:
            return
        status_code = None
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            status_code = orjson.loads(bytes(response_body)).get("status_code")
        query = scope.get("query_string", b"").decode("latin-1")
        headers = answer.get("headers", {})
        services.ocpi.exchanges.record(
            bundle_id,
            Exchange(
                direction="in",
                method=scope.get("method", ""),
                url=scope.get("path", "") + (f"?{query}" if query else ""),
                http_status=answer.get("status"),
                status_code=status_code if isinstance(status_code, int) else None,
                request_body=body_text(bytes(request_body)) if request_body else None,
                response_body=body_text(bytes(response_body)) if response_body else None,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                error=error,
                request_id=headers.get("x-request-id"),
                correlation_id=headers.get("x-correlation-id"),
                created_at=began,
            ),
        )
