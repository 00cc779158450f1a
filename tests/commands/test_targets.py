"""Who a command reaches: target validation, tenants, stopped runtimes, the answer shapes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from voltlab.commands.schemas import COMMANDS

from .conftest import Lab

SINGLE = [name for name, (_, single) in COMMANDS.items() if single]
FAN_OUT = [name for name, (_, single) in COMMANDS.items() if not single]

# A valid event for every command (connector 1, a plain id tag).
EVENTS: dict[str, dict[str, Any]] = {
    "proxy-message": {"action": "heartbeat", "payload": {}},
    "configuration": {"configuration": {"HeartbeatInterval": "30"}},
    "cache/reset": {},
    "local-auth-list": {"list_version": 1, "entries": [{"id_tag": "TAG-1"}]},
    "clear-local-auth-list": {},
    "inject-fault": {"fault_type": "GroundFault"},
    "clear-fault": {},
    "plug-connector": {},
    "unplug-connector": {},
    "unlock-connector": {},
    "start-transaction": {"id_tag": "TAG-1"},
    "stop-transaction": {},
    "start-session": {"id_tag": "TAG-1"},
    "stop-session": {},
    "authorize-id-tag": {"id_tag": "TAG-1"},
    "ev-requests-energy": {},
    "ev-stops-energy": {},
    "power-update": {"power_w": 7400},
}

QUEUED_KEYS = {"id", "event_type", "ocpp_version", "payload", "status"}


def test_the_catalogue_has_the_eighteen_commands_of_api_md() -> None:
    assert set(EVENTS) == set(COMMANDS)
    assert len(SINGLE) == 7
    assert len(FAN_OUT) == 11


async def test_targets_need_exactly_one_of_charger_or_location(lab: Lab) -> None:
    cp = await lab.charger()
    location = await lab.location()
    # The seven single-charger commands take a charger only.
    for name in SINGLE:
        for target in ({"location_id": location}, {"location_id": location, "charger_ids": ["x"]}):
            response = await lab.post(name, target, EVENTS[name])
            assert response.status_code == 422, (name, response.text)
            assert response.json()["detail"][0]["loc"][:2] == ["body", "target"]
    bad_targets: list[Any] = [
        {},
        {"charger_id": cp.id, "location_id": location},
        {"charger_id": cp.id, "charger_ids": [cp.id]},
        {"charger_ids": [cp.id]},
        {"charger_id": cp.id, "unknown": 1},
        {"charger_id": ""},
        {"charger_id": 5},
        {"location_id": location, "charger_ids": "not-a-list"},
        "just-a-string",
        None,
    ]
    for name in FAN_OUT:
        for target in bad_targets:
            response = await lab.client.post(
                f"/ocpp/commands/{name}", json={"target": target, "event": EVENTS[name]}
            )
            assert response.status_code == 422, (name, target, response.text)
            assert all(err["loc"][0] == "body" for err in response.json()["detail"])
        missing = await lab.client.post(f"/ocpp/commands/{name}", json={"event": EVENTS[name]})
        assert missing.status_code == 422, missing.text
    # Nothing ran on the charger.
    assert (await lab.connector(cp.id))["status"] == "Available"


async def test_unknown_and_foreign_ids_are_404_for_every_command(lab: Lab) -> None:
    mine = await lab.charger()
    async with lab.voltlab.client_for("globex") as globex:
        foreign_location = (await globex.post("/ocpp/locations", json={"name": "G"})).json()["id"]
        for name in COMMANDS:
            for target in ({"charger_id": "no-such-charger"}, {"charger_id": mine.id}):
                client = lab.client if target["charger_id"] != mine.id else globex
                response = await client.post(
                    f"/ocpp/commands/{name}", json={"target": target, "event": EVENTS[name]}
                )
                assert response.status_code == 404, (name, target, response.text)
                assert "detail" in response.json()
        for name in FAN_OUT:
            for target in ({"location_id": "no-such-location"}, {"location_id": foreign_location}):
                response = await lab.post(name, target, EVENTS[name])
                assert response.status_code == 404, (name, response.text)
        # A command of acme is invisible to globex.
        record = await lab.run("plug-connector", mine)
        assert (await globex.get(f"/ocpp/commands/{record['id']}")).status_code == 404
    assert (await lab.client.get("/ocpp/commands/no-such-command")).status_code == 404
    # globex's attempts changed nothing on acme's charger beyond acme's own plug.
    assert (await lab.connector(mine.id))["status"] == "Preparing"


async def test_a_stopped_runtime_is_409_for_single_and_failed_for_fan_out(lab: Lab) -> None:
    cp = await lab.charger()
    stopped = await lab.client.post(f"/ocpp/chargers/{cp.id}/stop-charger")
    assert stopped.status_code == 200, stopped.text
    assert (await lab.runtime(cp.id))["state"] == "stopped"

    for name in SINGLE:
        response = await lab.post(name, {"charger_id": cp.id}, EVENTS[name])
        assert response.status_code == 409, (name, response.text)
        assert "stopped" in response.json()["detail"]
    for name in FAN_OUT:
        report = await lab.fan_out(name, {"charger_id": cp.id}, EVENTS[name])
        assert report["targeted_count"] == 1
        assert report["queued_count"] == 0
        assert report["failed_count"] == 1
        assert report["results"] == []
        assert report["failed"][0]["identity"] == cp.identity
        assert "stopped" in report["failed"][0]["error"]
    # The local list did not change behind the 409.
    assert (await lab.read(cp.id, "local-auth-list"))["list_version"] == 0


async def test_a_location_target_reaches_its_running_chargers_and_reports_the_rest(
    lab: Lab,
) -> None:
    location = await lab.location("Hub")
    first = await lab.charger(location_id=location)
    second = await lab.charger("2.0.1", location_id=location)
    stopped = await lab.charger(location_id=location)
    elsewhere = await lab.charger()  # same tenant, another location
    await lab.client.post(f"/ocpp/chargers/{stopped.id}/stop-charger")

    report = await lab.fan_out("plug-connector", {"location_id": location}, {})
    assert report["targeted_count"] == 3
    assert report["queued_count"] == 2
    assert report["failed_count"] == 1
    assert [f["identity"] for f in report["failed"]] == [stopped.identity]
    assert {r["charger_id"] for r in report["results"]} == {first.id, second.id}
    for item in report["results"]:
        assert set(item) == {"charger_id", "identity", "command"}
        assert set(item["command"]) >= QUEUED_KEYS
        assert item["command"]["event_type"] == "plug_connector"
        assert item["command"]["status"] in ("queued", "running", "succeeded")
        assert item["command"]["payload"] == {}
    versions = {r["charger_id"]: r["command"]["ocpp_version"] for r in report["results"]}
    assert versions == {first.id: "ocpp1.6", second.id: "ocpp2.0.1"}
    for item in report["results"]:
        record = await lab.outcome(item["command"]["id"])
        assert record["status"] == "succeeded", record
    assert (await lab.connector(elsewhere.id))["status"] == "Available"

    # A subset: ids outside the location (another location's, unknown ones) go to failed.
    subset = {
        "location_id": location,
        "charger_ids": [first.id, elsewhere.id, "no-such-charger", first.id, stopped.id],
    }
    report = await lab.fan_out("unplug-connector", subset, {})
    assert report["queued_count"] == 1
    assert [r["charger_id"] for r in report["results"]] == [first.id]
    failed = {f.get("charger_id") or f["identity"]: f for f in report["failed"]}
    assert set(failed) == {elsewhere.id, "no-such-charger", stopped.id}
    assert "location" in failed[elsewhere.id]["error"]
    assert "location" in failed["no-such-charger"]["error"]
    assert "stopped" in failed[stopped.id]["error"]
    assert report["failed_count"] == 3
    assert report["targeted_count"] == 4
    await lab.outcome(report["results"][0]["command"]["id"])
    assert (await lab.connector(first.id))["status"] == "Available"
    assert (await lab.connector(second.id))["status"] == "Occupied"
    assert (await lab.connector(elsewhere.id))["status"] == "Available"


async def test_the_command_record_has_the_documented_shape(lab: Lab) -> None:
    cp = await lab.charger()
    report = await lab.fan_out("power-update", {"charger_id": cp.id}, {"power_w": 11000})
    assert set(report) == {"targeted_count", "queued_count", "failed_count", "results", "failed"}
    assert report["targeted_count"] == report["queued_count"] == 1
    assert report["failed_count"] == 0
    assert report["failed"] == []
    [item] = report["results"]
    assert item["charger_id"] == cp.id
    assert item["identity"] == cp.identity
    command = item["command"]
    assert command["event_type"] == "power_update"
    assert command["ocpp_version"] == "ocpp1.6"
    assert command["payload"] == {"power_w": 11000.0}

    record = await lab.outcome(command["id"])
    assert set(record) >= {
        "id",
        "charger_id",
        "event_type",
        "status",
        "result",
        "error",
        "created_at",
        "finished_at",
    }
    assert record["id"] == command["id"]
    assert record["charger_id"] == cp.id
    assert record["event_type"] == "power_update"
    assert record["status"] == "succeeded"
    assert record["error"] is None
    assert record["result"]["requested_w"] == 11000
    assert record["created_at"].endswith("Z")
    assert record["finished_at"] >= record["created_at"]

    # Single commands are recorded too, with their result.
    answer = await lab.single("configuration", cp, {"configuration": {"HeartbeatInterval": 45}})
    record = await lab.outcome(answer["command_id"])
    assert record["event_type"] == "configuration"
    assert record["result"]["results"] == {"HeartbeatInterval": "Accepted"}


def _garbage(name: str, charger_id: str) -> list[bytes]:
    """Bodies that must be refused (4xx) by command ``name``: the envelope, then the event."""
    good = EVENTS[name]
    target = {"charger_id": charger_id}
    bodies: list[Any] = [
        [],
        "text",
        123,
        {"target": {"charger_id": "x" * 10_000}, "event": good},
        {"target": {"charger_id": "\u0000"}, "event": good},
        {"target": target, "event": []},
        {"target": target, "event": "x"},
        {"target": target, "event": {**good, "unexpected": True}},
    ]
    events: list[dict[str, Any]] = list(BAD_EVENTS.get(name, []))
    if "connector_id" in COMMANDS[name][0].model_fields:
        events += [{**good, **bad} for bad in BAD_CONNECTORS]
    bodies += [{"target": target, "event": event} for event in events]
    return [json.dumps(body).encode() for body in bodies] + RAW_BODIES


BAD_CONNECTORS: list[dict[str, Any]] = [
    {"evse_id": -1},
    {"evse_id": 10**30},
    {"connector_id": "one"},
    {"connector_id": 99},  # well-formed, but the model has two: 400
]
BAD_EVENTS: dict[str, list[dict[str, Any]]] = {
    "proxy-message": [
        {"action": "\u0000", "payload": {}},
        {"action": "../../v16/schemas/Heartbeat", "payload": {}},
        {"action": "Heartbeat", "payload": []},
        {"action": "Heartbeat", "payload": {"a": float("nan")}},
        {"action": "Heartbeat", "ocpp_version": "ocpp3", "payload": {}},
    ],
    "configuration": [
        {"configuration": {}},
        {"configuration": {"HeartbeatInterval": float("inf")}},
        {"configuration": {"MeterValuesSampledData": ["x"] * 1000}},
        {"configuration": {"HeartbeatInterval": {"a": 1}}},
        {"configuration": {"": "x"}},
        {"configuration": "HeartbeatInterval=30"},
    ],
    "local-auth-list": [
        {"list_version": 0},
        {"list_version": -1},
        {"list_version": 2**40},
        {"list_version": 1, "entries": [{"id_tag": ""}]},
        {"list_version": 1, "update_type": "Partial"},
        {"list_version": 1, "entries": [{"id_tag": "A", "expiry_date": "not-a-date"}]},
        {"list_version": 1, "entries": [{"id_tag": "A", "status": "Maybe"}]},
    ],
    "inject-fault": [{}, {"fault_type": "Meltdown"}, {"fault_type": None}],
    "start-transaction": [{}, {"id_tag": ""}, {"id_tag": "T" * 200}],
    "stop-transaction": [{"transaction_id": {"a": 1}}, {"transaction_id": "x" * 100}],
    "start-session": [
        {"id_tag": "T", "duration_seconds": 0},
        {"id_tag": "T", "duration_seconds": 10**12},
        {"id_tag": "T", "target_energy_kwh": -1},
        {"id_tag": "T", "target_energy_kwh": 1e308},
    ],
    "authorize-id-tag": [{}, {"id_tag": ""}, {"id_tag": 5}],
    "power-update": [{}, {"power_w": -1}, {"power_w": 1e308}, {"power_w": "lots"}],
}
RAW_BODIES = [
    b"",
    b"{",
    b"\xff\xfe",
    b'{"target": {"charger_id": NaN}}',
    b'{"target": {"charger_id": "x"}, "event": {"power_w": ' + b"9" * 5000 + b"}}",
]


async def test_bad_input_is_never_a_500(lab: Lab) -> None:
    cp = await lab.charger()

    async def send(name: str, content: bytes) -> tuple[str, bytes, httpx.Response]:
        response = await lab.client.post(
            f"/ocpp/commands/{name}",
            content=content,
            headers={"content-type": "application/json"},
        )
        return name, content, response

    for name in COMMANDS:
        bodies = _garbage(name, cp.id)
        answers = await asyncio.gather(*(send(name, body) for body in bodies))
        for _, content, response in answers:
            assert response.status_code in (400, 404, 422), (name, content, response.text)
            if response.status_code == 422:
                assert isinstance(response.json()["detail"], list)
            if content in RAW_BODIES[:-1]:  # (the 5000-digit number is FastAPI's 400)
                assert response.status_code == 422, (name, content, response.text)
    # The charger is unharmed: every bad request was refused before it reached it.
    rt = await lab.runtime(cp.id)
    assert rt["connection"] == "connected"
    assert [c["status"] for c in rt["connectors"]] == ["Available", "Available"]
    assert (await lab.read(cp.id, "local-auth-list"))["list_version"] == 0


async def test_what_the_chargers_ocpp_version_cannot_carry_is_400(lab: Lab) -> None:
    """A 1.6 id tag has at most 20 characters (2.0.1: 36), a 1.6 configuration value 500:
    longer ones are refused up front instead of becoming frames that fail the schema."""
    location = await lab.location("Mixed")
    cp16 = await lab.charger("1.6", location_id=location)
    cp201 = await lab.charger("2.0.1", location_id=location)
    tag = "T" * 25
    for name, event in (
        ("authorize-id-tag", {"id_tag": tag}),
        ("start-transaction", {"id_tag": tag}),
        ("start-session", {"id_tag": tag}),
        ("local-auth-list", {"list_version": 1, "entries": [{"id_tag": tag}]}),
        (
            "local-auth-list",
            {"list_version": 1, "entries": [{"id_tag": "A", "parent_id_tag": tag}]},
        ),
        ("configuration", {"configuration": {"ConnectorPhaseRotation": "x" * 501}}),
    ):
        response = await lab.post(name, {"charger_id": cp16.id}, event)
        assert response.status_code == 400, (name, response.text)
        assert "OCPP1.6" in response.json()["detail"]
    too_long = {"configuration": {"OCPPCommCtrlr.HeartbeatInterval": "x" * 2501}}
    response = await lab.post("configuration", {"charger_id": cp201.id}, too_long)
    assert response.status_code == 422, response.text

    # A location: the 1.6 charger is reported, the 2.0.1 one runs.
    report = await lab.fan_out("authorize-id-tag", {"location_id": location}, {"id_tag": tag})
    assert [f["identity"] for f in report["failed"]] == [cp16.identity]
    assert "20 characters" in report["failed"][0]["error"]
    [item] = report["results"]
    assert item["charger_id"] == cp201.id
    record = await lab.outcome(item["command"]["id"])
    assert record["result"]["status"] == "Accepted"

    # Nothing reached the 1.6 charger: no list, no transaction, no reconnect.
    assert (await lab.read(cp16.id, "local-auth-list"))["list_version"] == 0
    rt = await lab.runtime(cp16.id)
    assert rt["connection"] == "connected"
    assert rt["connects"] == 1
    assert [c["transaction_id"] for c in rt["connectors"]] == [None, None]
    assert lab.recorder.of(cp16.identity, "Authorize") == []
