"""The socket side of a station: dialing the CSMS and tapping every frame."""

from __future__ import annotations

import asyncio
import base64
import urllib.parse
from collections.abc import Callable
from typing import Any

import orjson
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus, SecurityError
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from voltlab.simulator.spec import StationSpec
from voltlab.simulator.wire import WsLink

# (direction, action, message, finding) -> None; must not block.
FrameCallback = Callable[[str, str, str, str | None], None]

CP_TO_CSMS = "cp_to_csms"
CSMS_TO_CP = "csms_to_cp"
# One CALL is open per direction (OCPP-J); a few more cover CALLs that timed out.
MAX_OPEN_CALLS = 16
# How long a closing handshake may take before the TCP link is cut.
CLOSE_TIMEOUT_S = 2.0
# HTTP redirects a station follows when it dials, as ``websockets.connect`` does.
MAX_REDIRECTS = 10
REDIRECTS = frozenset({300, 301, 302, 303, 307, 308})


class FrameTap:
    """Wraps the WebSocket handed to ``ocpp`` so every frame is reported once.

    Results carry the action of the CALL they answer, so the tap remembers the action
    of each outstanding CALL id per direction. Each received frame is parsed once, here;
    the adapter routes the parsed form (``receive``).
    """

    __slots__ = ("_callback", "_incoming", "_outgoing", "_ws", "on_activity")

    def __init__(self, ws: WsLink, callback: FrameCallback) -> None:
        self._ws = ws
        self._callback = callback
        self._outgoing: dict[str, str] = {}  # our CALL ids -> action
        self._incoming: dict[str, str] = {}  # CSMS CALL ids -> action
        self.on_activity: Callable[[], None] | None = None

    def action_of(self, frame: str, *, sent: bool) -> str:
        try:
            parsed = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return "Unknown"
        return self._action(parsed, sent=sent)

    def _action(self, parsed: Any, *, sent: bool) -> str:
        try:
            kind, unique_id = parsed[0], str(parsed[1])
        except (IndexError, TypeError, KeyError):
            return "Unknown"
        calls, results = (
            (self._outgoing, self._incoming) if sent else (self._incoming, self._outgoing)
        )
        if kind == 2 and len(parsed) > 2:
            action = str(parsed[2])
            self._remember(calls, unique_id, action)
            return action
        return results.pop(unique_id, "Unknown")

    @staticmethod
    def _remember(calls: dict[str, str], unique_id: str, action: str) -> None:
        if len(calls) >= MAX_OPEN_CALLS:  # CALLs never answered (timeouts) must not pile up
            del calls[next(iter(calls))]
        calls[unique_id] = action

    async def send(self, message: str) -> None:
        self._callback(CP_TO_CSMS, self.action_of(message, sent=True), message, None)
        await self._ws.send(message)
        if self.on_activity:
            self.on_activity()

    async def send_call(self, frame: str, action: str, unique_id: str) -> None:
        """Send a CALL we encoded ourselves: its action is known, no need to parse it."""
        self._remember(self._outgoing, unique_id, action)
        self._callback(CP_TO_CSMS, action, frame, None)
        await self._ws.send(frame)
        if self.on_activity:
            self.on_activity()

    async def receive(self) -> tuple[str, Any]:
        """The next frame, as text and parsed (None when it is not JSON)."""
        message = await self._ws.recv()
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        try:
            parsed: Any = orjson.loads(message)
        except orjson.JSONDecodeError:
            parsed = None
        action = "Unknown" if parsed is None else self._action(parsed, sent=False)
        self._callback(CSMS_TO_CP, action, message, None)
        if self.on_activity:
            self.on_activity()
        return message, parsed

    async def recv(self) -> str:
        return (await self.receive())[0]

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._ws.close(code, reason)


def basic_auth_header(identity: str, password: str) -> str:
    token = base64.b64encode(f"{identity}:{password}".encode()).decode()
    return f"Basic {token}"


async def dial(
    spec: StationSpec,
    *,
    password: str | None,
    open_timeout: float,
    ssl: Any = None,
) -> WsLink:
    """Open this station's WebSocket: TCP (and TLS), then the opening handshake,
    following up to ``MAX_REDIRECTS`` HTTP redirects within ``open_timeout``.

    Raises what ``websockets.connect`` raises: ``InvalidURI``, ``OSError`` (refused,
    TLS), ``TimeoutError`` after ``open_timeout``, and ``InvalidHandshake`` subclasses
    (``InvalidStatus`` for a 401, ``NegotiationError`` for a subprotocol not offered,
    ``SecurityError`` for a redirect from wss:// to ws:// or too many redirects).
    Compression is off (~14 KiB less per connection) and there is no keepalive task: the
    station pings at its own ``WebSocketPingInterval`` from the loop's shared timer heap.
    """
    url = spec.url
    try:
        async with asyncio.timeout(open_timeout):
            for _ in range(MAX_REDIRECTS + 1):
                try:
                    return await _open(url, spec, password, ssl)
                except InvalidStatus as exc:
                    url = _redirected(url, exc)
    except TimeoutError:
        raise TimeoutError("timed out during the opening handshake") from None
    raise SecurityError(f"more than {MAX_REDIRECTS} redirects")


async def _open(url: str, spec: StationSpec, password: str | None, ssl: Any) -> WsLink:
    uri = parse_uri(url)
    protocol = ClientProtocol(uri, subprotocols=[Subprotocol(spec.subprotocol)])
    request = protocol.connect()
    request.headers["User-Agent"] = "voltlab"
    if password:
        request.headers["Authorization"] = basic_auth_header(spec.identity, password)
    if uri.secure and ssl is None:
        ssl = True  # the default context: verify against the system's CAs
    link: WsLink | None = None
    try:
        _, link = await asyncio.get_running_loop().create_connection(
            lambda: WsLink(protocol, request, CLOSE_TIMEOUT_S),
            uri.host,
            uri.port,
            ssl=ssl if uri.secure else None,
            server_hostname=uri.host if uri.secure else None,
        )
        await link.opened()
    except BaseException:  # the timeout (a cancellation) included: no socket left open
        if link is not None:
            link.abort()
        raise
    if link.handshake_exc is not None:
        link.abort()
        raise link.handshake_exc
    return link


def _redirected(url: str, refused: InvalidStatus) -> str:
    """Where a 3xx answer sends the station (as ``websockets.connect`` follows it);
    any other refusal is raised as it is."""
    response = refused.response
    if response.status_code not in REDIRECTS or "Location" not in response.headers:
        raise refused
    target = urllib.parse.urljoin(url, response.headers["Location"])
    if parse_uri(url).secure and not parse_uri(target).secure:
        raise SecurityError(f"refused to follow a redirect from {url} to non-secure {target}")
    return target
