"""Every CSMS-initiated message of OCPP 1.6J and 2.0.1: the answer, and the frames after it.

A real station on loopback and a real CSMS built with ``ocpp``; every answer is checked
against its official response schema by ``ocpp``'s validator (``ask``) and every frame the
station sent is checked again at the end of each test.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from ocpp.messages import CallError

from support.csms import RecordingCsms
from support.csms_calls import ask, assert_frames_valid, booted, configure, statuses
from support.live import eventually
from support.stations import running, spec_for
from voltlab.errors import Conflict
from voltlab.ids import isoformat, utcnow
from voltlab.simulator import Station

pytestmark = pytest.mark.timeout(20)

IDENTITY = "CP-CSMS"


@pytest.fixture
async def station(csms: RecordingCsms, version: str) -> AsyncIterator[Station]:
    async with running(spec_for(csms.url, version, IDENTITY)) as station:
        await booted(csms, station)
        yield station
        assert_frames_valid(csms, station)


# -- helpers ---------------------------------------------------------------------------


def is16(station: Station) -> bool:
    return station.spec.ocpp_version == "1.6"


def remote_start(station: Station, tag: str, outlet: int | None = 1, remote_id: int = 42):
    if is16(station):
        payload: dict[str, Any] = {"idTag": tag}
        if outlet is not None:
            payload["connectorId"] = outlet
        return "RemoteStartTransaction", payload
    payload = {"idToken": {"idToken": tag, "type": "ISO14443"}, "remoteStartId": remote_id}
    if outlet is not None:
        payload["evseId"] = outlet
    return "RequestStartTransaction", payload


async def start_remotely(csms: RecordingCsms, station: Station, tag: str, **kwargs: Any) -> str:
    action, payload = remote_start(station, tag, **kwargs)
    return (await ask(csms, station, action, payload))["status"]


async def stop_remotely(csms: RecordingCsms, station: Station, transaction_id: Any) -> str:
    if is16(station):
        action, payload = "RemoteStopTransaction", {"transactionId": int(transaction_id)}
    else:
        action, payload = "RequestStopTransaction", {"transactionId": str(transaction_id)}
    return (await ask(csms, station, action, payload))["status"]


def starts(csms: RecordingCsms, station: Station) -> list[dict[str, Any]]:
    """StartTransaction (1.6) / TransactionEvent Started (2.0.1) payloads, camelCase."""
    if is16(station):
        return [p for a, p in csms.calls(IDENTITY) if a == "StartTransaction"]
    return [
        p
        for a, p in csms.calls(IDENTITY)
        if a == "TransactionEvent" and p["eventType"] == "Started"
    ]


def stops(csms: RecordingCsms, station: Station) -> list[dict[str, Any]]:
    """StopTransaction (1.6) / TransactionEvent Ended (2.0.1) payloads, camelCase."""
    if is16(station):
        return [p for a, p in csms.calls(IDENTITY) if a == "StopTransaction"]
    return [
        p for a, p in csms.calls(IDENTITY) if a == "TransactionEvent" and p["eventType"] == "Ended"
    ]


def calls_of(csms: RecordingCsms, action: str) -> list[dict[str, Any]]:
    return [p for a, p in csms.calls(IDENTITY) if a == action]


async def charging(csms: RecordingCsms, station: Station, tag: str = "DRIVER") -> Any:
    """Plug connector 1 and start a transaction the CSMS confirmed; the transaction."""
    connector = station.connector()
    await station.plug(connector)
    await station.present_tag(tag, connector)
    tx = station.transaction_on(connector)
    assert tx is not None
    await station.confirmed(tx)
    return tx


def wire_id(station: Station, tx: Any) -> Any:
    """The id the CSMS knows the transaction by."""
    return tx.csms_id if is16(station) else tx.key


def answered_before(csms: RecordingCsms, since: int, action: str, follow_up: str) -> bool:
    """In the frames since index ``since``: the answer to the CSMS's ``action`` comes
    before the station's ``follow_up`` CALL (".conf first")."""
    answer_at = follow_at = None
    for index, raw in enumerate(csms.frames[IDENTITY][since:]):
        frame = json.loads(raw)
        if frame[0] == 3 and csms.sent_calls.get(frame[1]) == action and answer_at is None:
            answer_at = index
        if frame[0] == 2 and frame[2] == follow_up and follow_at is None:
            follow_at = index
    return answer_at is not None and follow_at is not None and answer_at < follow_at


# -- remote start and stop ---------------------------------------------------------------


