"""OCPI errors: what a handler raises (server side) and what the client raises.

No FastAPI here: ``envelope.install`` renders an ``OcpiError`` as the OCPI envelope.

Server side, each class carries the OCPI ``status_code`` and the HTTP status the answer
goes out with (OCPI 2.2.1, "Status codes" and "Transport and format")::

    OcpiError                 2000  400  generic client error
    ├── ClientError           2000  400
    ├── InvalidParameters     2001  400  invalid JSON, missing field, bad query parameter
    ├── NotEnoughInformation  2002  400  e.g. authorize without the LocationReferences needed
    ├── UnknownLocation       2003  404
    ├── UnknownToken          2004  404  authorize of an unknown Token ("HTTP 404 + 2004")
    ├── Unauthorized          2000  401  missing or unknown credentials token
    ├── MethodNotAllowed      2000  405  credentials POST when registered, PUT/DELETE when not
    ├── NotFound              2000  404  GET of an object that does not exist
    └── ServerError           3000  500
        ├── UnableToUseClientApi  3001  200
        ├── UnsupportedVersion    3002  200
        └── NoMatchingEndpoints   3003  200

Two choices the specification leaves open:

- ``Unauthorized`` uses 2000. The specification only says "HTTP 401" for a missing or
  unknown token and names no OCPI code for it; 2000 (generic client error) is the only
  code of the client range that fits, and 2004 is about charging Tokens, not credentials.
- 3001-3003 answer HTTP 200: "a request that is syntactically valid JSON and addresses an
  existing resource ... an HTTP error MUST NOT be returned"; they report that the
  registration could not be completed, not that the request was broken. Only the generic
  3000 (a bug, an unhandled failure) goes out as HTTP 500. Pass ``http_status=`` to
  override one instance.

Client side: ``OcpiClientError`` (and ``OcpiTimeout``) carry what the peer answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class OcpiError(Exception):
    """An OCPI error answer. ``raise UnknownToken()`` in a handler; ``install`` renders it."""

    status_code: int = 2000
    http_status: int = 400
    default_message: str = "Generic client error"

    def __init__(
        self,
        message: str | None = None,
        *,
        data: Any = None,
        status_code: int | None = None,
        http_status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)
        # Instance overrides shadow the class defaults.
        if status_code is not None:
            self.status_code = status_code
        if http_status is not None:
            self.http_status = http_status
        self.data = data
        self.headers: dict[str, str] = dict(headers or {})

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code}, "
            f"http_status={self.http_status}, message={self.message!r})"
        )


class ClientError(OcpiError):
    pass


class InvalidParameters(OcpiError):
    status_code = 2001
    default_message = "Invalid or missing parameters"


class NotEnoughInformation(OcpiError):
    status_code = 2002
    default_message = "Not enough information"


class UnknownLocation(OcpiError):
    status_code = 2003
    http_status = 404
    default_message = "Unknown Location"


class UnknownToken(OcpiError):
    status_code = 2004
    http_status = 404
    default_message = "Unknown Token"


class Unauthorized(OcpiError):
    http_status = 401
    default_message = "Missing or unknown credentials token"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        # RFC 9110: a 401 names the scheme the client should use.
        self.headers.setdefault("WWW-Authenticate", "Token")


class MethodNotAllowed(OcpiError):
    http_status = 405
    default_message = "Method not allowed"


class NotFound(OcpiError):
    http_status = 404
    default_message = "Not found"


class ServerError(OcpiError):
    status_code = 3000
    http_status = 500
    default_message = "Generic server error"


class UnableToUseClientApi(ServerError):
    status_code = 3001
    http_status = 200
    default_message = "Unable to use the client's API"


class UnsupportedVersion(ServerError):
    status_code = 3002
    http_status = 200
    default_message = "Unsupported version"


class NoMatchingEndpoints(ServerError):
    status_code = 3003
    http_status = 200
    default_message = "No matching endpoints or expected endpoints missing"


class OcpiClientError(Exception):
    """A call to a peer failed: no answer, not OCPI, HTTP >= 400, or an OCPI error status.

    ``http_status`` and ``status_code`` are ``None`` when the peer did not say (a transport
    error, a timeout, a body that is not an envelope); ``body`` is the peer's text, cut.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        method: str | None = None,
        http_status: int | None = None,
        status_code: int | None = None,
        status_message: str | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.method = method
        self.http_status = http_status
        self.status_code = status_code
        self.status_message = status_message
        self.body = body

    def __str__(self) -> str:
        where = f"{self.method} {self.url}" if self.method else self.url
        said = []
        if self.http_status is not None and f"HTTP {self.http_status}" != self.message:
            said.append(f"HTTP {self.http_status}")
        if self.status_code is not None:
            said.append(f"OCPI {self.status_code}")
        if self.status_message:
            said.append(repr(self.status_message))
        return f"{where}: {self.message}" + (f" ({', '.join(said)})" if said else "")


class OcpiTimeout(OcpiClientError):
    """The peer did not answer in time."""
