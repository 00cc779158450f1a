"""A CSMS for the tests, built with the ``ocpp`` library (both versions).

It records every frame each charger sent, and can be told how to answer: any action can
be answered with a given (even schema-violating) payload, with a CALLERROR, or not at
all. It can close a charger's socket, stop and start again on the same port, and send
its own CALLs (also for actions that do not exist) through the peer of a charger.

Out of the box it answers every charger-initiated action of both versions the way a
plain CSMS would: every id tag is Accepted (unless ``tag_status`` / ``id_tag_info`` /
``start_tag_info`` say otherwise), StartTransaction hands out 1, 2, 3 ... as
transactionId (``next_transaction_id``), DataTransfer answers ``data_transfer_status``
and echoes the data, notifications get their empty answers::

    csms.tag_status["BLOCKED-1"] = "Blocked"          # Authorize, Start, TransactionEvent
    csms.start_tag_info["TAG-2"] = {"status": "Invalid"}  # only StartTransaction / TxEvent
    csms.id_tag_info["KID-1"] = {"status": "Accepted", "parentIdTag": "FAMILY"}  # 1.6 wire
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ocpp.charge_point import camel_to_snake_case
from ocpp.messages import CallError, CallResult
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call_result as result201
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Received:
    """A CALL from a charger; ``payload`` in snake_case, as ``ocpp`` hands it to handlers
    (``RecordingCsms.frames`` keeps the raw frames)."""

    action: str
    payload: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Answer:
    """How the CSMS answers one action instead of its normal handler."""

    kind: str  # "payload" | "error" | "silent"
    payload: Any = None
    error_code: str = "InternalError"

    @classmethod
    def with_payload(cls, payload: Any) -> Answer:
        """A CALLRESULT with exactly this payload (no schema check)."""
        return cls("payload", payload)

    @classmethod
    def with_error(cls, code: str = "InternalError") -> Answer:
        return cls("error", error_code=code)

    @classmethod
    def silence(cls) -> Answer:
        return cls("silent")


@dataclass
class RecordingCsms:
    boot_status: str = "Accepted"
    boot_interval: int = 60
    passwords: dict[str, str] = field(default_factory=dict)
    # action -> Answer: overrides the normal handler for every charger.
    answers: dict[str, Answer] = field(default_factory=dict)
    received: dict[str, list[Received]] = field(default_factory=lambda: defaultdict(list))
    # every raw frame each charger sent, in order
    frames: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    # CALL ids the CSMS sent -> action, to check the charger's answers against schemas
    sent_calls: dict[str, str] = field(default_factory=dict)
    connections: dict[str, ServerConnection] = field(default_factory=dict)
    peers: dict[str, Any] = field(default_factory=dict)
    auth_headers: dict[str, str | None] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    offered_subprotocols: dict[str, str | None] = field(default_factory=dict)
    handshakes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    server: Server | None = None
    port: int = 0
    # -- how the CSMS answers the charger's own messages -------------------------------
    # The status of every id tag no other table names (Authorize, StartTransaction,
    # StopTransaction, TransactionEvent).
    default_tag_status: str = "Accepted"
    # id tag -> status, for both versions (upper/lower case as the charger sends it).
    tag_status: dict[str, str] = field(default_factory=dict)
    # id tag -> the whole idTagInfo (1.6) / idTokenInfo (2.0.1) as on the wire (camelCase);
    # beats ``tag_status``.
    id_tag_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    # id tag -> the idTagInfo / idTokenInfo of StartTransaction.conf (1.6) and of the
    # TransactionEvent response (2.0.1) only; Authorize still uses the tables above.
    start_tag_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    # 1.6 StartTransaction.conf transactionId: this one next, then +1 each time.
    next_transaction_id: int = 1
    # the transactionIds handed out, in order
    transaction_ids: list[int] = field(default_factory=list)
    data_transfer_status: str = "Accepted"

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def actions(self, identity: str) -> list[str]:
        return [r.action for r in self.received[identity]]

    def hits(self, identity: str, action: str) -> list[Received]:
        return [r for r in self.received[identity] if r.action == action]

    def payloads(self, identity: str, action: str) -> list[dict[str, Any]]:
        """The snake_case payloads of every ``action`` the charger sent, in order."""
        return [r.payload for r in self.hits(identity, action)]

    def calls(self, identity: str) -> list[tuple[str, dict[str, Any]]]:
        """(action, camelCase payload) of every CALL the charger sent, from the raw frames."""
        found = []
        for raw in self.frames[identity]:
            frame = json.loads(raw)
            if frame[0] == 2:
                found.append((frame[2], frame[3]))
        return found

    def tag_info(self, id_tag: str | None, *, start: bool = False) -> dict[str, Any]:
        """The idTagInfo / idTokenInfo this CSMS gives ``id_tag`` (a copy, wire form)."""
        tag = id_tag or ""
        if start and tag in self.start_tag_info:
            return copy.deepcopy(self.start_tag_info[tag])
        if tag in self.id_tag_info:
            return copy.deepcopy(self.id_tag_info[tag])
        return {"status": self.tag_status.get(tag, self.default_tag_status)}

    def new_transaction_id(self) -> int:
        transaction_id = self.next_transaction_id
        self.next_transaction_id += 1
        self.transaction_ids.append(transaction_id)
        return transaction_id

    async def wait_until(self, check: Any, timeout: float = 10) -> Any:
        """Poll ``check()`` until it returns something truthy; that value."""

        async def _poll() -> Any:
            while True:
                value = check()
                if value:
                    return value
                await asyncio.sleep(0.02)

        return await asyncio.wait_for(_poll(), timeout)

    async def wait_for(
        self, identity: str, action: str, count: int = 1, timeout: float = 10
    ) -> list[Received]:
        async def _poll() -> list[Received]:
            while True:
                hits = self.hits(identity, action)
                if len(hits) >= count:
                    return hits
                await asyncio.sleep(0.02)

        return await asyncio.wait_for(_poll(), timeout)

    # -- driving a charger -------------------------------------------------------
    async def call(
        self, identity: str, action: str, payload: Any, timeout: float = 2.0
    ) -> CallResult | CallError | None:
        """Send a CALL (any action, any payload) to the charger; its answer, or None."""
        peer = self.peers[identity]
        unique_id = str(uuid.uuid4())
        self.sent_calls[unique_id] = action
        async with peer._call_lock:
            await peer._send(json.dumps([2, unique_id, action, payload]))
            try:
                return await peer._get_specific_response(unique_id, timeout)
            except TimeoutError:
                return None

    async def close(self, identity: str, code: int = 1000) -> None:
        """Close the charger's socket cleanly from the CSMS side."""
        await self.connections[identity].close(code)

    # -- the server --------------------------------------------------------------
    async def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        identity = request.path.rsplit("/", 1)[-1]
        header = request.headers.get("Authorization")
        self.auth_headers[identity] = header
        self.paths[identity] = request.path
        self.offered_subprotocols[identity] = request.headers.get("Sec-WebSocket-Protocol")
        if identity in self.passwords:
            expected = base64.b64encode(f"{identity}:{self.passwords[identity]}".encode()).decode()
            if header != f"Basic {expected}":
                return conn.respond(401, "bad credentials\n")
        return None

    async def _handler(self, conn: ServerConnection) -> None:
        identity = conn.request.path.rsplit("/", 1)[-1]
        self.connections[identity] = conn
        self.handshakes[identity] += 1
        peer_cls = Csms16 if conn.subprotocol == "ocpp1.6" else Csms201
        peer = peer_cls(identity, conn, self)
        self.peers[identity] = peer
        with contextlib.suppress(Exception):
            await peer.start()

    async def start(self, port: int | None = None) -> RecordingCsms:
        """Listen on ``port`` (the previous one after a ``stop``; a free one at first)."""
        self.server = await serve(
            self._handler,
            "127.0.0.1",
            self.port if port is None else port,
            subprotocols=["ocpp1.6", "ocpp2.0.1"],
            process_request=self._process_request,
        )
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Close the listener and every charger's socket (close code 1001)."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