@pytest.mark.parametrize("authorize_first", [True, False])
async def test_remote_start_and_stop(
    csms: RecordingCsms, station: Station, version: str, authorize_first: bool
):
    configure(station, AuthorizeRemoteTxRequests=authorize_first)
    connector = station.connector()
    await station.plug(connector)

    since = len(csms.frames[IDENTITY])
    assert await start_remotely(csms, station, "REMOTE-1") == "Accepted"
    (start,) = await csms.wait_until(lambda: starts(csms, station))
    action, _ = remote_start(station, "REMOTE-1")
    start_action = "StartTransaction" if is16(station) else "TransactionEvent"
    first = "Authorize" if authorize_first else start_action
    assert answered_before(csms, since, action, first)  # the answer goes out first

    actions = [a for a, _ in csms.calls(IDENTITY)]
    if authorize_first:
        assert "Authorize" in actions
        assert actions.index("Authorize") < actions.index(start_action)
    else:
        assert "Authorize" not in actions
    if is16(station):
        assert (start["connectorId"], start["idTag"]) == (1, "REMOTE-1")
    else:
        assert start["transactionInfo"]["remoteStartId"] == 42
        assert start["triggerReason"] == "RemoteStart"
        assert start["idToken"]["idToken"] == "REMOTE-1"
    tx = station.transaction_on(connector)
    assert tx is not None
    await station.confirmed(tx)

    assert await stop_remotely(csms, station, 999 if is16(station) else "nope") == "Rejected"
    assert await stop_remotely(csms, station, wire_id(station, tx)) == "Accepted"
    (stop,) = await csms.wait_until(lambda: stops(csms, station))
    if is16(station):
        assert stop["reason"] == "Remote"
    else:
        assert stop["transactionInfo"]["stoppedReason"] == "Remote"
        assert stop["triggerReason"] == "RemoteStop"
    assert station.transaction_on(connector) is None


@pytest.mark.parametrize("version", ["2.0.1"])
@pytest.mark.parametrize("cable_first", [True, False])
async def test_a_remote_start_keeps_the_token_type_the_csms_gave(
    csms: RecordingCsms, station: Station, version: str, cable_first: bool
):
    """2.0.1: the IdToken goes back as the CSMS typed it (here Central), in Authorize and
    in every TransactionEvent that carries it, whether the cable was in or came later; a
    tag read at the charger stays ISO14443."""
    configure(station, AuthorizeRemoteTxRequests=True)
    connector = station.connector()
    if cable_first:
        await station.plug(connector)
    payload = {"idToken": {"idToken": "APP-7", "type": "Central"}, "remoteStartId": 7}
    answer = await ask(csms, station, "RequestStartTransaction", {**payload, "evseId": 1})
    assert answer["status"] == "Accepted"
    (authorize,) = await csms.wait_until(lambda: calls_of(csms, "Authorize"))
    assert authorize["idToken"] == {"idToken": "APP-7", "type": "Central"}
    if not cable_first:
        await eventually(lambda: connector.tag_presented or None)
        await station.plug(connector)
    (start,) = await csms.wait_until(lambda: starts(csms, station))
    assert start["idToken"] == {"idToken": "APP-7", "type": "Central"}
    tx = station.transaction_on(connector)
    assert tx is not None and tx.id_token_type == "Central"
    await station.confirmed(tx)

    # The same token at the reader stops it: the Ended event names it as the CSMS typed it.
    await station.present_tag("APP-7", connector)
    (stop,) = await csms.wait_until(lambda: stops(csms, station))
    assert stop["idToken"] == {"idToken": "APP-7", "type": "Central"}

    await charging(csms, station, "CARD-1")  # read at the charger
    assert starts(csms, station)[-1]["idToken"] == {"idToken": "CARD-1", "type": "ISO14443"}


async def test_a_remote_start_without_connector_picks_a_free_one(
    csms: RecordingCsms, station: Station, version: str
):
    await charging(csms, station, "FIRST")  # connector 1 is busy
    await station.plug(station.connectors[1])

    assert await start_remotely(csms, station, "SECOND", outlet=None) == "Accepted"

    await csms.wait_until(lambda: len(starts(csms, station)) == 2)
    assert station.transaction_on(station.connectors[1]) is not None


@pytest.mark.parametrize("why", ["unavailable", "faulted", "busy", "unknown"])
async def test_remote_start_is_rejected_where_no_transaction_can_start(
    csms: RecordingCsms, station: Station, version: str, why: str
):
    connector = station.connector()
    outlet = 1
    if why == "unavailable":
        station.change_availability([connector], operative=False)
    elif why == "faulted":
        station.inject_fault(connector, "GroundFault")
    elif why == "busy":
        await charging(csms, station, "OCCUPANT")
    else:
        outlet = 9
    before = len(starts(csms, station))

    assert await start_remotely(csms, station, "LATECOMER", outlet=outlet) == "Rejected"

    await asyncio.sleep(0.1)
    assert len(starts(csms, station)) == before
    assert "LATECOMER" not in [d["id_tag"] for d in station.decisions]


@pytest.mark.parametrize("plugged_in_time", [True, False])
async def test_remote_start_waits_for_the_cable_until_connection_timeout(
    csms: RecordingCsms, station: Station, version: str, plugged_in_time: bool
):
    configure(station, ConnectionTimeOut=1)
    connector = station.connector()

    assert await start_remotely(csms, station, "EARLY-BIRD", remote_id=7) == "Accepted"
    await eventually(lambda: connector.tag_presented, timeout=3)
    if is16(station):
        await eventually(lambda: statuses(csms, station)[-1] == "Preparing", timeout=3)
    else:  # 2.0.1: authorized without a cable, the connector is still free
        assert connector.status_201 == "Available"

    if plugged_in_time:
        await station.plug(connector)
        (start,) = await csms.wait_until(lambda: starts(csms, station))
        if is16(station):
            assert start["idTag"] == "EARLY-BIRD"
        else:
            assert start["transactionInfo"]["remoteStartId"] == 7
            assert start["triggerReason"] == "RemoteStart"
        return

    await eventually(lambda: not connector.tag_presented, timeout=3)
    assert connector.status == "Available"
    if is16(station):
        await eventually(lambda: statuses(csms, station)[-2:] == ["Preparing", "Available"])
    await station.plug(connector)  # too late: the cable alone starts nothing
    await asyncio.sleep(0.2)
    assert starts(csms, station) == []


