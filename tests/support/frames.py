"""An in-memory ``FrameSink`` and checks of OCPP-J frames against the official schemas."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from voltlab.simulator.schemas import validate

CALL, CALLRESULT, CALLERROR = 2, 3, 4

# OCPP-J 1.6 §4.2.3 (typos kept, errata §5) and OCPP 2.0.1 Part 4 Table 8.
ERROR_CODES = {
    "1.6": {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    },
    "2.0.1": {
        "FormatViolation",
        "GenericError",
        "InternalError",
        "MessageTypeNotSupported",
        "NotImplemented",
        "NotSupported",
        "OccurrenceConstraintViolation",
        "PropertyConstraintViolation",
        "ProtocolError",
        "RpcFrameworkError",
        "SecurityError",
        "TypeConstraintViolation",
    },
}


@dataclass(frozen=True)
class Frame:
    org_id: str
    charger_id: str
    direction: str
    action: str
    message: str
    finding: str | None


class ListSink:
    """A real ``FrameSink`` that keeps every reported frame in a list."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def record(
        self,
        org_id: str,
        charger_id: str,
        direction: str,
        action: str,
        message: str,
        finding: str | None = None,
    ) -> None:
        self.frames.append(Frame(org_id, charger_id, direction, action, message, finding))

    def sent(self) -> list[Frame]:
        return [f for f in self.frames if f.direction == "cp_to_csms"]

    def received(self) -> list[Frame]:
        return [f for f in self.frames if f.direction == "csms_to_cp" and f.finding is None]

    def findings(self) -> list[Frame]:
        return [f for f in self.frames if f.finding is not None]


def check_sent_frames(version: str, frames: Iterable[str], csms_calls: Mapping[str, str]) -> int:
    """Every frame a charger sent, checked against OCPP-J and the official schemas.

    ``csms_calls`` maps the ids of the CSMS's own CALLs to their actions, so the answers
    to them are checked against the matching response schema. Returns the count.
    """
    count = 0
    for raw in frames:
        frame = json.loads(raw)
        kind, unique_id = frame[0], frame[1]
        assert isinstance(unique_id, str), raw
        assert 0 < len(unique_id) <= 36, raw
        if kind == CALL:
            assert len(frame) == 4, raw
            validate(version, frame[2], frame[3], response=False)
        elif kind == CALLRESULT:
            assert len(frame) == 3, raw
            validate(version, csms_calls[unique_id], frame[2], response=True)
        else:
            assert kind == CALLERROR, raw
            assert len(frame) == 5, raw
            assert frame[2] in ERROR_CODES[version], raw
            assert isinstance(frame[3], str), raw
            assert isinstance(frame[4], dict), raw
        count += 1
    return count