class _Recording:
    csms: RecordingCsms

    def __init__(self, identity: str, conn: ServerConnection, csms: RecordingCsms) -> None:
        super().__init__(identity, conn)  # type: ignore[call-arg]
        self.csms = csms

    def _note(self, action: str, payload: dict[str, Any]) -> None:
        self.csms.received[self.id].append(Received(action, payload))  # type: ignore[attr-defined]

    async def route_message(self, raw_msg: str) -> None:
        self.csms.frames[self.id].append(raw_msg)  # type: ignore[attr-defined]
        try:
            frame = json.loads(raw_msg)
            is_call = frame[0] == 2
        except (ValueError, IndexError, KeyError, TypeError):
            is_call = False
        answer = self.csms.answers.get(frame[2]) if is_call else None
        if answer is None:
            await super().route_message(raw_msg)  # type: ignore[misc]
            return
        unique_id, action, payload = frame[1], frame[2], frame[3]
        self._note(action, camel_to_snake_case(payload))
        if answer.kind == "error":
            reply = [4, unique_id, answer.error_code, "", {}]
        elif answer.kind == "payload":
            reply = [3, unique_id, answer.payload]
        else:
            return
        await self._send(json.dumps(reply))  # type: ignore[attr-defined]


class Csms16(_Recording, Cp16):
    @on("BootNotification")
    def boot(self, **payload: Any) -> result16.BootNotification:
        self._note("BootNotification", payload)
        return result16.BootNotification(
            current_time=_now(), interval=self.csms.boot_interval, status=self.csms.boot_status
        )

    @on("Heartbeat")
    def heartbeat(self, **payload: Any) -> result16.Heartbeat:
        self._note("Heartbeat", payload)
        return result16.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def status(self, **payload: Any) -> result16.StatusNotification:
        self._note("StatusNotification", payload)
        return result16.StatusNotification()

    @on("Authorize")
    def authorize(self, **payload: Any) -> result16.Authorize:
        self._note("Authorize", payload)
        return result16.Authorize(id_tag_info=self.csms.tag_info(payload["id_tag"]))

    @on("StartTransaction")
    def start_transaction(self, **payload: Any) -> result16.StartTransaction:
        self._note("StartTransaction", payload)
        return result16.StartTransaction(
            transaction_id=self.csms.new_transaction_id(),
            id_tag_info=self.csms.tag_info(payload["id_tag"], start=True),
        )

    @on("StopTransaction")
    def stop_transaction(self, **payload: Any) -> result16.StopTransaction:
        self._note("StopTransaction", payload)
        id_tag = payload.get("id_tag")
        return result16.StopTransaction(id_tag_info=self.csms.tag_info(id_tag) if id_tag else None)

    @on("MeterValues")
    def meter_values(self, **payload: Any) -> result16.MeterValues:
        self._note("MeterValues", payload)
        return result16.MeterValues()

    @on("DataTransfer")
    def data_transfer(self, **payload: Any) -> result16.DataTransfer:
        self._note("DataTransfer", payload)
        return result16.DataTransfer(
            status=self.csms.data_transfer_status, data=payload.get("data")
        )

    @on("DiagnosticsStatusNotification")
    def diagnostics_status(self, **payload: Any) -> result16.DiagnosticsStatusNotification:
        self._note("DiagnosticsStatusNotification", payload)
        return result16.DiagnosticsStatusNotification()

    @on("FirmwareStatusNotification")
    def firmware_status(self, **payload: Any) -> result16.FirmwareStatusNotification:
        self._note("FirmwareStatusNotification", payload)
        return result16.FirmwareStatusNotification()


