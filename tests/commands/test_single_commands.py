"""The single-charger commands that answer with their result: configuration, cache/reset,
local-auth-list, clear-local-auth-list, inject-fault, clear-fault (proxy-message has its
own module)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from support.live import eventually

from .conftest import Charger, Lab, concurrently, on_both_versions


def _config(readout: dict[str, Any]) -> dict[str, Any]:
    return {item["key"]: item for item in readout["data"]}


# -- configuration ---------------------------------------------------------------------
async def test_configuration_answers_per_key_and_the_change_is_visible(lab: Lab) -> None:
    cp16, cp201 = await concurrently(lab.charger("1.6"), lab.charger("2.0.1"))
    await concurrently(_configuration_16(lab, cp16), _configuration_201(lab, cp201))


async def _configuration_16(lab: Lab, cp: Charger) -> None:
    answer = await lab.single(
        "configuration",
        cp,
        {
            "configuration": {
                "HeartbeatInterval": 30,
                "LocalPreAuthorize": True,
                "MeterValuesSampledData": ["Energy.Active.Import.Register", "Power.Active.Import"],
                "MeterValueSampleInterval": "soon",
                "ConnectionTimeOut": "-5",
                "NoSuchKey": "1",
            }
        },
    )
    assert answer["results"] == {
        "HeartbeatInterval": "Accepted",
        "LocalPreAuthorize": "Accepted",
        "MeterValuesSampledData": "Accepted",
        "MeterValueSampleInterval": "Rejected",
        "ConnectionTimeOut": "Rejected",
        "NoSuchKey": "NotSupported",
    }
    assert answer["configured"] == [
        "HeartbeatInterval",
        "LocalPreAuthorize",
        "MeterValuesSampledData",
    ]
    assert answer["status"] == "Partial"
    assert "MeterValueSampleInterval" in answer["msg"]
    assert "NoSuchKey" in answer["msg"]

    config = _config(await lab.read(cp.id, "configuration"))
    assert config["HeartbeatInterval"]["value"] == "30"
    assert config["HeartbeatInterval"]["overridden"] is True
    assert config["LocalPreAuthorize"]["value"] == "true"
    assert config["MeterValuesSampledData"]["value"] == (
        "Energy.Active.Import.Register,Power.Active.Import"
    )
    assert config["MeterValueSampleInterval"]["value"] == "1"  # the rejected value left it
    assert "NoSuchKey" not in config

    # The CSMS reads the same configuration.
    session = lab.csms.session(cp.identity)
    assert session is not None
    got = await session.call(call16.GetConfiguration(key=["HeartbeatInterval", "NoSuchKey"]))
    assert got.configuration_key == [{"key": "HeartbeatInterval", "readonly": False, "value": "30"}]
    assert got.unknown_key == ["NoSuchKey"]

    # Nothing applicable: Rejected overall, nothing configured.
    answer = await lab.single("configuration", cp, {"configuration": {"HeartbeatInterval": "x"}})
    assert answer["status"] == "Rejected"
    assert answer["configured"] == []
    assert _config(await lab.read(cp.id, "configuration"))["HeartbeatInterval"]["value"] == "30"


async def _configuration_201(lab: Lab, cp: Charger) -> None:
    """2.0.1 takes ``Component.Variable`` names, or a bare variable name that is unique."""
    answer = await lab.single(
        "configuration",
        cp,
        {
            "configuration": {
                "OCPPCommCtrlr.HeartbeatInterval": "45",
                "LocalPreAuthorize": "true",  # unique bare name: AuthCtrlr.LocalPreAuthorize
                "AuthCtrlr.Enabled": "maybe",
                "NoSuch.Variable": "1",
            }
        },
    )
    assert answer["results"] == {
        "OCPPCommCtrlr.HeartbeatInterval": "Accepted",
        "LocalPreAuthorize": "Accepted",
        "AuthCtrlr.Enabled": "Rejected",
        "NoSuch.Variable": "NotSupported",
    }
    assert answer["status"] == "Partial"
    config = _config(await lab.read(cp.id, "configuration"))
    assert config["OCPPCommCtrlr.HeartbeatInterval"]["value"] == "45"
    assert config["AuthCtrlr.LocalPreAuthorize"]["value"] == "true"
    assert config["AuthCtrlr.Enabled"]["value"] == "true"

    session = lab.csms.session(cp.identity)
    assert session is not None
    got = await session.call(
        call201.GetVariables(
            get_variable_data=[
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
            ]
        )
    )
    assert got.get_variable_result[0]["attribute_value"] == "45"


# -- cache/reset -----------------------------------------------------------------------
async def test_cache_reset_clears_what_the_csms_answers_filled(lab: Lab) -> None:
    await on_both_versions(
        lab, functools.partial(_cache_reset_clears_what_the_csms_answers_filled, lab)
    )


async def _cache_reset_clears_what_the_csms_answers_filled(lab: Lab, cp: Charger) -> None:
    for tag in ("TAG-A", "TAG-B"):
        record = await lab.run("authorize-id-tag", cp, {"id_tag": tag})
        assert record["result"]["source"] == "csms"
    cache = await lab.read(cp.id, "auth-cache")
    assert {entry["id_tag"] for entry in cache["entries"]} == {"TAG-A", "TAG-B"}

    # The documented example sends only the target.
    answer = await lab.single("cache/reset", cp)
    assert answer["msg"] == "Authorization cache cleared"
    assert answer["cleared_entries"] == 2
    assert (await lab.read(cp.id, "auth-cache"))["entries"] == []
    answer = await lab.single("cache/reset", cp, {})
    assert answer["cleared_entries"] == 0

    record = await lab.outcome(answer["command_id"])
    assert record["event_type"] == "cache_reset"
    assert record["status"] == "succeeded"


# -- local authorization list -------------------------------------------------------------
async def _csms_send_local_list(
    lab: Lab, cp: Charger, version: int, update_type: str, tags: list[str]
) -> str:
    session = lab.csms.session(cp.identity)
    assert session is not None
    if cp.version == "1.6":
        entries = [{"id_tag": t, "id_tag_info": {"status": "Accepted"}} for t in tags]
        answer = await session.call(
            call16.SendLocalList(
                list_version=version, update_type=update_type, local_authorization_list=entries
            )
        )
    else:
        entries = [
            {
                "id_token": {"id_token": t, "type": "ISO14443"},
                "id_token_info": {"status": "Accepted"},
            }
            for t in tags
        ]
        answer = await session.call(
            call201.SendLocalList(
                version_number=version, update_type=update_type, local_authorization_list=entries
            )
        )
    return str(answer.status)


async def _csms_list_version(lab: Lab, cp: Charger) -> int:
    session = lab.csms.session(cp.identity)
    assert session is not None
    if cp.version == "1.6":
        return int((await session.call(call16.GetLocalListVersion())).list_version)
    return int((await session.call(call201.GetLocalListVersion())).version_number)


async def test_local_auth_list_versions_updates_and_the_shared_list(lab: Lab) -> None:
    await on_both_versions(
        lab, functools.partial(_local_auth_list_versions_updates_and_the_shared_list, lab)
    )


async def _local_auth_list_versions_updates_and_the_shared_list(lab: Lab, cp: Charger) -> None:
    assert await lab.read(cp.id, "local-auth-list") == {
        "list_version": 0,
        "max_length": 1000,
        "entries": [],
    }

    expiry = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    answer = await lab.single(
        "local-auth-list",
        cp,
        {
            "list_version": 1,
            "entries": [
                {"id_tag": "TAG-A", "expiry_date": expiry.isoformat(), "parent_id_tag": "FLEET"},
                {"id_tag": "TAG-B", "status": "Blocked"},
            ],
        },
    )
    assert answer["status"] == "Accepted"
    assert answer["list_version"] == 1
    assert answer["entries_received"] == 2
    listed = await lab.read(cp.id, "local-auth-list")
    assert listed["list_version"] == 1
    by_tag = {e["id_tag"]: e for e in listed["entries"]}
    assert set(by_tag) == {"TAG-A", "TAG-B"}
    assert by_tag["TAG-A"]["status"] == "Accepted"
    assert by_tag["TAG-A"]["parent_id_tag"] == "FLEET"
    assert by_tag["TAG-A"]["expiry_date"] == expiry.isoformat().replace("+00:00", "Z")
    assert by_tag["TAG-B"]["status"] == "Blocked"

    # A version that is not greater: 400, and nothing changes (not even a Full).
    for stale in (1, 1):
        response = await lab.post(
            "local-auth-list",
            {"charger_id": cp.id},
            {"list_version": stale, "entries": [{"id_tag": "TAG-X"}]},
        )
        assert response.status_code == 400, response.text
        assert "list_version" in response.json()["detail"]
    response = await lab.post("local-auth-list", {"charger_id": cp.id}, {"list_version": 0})
    assert response.status_code == 422, response.text
    assert await lab.read(cp.id, "local-auth-list") == listed

    # Differential: add one, delete one, keep the rest.
    answer = await lab.single(
        "local-auth-list",
        cp,
        {
            "list_version": 2,
            "update_type": "Differential",
            "entries": [{"id_tag": "TAG-C"}, {"id_tag": "TAG-B", "delete": True}],
        },
    )
    assert answer == {
        "status": "Accepted",
        "list_version": 2,
        "entries_received": 2,
        "command_id": answer["command_id"],
    }
    listed = await lab.read(cp.id, "local-auth-list")
    assert listed["list_version"] == 2
    assert [e["id_tag"] for e in listed["entries"]] == ["TAG-A", "TAG-C"]

    # The CSMS's SendLocalList changes the same list...
    assert await _csms_send_local_list(lab, cp, 5, "Full", ["TAG-D"]) == "Accepted"
    listed = await lab.read(cp.id, "local-auth-list")
    assert listed["list_version"] == 5
    assert [e["id_tag"] for e in listed["entries"]] == ["TAG-D"]
    # ... so REST must now go above the CSMS's version.
    response = await lab.post("local-auth-list", {"charger_id": cp.id}, {"list_version": 5})
    assert response.status_code == 400, response.text
    await lab.single(
        "local-auth-list",
        cp,
        {"list_version": 6, "update_type": "Differential", "entries": [{"id_tag": "TAG-E"}]},
    )
    assert await _csms_list_version(lab, cp) == 6
    # and the CSMS's Differential must go above REST's.
    assert await _csms_send_local_list(lab, cp, 6, "Differential", ["TAG-F"]) == "VersionMismatch"
    listed = await lab.read(cp.id, "local-auth-list")
    assert [e["id_tag"] for e in listed["entries"]] == ["TAG-D", "TAG-E"]

    # Clear: entries_deleted, version back to 0 (the documented example sends no event).
    answer = await lab.single("clear-local-auth-list", cp)
    assert answer["msg"] == "Local authorization list cleared"
    assert answer["entries_deleted"] == 2
    assert await lab.read(cp.id, "local-auth-list") == {
        "list_version": 0,
        "max_length": 1000,
        "entries": [],
    }
    assert await _csms_list_version(lab, cp) == 0
    answer = await lab.single("clear-local-auth-list", cp, {})
    assert answer["entries_deleted"] == 0
    # Version 1 is fresh again.
    answer = await lab.single("local-auth-list", cp, {"list_version": 1, "entries": []})
    assert answer["entries_received"] == 0
    assert (await lab.read(cp.id, "local-auth-list"))["list_version"] == 1


async def test_a_disabled_cache_or_local_list_refuses_the_command(lab: Lab) -> None:
    await on_both_versions(lab, functools.partial(_disabled_features, lab))


async def _disabled_features(lab: Lab, cp: Charger) -> None:
    one_six = cp.version == "1.6"
    cache_key = "AuthorizationCacheEnabled" if one_six else "AuthCacheCtrlr.Enabled"
    list_key = "LocalAuthListEnabled" if one_six else "LocalAuthListCtrlr.Enabled"
    answer = await lab.single("configuration", cp, {"configuration": {cache_key: False}})
    assert answer["results"] == {cache_key: "Accepted"}
    response = await lab.post("cache/reset", {"charger_id": cp.id})
    assert response.status_code == 409, response.text
    await lab.single("configuration", cp, {"configuration": {list_key: "false"}})
    response = await lab.post(
        "local-auth-list", {"charger_id": cp.id}, {"list_version": 3, "entries": []}
    )
    assert response.status_code == 400, response.text
    assert (await lab.read(cp.id, "local-auth-list"))["list_version"] == 0


async def test_the_local_list_decides_authorization(lab: Lab) -> None:
    await on_both_versions(lab, functools.partial(_the_local_list_decides_authorization, lab))


async def _the_local_list_decides_authorization(lab: Lab, cp: Charger) -> None:
    version = cp.version
    key = "LocalPreAuthorize" if version == "1.6" else "AuthCtrlr.LocalPreAuthorize"
    await lab.single("configuration", cp, {"configuration": {key: "true"}})
    await lab.single(
        "local-auth-list",
        cp,
        {
            "list_version": 1,
            "entries": [{"id_tag": "LOCAL-OK"}, {"id_tag": "LOCAL-NO", "status": "Blocked"}],
        },
    )
    record = await lab.run("authorize-id-tag", cp, {"id_tag": "LOCAL-OK"})
    assert record["result"]["status"] == "Accepted"
    assert record["result"]["source"] == "local_list"
    assert lab.recorder.of(cp.identity, "Authorize") == []
    # Online, an entry that is not Accepted does not pre-authorize: the CSMS decides.
    lab.recorder.tag_status["LOCAL-NO"] = "Invalid"
    record = await lab.run("authorize-id-tag", cp, {"id_tag": "LOCAL-NO"})
    assert record["result"]["status"] == "Invalid"
    assert record["result"]["source"] == "csms"
    assert len(lab.recorder.of(cp.identity, "Authorize")) == 1


# -- faults ---------------------------------------------------------------------------------
FAULT_CODES = {
    "GroundFault": "GroundFailure",
    "OverCurrent": "OverCurrentFailure",
    "OverVoltage": "OverVoltage",
    "UnderVoltage": "UnderVoltage",
    "OverTemperature": "HighTemperature",
    "InternalError": "InternalError",
    "ConnectorLockFailure": "ConnectorLockFailure",
    "EVCommunicationError": "EVCommunicationError",
    "PowerMeterFailure": "PowerMeterFailure",
    "WeakSignal": "WeakSignal",
}
WARNINGS = {"EVCommunicationError", "WeakSignal"}  # reported, the connector keeps working


def _last_status(lab: Lab, cp: Charger, evse_id: int) -> dict[str, Any] | None:
    for call in reversed(lab.recorder.of(cp.identity, "StatusNotification")):
        payload = call.payload
        if payload.get("evseId", payload["connectorId"]) == evse_id:
            return payload
    return None


async def test_inject_fault_maps_every_fault_type_and_clear_fault_recovers(lab: Lab) -> None:
    await on_both_versions(
        lab, functools.partial(_inject_fault_maps_every_fault_type_and_clear_fault_recovers, lab)
    )


async def _inject_fault_maps_every_fault_type_and_clear_fault_recovers(
    lab: Lab, cp: Charger
) -> None:
    for fault_type, code in FAULT_CODES.items():
        answer = await lab.single("inject-fault", cp, {"fault_type": fault_type})
        status = "Available" if fault_type in WARNINGS else "Faulted"
        assert answer["msg"]
        assert answer["fault_type"] == fault_type
        assert (answer["evse_id"], answer["connector_id"]) == (1, 1)
        assert answer["status"] == status
        connector = await lab.connector(cp.id)
        assert connector["error_code"] == code
        assert connector["status"] == status

        def reported(fault_type: str = fault_type, code: str = code, status: str = status) -> Any:
            last = _last_status(lab, cp, 1)
            if last is None:
                return None
            if cp.version == "1.6":
                return last["errorCode"] == code and last["status"] == status
            return fault_type in WARNINGS or last["connectorStatus"] == "Faulted"

        await eventually(reported, timeout=5)

        answer = await lab.single("clear-fault", cp, {"evse_id": 1, "connector_id": 1})
        assert answer["status"] == "Available"
        assert answer["fault_type"] == fault_type
        assert (answer["evse_id"], answer["connector_id"]) == (1, 1)
        connector = await lab.connector(cp.id)
        assert connector["status"] == "Available"
        assert connector["error_code"] == "NoError"
        if fault_type not in WARNINGS:
            key = "status" if cp.version == "1.6" else "connectorStatus"
            await eventually(
                lambda key=key: (_last_status(lab, cp, 1) or {}).get(key) == "Available",
                timeout=5,
            )
    # Clearing with nothing active is harmless.
    answer = await lab.single("clear-fault", cp, {})
    assert answer["fault_type"] is None
    assert answer["status"] == "Available"


def answer_ids(version: str) -> tuple[int, int]:
    """(evse_id, connector_id) of the second outlet as the answers show it."""
    return (2, 2) if version == "1.6" else (2, 1)


def second_outlet(cp: Charger) -> dict[str, int]:
    """The second outlet: 1.6 connector 2 (shown as EVSE 2), 2.0.1 EVSE 2 (connector 1)."""
    return {"connector_id": 2} if cp.version == "1.6" else {"evse_id": 2}


async def test_a_faulted_connector_refuses_a_session_and_the_other_one_works(lab: Lab) -> None:
    await on_both_versions(
        lab, functools.partial(_a_faulted_connector_refuses_a_session_and_the_other_one_works, lab)
    )


async def _a_faulted_connector_refuses_a_session_and_the_other_one_works(
    lab: Lab, cp: Charger
) -> None:
    second = second_outlet(cp)
    await lab.single("inject-fault", cp, {"fault_type": "OverTemperature", **second})
    assert (await lab.connector(cp.id, 1))["status"] == "Faulted"
    record = await lab.run_failing("plug-connector", cp, second)
    assert "Faulted" in record["error"]
    record = await lab.run_failing("start-session", cp, {"id_tag": "TAG-1", **second})
    assert "Faulted" in record["error"]
    record = await lab.run("start-session", cp, {"id_tag": "TAG-1"})
    assert record["result"]["transaction_id"]
    assert (await lab.connector(cp.id, 0))["transaction_id"] == record["result"]["transaction_id"]
    await lab.single("clear-fault", cp, second)
    await lab.run("plug-connector", cp, second)
    assert (await lab.connector(cp.id, 1))["status"] in ("Preparing", "Occupied")


async def test_a_connector_the_model_lacks_is_400(lab: Lab) -> None:
    await on_both_versions(lab, functools.partial(_missing_connectors, lab))


async def _missing_connectors(lab: Lab, cp: Charger) -> None:
    version = cp.version  # the model has two outlets
    missing = [{"evse_id": 3}, {"connector_id": 3}]
    if version == "2.0.1":
        missing.append({"evse_id": 1, "connector_id": 2})  # each EVSE has one connector
    for where in missing:
        for name, event in (
            ("inject-fault", {"fault_type": "GroundFault", **where}),
            ("clear-fault", where),
        ):
            response = await lab.post(name, {"charger_id": cp.id}, event)
            assert response.status_code == 400, (name, where, response.text)
            assert "connector" in response.json()["detail"]
        for name, event in (
            ("plug-connector", where),
            ("start-session", {"id_tag": "T", **where}),
            ("start-transaction", {"id_tag": "T", **where}),
            ("power-update", {"power_w": 1000, **where}),
            ("ev-stops-energy", where),
        ):
            response = await lab.post(name, {"charger_id": cp.id}, event)
            assert response.status_code == 400, (name, where, response.text)
            assert "connector" in response.json()["detail"]
    rt = await lab.runtime(cp.id)
    assert [c["status"] for c in rt["connectors"]] == ["Available", "Available"]
    answer = await lab.single(
        "inject-fault", cp, {"fault_type": "GroundFault", **second_outlet(cp)}
    )
    assert (answer["evse_id"], answer["connector_id"]) == ((2, 2) if version == "1.6" else (2, 1))
    # On 1.6 EVSE n is connector n: the API names it as the station does, either way.
    cleared = await lab.single("clear-fault", cp, {"evse_id": 2})
    assert (cleared["evse_id"], cleared["connector_id"]) == answer_ids(version)
