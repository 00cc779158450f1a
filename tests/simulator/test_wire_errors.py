"""What the station answers to a CSMS that breaks the wire rules, on real sockets on loopback
against a CSMS built with the ``ocpp`` library (``support.csms``):

- OCPP 1.6 schemas are JSON Schema draft-04, where ``1.0`` is not an integer: not in what
  the station sends, not in what the CSMS answers (a CSMS built on ``ocpp`` answers such a
  CALL with TypeConstraintViolation);
- a ``date-time`` that is no date-time in a CSMS CALL is a schema violation, answered with the
  format error code (FormationViolation on 1.6, FormatViolation on 2.0.1), not a crash;
- a frame that is not strict JSON (``NaN``, ``Infinity``, ``1e400``) is malformed JSON, not
  a CALL to act upon and echo.

Malformed frames in general are pinned in ``test_scale_guards.py`` (the garbage test).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

import orjson
import pytest
from ocpp.exceptions import TypeConstraintViolationError
from ocpp.messages import CallError, CallResult, validate_payload

from support.csms import Answer, RecordingCsms
from support.csms_calls import ask, booted
from support.frames import CALLERROR, ListSink, check_sent_frames
from support.live import Voltlab, eventually
from support.stations import running, spec_for
from tests.api.helpers import charger_body
from voltlab.ids import isoformat, utcnow
from voltlab.simulator.schemas import SchemaViolation, validate

pytestmark = pytest.mark.timeout(20)


def _is16(version: str) -> bool:
    return version == "1.6"


def _format_code(version: str) -> str:
    return "FormationViolation" if _is16(version) else "FormatViolation"


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """voltlab's log records that carry a traceback or are errors."""
    return [
        r
        for r in caplog.records
        if r.name.startswith("voltlab") and (r.exc_info or r.levelno >= logging.ERROR)
    ]


# -- 1. draft-04 integers on OCPP 1.6 ---------------------------------------------------------

START_ANSWER = {"transactionId": 1.0, "idTagInfo": {"status": "Accepted"}}
STATUS_16 = {"connectorId": 1.0, "errorCode": "NoError", "status": "Available"}


async def test_on_1_6_a_float_like_1_0_is_no_integer_in_a_request_or_an_answer_as_ocpp_says():
    with pytest.raises(SchemaViolation, match="transactionId"):
        validate("1.6", "StartTransaction", START_ANSWER, response=True)
    with pytest.raises(SchemaViolation, match="connectorId"):
        validate("1.6", "StatusNotification", STATUS_16, response=False)
    # The integers themselves still pass.
    validate("1.6", "StartTransaction", {**START_ANSWER, "transactionId": 1}, response=True)
    validate("1.6", "StatusNotification", {**STATUS_16, "connectorId": 1}, response=False)
    # The same verdict as the ``ocpp`` library's own (draft-04) validator.
    with pytest.raises(TypeConstraintViolationError):
        await validate_payload(CallResult("x", START_ANSWER, action="StartTransaction"), "1.6")


def test_on_2_0_1_the_schemas_own_draft_06_rules_apply_and_1_0_is_an_integer():
    """The 2.0.1 schemas declare draft-06, where a float without fraction is an integer."""
    status = {
        "timestamp": isoformat(utcnow()),
        "connectorStatus": "Available",
        "evseId": 1.0,
        "connectorId": 1,
    }
    validate("2.0.1", "StatusNotification", status, response=False)
    with pytest.raises(SchemaViolation, match="evseId"):
        validate("2.0.1", "StatusNotification", {**status, "evseId": 1.5}, response=False)


def test_an_action_no_schema_defines_is_unknown_and_has_no_validator():
    for action in ("Teleport", "../v201/schemas/ResetRequest", "ResetResponse", ""):
        with pytest.raises(SchemaViolation, match="no request schema"):
            validate("1.6", action, {}, response=False)


