"""Sending CALLs with ``ocpp``'s framing, and turning CSMS mistakes into findings."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import remove_nones
from ocpp.exceptions import FormationViolationError as OcppFormationViolation
from ocpp.exceptions import FormatViolationError as OcppFormatViolation
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError as OcppNotSupported
from ocpp.exceptions import OccurenceConstraintViolationError as OcppOccurenceViolation
from ocpp.exceptions import OccurrenceConstraintViolationError as OcppOccurrenceViolation
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, MessageType

from voltlab.simulator.schemas import SchemaViolation, known_action, validate

if TYPE_CHECKING:
    from voltlab.simulator.station import Station

# ``ocpp`` logs every frame at INFO; voltlab keeps its own frame log instead.
OCPP_LOGGER = logging.getLogger("voltlab.ocpp")
OCPP_LOGGER.setLevel(logging.WARNING)


class CsmsFinding(Exception):
    """The CSMS answered wrongly or not at all; already recorded on the station."""


class RpcMixin:
    """Mixed into the per-version ``ocpp.ChargePoint`` subclasses.

    ``send_call`` takes the wire action and a camelCase payload dict, validates what we
    send against the official schema (our bugs must not reach a CSMS), and validates what
    the CSMS answers: a CALLERROR to a valid CALL, a schema-violating answer or silence
    is recorded as a finding on the station and raised as :class:`CsmsFinding`.
    """

    station: Station
    _ocpp_version: str
    _response_timeout: int | float
    _call_lock: asyncio.Lock
    route_map: dict[str, dict[str, Any]]

    async def _get_specific_response(self, unique_id: str, timeout: float) -> Any:
        """The answer to CALL ``unique_id``; late answers to earlier CALLs are skipped.

        Replaces ``ocpp``'s version, which waits with ``asyncio.wait_for``: on Python 3.11
        that swallows a cancellation arriving together with the answer, and the station
        then never stops (``LocalFleet.stop`` hangs). ``asyncio.timeout`` does not.
        """
        queue: asyncio.Queue[Any] = self._response_queue  # type: ignore[attr-defined]
        async with asyncio.timeout(timeout):
            while True:
                response = await queue.get()
                if response.unique_id == unique_id:
                    return response

    async def _roundtrip(self, action: str, payload: dict[str, Any]) -> Any:
        call = Call(unique_id=self.station.next_message_id(), action=action, payload=payload)
        async with self._call_lock:
            await self._send(call.to_json())  # type: ignore[attr-defined]
            try:
                return await self._get_specific_response(  # type: ignore[attr-defined]
                    call.unique_id, self._response_timeout
                )
            except TimeoutError:
                self.station.record_finding(
                    action, f"no answer to {action} within {self._response_timeout:g}s"
                )
                raise CsmsFinding(f"{action}: timeout") from None

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
