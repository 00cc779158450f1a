"""Sending CALLs with ``ocpp``'s framing, and turning CSMS mistakes into findings."""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from ocpp.charge_point import remove_nones
from ocpp.exceptions import FormationViolationError as OcppFormationViolation
from ocpp.exceptions import FormatViolationError as OcppFormatViolation
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError as OcppNotSupported
from ocpp.exceptions import OccurenceConstraintViolationError as OcppOccurenceViolation
from ocpp.exceptions import OccurrenceConstraintViolationError as OcppOccurrenceViolation
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult, MessageType, unpack, validate_payload
from ocpp.routing import create_route_map

from voltlab.simulator.schemas import SchemaViolation, known_action, validate

if TYPE_CHECKING:
    from voltlab.simulator.link import FrameTap
    from voltlab.simulator.station import Station

# ``ocpp`` logs every frame at INFO; voltlab keeps its own frame log instead.
OCPP_LOGGER = logging.getLogger("voltlab.ocpp")
OCPP_LOGGER.setLevel(logging.WARNING)


class CsmsFinding(Exception):
    """The CSMS answered wrongly or not at all; already recorded on the station."""


class _NoAnswer(TimeoutError):
    """The response timeout of a CALL elapsed (set on its future by the loop timer)."""


_ANSWER_TYPES = (MessageType.CallResult, MessageType.CallError)

# A frame that is not strict JSON (RFC 8259, as orjson reads it: no NaN, no Infinity, no
# number beyond a double) - ``json.loads`` would take those and ``ocpp`` act on them.
_NOT_JSON = object()
# The unique id of a CALLERROR to a frame whose own id cannot be read (OCPP 2.0.1 Part 4
# §4.2.3; OCPP-J 1.6 has no rule: the same there).
_NO_ID = "-1"
# Frame-level faults, per version: 1.6 has no RPC framework codes, so its "not conform the
# PDU structure" code (FormationViolation) stands for them (OCPP-J 1.6 §4.2.3).
_NOT_JSON_CODE = {"1.6": "FormationViolation", "2.0.1": "FormatViolation"}
_NOT_RPC_CODE = {"1.6": "FormationViolation", "2.0.1": "RpcFrameworkError"}
_UNKNOWN_TYPE_CODE = {"1.6": "FormationViolation", "2.0.1": "MessageTypeNotSupported"}
_LOGGED_FRAME_CHARS = 200


def _strict_json(raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _NOT_JSON


def _fault(version: str, parsed: Any) -> tuple[str | None, str, str] | None:
    """What makes a frame no well-formed CALL, CALLRESULT or CALLERROR: the unique id to
    answer with (None: not answered), the OCPP-J error code and why; None if nothing.

    Answers are never answered, even malformed ones: a CALLERROR answers a CALL, and two
    peers that answered each other's errors could do so forever.
    """
    if parsed is _NOT_JSON:
        return _NO_ID, _NOT_JSON_CODE[version], "the frame is not valid JSON"
    if type(parsed) is not list or not parsed:
        return _NO_ID, _NOT_RPC_CODE[version], "the frame is not an OCPP-J message array"
    kind = parsed[0]
    unique_id = parsed[1] if len(parsed) > 1 and type(parsed[1]) is str else None
    if kind in _ANSWER_TYPES and type(kind) is int:
        if unique_id is not None and len(parsed) == (3 if kind == MessageType.CallResult else 5):
            return None
        return None, "", "a malformed CALLRESULT or CALLERROR"
    if kind != MessageType.Call or type(kind) is not int:
        # OCPP 2.0.1 Part 4 §4.1.3 and §4.4: the payload is ignored, the id answered.
        return unique_id or _NO_ID, _UNKNOWN_TYPE_CODE[version], "unknown message type"
    if unique_id is None:
        return _NO_ID, _NOT_RPC_CODE[version], "the message id of the CALL cannot be read"
    if len(parsed) != 4 or type(parsed[2]) is not str:
        return unique_id, "ProtocolError", "a CALL is [2, messageId, action, {payload}]"
    return None


def _no_answer(answer: asyncio.Future[Any]) -> None:
    if not answer.done():
        answer.set_exception(_NoAnswer())


@functools.cache
def _routes(cls: type) -> dict[str, dict[str, Any]]:
    """``ocpp``'s route map of ``cls``, built once: plain functions, bound on lookup."""
    return create_route_map(cls)


class _BoundHandlers(Mapping[str, Any]):
    """One action's handlers, bound to one adapter when ``ocpp`` looks them up."""

    __slots__ = ("_entry", "_owner")

    def __init__(self, owner: object, entry: dict[str, Any]) -> None:
        self._owner = owner
        self._entry = entry

    def __getitem__(self, key: str) -> Any:
        value = self._entry[key]
        return value.__get__(self._owner) if callable(value) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._entry)

    def __len__(self) -> int:
        return len(self._entry)


