"""The public ``ocpplab==0.2.1`` SDK, unchanged, calling all 18 commands of a live voltlab.

A ``ParsingError`` from the SDK means voltlab answered in a shape the SDK cannot read.
Fields voltlab adds beyond the SDK's models survive in ``model_extra`` (``extra="allow"``).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpplab import (
    AsyncOcpplabSDK,
    AuthorizeIdTagCommandEvent,
    ChargerCommandTarget,
    ClearFaultEvent,
    CommandTarget,
    ConfigurationUpdateEvent,
    ConnectorCommandEvent,
    EmptyEvent,
    InjectFaultEvent,
    LocalAuthListEntry,
    LocalAuthListEvent,
    LocationCommandResponse,
    PowerUpdateCommandEvent,
    ProxyMessageEvent,
    StartSessionCommandEvent,
    StartTransactionCommandEvent,
    StopSessionCommandEvent,
    StopTransactionCommandEvent,
)
from ocpplab.core.api_error import ApiError
from ocpplab.errors import BadRequestError, NotFoundError, UnprocessableEntityError

from support.live import token

from .conftest import Charger, Lab, on_both_versions


def extra(model: Any, name: str) -> Any:
    return (model.model_extra or {})[name]


@pytest.fixture
def sdk(lab: Lab) -> AsyncOcpplabSDK:
    return AsyncOcpplabSDK(base_url=lab.voltlab.base_url, token=token("acme"), timeout=10)


async def _finished(lab: Lab, report: LocationCommandResponse, cp: Charger) -> dict[str, Any]:
    """The one queued command of ``report`` (for ``cp``), polled until it succeeded."""
    assert report.targeted_count == report.queued_count == 1
    assert report.failed_count == 0
    [item] = report.results
    assert item.charger_id == cp.id
    assert item.identity == cp.identity
    assert item.command.ocpp_version == cp.wire_version
    record = await lab.outcome(item.command.id)
    assert record["status"] == "succeeded", record
    return record


async def test_the_sdk_calls_every_command(lab: Lab, sdk: AsyncOcpplabSDK) -> None:
    await on_both_versions(lab, functools.partial(_every_command, lab, sdk))


async def _every_command(lab: Lab, sdk: AsyncOcpplabSDK, cp: Charger) -> None:
    version = cp.version
    single = ChargerCommandTarget(charger_id=cp.id)
    one = CommandTarget(charger_id=cp.id)
    commands = sdk.commands

    # -- the seven single-charger commands ----------------------------------------------
    payload: dict[str, Any] = (
        {"charge_point_vendor": "OCPPLAB", "charge_point_model": "SDK-DC-50"}
        if version == "1.6"
        else {"reason": "PowerUp", "charging_station": {"model": "SDK", "vendor_name": "OCPPLAB"}}
    )
    queued = await commands.proxy_message(
        target=single,
        event=ProxyMessageEvent(
            action="boot_notification", ocpp_version=cp.wire_version, payload=payload
        ),
    )
    assert queued.event_type == "proxy_message"
    assert queued.ocpp_version == cp.wire_version
    assert extra(queued, "result")["payload"]["status"] == "Accepted"

    key = "HeartbeatInterval" if version == "1.6" else "OCPPCommCtrlr.HeartbeatInterval"
    config = await commands.set_configuration(
        target=single, event=ConfigurationUpdateEvent(configuration={key: "30", "Nope": "1"})
    )
    assert config.configured == [key]
    assert config.status == "Partial"
    assert extra(config, "results") == {key: "Accepted", "Nope": "NotSupported"}

    cache = await commands.reset_auth_cache(target=single, event=EmptyEvent())
    assert cache.cleared_entries == 0
    assert cache.msg

    expiry = datetime.now(UTC) + timedelta(days=365)
    listed = await commands.send_local_list(
        target=single,
        event=LocalAuthListEvent(
            list_version=2,
            entries=[
                LocalAuthListEntry(id_tag="TAG-RFID-001", expiry_date=expiry),
                LocalAuthListEntry(id_tag="TAG-RFID-002", parent_id_tag="FLEET"),
            ],
        ),
    )
    assert (listed.status, listed.list_version, listed.entries_received) == ("Accepted", 2, 2)
    with pytest.raises(BadRequestError) as stale:
        await commands.send_local_list(
            target=single, event=LocalAuthListEvent(list_version=2, entries=[])
        )
    assert "list_version" in stale.value.body.detail
    cleared = await commands.clear_local_list(target=single, event=EmptyEvent())
    assert cleared.entries_deleted == 2
    assert cleared.msg == "Local authorization list cleared"

    fault = await commands.inject_fault(
        target=single, event=InjectFaultEvent(fault_type="OverCurrent", evse_id=1, connector_id=1)
    )
    assert (fault.fault_type, fault.evse_id, fault.connector_id, fault.status) == (
        "OverCurrent",
        1,
        1,
        "Faulted",
    )
    fault = await commands.clear_fault(
        target=single, event=ClearFaultEvent(evse_id=1, connector_id=1)
    )
    assert (fault.fault_type, fault.status) == ("OverCurrent", "Available")

    # -- the eleven fan-out commands ------------------------------------------------------
    connector = ConnectorCommandEvent(evse_id=1, connector_id=1)
    record = await _finished(lab, await commands.plug_connector(target=one, event=connector), cp)
    assert record["result"]["status"] == "Preparing"
    record = await _finished(lab, await commands.unplug_connector(target=one, event=connector), cp)
    assert record["result"]["status"] == "Available"

    lab.recorder.tag_status["TAG-BLOCKED"] = "Blocked"
    report = await commands.authorize_id_tag(
        target=one, event=AuthorizeIdTagCommandEvent(id_tag="TAG-BLOCKED")
    )
    assert report.results[0].command.event_type == "authorize_id_tag"
    record = await _finished(lab, report, cp)
    assert record["result"]["status"] == "Blocked"

    report = await commands.start_transaction(
        target=one, event=StartTransactionCommandEvent(id_tag="TAG-RAW", evse_id=1, connector_id=1)
    )
    transaction_id = (await _finished(lab, report, cp))["result"]["transaction_id"]
    report = await commands.stop_transaction(
        target=one, event=StopTransactionCommandEvent(transaction_id=str(transaction_id))
    )
    assert (await _finished(lab, report, cp))["result"]["transaction_id"] == transaction_id

    report = await commands.start_session(
        target=one,
        event=StartSessionCommandEvent(
            id_tag="TAG-RFID-001", connector_id=1, duration_seconds=300, target_energy_kwh=20.0
        ),
    )
    session = (await _finished(lab, report, cp))["result"]
    assert session["authorization"]["status"] == "Accepted"
    await lab.wait_connector(cp.id, transaction_id=session["transaction_id"])

    record = await _finished(lab, await commands.ev_stops_energy(target=one, event=connector), cp)
    assert record["result"]["status"] == "SuspendedEV"
    record = await _finished(
        lab, await commands.ev_requests_energy(target=one, event=connector), cp
    )
    assert record["result"]["status"] == "Charging"
    report = await commands.power_update(
        target=one, event=PowerUpdateCommandEvent(power_w=7400, evse_id=1, connector_id=1)
    )
    assert (await _finished(lab, report, cp))["result"]["requested_w"] == 7400
    await lab.wait_connector(cp.id, power_w=7400.0)
    record = await _finished(lab, await commands.unlock_connector(target=one, event=connector), cp)
    assert record["result"]["status"] == "Unlocked"  # stopped the session first (UnlockCommand)

    await _finished(
        lab,
        await commands.start_session(target=one, event=StartSessionCommandEvent(id_tag="T")),
        cp,
    )
    report = await commands.stop_session(target=one, event=StopSessionCommandEvent(connector_id=1))
    record = await _finished(lab, report, cp)
    assert record["result"]["status"] == "Available"


async def test_the_sdk_with_location_targets_and_errors(lab: Lab, sdk: AsyncOcpplabSDK) -> None:
    location = await lab.location("SDK")
    first = await lab.charger("1.6", location_id=location)
    second = await lab.charger("2.0.1", location_id=location)
    commands = sdk.commands

    report = await commands.plug_connector(
        target=CommandTarget(location_id=location), event=ConnectorCommandEvent()
    )
    assert report.targeted_count == report.queued_count == 2
    assert {r.charger_id for r in report.results} == {first.id, second.id}

    report = await commands.unplug_connector(
        target=CommandTarget(location_id=location, charger_ids=[second.id, "dep-unknown"]),
        event=ConnectorCommandEvent(),
    )
    assert report.queued_count == 1
    assert report.failed_count == 1
    assert report.results[0].charger_id == second.id
    assert report.failed[0].error
    await lab.outcome(report.results[0].command.id)

    await lab.client.post(f"/ocpp/chargers/{first.id}/stop-charger")
    report = await commands.ev_stops_energy(
        target=CommandTarget(location_id=location), event=ConnectorCommandEvent()
    )
    assert report.queued_count == 1
    assert report.failed[0].identity == first.identity
    assert "stopped" in report.failed[0].error
    with pytest.raises(ApiError) as conflict:
        await commands.inject_fault(
            target=ChargerCommandTarget(charger_id=first.id),
            event=InjectFaultEvent(fault_type="GroundFault"),
        )
    assert conflict.value.status_code == 409

    with pytest.raises(NotFoundError):
        await commands.plug_connector(
            target=CommandTarget(charger_id="dep-123"), event=ConnectorCommandEvent()
        )
    with pytest.raises(UnprocessableEntityError):
        await commands.plug_connector(
            target=CommandTarget(charger_id=second.id, location_id=location),
            event=ConnectorCommandEvent(),
        )
    with pytest.raises(UnprocessableEntityError):
        await commands.inject_fault(
            target=ChargerCommandTarget(charger_id=second.id),
            event=InjectFaultEvent(fault_type="Meltdown"),
        )
    with pytest.raises(UnprocessableEntityError):
        await commands.proxy_message(
            target=ChargerCommandTarget(charger_id=second.id),
            event=ProxyMessageEvent(action="boot_notification", ocpp_version="ocpp1.6", payload={}),
        )
    # The SDK maps 400 to BadRequestError for three commands only; a plain ApiError else.
    with pytest.raises(ApiError) as missing:
        await commands.clear_fault(
            target=ChargerCommandTarget(charger_id=second.id),
            event=ClearFaultEvent(evse_id=7),
        )
    assert missing.value.status_code == 400
    assert "connector" in missing.value.body["detail"]
