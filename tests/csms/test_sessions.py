"""The hub through both attachments, against ``ocpp``'s own ChargePoint as the station."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from ocpp.exceptions import NotImplementedError as NotImplementedError_
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from support.live import eventually
from tests.csms.harness import Attachment, RecordingHooks
from tests.csms.peers import Peer, Peer16, now
from voltlab.csms import StationOffline, TagDecision

pytestmark = pytest.mark.timeout(15)


async def _boot(peer: Peer) -> None:
    if isinstance(peer, Peer16):
        answer = await peer.call(call16.BootNotification("Model", "Vendor"))
    else:
        answer = await peer.call(
            call201.BootNotification({"model": "Model", "vendor_name": "Vendor"}, "PowerUp")
        )
    assert answer.status == "Accepted"
    assert answer.interval == 30


async def _status(peer: Peer, status: str) -> None:
    if isinstance(peer, Peer16):
        await peer.call(call16.StatusNotification(1, "NoError", status))
    else:
        await peer.call(call201.StatusNotification(now(), status, 1, 1))


async def _authorize(peer: Peer, tag: str) -> dict[str, object]:
    if isinstance(peer, Peer16):
        return (await peer.call(call16.Authorize(tag))).id_tag_info  # type: ignore[no-any-return]
    answer = await peer.call(call201.Authorize({"id_token": tag, "type": "ISO14443"}))
    return answer.id_token_info  # type: ignore[no-any-return]


async def test_a_station_connects_boots_and_reports_statuses_with_timestamps(
    attachment: Attachment, hooks: RecordingHooks, version: str
) -> None:
    busy = "Preparing" if version == "1.6" else "Occupied"
    async with attachment.peer("CP-1", version) as peer:
        await _boot(peer)
        station = attachment.station("CP-1")
        assert (station.realm, station.ocpp_version, station.boots) == (
            attachment.realm,
            version,
            1,
        )
        assert station.connected and station.connected_changed_at is not None
        assert hooks.of("connection_changed") == [("CP-1", True)]
        assert hooks.of("booted") == [("CP-1", 1)]

        await _status(peer, "Available")
        first = station.status_changed_at[(1, 1)]  # 1.6 connector n is (n, n) too
        await _status(peer, "Available")  # a repeat is no change
        assert station.status_changed_at[(1, 1)] == first
        await _status(peer, busy)
        assert station.connectors == {(1, 1): busy}
        assert station.status_changed_at[(1, 1)] > first
        assert hooks.of("status_changed") == [
            ("CP-1", 1, 1, "Available"),
            ("CP-1", 1, 1, busy),
        ]
        assert attachment.hub.session(attachment.realm, "CP-1") is not None

    await eventually(lambda: not station.connected, timeout=5)
    assert hooks.of("connection_changed") == [("CP-1", True), ("CP-1", False)]
    assert attachment.hub.session(attachment.realm, "CP-1") is None
    assert station.connectors == {(1, 1): busy}  # what it said last stays readable


async def test_the_authorize_hook_decides_what_the_station_receives(
    attachment: Attachment, hooks: RecordingHooks, version: str
) -> None:
    expiry = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    hooks.decisions["BLOCKED-1"] = TagDecision("Blocked")
    hooks.decisions["VIP-1"] = TagDecision(
        "Accepted", group_id="FAMILY", personal_message="Welcome, Ada", expiry=expiry
    )
    hooks.decisions["POOR-1"] = TagDecision("NoCredit")  # 2.0.1 only
    async with attachment.peer("CP-A", version) as peer:
        blocked = await _authorize(peer, "BLOCKED-1")
        vip = await _authorize(peer, "VIP-1")
        poor = await _authorize(peer, "POOR-1")

    assert blocked == {"status": "Blocked"}
    if version == "1.6":
        assert vip == {
            "status": "Accepted",
            "parent_id_tag": "FAMILY",
            "expiry_date": "2031-01-02T03:04:05Z",
        }
        assert poor == {"status": "Invalid"}  # NoCredit is no 1.6 status: never Accepted
    else:
        assert vip == {
            "status": "Accepted",
            "group_id_token": {"id_token": "FAMILY", "type": "Central"},
            "personal_message": {"format": "UTF8", "content": "Welcome, Ada"},
            "cache_expiry_date_time": "2031-01-02T03:04:05Z",
        }
        assert poor == {"status": "NoCredit"}
    request = hooks.requests[0]
    assert (request.id_token, request.context, request.evse_id) == ("BLOCKED-1", "authorize", None)
    assert request.token_type == (None if version == "1.6" else "ISO14443")


async def test_a_slow_authorize_hook_is_still_answered(
    attachment: Attachment, hooks: RecordingHooks, version: str
) -> None:
    hooks.authorize_delay_s = 0.5  # an eMSP asked over HTTP
    async with attachment.peer("CP-S", version) as peer:
        started = time.monotonic()
        info = await _authorize(peer, "TAG-SLOW")
        elapsed = time.monotonic() - started
        # The session is still fine afterwards.
        await _status(peer, "Available")
    assert info == {"status": "Accepted"}
    assert 0.5 <= elapsed < 3
    assert attachment.station("CP-S").connectors == {(1, 1): "Available"}


async def test_failing_hooks_are_contained_and_a_failed_authorize_answers_invalid(
    attachment: Attachment, hooks: RecordingHooks, version: str
) -> None:
    class Broken(RecordingHooks):
        async def authorize(self, station, request):  # type: ignore[no-untyped-def]
            raise RuntimeError("eMSP exploded")

        async def status_changed(self, station, evse_id, connector_id, status):  # type: ignore[no-untyped-def]
            raise RuntimeError("push failed")

    attachment.hub.set_hooks(attachment.realm, Broken())
    async with attachment.peer("CP-B", version) as peer:
        assert await _authorize(peer, "TAG-1") == {"status": "Invalid"}
        await _status(peer, "Available")
        await _boot(peer)
    assert attachment.station("CP-B").connectors == {(1, 1): "Available"}


async def test_call_reaches_the_station_and_returns_its_camel_case_answer(
    attachment: Attachment, version: str
) -> None:
    hub, realm = attachment.hub, attachment.realm
    async with attachment.peer("CP-C", version) as peer:
        if version == "1.6":
            answer = await hub.call(
                realm, "CP-C", "RemoteStartTransaction", {"idTag": "TAG-R", "connectorId": 1}
            )
            assert answer == {"status": "Accepted"}
            assert peer.received == [
                ("RemoteStartTransaction", {"id_tag": "TAG-R", "connector_id": 1})
            ]
        else:
            answer = await hub.call(
                realm,
                "CP-C",
                "RequestStartTransaction",
                {"idToken": {"idToken": "TAG-R", "type": "eMAID"}, "remoteStartId": 42},
            )
            assert answer == {"status": "Accepted", "transactionId": "TX-R"}
            assert peer.received == [
                (
                    "RequestStartTransaction",
                    {"id_token": {"id_token": "TAG-R", "type": "eMAID"}, "remote_start_id": 42},
                )
            ]


async def test_call_raises_the_callerror_the_timeout_or_station_offline(
    attachment: Attachment, version: str
) -> None:
    hub, realm = attachment.hub, attachment.realm
    unlock = {"connectorId": 1} if version == "1.6" else {"evseId": 1, "connectorId": 1}
    reset = {"type": "Hard"} if version == "1.6" else {"type": "Immediate"}
    with pytest.raises(StationOffline):
        await hub.call(realm, "CP-NOBODY", "UnlockConnector", unlock)
    async with attachment.peer("CP-E", version) as peer:
        with pytest.raises(NotImplementedError_):  # the peer has no UnlockConnector handler
            await hub.call(realm, "CP-E", "UnlockConnector", unlock)
        with pytest.raises(ValueError, match="NoSuchAction"):
            await hub.call(realm, "CP-E", "NoSuchAction", {})
        started = time.monotonic()
        with pytest.raises(TimeoutError):  # the peer's Reset answers after 5 s
            await hub.call(realm, "CP-E", "Reset", reset, timeout_s=0.3)
        assert time.monotonic() - started < 2

        # A station that disconnects while a call waits ends the call at once.
        waiting = asyncio.create_task(hub.call(realm, "CP-E", "Reset", reset, timeout_s=10))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await peer.connection.close()
        with pytest.raises(StationOffline):
            await waiting
        assert time.monotonic() - started < 3
    with pytest.raises(StationOffline):
        await hub.call(realm, "CP-E", "UnlockConnector", unlock)


async def test_transaction_hooks_follow_a_1_6_transaction_with_its_energy(
    attachment: Attachment, hooks: RecordingHooks
) -> None:
    hooks.decisions["TAG-T"] = TagDecision("Accepted", group_id="G-1")
    async with attachment.peer("CP-T16", "1.6") as peer:
        start = await peer.call(call16.StartTransaction(1, "TAG-T", 1000, now()))
        assert start.id_tag_info == {"status": "Accepted", "parent_id_tag": "G-1"}
        tid = start.transaction_id
        sample = [
            {
                "timestamp": now(),
                "sampled_value": [
                    {"value": "1.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
                    {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
                ],
            }
        ]
        await peer.call(call16.MeterValues(1, sample, transaction_id=tid))
        await peer.call(call16.StopTransaction(2500, now(), tid, reason="EVDisconnected"))

    (started,) = [e[0] for e in hooks.of("transaction_started")]
    assert (started.transaction_id, started.id_tag, started.meter_start_wh) == (
        str(tid),
        "TAG-T",
        1000,
    )
    assert started.authorization == TagDecision("Accepted", group_id="G-1")
    assert hooks.requests[0].context == "start_transaction"
    assert hooks.requests[0].transaction_id == str(tid)
    (updated,) = [e[0] for e in hooks.of("transaction_updated")]
    assert (updated.meter_wh, updated.power_w, updated.energy_wh) == (1500, 7200, 500)
    (ended,) = [e[0] for e in hooks.of("transaction_ended")]
    assert (ended.meter_wh, ended.energy_wh, ended.stop_reason) == (2500, 1500, "EVDisconnected")
    assert ended.stopped_at is not None and ended.updated_at is not None
    assert attachment.station("CP-T16").transactions[str(tid)].energy_wh == 1500


def _energy(value: float, unit: str, multiplier: int = 0, context: str = "Sample.Periodic"):  # type: ignore[no-untyped-def]
    return {
        "value": value,
        "context": context,
        "measurand": "Energy.Active.Import.Register",
        "unit_of_measure": {"unit": unit, "multiplier": multiplier},
    }


async def test_transaction_hooks_follow_a_2_0_1_transaction_with_its_energy(
    attachment: Attachment, hooks: RecordingHooks
) -> None:
    hooks.decisions["TAG-T"] = TagDecision("Accepted", personal_message="Charging for Ada")

    def event(
        kind: str, seq: int, samples: list[dict], **extra: object
    ) -> call201.TransactionEvent:
        return call201.TransactionEvent(
            event_type=kind,
            timestamp=now(),
            trigger_reason=extra.pop("trigger", "MeterValuePeriodic"),  # type: ignore[arg-type]
            seq_no=seq,
            transaction_info={"transaction_id": "TX-201", **extra.pop("info", {})},  # type: ignore[dict-item]
            meter_value=[{"timestamp": now(), "sampled_value": samples}],
            **extra,  # type: ignore[arg-type]
        )

    async with attachment.peer("CP-T201", "2.0.1") as peer:
        started = await peer.call(
            event(
                "Started",
                0,
                [_energy(1000, "Wh", context="Transaction.Begin")],
                trigger="RemoteStart",
                info={"remote_start_id": 42, "charging_state": "Charging"},
                id_token={"id_token": "TAG-T", "type": "ISO14443"},
                evse={"id": 1, "connector_id": 1},
            )
        )
        power = {
            "value": 7.2,
            "measurand": "Power.Active.Import",
            "unit_of_measure": {"unit": "kW"},
        }
        updated = await peer.call(event("Updated", 1, [_energy(1.5, "kWh"), power]))
        await peer.call(event("Updated", 2, [_energy(1.6, "Wh", multiplier=3)]))
        await peer.call(
            event(
                "Ended",
                3,
                [_energy(2500, "Wh", context="Transaction.End")],
                trigger="EVCommunicationLost",
                info={"stopped_reason": "EVDisconnected"},
            )
        )

    assert started.id_token_info == {
        "status": "Accepted",
        "personal_message": {"format": "UTF8", "content": "Charging for Ada"},
    }
    assert updated.id_token_info is None  # only an event with an idToken gets idTokenInfo
    (first,) = [e[0] for e in hooks.of("transaction_started")]
    assert (first.transaction_id, first.evse_id, first.connector_id) == ("TX-201", 1, 1)
    assert (first.id_tag, first.id_token_type, first.remote_start_id) == (
        "TAG-T",
        "ISO14443",
        42,
    )
    assert first.meter_start_wh == 1000
    assert first.authorization is not None and first.authorization.accepted
    request = hooks.requests[0]
    assert (request.context, request.evse_id, request.transaction_id) == (
        "start_transaction",
        1,
        "TX-201",
    )
    assert [(e[0].meter_wh, e[0].power_w) for e in hooks.of("transaction_updated")] == [
        (1500, 7200),
        (1600, 7200),
    ]
    (ended,) = [e[0] for e in hooks.of("transaction_ended")]
    assert (ended.meter_wh, ended.energy_wh, ended.stop_reason) == (2500, 1500, "EVDisconnected")
