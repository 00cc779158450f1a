"""A ``RecordingCsms`` that answers every charger CALL only after ``delay_s`` seconds.

The ``ocpp`` peer handles one frame of a connection at a time, so a slow answer holds
back the next CALL of that charger as a slow real CSMS would; ``delay_s`` may be changed
while chargers are connected (0: as fast as ``RecordingCsms``)::

    csms = await SlowCsms(delay_s=0.4).start()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection

from support.csms import Csms16, Csms201, RecordingCsms


class _Slow:
    csms: SlowCsms

    async def route_message(self, raw_msg: str) -> None:
        try:
            is_call = json.loads(raw_msg)[0] == 2
        except (ValueError, IndexError, KeyError, TypeError):
            is_call = False
        if is_call and self.csms.delay_s > 0:
            await asyncio.sleep(self.csms.delay_s)
        await super().route_message(raw_msg)  # type: ignore[misc]


class Slow16(_Slow, Csms16):
    pass


class Slow201(_Slow, Csms201):
    pass


@dataclass
class SlowCsms(RecordingCsms):
    delay_s: float = 0.0

    async def _handler(self, conn: ServerConnection) -> None:
        # As ``RecordingCsms._handler``, with the slow peers.
        identity = conn.request.path.rsplit("/", 1)[-1]
        self.connections[identity] = conn
        self.handshakes[identity] += 1
        peer_cls: Any = Slow16 if conn.subprotocol == "ocpp1.6" else Slow201
        peer = peer_cls(identity, conn, self)
        self.peers[identity] = peer
        with contextlib.suppress(Exception):
            await peer.start()
