"""The socket side of a station: dialing the CSMS and tapping every frame."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from voltlab.simulator.spec import StationSpec

# (direction, action, message, finding) -> None; must not block.
FrameCallback = Callable[[str, str, str, str | None], None]

CP_TO_CSMS = "cp_to_csms"
CSMS_TO_CP = "csms_to_cp"
# One CALL is open per direction (OCPP-J); a few more cover CALLs that timed out.
MAX_OPEN_CALLS = 16


class FrameTap:
    """Wraps the WebSocket handed to ``ocpp`` so every frame is reported once.

    Results carry the action of the CALL they answer, so the tap remembers the action
    of each outstanding CALL id per direction.
    """

    __slots__ = ("_callback", "_incoming", "_outgoing", "_ws", "on_activity")

    def __init__(self, ws: ClientConnection, callback: FrameCallback) -> None:
        self._ws = ws
        self._callback = callback
        self._outgoing: dict[str, str] = {}  # our CALL ids -> action
        self._incoming: dict[str, str] = {}  # CSMS CALL ids -> action
        self.on_activity: Callable[[], None] | None = None

    def action_of(self, frame: str, *, sent: bool) -> str:
        try:
            parsed = orjson.loads(frame)
            kind, unique_id = parsed[0], str(parsed[1])
        except (orjson.JSONDecodeError, IndexError, TypeError, KeyError):
            return "Unknown"
        calls, results = (
            (self._outgoing, self._incoming) if sent else (self._incoming, self._outgoing)
        )
        if kind == 2 and len(parsed) > 2:
            action = str(parsed[2])
            if len(calls) >= MAX_OPEN_CALLS:  # CALLs never answered (timeouts) must not pile up
                del calls[next(iter(calls))]
            calls[unique_id] = action
            return action
        return results.pop(unique_id, "Unknown")

    async def send(self, message: str) -> None:
        self._callback(CP_TO_CSMS, self.action_of(message, sent=True), message, None)
        await self._ws.send(message)
        if self.on_activity:
            self.on_activity()

    async def recv(self) -> str:
        message = await self._ws.recv()
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        self._callback(CSMS_TO_CP, self.action_of(message, sent=False), message, None)
        if self.on_activity:
            self.on_activity()
        return message

    async def close(self) -> None:
        await self._ws.close()


def basic_auth_header(identity: str, password: str) -> str:
    token = base64.b64encode(f"{identity}:{password}".encode()).decode()
    return f"Basic {token}"


def dial(
    spec: StationSpec,
    *,
    password: str | None,
    open_timeout: float,
    ping_interval: float | None,
    ssl: Any = None,
) -> connect:
    """A ``websockets`` connect for this station, tuned for big fleets.

    Compression off (~14 KiB less per connection), small queues, no proxy lookup.
    """
    headers = {}
    if password:
        headers["Authorization"] = basic_auth_header(spec.identity, password)
    return connect(
        spec.url,
        subprotocols=[Subprotocol(spec.subprotocol)],
        additional_headers=headers,
        compression=None,
        open_timeout=open_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_interval,
        close_timeout=2,
        max_queue=4,
        write_limit=4096,
        proxy=None,
        ssl=ssl,
        user_agent_header="voltlab",
    )