async def test_remote_start_on_a_reserved_connector_only_for_the_reserving_tag(
    csms: RecordingCsms, station: Station, version: str
):
    await reserve(csms, station, 1, "HOLDER", reservation_id=11)
    await station.plug(station.connector())

    assert await start_remotely(csms, station, "INTRUDER") == "Rejected"
    assert await start_remotely(csms, station, "holder") == "Accepted"

    (start,) = await csms.wait_until(lambda: starts(csms, station))
    assert start["reservationId"] == 11


# -- reset -----------------------------------------------------------------------------


async def set_heartbeat(csms: RecordingCsms, station: Station, seconds: int) -> None:
    if is16(station):
        answer = await ask(
            csms,
            station,
            "ChangeConfiguration",
            {"key": "HeartbeatInterval", "value": str(seconds)},
        )
        assert answer["status"] == "Accepted"
        return
    answer = await ask(
        csms,
        station,
        "SetVariables",
        {"setVariableData": [heartbeat_variable() | {"attributeValue": str(seconds)}]},
    )
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"


async def get_heartbeat(csms: RecordingCsms, station: Station) -> str:
    if is16(station):
        answer = await ask(csms, station, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        return answer["configurationKey"][0]["value"]
    answer = await ask(csms, station, "GetVariables", {"getVariableData": [heartbeat_variable()]})
    return answer["getVariableResult"][0]["attributeValue"]


def heartbeat_variable() -> dict[str, Any]:
    return {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}


@pytest.mark.parametrize(
    ("version", "kind", "reason"),
    [("1.6", "Hard", "HardReset"), ("1.6", "Soft", "SoftReset"), ("2.0.1", "Immediate", None)],
)
async def test_reset_stops_transactions_and_boots_again_keeping_configuration(
    csms: RecordingCsms, station: Station, version: str, kind: str, reason: str | None
):
    await set_heartbeat(csms, station, 321)
    configure(station, ConnectionTimeOut=77)
    tx = await charging(csms, station)

    answer = await ask(csms, station, "Reset", {"type": kind})
    assert answer["status"] == "Accepted"

    boots = await csms.wait_for(IDENTITY, "BootNotification", count=2)
    assert csms.handshakes[IDENTITY] == 2  # it went away and dialled again
    (stop,) = stops(csms, station)
    if is16(station):
        assert stop["reason"] == reason
        assert stop["transactionId"] == tx.csms_id
    else:
        assert stop["transactionInfo"]["stoppedReason"] == "ImmediateReset"
        assert stop["triggerReason"] == "ResetCommand"
        assert boots[1].payload["reason"] == "RemoteReset"
    actions = [a for a, _ in csms.calls(IDENTITY)]
    stop_action = "StopTransaction" if is16(station) else "TransactionEvent"
    last_stop = len(actions) - 1 - actions[::-1].index(stop_action)
    second_boot = [i for i, a in enumerate(actions) if a == "BootNotification"][1]
    assert last_stop < second_boot  # the stop is sent before the reboot
    await booted(csms, station)
    # The configuration survives the reset; the heartbeat interval is the new boot's
    # answer (1.6 §4.2, 2.0.1 B01), kept as the setting the CSMS reads back.
    timeout_key = "ConnectionTimeOut" if is16(station) else "TxCtrlr.EVConnectionTimeOut"
    assert station.config.get(timeout_key) == "77"
    assert await get_heartbeat(csms, station) == str(csms.boot_interval) == "60"
    assert station.heartbeat_interval_s == 60


@pytest.mark.parametrize("version", ["2.0.1"])  # OnIdle is a 2.0.1 reset type
async def test_reset_on_idle_is_scheduled_until_the_transaction_ends(
    csms: RecordingCsms, station: Station, version: str
):
    tx = await charging(csms, station)

    assert (await ask(csms, station, "Reset", {"type": "OnIdle"}))["status"] == "Scheduled"
    await asyncio.sleep(0.3)
    assert len(csms.hits(IDENTITY, "BootNotification")) == 1  # not yet
    one_evse = await ask(csms, station, "Reset", {"type": "OnIdle", "evseId": 1})
    assert one_evse["status"] == "Rejected"  # resetting one EVSE alone is not supported

    assert await stop_remotely(csms, station, tx.key) == "Accepted"
    boots = await csms.wait_for(IDENTITY, "BootNotification", count=2, timeout=5)
    assert boots[1].payload["reason"] == "RemoteReset"
    (stop,) = stops(csms, station)
    assert stop["transactionInfo"]["stoppedReason"] == "Remote"
    await booted(csms, station)
    # Idle: OnIdle resets at once.
    assert (await ask(csms, station, "Reset", {"type": "OnIdle"}))["status"] == "Accepted"
    await csms.wait_for(IDENTITY, "BootNotification", count=3, timeout=5)
    await booted(csms, station)


# -- unlock ------------------------------------------------------------------------------


def unlock_payload(station: Station, outlet: int) -> dict[str, Any]:
    if is16(station):
        return {"connectorId": outlet}
    return {"evseId": outlet, "connectorId": 1}


async def test_unlock_connector(csms: RecordingCsms, station: Station, version: str):
    connector = station.connector()
    await station.plug(connector)
    assert connector.locked

    answer = await ask(csms, station, "UnlockConnector", unlock_payload(station, 1))
    assert answer["status"] == "Unlocked"
    assert not connector.locked

    unknown = await ask(csms, station, "UnlockConnector", unlock_payload(station, 9))
    assert unknown["status"] == ("NotSupported" if is16(station) else "UnknownConnector")

    station.inject_fault(station.connectors[1], "ConnectorLockFailure")
    failed = await ask(csms, station, "UnlockConnector", unlock_payload(station, 2))
    assert failed["status"] == "UnlockFailed"


async def test_unlock_connector_during_a_transaction(
    csms: RecordingCsms, station: Station, version: str
):
    tx = await charging(csms, station)
    connector = station.connector()

    answer = await ask(csms, station, "UnlockConnector", unlock_payload(station, 1))

    if is16(station):
        # §5.17: the transaction is stopped first (UnlockCommand), then the cable released.
        assert answer["status"] == "Unlocked"
        (stop,) = await csms.wait_until(lambda: stops(csms, station))
        assert stop["reason"] == "UnlockCommand"
        assert stop["transactionId"] == tx.csms_id
        assert not connector.locked
    else:
        assert answer["status"] == "OngoingAuthorizedTransaction"
        assert station.transaction_on(connector) is tx
        assert connector.locked


# -- configuration (1.6) -------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.6"])  # 2.0.1: SetVariables / GetVariables
async def test_change_and_get_configuration(csms: RecordingCsms, station: Station, version: str):

    async def change(key: str, value: str) -> str:
        return (await ask(csms, station, "ChangeConfiguration", {"key": key, "value": value}))[
            "status"
        ]

    assert await change("HeartbeatInterval", "120") == "Accepted"
    assert station.heartbeat_interval_s == 120
    assert await change("HeartbeatInterval", "often") == "Rejected"
    assert await change("MeterValuesSampledData", "Temperature") == "Rejected"  # unsupported
    assert await change("NumberOfConnectors", "8") == "Rejected"  # read-only
    assert await change("NoSuchKey", "1") == "NotSupported"
    assert await change("AuthorizationKey", "0123456789abcdef0123456789abcdef") == "Accepted"

    everything = await ask(csms, station, "GetConfiguration", {})
    keys = {entry["key"]: entry for entry in everything["configurationKey"]}
    assert keys["HeartbeatInterval"] == {
        "key": "HeartbeatInterval",
        "readonly": False,
        "value": "120",
    }
    assert keys["NumberOfConnectors"]["readonly"] is True
    assert keys["NumberOfConnectors"]["value"] == "2"
    assert "AuthorizationKey" not in keys  # write-only: never read back
    assert "unknownKey" not in everything

    some = await ask(
        csms,
        station,
        "GetConfiguration",
        {"key": ["HeartbeatInterval", "NoSuchKey", "AuthorizationKey"]},
    )
    assert [entry["key"] for entry in some["configurationKey"]] == ["HeartbeatInterval"]
    assert sorted(some["unknownKey"]) == ["AuthorizationKey", "NoSuchKey"]


# -- device model (2.0.1) ----------------------------------------------------------------


def variable(component: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"component": {"name": component}, "variable": {"name": name}, **extra}


@pytest.mark.parametrize("version", ["2.0.1"])  # 1.6: ChangeConfiguration / GetConfiguration
async def test_set_and_get_variables(csms: RecordingCsms, station: Station, version: str):
    requests = [
        variable("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="120"),
        variable("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="often"),
        variable("AuthCacheCtrlr", "Policy", attributeValue="FIFO"),  # read-only
        variable("NoSuchCtrlr", "Enabled", attributeValue="true"),
        variable("OCPPCommCtrlr", "NoSuchVariable", attributeValue="1"),
        variable("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="5", attributeType="Target"),
    ]

    answer = await ask(csms, station, "SetVariables", {"setVariableData": requests})

    assert [r["attributeStatus"] for r in answer["setVariableResult"]] == [
        "Accepted",
        "Rejected",
        "Rejected",
        "UnknownComponent",
        "UnknownVariable",
        "NotSupportedAttributeType",
    ]
    assert answer["setVariableResult"][3]["component"] == {"name": "NoSuchCtrlr"}
    assert station.heartbeat_interval_s == 120

    gets = [
        variable("OCPPCommCtrlr", "HeartbeatInterval"),
        variable("NoSuchCtrlr", "Enabled"),
        variable("OCPPCommCtrlr", "NoSuchVariable"),
        variable("OCPPCommCtrlr", "HeartbeatInterval", attributeType="MaxSet"),
        variable("SecurityCtrlr", "BasicAuthPassword"),  # write-only
    ]
    answer = await ask(csms, station, "GetVariables", {"getVariableData": gets})
    results = answer["getVariableResult"]
    assert [r["attributeStatus"] for r in results] == [
        "Accepted",
        "UnknownComponent",
        "UnknownVariable",
        "NotSupportedAttributeType",
        "Rejected",
    ]
    assert results[0]["attributeValue"] == "120"
    assert all("attributeValue" not in r for r in results[1:])


# -- availability ------------------------------------------------------------------------


def availability(station: Station, operative: bool, outlet: int | None) -> dict[str, Any]:
    if is16(station):
        return {"connectorId": outlet or 0, "type": "Operative" if operative else "Inoperative"}
    payload: dict[str, Any] = {"operationalStatus": "Operative" if operative else "Inoperative"}
    if outlet is not None:
        payload["evse"] = {"id": outlet}
    return payload


async def test_change_availability_of_one_connector_and_of_all(
    csms: RecordingCsms, station: Station, version: str
):
    unavailable = "Unavailable"
    since = len(csms.frames[IDENTITY])
    one = await ask(csms, station, "ChangeAvailability", availability(station, False, 1))
    assert one["status"] == "Accepted"
    await eventually(lambda: statuses(csms, station, 1)[-1:] == [unavailable], timeout=3)
    assert answered_before(csms, since, "ChangeAvailability", "StatusNotification")
    assert station.connectors[1].status == "Available"

    missing = await ask(csms, station, "ChangeAvailability", availability(station, False, 9))
    assert missing["status"] == "Rejected"

    everything = await ask(csms, station, "ChangeAvailability", availability(station, False, None))
    assert everything["status"] == "Accepted"
    await eventually(lambda: statuses(csms, station, 2)[-1:] == [unavailable], timeout=3)
    if is16(station):
        await eventually(lambda: statuses(csms, station, 0)[-1:] == [unavailable], timeout=3)
    assert all(c.status == "Unavailable" for c in station.connectors)

    # It persists: a reset keeps the connectors unavailable, and they say so after the boot.
    kind = "Hard" if is16(station) else "Immediate"
    assert (await ask(csms, station, "Reset", {"type": kind}))["status"] == "Accepted"
    await csms.wait_for(IDENTITY, "BootNotification", count=2)
    await booted(csms, station)
    await eventually(lambda: csms.handshakes[IDENTITY] == 2)
    assert all(c.status == "Unavailable" for c in station.connectors)
    last = {}
    for p in csms.payloads(IDENTITY, "StatusNotification"):
        key = p.get("connector_id") if is16(station) else p["evse_id"]
        last[key] = p.get("status") or p.get("connector_status")
    assert last[1] == last[2] == unavailable

    back = await ask(csms, station, "ChangeAvailability", availability(station, True, None))
    assert back["status"] == "Accepted"
    await eventually(lambda: statuses(csms, station, 1)[-1:] == ["Available"], timeout=3)
    assert station.connector().status == "Available"


async def test_change_availability_during_a_transaction_is_scheduled(
    csms: RecordingCsms, station: Station, version: str
):
    tx = await charging(csms, station)
    connector = station.connector()

    answer = await ask(csms, station, "ChangeAvailability", availability(station, False, None))

    assert answer["status"] == "Scheduled"
    await eventually(lambda: statuses(csms, station, 2)[-1:] == ["Unavailable"], timeout=3)
    assert station.transaction_on(connector) is tx  # the transaction goes on
    assert connector.status != "Unavailable"

    await station.stop_transaction(tx, "Local")
    await eventually(lambda: statuses(csms, station, 1)[-1:] == ["Unavailable"], timeout=3)
    assert connector.status == "Unavailable"


# -- trigger message -------------------------------------------------------------------


TRIGGERS_16 = [
    ("Heartbeat", None, "Heartbeat"),
    ("StatusNotification", 1, "StatusNotification"),
    ("MeterValues", 1, "MeterValues"),
    ("FirmwareStatusNotification", None, "FirmwareStatusNotification"),
    ("DiagnosticsStatusNotification", None, "DiagnosticsStatusNotification"),
]
TRIGGERS_201 = [
    ("Heartbeat", None, "Heartbeat"),
    ("StatusNotification", {"id": 1, "connectorId": 1}, "StatusNotification"),
    ("MeterValues", {"id": 1}, "MeterValues"),
    ("FirmwareStatusNotification", None, "FirmwareStatusNotification"),
    ("LogStatusNotification", None, "LogStatusNotification"),
    ("TransactionEvent", {"id": 1}, "TransactionEvent"),
]


def trigger(station: Station, message: str, where: Any = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"requestedMessage": message}
    if where is not None:
        payload["connectorId" if is16(station) else "evse"] = where
    return payload


async def test_trigger_message_sends_each_triggerable_message_after_its_answer(
    csms: RecordingCsms, station: Station, version: str
):
    await charging(csms, station)  # so that a TransactionEvent has a transaction to report
    for message, where, follow_up in TRIGGERS_16 if is16(station) else TRIGGERS_201:
        since = len(csms.frames[IDENTITY])
        count = len(calls_of(csms, follow_up))

        answer = await ask(csms, station, "TriggerMessage", trigger(station, message, where))

        assert answer["status"] == "Accepted", message
        await csms.wait_until(lambda f=follow_up, c=count: len(calls_of(csms, f)) > c)
        assert answered_before(csms, since, "TriggerMessage", follow_up), message
        sent = calls_of(csms, follow_up)[-1]
        if message in ("FirmwareStatusNotification", "DiagnosticsStatusNotification"):
            assert sent["status"] == "Idle"
        if message == "LogStatusNotification":
            assert sent["status"] == "Idle"
        if message == "MeterValues":
            contexts = {v["context"] for mv in sent["meterValue"] for v in mv["sampledValue"]}
            assert contexts == {"Trigger"}
        if message == "TransactionEvent":
            assert (sent["eventType"], sent["triggerReason"]) == ("Updated", "Trigger")


async def test_trigger_message_refusals(csms: RecordingCsms, station: Station, version: str):
    async def status(payload: dict[str, Any]) -> str:
        return (await ask(csms, station, "TriggerMessage", payload))["status"]

    # Errata §3.35 / F06.FR.17: no BootNotification once Accepted.
    assert await status(trigger(station, "BootNotification")) == "Rejected"
    where = 9 if is16(station) else {"id": 9}
    assert await status(trigger(station, "StatusNotification", where)) == "Rejected"
    if not is16(station):
        # Defined in 2.0.1 but not implemented by this station.
        assert await status(trigger(station, "SignChargingStationCertificate")) == "NotImplemented"
        # No transaction on the EVSE: nothing to report.
        assert await status(trigger(station, "TransactionEvent", {"id": 1})) == "Rejected"
        # F06.FR.12: a StatusNotification trigger names the connector.
        assert await status(trigger(station, "StatusNotification", {"id": 1})) == "Rejected"
    await asyncio.sleep(0.1)
    assert len(csms.hits(IDENTITY, "BootNotification")) == 1


@pytest.mark.parametrize("version", ["1.6"])
async def test_a_1_6_trigger_outside_the_schema_is_a_formation_violation(
    csms: RecordingCsms, station: Station, version: str
):
    """1.6 MessageTrigger is a closed enum: a message it lacks fails the schema, and the
    CALLERROR uses the 1.6 name of the code (OCPP-J 1.6 §4.2.3), not 2.0.1's."""
    answer = await csms.call(IDENTITY, "TriggerMessage", {"requestedMessage": "SignCertificate"})
    assert isinstance(answer, CallError)
    assert answer.error_code == "FormationViolation"


# -- local list and cache ------------------------------------------------------------------


async def test_send_local_list_get_local_list_version_and_clear_cache(
    csms: RecordingCsms, station: Station, version: str
):
    if is16(station):
        full = {
            "listVersion": 5,
            "updateType": "Full",
            "localAuthorizationList": [{"idTag": "A", "idTagInfo": {"status": "Accepted"}}],
        }
        diff = {"listVersion": 5, "updateType": "Differential"}
    else:
        full = {
            "versionNumber": 5,
            "updateType": "Full",
            "localAuthorizationList": [
                {
                    "idToken": {"idToken": "A", "type": "ISO14443"},
                    "idTokenInfo": {"status": "Accepted"},
                }
            ],
        }
        diff = {"versionNumber": 5, "updateType": "Differential"}
    number = "listVersion" if is16(station) else "versionNumber"

    assert (await ask(csms, station, "GetLocalListVersion", {}))[number] == 0
    assert (await ask(csms, station, "SendLocalList", full))["status"] == "Accepted"
    assert (await ask(csms, station, "GetLocalListVersion", {}))[number] == 5
    assert (await ask(csms, station, "SendLocalList", diff))["status"] == "VersionMismatch"

    await station.authorize("VISITOR")
    assert len(station.cache) == 1
    assert (await ask(csms, station, "ClearCache", {}))["status"] == "Accepted"
    assert len(station.cache) == 0


# -- smart charging ------------------------------------------------------------------------


def profile(station: Station, pid: int, purpose: str, limit: float, stack: int = 0) -> dict:
    schedule = {
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
    }
    if is16(station):
        return {
            "chargingProfileId": pid,
            "stackLevel": stack,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Relative" if purpose == "TxProfile" else "Absolute",
            "chargingSchedule": schedule,
        }
    return {
        "id": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": "ChargingStationMaxProfile"
        if purpose == "ChargePointMaxProfile"
        else purpose,
        "chargingProfileKind": "Relative" if purpose == "TxProfile" else "Absolute",
        "chargingSchedule": [{"id": pid} | schedule],
    }


async def set_profile(csms: RecordingCsms, station: Station, outlet: int, body: dict) -> str:
    if is16(station):
        payload = {"connectorId": outlet, "csChargingProfiles": body}
    else:
        payload = {"evseId": outlet, "chargingProfile": body}
    return (await ask(csms, station, "SetChargingProfile", payload))["status"]


async def composite(csms: RecordingCsms, station: Station, outlet: int) -> dict[str, Any]:
    key = "connectorId" if is16(station) else "evseId"
    payload = {key: outlet, "duration": 600, "chargingRateUnit": "W"}
    return await ask(csms, station, "GetCompositeSchedule", payload)


async def test_charging_profiles_set_clear_and_composite_schedule(
    csms: RecordingCsms, station: Station, version: str
):
    # A TxProfile needs a running transaction.
    assert await set_profile(csms, station, 1, profile(station, 1, "TxProfile", 7000)) == (
        "Rejected"
    )
    assert await set_profile(csms, station, 1, profile(station, 2, "TxDefaultProfile", 11000)) == (
        "Accepted"
    )
    assert await set_profile(
        csms, station, 0, profile(station, 3, "ChargePointMaxProfile", 9000)
    ) == ("Accepted")

    answer = await composite(csms, station, 1)
    assert answer["status"] == "Accepted"
    schedule = answer["chargingSchedule"] if is16(station) else answer["schedule"]
    assert schedule["chargingRateUnit"] == "W"
    assert schedule["chargingSchedulePeriod"][0]["limit"] == 9000  # the station max caps it

    await charging(csms, station)
    assert await set_profile(csms, station, 1, profile(station, 4, "TxProfile", 7000, 1)) == (
        "Accepted"
    )
    answer = await composite(csms, station, 1)
    schedule = answer["chargingSchedule"] if is16(station) else answer["schedule"]
    assert schedule["chargingSchedulePeriod"][0]["limit"] == 7000

    if is16(station):
        clear_one, clear_none = {"id": 4}, {"id": 404}
    else:
        clear_one, clear_none = {"chargingProfileId": 4}, {"chargingProfileId": 404}
    assert (await ask(csms, station, "ClearChargingProfile", clear_one))["status"] == "Accepted"
    assert (await ask(csms, station, "ClearChargingProfile", clear_none))["status"] == "Unknown"
    assert (await ask(csms, station, "ClearChargingProfile", {}))["status"] == "Accepted"
    assert (await ask(csms, station, "ClearChargingProfile", {}))["status"] == "Unknown"
    assert station.profiles.profiles() == []


# -- data transfer ---------------------------------------------------------------------------


async def test_data_transfer(csms: RecordingCsms, station: Station, version: str):
    unknown = await ask(csms, station, "DataTransfer", {"vendorId": "acme", "data": "x"})
    assert unknown["status"] == "UnknownVendorId"
    assert "data" not in unknown

    echo = await ask(
        csms, station, "DataTransfer", {"vendorId": "voltlab", "messageId": "ping", "data": "hello"}
    )
    assert echo == {"status": "Accepted", "data": "hello"}


# -- reservations ------------------------------------------------------------------------


async def reserve(
    csms: RecordingCsms,
    station: Station,
    outlet: int | None,
    tag: str,
    *,
    reservation_id: int = 1,
    expires_in: float = 600,
) -> str:
    expiry = isoformat(utcnow() + timedelta(seconds=expires_in))
    if is16(station):
        payload: dict[str, Any] = {
            "connectorId": 0 if outlet is None else outlet,
            "expiryDate": expiry,
            "idTag": tag,
            "reservationId": reservation_id,
        }
    else:
        payload = {
            "id": reservation_id,
            "expiryDateTime": expiry,
            "idToken": {"idToken": tag, "type": "ISO14443"},
        }
        if outlet is not None:
            payload["evseId"] = outlet
    return (await ask(csms, station, "ReserveNow", payload))["status"]


async def test_reserve_now_and_cancel_reservation(
    csms: RecordingCsms, station: Station, version: str
):
    assert await reserve(csms, station, 1, "HOLDER", reservation_id=1) == "Accepted"
    await eventually(lambda: statuses(csms, station, 1)[-1:] == ["Reserved"], timeout=3)
    assert station.connector().status == "Reserved"
    assert await reserve(csms, station, 1, "OTHER", reservation_id=2) == "Occupied"

    assert (await ask(csms, station, "CancelReservation", {"reservationId": 1}))["status"] == (
        "Accepted"
    )
    await eventually(lambda: statuses(csms, station, 1)[-1:] == ["Available"], timeout=3)
    assert (await ask(csms, station, "CancelReservation", {"reservationId": 1}))["status"] == (
        "Rejected"
    )


@pytest.mark.parametrize(
    ("version", "why"),
    [(v, why) for v in ("1.6", "2.0.1") for why in ("occupied", "faulted", "unavailable")]
    + [("1.6", "connector-zero")],  # 2.0.1 reserves an unspecified EVSE instead
)
async def test_reserve_now_refusals(csms: RecordingCsms, station: Station, version: str, why: str):
    connector = station.connector()
    if why == "occupied":
        await charging(csms, station)
        expected = "Occupied"
    elif why == "faulted":
        station.inject_fault(connector, "GroundFault")
        expected = "Faulted"
    elif why == "unavailable":
        station.change_availability([connector], operative=False)
        expected = "Unavailable"
    else:
        expected = "Rejected"  # ReserveConnectorZeroSupported is false

    status = await reserve(csms, station, None if why == "connector-zero" else 1, "HOLDER")

    assert status == expected
    assert connector.reservation_id is None


async def test_only_the_reserving_tag_starts_on_a_reserved_connector(
    csms: RecordingCsms, station: Station, version: str
):
    assert await reserve(csms, station, 1, "HOLDER", reservation_id=5) == "Accepted"
    connector = station.connector()
    await station.plug(connector)

    with pytest.raises(Conflict):
        await station.present_tag("PASSER-BY", connector)
    assert station.transaction_on(connector) is None

    await station.present_tag("HOLDER", connector)
    (start,) = await csms.wait_until(lambda: starts(csms, station))
    assert start["reservationId"] == 5
    assert connector.reservation_id is None  # used up


@pytest.mark.parametrize("version", ["2.0.1"])  # ReserveNow without evseId
async def test_an_unspecified_evse_reservation_takes_a_free_evse(
    csms: RecordingCsms, station: Station, version: str
):
    assert await reserve(csms, station, None, "HOLDER", reservation_id=3) == "Accepted"
    assert [c.reservation_id for c in station.connectors].count(3) == 1


async def test_a_reservation_expires(csms: RecordingCsms, station: Station, version: str):
    assert await reserve(csms, station, 1, "HOLDER", reservation_id=9, expires_in=0.5) == "Accepted"
    await eventually(lambda: statuses(csms, station, 1)[-1:] == ["Reserved"], timeout=3)

    await eventually(lambda: statuses(csms, station, 1)[-1:] == ["Available"], timeout=5)
    assert station.connector().reservation_id is None
    if not is16(station):
        (update,) = await csms.wait_for(IDENTITY, "ReservationStatusUpdate")
        assert update.payload == {"reservation_id": 9, "reservation_update_status": "Expired"}


# -- firmware and diagnostics --------------------------------------------------------------


async def test_diagnostics_upload(csms: RecordingCsms, station: Station, version: str):
    if is16(station):
        answer = await ask(csms, station, "GetDiagnostics", {"location": "ftp://logs.example/"})
        assert answer["fileName"].endswith(".log")
        action = "DiagnosticsStatusNotification"
    else:
        answer = await ask(
            csms,
            station,
            "GetLog",
            {
                "log": {"remoteLocation": "https://logs.example/"},
                "logType": "DiagnosticsLog",
                "requestId": 17,
            },
        )
        assert answer["status"] == "Accepted"
        assert answer["filename"].endswith(".log")
        action = "LogStatusNotification"

    await csms.wait_for(IDENTITY, action, count=2, timeout=5)
    sent = calls_of(csms, action)
    assert [p["status"] for p in sent] == ["Uploading", "Uploaded"]
    if not is16(station):
        assert {p["requestId"] for p in sent} == {17}
    # Triggered afterwards, the upload is over: Idle.
    assert (await ask(csms, station, "TriggerMessage", trigger(station, action)))["status"] == (
        "Accepted"
    )
    await csms.wait_for(IDENTITY, action, count=3)
    assert calls_of(csms, action)[-1]["status"] == "Idle"


async def test_firmware_update(csms: RecordingCsms, station: Station, version: str):
    now = isoformat(utcnow())
    if is16(station):
        answer = await ask(
            csms,
            station,
            "UpdateFirmware",
            {"location": "https://fw.example/v2.bin", "retrieveDate": now},
        )
        assert answer == {}
    else:
        answer = await ask(
            csms,
            station,
            "UpdateFirmware",
            {
                "requestId": 23,
                "firmware": {"location": "https://fw.example/v2.bin", "retrieveDateTime": now},
            },
        )
        assert answer["status"] == "Accepted"

    await csms.wait_for(IDENTITY, "FirmwareStatusNotification", count=4, timeout=5)
    sent = calls_of(csms, "FirmwareStatusNotification")
    assert [p["status"] for p in sent] == ["Downloading", "Downloaded", "Installing", "Installed"]
    if not is16(station):
        assert {p["requestId"] for p in sent} == {23}


def _with_schedule_periods(body: dict, periods: list[dict]) -> dict:
    if "chargingProfileId" in body:  # 1.6
        return body | {
            "chargingSchedule": body["chargingSchedule"] | {"chargingSchedulePeriod": periods}
        }
    return body | {
        "chargingSchedule": [body["chargingSchedule"][0] | {"chargingSchedulePeriod": periods}]
    }


async def test_a_remote_start_with_a_profile_the_charger_cannot_use_is_rejected(
    csms: RecordingCsms, station: Station, version: str
):
    """Periods out of order: refused at once, not accepted and then dropped."""
    await station.plug(station.connector())
    body = _with_schedule_periods(
        profile(station, 5, "TxProfile", 7000),
        [{"startPeriod": 60, "limit": 7000}, {"startPeriod": 0, "limit": 3000}],
    )
    action, payload = remote_start(station, "PROFILED")
    answer = await ask(csms, station, action, payload | {"chargingProfile": body})
    assert answer["status"] == "Rejected"
    await asyncio.sleep(0.2)
    assert starts(csms, station) == []

    # The same profile with its periods in order starts the transaction and is installed.
    good = profile(station, 5, "TxProfile", 7000)
    answer = await ask(csms, station, action, payload | {"chargingProfile": good})
    assert answer["status"] == "Accepted"
    await csms.wait_until(lambda: starts(csms, station))
    await eventually(lambda: station.profiles.profiles() or None)
    assert station.findings == 0


async def test_a_remote_start_profile_naming_another_transaction_is_a_finding(
    csms: RecordingCsms, station: Station, version: str
):
    await station.plug(station.connector())
    body = profile(station, 6, "TxProfile", 7000) | {
        "transactionId": 4242 if is16(station) else "other-tx"
    }
    action, payload = remote_start(station, "NAMED")
    assert (await ask(csms, station, action, payload | {"chargingProfile": body}))[
        "status"
    ] == "Accepted"
    await csms.wait_until(lambda: starts(csms, station))
    await eventually(lambda: station.findings or None)
    assert not station.profiles.profiles()