async def test_a_1_6_boot_answer_with_a_float_interval_is_a_finding_and_not_applied(
    csms: RecordingCsms,
):
    identity = "CP-FLOATBOOT"
    answer = {"status": "Accepted", "currentTime": isoformat(utcnow()), "interval": 1.0}
    csms.answers["BootNotification"] = Answer.with_payload(answer)
    sink = ListSink()
    async with running(spec_for(csms.url, "1.6", identity), sink) as station:
        await csms.wait_for(identity, "BootNotification", count=2)  # tried again
        assert station.boot_status is None
        assert not station.online
        assert set(csms.actions(identity)) == {"BootNotification"}
    finding = sink.findings()[0]
    assert finding.action == "BootNotification"
    assert "invalid BootNotification answer" in (finding.finding or "")
    assert "interval" in (finding.finding or "")


async def _create_charger(voltlab: Voltlab, csms: RecordingCsms, identity: str) -> str:
    created = await voltlab.client.post("/ocpp/chargers", json=charger_body(identity, csms.url))
    assert created.status_code == 202, created.text
    charger_id = str(created.json()["charger_id"])

    async def online() -> bool:
        runtime = (await voltlab.client.get(f"/ocpp/chargers/{charger_id}")).json()["runtime"]
        return bool(runtime["connection"] == "connected" and runtime["boot_status"] == "Accepted")

    await eventually(online, timeout=10)
    await csms.wait_for(identity, "StatusNotification", count=3)  # connector 0 and both
    return charger_id


async def test_proxy_message_with_1_0_in_a_1_6_integer_field_is_refused_and_sends_nothing(
    voltlab: Voltlab, csms: RecordingCsms
):
    identity = "CP-PROXYFLOAT"
    charger_id = await _create_charger(voltlab, csms, identity)
    frames_before = len(csms.frames[identity])

    def event(connector_id: Any) -> dict[str, Any]:
        payload = {"connector_id": connector_id, "error_code": "NoError", "status": "Available"}
        return {
            "target": {"charger_id": charger_id},
            "event": {"action": "status_notification", "payload": payload},
        }

    response = await voltlab.client.post("/ocpp/commands/proxy-message", json=event(1.0))
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "event", "payload"], error
    assert "connectorId" in error["msg"]
    await asyncio.sleep(0.2)
    assert len(csms.frames[identity]) == frames_before  # nothing reached the CSMS

    # The integer goes through.
    response = await voltlab.client.post("/ocpp/commands/proxy-message", json=event(1))
    assert response.status_code == 200, response.text
    assert csms.calls(identity)[-1] == (
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
    )


# -- 2. a date-time that is none, in a CSMS CALL ------------------------------------------------

HOUR = timedelta(hours=1)
ID_TOKEN = {"idToken": "A", "type": "ISO14443"}
# (action, payload, the field the CALLERROR names)
NO_DATE_TIME = {
    "1.6": [
        (
            "ReserveNow",
            {"connectorId": 1, "expiryDate": "tomorrow", "idTag": "A", "reservationId": 1},
            "expiryDate",
        ),
        (
            "SendLocalList",
            {
                "listVersion": 1,
                "updateType": "Full",
                "localAuthorizationList": [
                    {"idTag": "A", "idTagInfo": {"status": "Accepted", "expiryDate": "yesterday"}}
                ],
            },
            "expiryDate",
        ),
        ("UpdateFirmware", {"location": "http://x/y", "retrieveDate": "soon"}, "retrieveDate"),
    ],
    "2.0.1": [
        (
            "SendLocalList",
            {
                "versionNumber": 1,
                "updateType": "Full",
                "localAuthorizationList": [
                    {
                        "idToken": ID_TOKEN,
                        "idTokenInfo": {"status": "Accepted", "cacheExpiryDateTime": "yesterday"},
                    }
                ],
            },
            "cacheExpiryDateTime",
        ),
        (
            "ReserveNow",
            {"id": 1, "expiryDateTime": "tomorrow", "idToken": ID_TOKEN, "evseId": 1},
            "expiryDateTime",
        ),
        (
            "UpdateFirmware",
            {"requestId": 1, "firmware": {"location": "http://x/y", "retrieveDateTime": "soon"}},
            "retrieveDateTime",
        ),
    ],
}


