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
from ocpp.messages import Call, CallError, CallResult, MessageType, unpack
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
        here; CSMS CALLs and anything malformed go through ``route_message``."""
        tap = self._connection
        while True:
            raw, parsed = await tap.receive()
            if type(parsed) is list and len(parsed) >= 3 and parsed[0] in _ANSWER_TYPES:
                try:
                    answer = (CallResult if parsed[0] == MessageType.CallResult else CallError)(
                        *parsed[1:]
                    )
                except TypeError:  # wrong arity: route_message logs it and drops it
                    pass
                else:
                    self._answered(answer)
                    continue
            await self.route_message(raw)

    async def route_message(self, raw_msg: str) -> None:
        """``ocpp``'s ``route_message``, with answers going to the waiting CALL (there is
        no response queue)."""
        try:
            msg = unpack(raw_msg)
        except OCPPError as exc:
            self.logger.exception(
                "Unable to parse message: '%s', it doesn't seem to be valid OCPP: %s",
                raw_msg,
                exc,
            )
            return
        if msg.message_type_id == MessageType.Call:
            try:
                await self._handle_call(msg)
            except OCPPError as error:
                self.logger.exception("Error while handling request '%s'", msg)
                await self._send(msg.create_call_error(error).to_json())  # type: ignore[attr-defined]
        elif msg.message_type_id in _ANSWER_TYPES:
            self._answered(msg)

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


def _triggers_boot(msg: Any) -> bool:
    payload = msg.payload if isinstance(msg.payload, dict) else {}
    return msg.action == "TriggerMessage" and payload.get("requestedMessage") == "BootNotification"


__all__ = ["OCPP_LOGGER", "CsmsFinding", "OCPPError", "RpcMixin"]
