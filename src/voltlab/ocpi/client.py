"""The OCPI HTTP client: one call to a peer, or a whole paginated list.

The owner (the app's lifespan) holds the ``httpx.AsyncClient`` and closes it::

    http = OcpiClient.new_http_client(timeout_s=10)
    client = OcpiClient(http, token=token_c, on_exchange=exchange_log.append)
    tokens = await client.get_all(endpoints["tokens"])
    reply = await client.post(authorize_url, json=location_refs, timeout_s=5)
    info = reply.data
    ...
    await http.aclose()

Every call sends ``Authorization: Token <base64(token)>``, a fresh ``X-Request-ID`` per HTTP
request and an ``X-Correlation-ID`` (the caller's, or a fresh one for the call). A call
that does not end with an OCPI success (``status_code`` 1000-1999, HTTP < 400) raises
``OcpiClientError`` carrying what the peer said; no answer in time raises ``OcpiTimeout``.
Each HTTP request, retries included, is reported to ``on_exchange`` as an ``Exchange``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import httpx
import orjson

from voltlab.ocpi.transport.auth import authorization_header
from voltlab.ocpi.transport.envelope import CORRELATION_ID, REQUEST_ID, dump_json
from voltlab.ocpi.transport.errors import OcpiClientError, OcpiTimeout
from voltlab.ocpi.transport.exchange import Exchange, body_text
from voltlab.ocpi.transport.pagination import LIMIT, LINK, TOTAL_COUNT, next_link

log = logging.getLogger(__name__)

IDEMPOTENT = frozenset({"GET", "PUT", "DELETE"})
RETRY_HTTP_STATUSES = frozenset({429, 502, 503, 504})
BACKOFF_S = 0.1  # then 0.2, 0.4...: a lab's peers are near, and callers are waiting
CONNECT_TIMEOUT_S = 5.0
ERROR_BODY_BYTES = 4096

Params = Mapping[str, str | int | float | bool | None]


@dataclass(frozen=True, slots=True)
class OcpiReply:
    """A successful OCPI answer."""

    http_status: int
    status_code: int
    status_message: str | None
    data: Any  # None when the envelope had no data
    headers: httpx.Headers
    timestamp: str | None  # the envelope's, as the peer wrote it

    @property
    def next_url(self) -> str | None:
        """The ``Link rel="next"`` URL, as sent (possibly relative)."""
        return next_link(self.headers.get(LINK))

    @property
    def total_count(self) -> int | None:
        return _int_or_none(self.headers.get(TOTAL_COUNT))

    @property
    def limit(self) -> int | None:
        return _int_or_none(self.headers.get(LIMIT))


class OcpiClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token: str | None,
        on_exchange: Callable[[Exchange], None] | None = None,
        retries: int = 2,
        timeout_s: float | None = None,
    ) -> None:
        """``token`` is the credentials token in clear (``None``: no Authorization header);
        ``retries`` is how often a GET, PUT or DELETE is tried again after a connect error,
        429, 502, 503 or 504; ``timeout_s`` bounds each attempt (default: ``http``'s)."""
        self.http = http
        self.token = token
        self.on_exchange = on_exchange
        self.retries = max(0, retries)
        self.timeout_s = timeout_s

    @staticmethod
    def new_http_client(timeout_s: float = 10.0) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` fit for OCPI peers: connect 5 s, read/write ``timeout_s``,
        one transport-level retry of a failed connect, no redirects followed."""
        return httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s)),
            transport=httpx.AsyncHTTPTransport(retries=1),
            follow_redirects=False,
        )

    def with_token(self, token: str | None) -> OcpiClient:
        """The same client (same ``httpx`` client, recorder and settings) with another token."""
        return OcpiClient(
            self.http,
            token=token,
            on_exchange=self.on_exchange,
            retries=self.retries,
            timeout_s=self.timeout_s,
        )

    async def get(self, url: str, **kwargs: Any) -> OcpiReply:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> OcpiReply:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> OcpiReply:
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> OcpiReply:
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> OcpiReply:
        return await self.request("DELETE", url, **kwargs)

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        correlation_id: str | None = None,
    ) -> OcpiReply:
        """One OCPI call. ``json`` is a pydantic model (dumped without ``None`` fields), a
        dict or a list; ``None`` sends no body. ``headers`` (e.g. the OCPI-to-/from- routing
        headers) are added last and win."""
        method = method.upper()
        body = None if json is None else dump_json(json)
        correlation_id = correlation_id or str(uuid.uuid4())
        timeout = timeout_s if timeout_s is not None else self.timeout_s
        attempts = 1 + (self.retries if method in IDEMPOTENT else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                return await self._attempt(
                    method, url, body, params, headers, timeout, correlation_id
                )
            except _Retryable as retry:
                if last:
                    raise retry.error from retry.__cause__
            await asyncio.sleep(BACKOFF_S * 2**attempt)
        raise AssertionError("unreachable")

    async def pages(
        self,
        url: str,
        *,
        params: Params | None = None,
        limit: int | None = None,
        max_pages: int = 1000,
        correlation_id: str | None = None,
    ) -> AsyncIterator[list[Any]]:
        """The ``data`` of each page of a paginated list: GET ``url``, then each
        ``Link rel="next"`` (the filters in ``params``, e.g. ``date_from``, travel in the links
        the server builds). One correlation id for the whole crawl. A failing page raises
        after the pages before it were handed out, so a caller can keep them."""
        query: dict[str, Any] = dict(params or {})
        if limit is not None:
            query["limit"] = limit
        correlation_id = correlation_id or str(uuid.uuid4())
        current: str = url
        current_params: dict[str, Any] | None = query or None
        seen: set[str] = set()
        for _ in range(max_pages):
            reply = await self.request(
                "GET", current, params=current_params, correlation_id=correlation_id
            )
            data = reply.data if reply.data is not None else []
            if not isinstance(data, list):
                raise OcpiClientError(
                    f"expected a list in data, got {type(data).__name__}", url=current
                )
            yield data
            following = reply.next_url
            if following is None or not data:
                return
            current, current_params = urljoin(current, following), None
            if current in seen:
                raise OcpiClientError("the next link repeats an earlier page", url=current)
            seen.add(current)
        raise OcpiClientError(f"more than {max_pages} pages", url=url)

    async def get_all(
        self,
        url: str,
        *,
        params: Params | None = None,
        limit: int | None = None,
        max_pages: int = 1000,
        correlation_id: str | None = None,
    ) -> list[Any]:
        """Every object of a paginated list (``pages`` concatenated)."""
        items: list[Any] = []
        async for page in self.pages(
            url, params=params, limit=limit, max_pages=max_pages, correlation_id=correlation_id
        ):
            items.extend(page)
        return items

    async def _attempt(
        self,
        method: str,
        url: str,
        body: bytes | None,
        params: Params | None,
        extra_headers: Mapping[str, str] | None,
        timeout_s: float | None,
        correlation_id: str,
    ) -> OcpiReply:
        headers = {REQUEST_ID: str(uuid.uuid4()), CORRELATION_ID: correlation_id}
        if self.token is not None:
            headers["Authorization"] = authorization_header(self.token)
        if body is not None:
            headers["Content-Type"] = "application/json"
        headers.update(extra_headers or {})
        created_at = datetime.now(UTC)
        started = time.perf_counter()
        record = _Record(
            method=method,
            url=url,
            request_body=body_text(body),
            request_id=headers.get(REQUEST_ID),
            correlation_id=headers.get(CORRELATION_ID),
            created_at=created_at,
            started=started,
        )
        try:
            request = self.http.build_request(
                method,
                url,
                content=body,
                params=_clean(params),
                headers=headers,
                timeout=_timeout(timeout_s),
            )
            record.url = str(request.url)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, TypeError) as exc:
            error = OcpiClientError(f"invalid request: {exc}", url=url, method=method)
            self._report(record, error=str(error))
            raise error from exc
        try:
            response = await self._send(request, timeout_s)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            kind = OcpiTimeout if isinstance(exc, httpx.ConnectTimeout) else OcpiClientError
            error = kind(f"cannot connect: {_describe(exc)}", url=record.url, method=method)
            self._report(record, error=str(error))
            raise _Retryable(error) from exc
        except (httpx.TimeoutException, TimeoutError) as exc:
            said = f"no answer within {timeout_s} s" if timeout_s else f"timeout: {_describe(exc)}"
            error = OcpiTimeout(said, url=record.url, method=method)
            self._report(record, error=str(error))
            raise error from exc
        except asyncio.CancelledError:
            self._report(record, error="cancelled")
            raise
        except httpx.HTTPError as exc:
            error = OcpiClientError(
                f"transport error: {_describe(exc)}", url=record.url, method=method
            )
            self._report(record, error=str(error))
            raise error from exc
        return self._answer(record, response)

    async def _send(self, request: httpx.Request, timeout_s: float | None) -> httpx.Response:
        if timeout_s is None:
            return await self.http.send(request)
        # httpx's timeouts are per operation (a slow trickle never trips a read timeout);
        # the deadline bounds the whole attempt.
        async with asyncio.timeout(timeout_s):
            return await self.http.send(request)

    def _answer(self, record: _Record, response: httpx.Response) -> OcpiReply:
        record.http_status = response.status_code
        record.response_body = body_text(response.content)
        text = body_text(response.content, ERROR_BODY_BYTES)
        envelope = _parse_envelope(response.content)
        status_code: int | None = None
        status_message: str | None = None
        if envelope is not None:
            status_code = envelope["status_code"]
            message = envelope.get("status_message")
            status_message = message if isinstance(message, str) else None
        record.status_code = status_code

        def fail(message: str) -> OcpiClientError:
            error = OcpiClientError(
                message,
                url=record.url,
                method=record.method,
                http_status=response.status_code,
                status_code=status_code,
                status_message=status_message,
                body=text,
            )
            self._report(record, error=str(error))
            return error

        if response.status_code >= 400:
            error = fail(f"HTTP {response.status_code}")
            if response.status_code in RETRY_HTTP_STATUSES:
                raise _Retryable(error)
            raise error
        if envelope is None or status_code is None:
            raise fail("the answer is not an OCPI envelope (JSON object with status_code)")
        if not 1000 <= status_code <= 1999:
            raise fail(f"OCPI status {status_code}")
        self._report(record, error=None)
        timestamp = envelope.get("timestamp")
        return OcpiReply(
            http_status=response.status_code,
            status_code=status_code,
            status_message=status_message,
            data=envelope.get("data"),
            headers=response.headers,
            timestamp=timestamp if isinstance(timestamp, str) else None,
        )

    def _report(self, record: _Record, *, error: str | None) -> None:
        if self.on_exchange is None:
            return
        exchange = Exchange(
            direction="out",
            method=record.method,
            url=record.url,
            http_status=record.http_status,
            status_code=record.status_code,
            request_body=record.request_body,
            response_body=record.response_body,
            duration_ms=round((time.perf_counter() - record.started) * 1000, 2),
            error=error,
            request_id=record.request_id,
            correlation_id=record.correlation_id,
            created_at=record.created_at,
        )
        try:
            self.on_exchange(exchange)
        except Exception:
            # A broken recorder must not turn a good call into a failed one.
            log.exception("on_exchange failed for %s %s", record.method, record.url)


@dataclass(slots=True)
class _Record:
    """What is known of one attempt so far, to report it however it ends."""

    method: str
    url: str
    request_body: str | None
    request_id: str | None
    correlation_id: str | None
    created_at: datetime
    started: float
    http_status: int | None = None
    status_code: int | None = None
    response_body: str | None = None


class _Retryable(Exception):
    """An attempt failed in a way that another attempt may fix (idempotent methods only)."""

    def __init__(self, error: OcpiClientError) -> None:
        super().__init__(str(error))
        self.error = error


def _parse_envelope(content: bytes) -> dict[str, Any] | None:
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    code = body.get("status_code")
    if not isinstance(code, int) or isinstance(code, bool):
        return None
    return body


def _timeout(timeout_s: float | None) -> httpx.Timeout | Any:
    if timeout_s is None:
        return httpx.USE_CLIENT_DEFAULT
    return httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s))


def _clean(params: Params | None) -> dict[str, str] | None:
    if not params:
        return None
    out = {}
    for key, value in params.items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