async def test_a_csms_call_with_a_date_time_that_is_none_gets_the_format_error_and_changes_nothing(
    csms: RecordingCsms, version: str, caplog: pytest.LogCaptureFixture
):
    identity = "CP-NODATE"
    caplog.set_level(logging.WARNING)
    async with running(spec_for(csms.url, version, identity)) as station:
        await booted(csms, station)
        frames_before = len(csms.frames[identity])
        for action, payload, field in NO_DATE_TIME[version]:
            answer = await csms.call(identity, action, payload)
            assert isinstance(answer, CallError), f"{action}: {answer!r}"
            assert answer.error_code == _format_code(version), f"{action}: {answer!r}"
            said = f"{answer.error_description} {json.dumps(answer.error_details)}"
            assert field in said, f"{action}: the CALLERROR does not name {field}: {said}"
        await asyncio.sleep(0.3)  # no follow-up comes (no Reserved status, no download)

        sent = [json.loads(raw) for raw in csms.frames[identity][frames_before:]]
        assert [f[0] for f in sent] == [CALLERROR] * len(NO_DATE_TIME[version]), sent
        assert station.local_list.version == 0
        assert not station.reservation_expiry
        assert station.firmware_status == "Idle"
        assert {c["status"] for c in station.snapshot().connectors} == {"Available"}
        # The first of them with a real date-time is answered as usual.
        action, payload, _ = NO_DATE_TIME[version][0]
        fixed = json.dumps(payload)
        for word in ("tomorrow", "yesterday"):
            fixed = fixed.replace(f'"{word}"', json.dumps(isoformat(utcnow() + HOUR)))
        assert (await ask(csms, station, action, json.loads(fixed)))["status"] == "Accepted"

    assert _tracebacks(caplog) == []
    check_sent_frames(version, csms.frames[identity], csms.sent_calls)


# -- 4. frames that are not strict JSON ---------------------------------------------------------

NOT_STRICT_JSON = [
    '[2,"nan-1","DataTransfer",{"vendorId":"voltlab","data":NaN}]',
    '[2,"inf-1","DataTransfer",{"vendorId":"voltlab","data":Infinity}]',
    '[2,"inf-2","DataTransfer",{"vendorId":"voltlab","data":-Infinity}]',
    '[2,"big-1","DataTransfer",{"vendorId":"voltlab","data":1e400}]',
    '[2,"nan-2","ChangeAvailability",{"connectorId":NaN,"type":"Inoperative"}]',
]


async def test_a_frame_with_nan_or_infinity_is_malformed_json_and_nothing_invalid_is_echoed(
    csms: RecordingCsms, version: str, caplog: pytest.LogCaptureFixture
):
    identity = "CP-NAN"
    caplog.set_level(logging.WARNING)
    async with running(spec_for(csms.url, version, identity)) as station:
        await booted(csms, station)
        frames_before = len(csms.frames[identity])
        for raw in NOT_STRICT_JSON:
            await csms.connections[identity].send(raw)
        assert await ask(csms, station, "GetLocalListVersion", {})  # all read by now
        assert {c["status"] for c in station.snapshot().connectors} == {"Available"}

    sent = csms.frames[identity][frames_before:]
    for raw in sent:
        orjson.loads(raw)  # strict JSON, every one
    errors = [json.loads(raw) for raw in sent if json.loads(raw)[0] == CALLERROR]
    assert [(e[1], e[2]) for e in errors] == [("-1", _format_code(version))] * len(NOT_STRICT_JSON)
    assert "JSON" in errors[0][3]
    assert _tracebacks(caplog) == []
    check_sent_frames(version, csms.frames[identity], csms.sent_calls)


async def test_a_rejected_charger_leaves_malformed_frames_unanswered_too(
    csms: RecordingCsms, version: str
):
    """Rejected: silent until the interval is over (OCPP 1.6 §4.2, 2.0.1 B03), garbage or not."""
    identity = "CP-REJGARBAGE"
    csms.boot_status, csms.boot_interval = "Rejected", 2
    async with running(spec_for(csms.url, version, identity)) as station:
        await csms.wait_for(identity, "BootNotification")
        await eventually(lambda: station.boot_status == "Rejected")
        for raw in ("this is not JSON", '[2, "m-2", "Reset"]', '[5, "m-3", "Reset", {}]'):
            await csms.connections[identity].send(raw)
        await asyncio.sleep(0.3)
        assert len(csms.frames[identity]) == 1  # only the first BootNotification
        assert station.connects == 1
