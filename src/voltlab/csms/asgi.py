"""The built-in CSMS as a WebSocket route of an ASGI (FastAPI / Starlette) app.

Stations then share the REST API's port, one path per realm and identity::

    endpoint = websocket_endpoint(lambda ws: ws.app.state.services.csms)
    app.add_api_websocket_route("/csms/{realm}/{identity}", endpoint)
    # a station of realm "cpo-1" connects to  ws://host:port/csms/cpo-1/CP-001

Before accepting, the endpoint checks HTTP Basic auth against the hub (security profile
1: user = identity) and negotiates ``ocpp1.6`` / ``ocpp2.0.1``. Refusals are HTTP
responses to the upgrade request, as a station expects: 401 (with ``WWW-Authenticate``)
for a wrong or missing password, 404 for an unknown realm, 400 without a supported
subprotocol (what ``websockets`` answers in the standalone server). A server without the
ASGI denial-response extension gets a close before accept instead, which it answers 403.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from voltlab.csms.connection import ConnectionEnded
from voltlab.csms.errors import UnknownRealm
from voltlab.csms.hub import VERSIONS, Admission, CsmsHub, choose_subprotocol

_SEND_FAILURES = (WebSocketDisconnect, RuntimeError, OSError)


class StarletteConnection:
    """An accepted Starlette ``WebSocket`` as a ``CsmsConnection``."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket

    async def recv(self) -> str:
        try:
            message = await self._ws.receive()
        except RuntimeError as error:  # Starlette's WebSocketDisconnected: already over
            raise ConnectionEnded(str(error)) from None
        if message["type"] == "websocket.disconnect":
            raise ConnectionEnded(f"closed with code {message.get('code', 1005)}")
        text = message.get("text")
        if text is None:  # OCPP-J frames are text; a binary one still gets a CALLERROR
            return bytes(message.get("bytes") or b"").decode(errors="replace")
        return str(text)

    async def send(self, message: str) -> None:
        try:
            await self._ws.send_text(message)
        except _SEND_FAILURES as error:
            raise ConnectionEnded(f"send failed: {error!r}") from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if (
            self._ws.application_state is not WebSocketState.CONNECTED
            or self._ws.client_state is WebSocketState.DISCONNECTED
        ):
            return
        with contextlib.suppress(*_SEND_FAILURES):
            await self._ws.close(code, reason)


async def _refuse(
    websocket: WebSocket, status: int, reason: str, headers: dict[str, str] | None = None
) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        response = PlainTextResponse(f"{reason}\n", status_code=status, headers=headers)
        await websocket.send_denial_response(response)
    else:
        await websocket.close(code=1008, reason=reason)


Endpoint = Callable[[WebSocket, str, str], Awaitable[None]]


def websocket_endpoint(get_hub: Callable[[WebSocket], CsmsHub]) -> Endpoint:
    """An endpoint for ``app.add_api_websocket_route("/csms/{realm}/{identity}", ...)``.

    ``get_hub`` finds the hub for a connection (typically on ``websocket.app.state``), so
    the route can be mounted before the lifespan has built the hub.
    """

    async def endpoint(websocket: WebSocket, realm: str, identity: str) -> None:
        hub = get_hub(websocket)
        admission = hub.admit(realm, identity, websocket.headers.get("authorization"))
        if admission is Admission.UNKNOWN_REALM:
            await _refuse(websocket, 404, admission.value)
            return
        if admission is Admission.UNAUTHORIZED:
            challenge = {"WWW-Authenticate": 'Basic realm="voltlab CSMS", charset="UTF-8"'}
            await _refuse(websocket, 401, admission.value, challenge)
            return
        subprotocol = choose_subprotocol(websocket.scope.get("subprotocols") or ())
        if subprotocol is None:
            await _refuse(websocket, 400, "subprotocol ocpp1.6 or ocpp2.0.1 required")
            return
        await websocket.accept(subprotocol=subprotocol)
        connection = StarletteConnection(websocket)
        try:
            await hub.attach(realm, identity, VERSIONS[subprotocol], connection)
        except UnknownRealm:
            pass  # removed while the handshake completed; the close below says goodbye
        finally:
            await connection.close()  # when the hub ended it; a no-op after a disconnect

    return endpoint