class _BoundRoutes(Mapping[str, Mapping[str, Any]]):
    """The ``route_map`` ``ocpp`` reads, over the class's shared table: two pointers
    per connection instead of a dict of bound methods per connection (~5 KiB)."""

    __slots__ = ("_owner", "_table")

    def __init__(self, owner: object, table: dict[str, dict[str, Any]]) -> None:
        self._owner = owner
        self._table = table

    def __getitem__(self, action: str) -> Mapping[str, Any]:
        return _BoundHandlers(self._owner, self._table[action])

    def __contains__(self, action: object) -> bool:
        return action in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)


class RpcMixin:
    """Mixed into the per-version ``ocpp.ChargePoint`` subclasses.

    ``send_call`` takes the wire action and a camelCase payload dict, validates what we
    send against the official schema (our bugs must not reach a CSMS), and validates what
    the CSMS answers: a CALLERROR to a valid CALL, a schema-violating answer or silence
    is recorded as a finding on the station and raised as :class:`CsmsFinding`.

    The per-connection state is kept small and cheap, because a fleet holds ten
    thousand of these: the route map is built once per class (``ocpp`` builds one per
    instance), an answer goes straight to the future of the one outstanding CALL
    (OCPP-J allows one per direction) instead of through a queue, and each frame is
    parsed once (by the tap) and encoded with orjson.
    """

    station: Station
    _ocpp_version: str
    _response_timeout: int | float
    _call_lock: asyncio.Lock
    _connection: FrameTap
    # (unique id, future) of the CALL waiting for its answer; None when none is.
    _waiting: tuple[str, asyncio.Future[Any]] | None
    route_map: Mapping[str, Mapping[str, Any]]

    def _setup(self, station: Station, tap: FrameTap, response_timeout: float) -> None:
        """What ``ocpp.ChargePoint.__init__`` sets, without its per-instance route map
        and response queue (``tests/simulator/test_rpc.py`` pins the attribute list)."""
        self.id = station.spec.identity
        self._response_timeout = response_timeout
        self._connection = tap
        self.route_map = _BoundRoutes(self, _routes(type(self)))
        self._call_lock = asyncio.Lock()
        self._unique_id_generator = uuid.uuid4
        self.logger = OCPP_LOGGER
        self.station = station
        self._waiting = None

    async def start(self) -> None:
        """The receive loop (replaces ``ocpp``'s): an answer completes the waiting CALL
        here; CSMS CALLs and anything malformed go through ``_route``."""
        tap = self._connection
        while True:
            raw, parsed = await tap.receive()
            if (
                type(parsed) is list
                and len(parsed) >= 3
                and parsed[0] in _ANSWER_TYPES
                and type(parsed[1]) is str
            ):
                try:
                    answer = (CallResult if parsed[0] == MessageType.CallResult else CallError)(
                        *parsed[1:]
                    )
                except TypeError:  # wrong arity: _route logs it and drops it
                    pass
                else:
                    self._answered(answer)
                    continue
            # The tap gives None for JSON ``null`` and for no JSON at all: tell them apart.
            await self._route(raw, _strict_json(raw) if parsed is None else parsed)

    async def route_message(self, raw_msg: str) -> None:
        """``ocpp``'s ``route_message``, with answers going to the waiting CALL (there is
        no response queue) and malformed frames answered as OCPP-J says."""
        await self._route(raw_msg, _strict_json(raw_msg))

    async def _route(self, raw: str, parsed: Any) -> None:
        fault = _fault(self._ocpp_version, parsed)
        if fault is not None:
            await self._malformed(raw, *fault)
            return
        # Well-formed and strict JSON: parsed again by ``ocpp`` (the stdlib keeps integers
        # beyond 64 bits exact, where orjson makes them floats).
        msg = unpack(raw)
        if msg.message_type_id != MessageType.Call:
            self._answered(msg)
            return
        try:
            await self._handle_call(msg)
        except OCPPError as error:
            # One line, no traceback: the CSMS's mistake, answered and in the frame log.
            self.logger.warning(
                "%s: CALLERROR %s to %s %s: %s",
                self.id,
                error.code,
                msg.action,
                msg.unique_id,
                error.description,
            )
            await self._send(msg.create_call_error(error).to_json())  # type: ignore[attr-defined]

    async def _malformed(self, raw: str, unique_id: str | None, code: str, why: str) -> None:
        """Answer a malformed frame with a CALLERROR (``unique_id`` None: no answer), and
        log one line: a fleet of 10,000 must not log a traceback per bad frame."""
        if unique_id is not None and self.station.rejected():
            unique_id = None  # Rejected: silent until the interval is over (OCPP 1.6 §4.2)
        self.logger.warning(
            "%s: malformed frame (%s), %s: %.*r",
            self.id,
            why,
            f"answered {code}" if unique_id is not None else "dropped",
            _LOGGED_FRAME_CHARS,
            raw,
        )
        if unique_id is not None:
            # No part of the frame goes back: it may be the invalid JSON (Part 4 §4.2.3).
            frame = orjson.dumps([MessageType.CallError, unique_id, code, why, {}]).decode()
            await self._send(frame)  # type: ignore[attr-defined]

    def _answered(self, answer: CallResult | CallError) -> None:
        waiting = self._waiting
        if waiting is not None and waiting[0] == answer.unique_id and not waiting[1].done():
            waiting[1].set_result(answer)
        # else: a late answer to a CALL that timed out, or to none: skipped

    async def _roundtrip(self, action: str, payload: dict[str, Any]) -> Any:
        unique_id = self.station.next_message_id()
        try:
            frame = orjson.dumps([MessageType.Call, unique_id, action, payload]).decode()
        except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits in a proxied CALL
            frame = Call(unique_id=unique_id, action=action, payload=payload).to_json()
        async with self._call_lock:
            loop = asyncio.get_running_loop()
            answer: asyncio.Future[Any] = loop.create_future()
            self._waiting = (unique_id, answer)
            timer: asyncio.TimerHandle | None = None
            try:
                await self._connection.send_call(frame, action, unique_id)
                # A plain future and a loop timer: cheaper than ``asyncio.timeout`` and,
                # unlike ``asyncio.wait_for`` on Python 3.11, a cancellation that meets
                # the answer in the same turn is never swallowed (``LocalFleet.stop``).
                timer = loop.call_later(self._response_timeout, _no_answer, answer)
                return await answer
            except _NoAnswer:
                self.station.record_finding(
                    action, f"no answer to {action} within {self._response_timeout:g}s"
                )
                raise CsmsFinding(f"{action}: timeout") from None
            finally:
                if timer is not None:
                    timer.cancel()
                self._waiting = None

    async def send_call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        version = self._ocpp_version
        payload = remove_nones(payload)
        validate(version, action, payload, response=False)
        response = await self._roundtrip(action, payload)
        if response.message_type_id == MessageType.CallError:
            self.station.record_finding(
                action,
                f"CALLERROR {response.error_code} to a valid {action}: "
                f"{response.error_description}",
            )
            raise CsmsFinding(f"{action}: CALLERROR {response.error_code}")
        try:
            validate(version, action, response.payload, response=True)
        except SchemaViolation as exc:
            self.station.record_finding(action, f"invalid {action} answer: {exc}")
            raise CsmsFinding(str(exc)) from exc
        return response.payload  # type: ignore[no-any-return]

    async def exchange(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a (validated) CALL as written; the CSMS's answer or CALLERROR, as data."""
        try:
            response = await self._roundtrip(action, payload)
        except CsmsFinding:
            return {"error": {"code": "Timeout", "description": "no answer from the CSMS"}}
        if response.message_type_id == MessageType.CallError:
            self.station.record_finding(
                action, f"CALLERROR {response.error_code} to a valid {action}"
            )
            return {
                "error": {
                    "code": response.error_code,
                    "description": response.error_description,
                    "details": response.error_details,
                }
            }
        try:
            validate(self._ocpp_version, action, response.payload, response=True)
        except SchemaViolation as exc:
            self.station.record_finding(action, f"invalid {action} answer: {exc}")
        return {"payload": response.payload}

    async def _handle_call(self, msg: Any) -> Any:
        if self.station.rejected() and not _triggers_boot(msg):
            # Rejected: the charger answers nothing until the interval is over (OCPP 1.6
            # §4.2); the CSMS should not have asked (2.0.1 B03.FR.08 allows only
            # TriggerMessage(BootNotification)).
            self.station.record_finding(
                msg.action, f"CSMS sent {msg.action} while the boot is Rejected; not answered"
            )
            return None
        # OCPP-J: an action the version does not define -> NotImplemented; a defined
        # action this charger does not support -> NotSupported. ``ocpp`` 2.1.0 answers
        # the reverse, so both are decided here.
        if not known_action(self._ocpp_version, msg.action):
            raise OcppNotImplemented(
                description=f"{msg.action} is not an OCPP {self._ocpp_version} action",
                details={"cause": f"unknown action {msg.action}"},
            )
        if msg.action not in self.route_map:
            raise OcppNotSupported(
                description=f"{msg.action} is not supported by this charger",
                details={"cause": f"{msg.action} is not supported by this charger"},
            )
        # ``ocpp`` validates the answer in an executor before sending it, which lets other
        # tasks run: hold the follow-ups this CALL causes until the answer is out.
        gate = asyncio.Event()
        self.station.answering = gate
        try:
            await self._check_call(msg)
            return await super()._handle_call(msg)  # type: ignore[misc]
        except (OcppFormatViolation, OcppOccurrenceViolation) as exc:
            if self._ocpp_version != "1.6":
                raise
            # ``ocpp`` uses the 2.0.1 names on 1.6 too; OCPP-J 1.6 spells them (typos kept,
            # errata §5) FormationViolation and OccurenceConstraintViolation.
            renamed = (
                OcppFormationViolation
                if isinstance(exc, OcppFormatViolation)
                else OcppOccurenceViolation
            )
            raise renamed(description=exc.description, details=exc.details) from exc
        finally:
            if self.station.answering is gate:
                self.station.answering = None
            gate.set()

    async def _check_call(self, msg: Any) -> None:
        """Validate a CSMS CALL with our compiled validator too: ``ocpp``'s ignores
        ``format``, and a ``date-time`` that is none would crash the handler."""
        try:
            validate(self._ocpp_version, msg.action, msg.payload, response=False)
        except SchemaViolation as exc:
            # ``ocpp``'s verdict and code where it sees the violation too (what a CSMS
            # built on it answers); else its code for any other violation.
            await validate_payload(msg, self._ocpp_version)
            cause = str(exc)
            # ErrorDescription is string[255] (2.0.1 Part 4 Table 7); details keep it all.
            raise OcppFormatViolation(description=cause[:255], details={"cause": cause}) from exc


def _triggers_boot(msg: Any) -> bool:
    payload = msg.payload if isinstance(msg.payload, dict) else {}
    return msg.action == "TriggerMessage" and payload.get("requestedMessage") == "BootNotification"


__all__ = ["OCPP_LOGGER", "CsmsFinding", "OCPPError", "RpcMixin"]