class Csms201(_Recording, Cp201):
    @on("BootNotification")
    def boot(self, **payload: Any) -> result201.BootNotification:
        self._note("BootNotification", payload)
        return result201.BootNotification(
            current_time=_now(), interval=self.csms.boot_interval, status=self.csms.boot_status
        )

    @on("Heartbeat")
    def heartbeat(self, **payload: Any) -> result201.Heartbeat:
        self._note("Heartbeat", payload)
        return result201.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def status(self, **payload: Any) -> result201.StatusNotification:
        self._note("StatusNotification", payload)
        return result201.StatusNotification()

    @on("Authorize")
    def authorize(self, **payload: Any) -> result201.Authorize:
        self._note("Authorize", payload)
        token = payload["id_token"]["id_token"]
        return result201.Authorize(id_token_info=self.csms.tag_info(token))

    @on("TransactionEvent")
    def transaction_event(self, **payload: Any) -> result201.TransactionEvent:
        self._note("TransactionEvent", payload)
        token = payload.get("id_token")
        if not token:
            return result201.TransactionEvent()
        # idTokenInfo answers every event that carries an idToken (E01/C15).
        info = self.csms.tag_info(token["id_token"], start=payload["event_type"] != "Ended")
        return result201.TransactionEvent(id_token_info=info)

    @on("MeterValues")
    def meter_values(self, **payload: Any) -> result201.MeterValues:
        self._note("MeterValues", payload)
        return result201.MeterValues()

    @on("DataTransfer")
    def data_transfer(self, **payload: Any) -> result201.DataTransfer:
        self._note("DataTransfer", payload)
        return result201.DataTransfer(
            status=self.csms.data_transfer_status, data=payload.get("data")
        )

    @on("FirmwareStatusNotification")
    def firmware_status(self, **payload: Any) -> result201.FirmwareStatusNotification:
        self._note("FirmwareStatusNotification", payload)
        return result201.FirmwareStatusNotification()

    @on("LogStatusNotification")
    def log_status(self, **payload: Any) -> result201.LogStatusNotification:
        self._note("LogStatusNotification", payload)
        return result201.LogStatusNotification()

    @on("ReservationStatusUpdate")
    def reservation_status(self, **payload: Any) -> result201.ReservationStatusUpdate:
        self._note("ReservationStatusUpdate", payload)
        return result201.ReservationStatusUpdate()

    @on("SecurityEventNotification")
    def security_event(self, **payload: Any) -> result201.SecurityEventNotification:
        self._note("SecurityEventNotification", payload)
        return result201.SecurityEventNotification()

    @on("NotifyEvent")
    def notify_event(self, **payload: Any) -> result201.NotifyEvent:
        self._note("NotifyEvent", payload)
        return result201.NotifyEvent()

    @on("NotifyReport")
    def notify_report(self, **payload: Any) -> result201.NotifyReport:
        self._note("NotifyReport", payload)
        return result201.NotifyReport()
