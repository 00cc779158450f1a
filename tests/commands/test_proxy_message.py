"""``proxy-message``: any charger-to-CSMS action, validated, sent camelCase, answered with
the CSMS's payload (or its CALLERROR)."""

from __future__ import annotations

import functools
from typing import Any

from .conftest import Charger, Lab, concurrently, on_both_versions


async def _proxy(lab: Lab, cp: Charger, event: dict[str, Any]) -> dict[str, Any]:
    return await lab.single("proxy-message", cp, event)


async def _refused(lab: Lab, cp: Charger, event: dict[str, Any], field: str) -> str:
    """422 naming ``event.<field>``; nothing reached the CSMS. The message."""
    before = len(lab.recorder.calls[cp.identity])
    response = await lab.post("proxy-message", {"charger_id": cp.id}, event)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "event", field], error
    assert len(lab.recorder.calls[cp.identity]) == before
    return str(error["msg"])


async def test_proxy_message_sends_as_written_and_answers_the_csms_payload(lab: Lab) -> None:
    cp16, cp201 = await concurrently(lab.charger("1.6"), lab.charger("2.0.1"))
    await concurrently(_proxy_16(lab, cp16), _proxy_201(lab, cp201))


async def _proxy_16(lab: Lab, cp: Charger) -> None:
    """Snake or wire-form actions, snake or camel keys; sent camelCase."""
    answer = await _proxy(
        lab,
        cp,
        {
            "action": "boot_notification",
            "ocpp_version": "ocpp1.6",
            "payload": {"charge_point_vendor": "OCPPLAB", "charge_point_model": "SDK-DC-50"},
        },
    )
    assert set(answer) >= {"id", "event_type", "ocpp_version", "payload", "status", "result"}
    assert answer["event_type"] == "proxy_message"
    assert answer["ocpp_version"] == "ocpp1.6"
    assert answer["status"] == "succeeded"
    assert answer["payload"]["action"] == "BootNotification"
    csms_answer = answer["result"]["payload"]
    assert csms_answer["status"] == "Accepted"
    assert csms_answer["interval"] == lab.csms.heartbeat_interval_s
    assert "currentTime" in csms_answer
    sent = lab.recorder.of(cp.identity, "BootNotification")[-1]
    assert sent.payload == {"chargePointVendor": "OCPPLAB", "chargePointModel": "SDK-DC-50"}

    # Wire-form action, camelCase keys, no ocpp_version: the charger's own.
    answer = await _proxy(
        lab,
        cp,
        {
            "action": "StatusNotification",
            "payload": {"connectorId": 2, "error_code": "NoError", "status": "Unavailable"},
        },
    )
    assert answer["result"] == {"payload": {}}
    sent = lab.recorder.of(cp.identity, "StatusNotification")[-1]
    assert sent.payload == {"connectorId": 2, "errorCode": "NoError", "status": "Unavailable"}

    answer = await _proxy(lab, cp, {"action": "heartbeat", "payload": {}})
    assert "currentTime" in answer["result"]["payload"]
    answer = await _proxy(lab, cp, {"action": "data_transfer", "payload": {"vendor_id": "acme"}})
    assert answer["result"]["payload"] == {"status": "UnknownVendorId"}

    # The outcome is recorded.
    record = await lab.outcome(answer["id"])
    assert record["status"] == "succeeded"
    assert record["event_type"] == "proxy_message"
    assert record["result"] == answer["result"]


async def _proxy_201(lab: Lab, cp: Charger) -> None:
    """Nested keys are camelCased too; a CALLERROR from the CSMS is the result."""
    answer = await _proxy(
        lab,
        cp,
        {
            "action": "boot_notification",
            "ocpp_version": "ocpp2.0.1",
            "payload": {
                "reason": "PowerUp",
                "charging_station": {"model": "SDK-DC-50", "vendor_name": "OCPPLAB"},
            },
        },
    )
    assert answer["ocpp_version"] == "ocpp2.0.1"
    assert answer["result"]["payload"]["status"] == "Accepted"
    sent = lab.recorder.of(cp.identity, "BootNotification")[-1]
    assert sent.payload == {
        "reason": "PowerUp",
        "chargingStation": {"model": "SDK-DC-50", "vendorName": "OCPPLAB"},
    }

    # An action with an acronym in its name, which the built-in CSMS does not implement:
    # its CALLERROR is the result.
    answer = await _proxy(
        lab,
        cp,
        {
            "action": "notify_ev_charging_needs",
            "payload": {"evse_id": 1, "charging_needs": {"requested_energy_transfer": "DC"}},
        },
    )
    assert lab.recorder.of(cp.identity, "NotifyEVChargingNeeds")[-1].payload == {
        "evseId": 1,
        "chargingNeeds": {"requestedEnergyTransfer": "DC"},
    }
    assert answer["status"] == "succeeded"
    assert answer["result"]["error"]["code"] == "NotImplemented"


async def test_proxy_message_refusals_are_422_and_send_nothing(lab: Lab) -> None:
    await on_both_versions(lab, functools.partial(_refusals, lab))


async def _refusals(lab: Lab, cp: Charger) -> None:
    version = cp.version
    other = "ocpp2.0.1" if version == "1.6" else "ocpp1.6"

    msg = await _refused(lab, cp, {"action": "boot_notification", "payload": {}}, "payload")
    assert ("chargePointVendor" if version == "1.6" else "reason") in msg
    bad_status: dict[str, Any] = (
        {"connector_id": 1, "error_code": "NoError", "status": "Exploded"}
        if version == "1.6"
        else {
            "timestamp": "2026-01-01T00:00:00Z",
            "connector_status": "Exploded",
            "evse_id": 1,
            "connector_id": 1,
        }
    )
    msg = await _refused(
        lab, cp, {"action": "status_notification", "payload": bad_status}, "payload"
    )
    assert "status" in msg.lower()
    msg = await _refused(lab, cp, {"action": "heartbeat", "payload": {"surprise": 1}}, "payload")
    assert "Heartbeat" in msg

    csms_actions = (
        ["remote_start_transaction", "ChangeConfiguration", "Reset"]
        if version == "1.6"
        else ["request_start_transaction", "SetVariables", "Reset"]
    )
    for action in csms_actions:
        msg = await _refused(lab, cp, {"action": action, "payload": {}}, "action")
        assert "CSMS" in msg
    for action in ("Teleport", "transaction_event" if version == "1.6" else "start_transaction"):
        msg = await _refused(lab, cp, {"action": action, "payload": {}}, "action")
        assert "no action" in msg

    heartbeat = {"action": "heartbeat", "ocpp_version": other, "payload": {}}
    msg = await _refused(lab, cp, heartbeat, "ocpp_version")
    assert other in msg
    # The charger still works.
    answer = await _proxy(lab, cp, {"action": "Heartbeat", "payload": {}})
    assert "currentTime" in answer["result"]["payload"]
