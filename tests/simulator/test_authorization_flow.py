"""The authorization decision table (OCPP 1.6 §3.5, 2.0.1 C/D), through a running station.

A real station on loopback, a real CSMS built with ``ocpp``; the station decides with
``authorize`` / ``present_tag`` and logs every decision with its source in ``decisions``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from support.csms import Answer, RecordingCsms
from support.csms_calls import (
    ask,
    assert_frames_valid,
    booted,
    configure,
    csms_down,
    id_info,
    list_version_of,
    local_list,
)
from support.live import eventually
from support.stations import running, spec_for
from voltlab.errors import Conflict, InvalidRequest
from voltlab.ids import utcnow
from voltlab.simulator import Station
from voltlab.simulator.commands import execute

pytestmark = pytest.mark.timeout(20)

IDENTITY = "CP-AUTH"


@pytest.fixture
async def station(csms: RecordingCsms, version: str) -> AsyncIterator[Station]:
    async with running(spec_for(csms.url, version, IDENTITY)) as station:
        await booted(csms, station)
        yield station
        assert_frames_valid(csms, station)


def authorizes(csms: RecordingCsms) -> list[str]:
    """The id tags the station sent Authorize for, in order."""
    found = []
    for payload in csms.payloads(IDENTITY, "Authorize"):
        found.append(payload["id_tag"] if "id_tag" in payload else payload["id_token"]["id_token"])
    return found


def last_decision(station: Station) -> dict:
    return station.decisions[-1]


def cached(station: Station) -> dict[str, dict]:
    return {entry["id_tag"]: entry for entry in station.cache.entries()}


async def send_list(csms: RecordingCsms, station: Station, number: int, kind: str, entries):
    version = station.spec.ocpp_version
    return (await ask(csms, station, "SendLocalList", local_list(version, number, kind, entries)))[
        "status"
    ]


async def list_version(csms: RecordingCsms, station: Station) -> int:
    answer = await ask(csms, station, "GetLocalListVersion", {})
    return list_version_of(station.spec.ocpp_version, answer)


# -- online --------------------------------------------------------------------------------


@pytest.mark.parametrize("pre_authorize", [True, False])
async def test_a_listed_tag_starts_at_once_only_with_local_pre_authorize(
    csms: RecordingCsms, station: Station, version: str, pre_authorize: bool
):
    assert await send_list(csms, station, 1, "Full", {"LISTED": id_info(version)}) == "Accepted"
    configure(station, LocalPreAuthorize=pre_authorize)

    decision = await station.authorize("LISTED")

    assert decision.status == "Accepted"
    if pre_authorize:
        assert decision.source == "local_list"
        assert authorizes(csms) == []
    else:
        assert decision.source == "csms"
        assert authorizes(csms) == ["LISTED"]
    assert last_decision(station)["source"] == decision.source


async def test_an_unknown_tag_is_asked_of_the_csms_and_its_answer_is_cached(
    csms: RecordingCsms, station: Station, version: str
):
    configure(station, LocalPreAuthorize=True)
    expiry = utcnow() + timedelta(hours=2)
    csms.id_tag_info["NEWCOMER"] = id_info(version, "Accepted", expiry=expiry, parent="FLEET-7")
    csms.tag_status["THIEF"] = "Blocked"

    accepted = await station.authorize("NEWCOMER")
    blocked = await station.authorize("THIEF")

    assert (accepted.status, accepted.source) == ("Accepted", "csms")
    assert accepted.info is not None and accepted.info.parent_id_tag == "FLEET-7"
    assert (blocked.status, blocked.source) == ("Blocked", "csms")
    assert authorizes(csms) == ["NEWCOMER", "THIEF"]
    cache = cached(station)
    assert cache["NEWCOMER"]["status"] == "Accepted"
    assert cache["NEWCOMER"]["parent_id_tag"] == "FLEET-7"
    assert cache["NEWCOMER"]["expiry_date"] is not None
    assert cache["THIEF"]["status"] == "Blocked"  # the cache keeps invalid entries too

    # Cached and Accepted, with LocalPreAuthorize: no second Authorize, the group is kept.
    again = await station.authorize("newcomer")  # id tags compare case-insensitively
    assert (again.status, again.source) == ("Accepted", "cache")
    assert again.info is not None and again.info.parent_id_tag == "FLEET-7"
    assert authorizes(csms) == ["NEWCOMER", "THIEF"]


async def test_the_cache_is_filled_from_transaction_answers(
    csms: RecordingCsms, station: Station, version: str
):
    csms.start_tag_info["STARTER"] = id_info(version, "Accepted", parent="DEPOT")
    connector = station.connector()
    await station.plug(connector)

    tx = await station.start_transaction(connector, "STARTER")  # no Authorize before it
    await station.confirmed(tx)

    assert authorizes(csms) == []
    entry = cached(station)["STARTER"]
    assert (entry["status"], entry["parent_id_tag"]) == ("Accepted", "DEPOT")
    assert tx.parent_id_tag == "DEPOT"  # the group of the start answer is the tx's group
    configure(station, LocalPreAuthorize=True)
    decision = await station.authorize("STARTER")
    assert (decision.status, decision.source) == ("Accepted", "cache")


async def test_the_local_list_beats_the_cache(csms: RecordingCsms, station: Station, version: str):
    configure(station, LocalPreAuthorize=True)
    csms.tag_status["BOTH"] = "Blocked"
    assert (await station.authorize("BOTH")).status == "Blocked"
    assert cached(station)["BOTH"]["status"] == "Blocked"

    assert await send_list(csms, station, 1, "Full", {"BOTH": id_info(version)}) == "Accepted"
    decision = await station.authorize("BOTH")

    assert (decision.status, decision.source) == ("Accepted", "local_list")
    assert authorizes(csms) == ["BOTH"]  # only the first time, before the list had it


async def test_local_list_tags_are_never_cached(
    csms: RecordingCsms, station: Station, version: str
):
    entries = {"MEMBER": id_info(version, parent="CLUB")}
    assert await send_list(csms, station, 1, "Full", entries) == "Accepted"

    decision = await station.authorize("MEMBER")  # LocalPreAuthorize off: the CSMS is asked
    assert (decision.status, decision.source) == ("Accepted", "csms")
    connector = station.connector()
    await station.plug(connector)
    tx = await station.start_transaction(connector, "MEMBER")
    await station.confirmed(tx)

    assert authorizes(csms) == ["MEMBER"]
    assert "MEMBER" not in cached(station)
    assert len(station.cache) == 0


async def test_an_expired_list_entry_is_asked_of_the_csms_online_and_rejected_offline(
    csms: RecordingCsms, station: Station, version: str
):
    configure(station, LocalPreAuthorize=True)
    past = utcnow() - timedelta(minutes=5)
    entries = {"STALE": id_info(version, expiry=past), "FRESH": id_info(version)}
    assert await send_list(csms, station, 1, "Full", entries) == "Accepted"

    online = await station.authorize("STALE")
    assert (online.status, online.source) == ("Accepted", "csms")
    assert authorizes(csms) == ["STALE"]
    assert (await station.authorize("FRESH")).source == "local_list"

    async with csms_down(csms, station):
        offline = await station.authorize("STALE")
        assert (offline.status, offline.source) == ("Expired", "local_list")
        fresh = await station.authorize("FRESH")
        assert (fresh.status, fresh.source) == ("Accepted", "local_list")


async def test_a_cache_entry_whose_expiry_passed_is_not_accepted(
    csms: RecordingCsms, station: Station, version: str
):
    configure(station, LocalPreAuthorize=True)
    csms.id_tag_info["BRIEF"] = id_info(version, expiry=utcnow() + timedelta(seconds=0.6))
    assert (await station.authorize("BRIEF")).source == "csms"
    assert (await station.authorize("BRIEF")).source == "cache"
    await asyncio.sleep(0.7)

    async with csms_down(csms, station):
        offline = await station.authorize("BRIEF")
        assert (offline.status, offline.source) == ("Expired", "cache")
    del csms.id_tag_info["BRIEF"]  # the CSMS now answers a plain Accepted
    online = await station.authorize("BRIEF")
    assert (online.status, online.source) == ("Accepted", "csms")
    assert authorizes(csms) == ["BRIEF", "BRIEF"]


@pytest.mark.parametrize("status", ["Blocked", "Invalid", "Expired"])
async def test_a_non_accepted_list_entry_is_rejected_offline_and_checked_online(
    csms: RecordingCsms, station: Station, version: str, status: str
):
    configure(station, LocalPreAuthorize=True)
    assert await send_list(csms, station, 1, "Full", {"BAD": id_info(version, status)}) == (
        "Accepted"
    )
    csms.tag_status["BAD"] = status

    online = await station.authorize("BAD")
    assert (online.status, online.source) == (status, "csms")
    assert authorizes(csms) == ["BAD"]  # the CSMS is asked (2.0.1 C14; 1.6: SHOULD)

    async with csms_down(csms, station):
        offline = await station.authorize("BAD")
    assert (offline.status, offline.source) == (status, "local_list")
    assert authorizes(csms) == ["BAD"]


@pytest.mark.parametrize("version", ["2.0.1"])  # DisablePostAuthorize is 2.0.1 only
async def test_disable_post_authorize_rejects_a_blocked_list_entry_without_asking(
    csms: RecordingCsms, station: Station, version: str
):
    station.set_configuration("LocalAuthListCtrlr.DisablePostAuthorize", "true")
    entries = {"BAD": id_info(version, "Blocked")}
    assert await send_list(csms, station, 1, "Full", entries) == "Accepted"

    decision = await station.authorize("BAD")

    assert (decision.status, decision.source) == ("Blocked", "local_list")
    assert authorizes(csms) == []


# -- groups --------------------------------------------------------------------------------


async def test_a_group_member_can_stop_the_transaction_and_a_stranger_cannot(
    csms: RecordingCsms, station: Station, version: str
):
    csms.id_tag_info["KID-1"] = id_info(version, parent="FAMILY")
    csms.id_tag_info["KID-2"] = id_info(version, parent="family")  # case-insensitive
    connector = station.connector()
    await station.plug(connector)

    started = await station.present_tag("KID-1", connector)
    tx = station.transaction_on(connector)
    assert started["status"] == "Accepted" and tx is not None
    assert tx.parent_id_tag == "FAMILY"
    await station.confirmed(tx)

    stranger = await station.present_tag("STRANGER", connector)
    assert stranger["status"] == "Accepted"
    assert station.transaction_on(connector) is tx  # not stopped by a stranger
    assert authorizes(csms) == ["KID-1", "STRANGER"]  # the stranger is asked about once

    stopped = await station.present_tag("KID-2", connector)
    assert stopped["decision"] == "stop"
    assert station.transaction_on(connector) is None
    if version == "1.6":
        (stop,) = await csms.wait_for(IDENTITY, "StopTransaction")
        assert stop.payload["id_tag"] == "KID-2"
        assert "reason" not in stop.payload  # Local is sent by leaving reason out
    else:
        ended = await csms.wait_until(
            lambda: [
                p for p in csms.payloads(IDENTITY, "TransactionEvent") if p["event_type"] == "Ended"
            ]
        )
        assert ended[0]["id_token"]["id_token"] == "KID-2"
        assert ended[0]["trigger_reason"] == "StopAuthorized"


async def test_the_starting_tag_stops_without_authorize(
    csms: RecordingCsms, station: Station, version: str
):
    connector = station.connector()
    await station.plug(connector)
    await station.present_tag("OWNER", connector)
    assert authorizes(csms) == ["OWNER"]

    stopped = await station.present_tag("owner", connector)

    assert stopped["decision"] == "stop"
    assert authorizes(csms) == ["OWNER"]


async def test_the_group_of_a_listed_tag_is_kept(
    csms: RecordingCsms, station: Station, version: str
):
    configure(station, LocalPreAuthorize=True)
    entries = {"CARD-9": id_info(version, parent="COMPANY")}
    assert await send_list(csms, station, 1, "Full", entries) == "Accepted"

    decision = await station.authorize("CARD-9")

    assert decision.source == "local_list"
    assert decision.info is not None and decision.info.parent_id_tag == "COMPANY"
    listed = station.local_list.get("CARD-9")
    assert listed is not None and listed.parent_id_tag == "COMPANY"


# -- offline -------------------------------------------------------------------------------


async def test_the_offline_rules(csms: RecordingCsms, station: Station, version: str):
    configure(station, LocalPreAuthorize=False)
    assert await send_list(csms, station, 1, "Full", {"LISTED": id_info(version)}) == "Accepted"
    csms.tag_status["SEEN"] = "Accepted"
    assert (await station.authorize("SEEN")).source == "csms"  # now cached

    async with csms_down(csms, station):
        # LocalAuthorizeOffline (default true): Accepted entries of list and cache start.
        listed = await station.authorize("LISTED")
        seen = await station.authorize("SEEN")
        assert (listed.status, listed.source) == ("Accepted", "local_list")
        assert (seen.status, seen.source) == ("Accepted", "cache")
        # An unknown tag is rejected offline ...
        unknown = await station.authorize("UNKNOWN")
        assert (unknown.status, unknown.source) == ("Invalid", "offline_rule")
        # ... unless AllowOfflineTxForUnknownId (2.0.1 OfflineTxForUnknownIdEnabled).
        configure(station, AllowOfflineTxForUnknownId=True)
        unknown = await station.authorize("UNKNOWN")
        assert (unknown.status, unknown.source) == ("Accepted", "offline_rule")
        # Without LocalAuthorizeOffline even listed and cached tags are refused offline.
        configure(station, LocalAuthorizeOffline=False)
        listed = await station.authorize("LISTED")
        seen = await station.authorize("SEEN")
        assert (listed.status, listed.source) == ("Invalid", "offline_rule")
        assert (seen.status, seen.source) == ("Invalid", "offline_rule")

    assert authorizes(csms) == ["SEEN"]
    assert "UNKNOWN" not in cached(station)  # offline decisions are not cached


async def test_a_tag_accepted_offline_starts_a_transaction_that_is_sent_later(
    csms: RecordingCsms, station: Station, version: str
):
    configure(station, AllowOfflineTxForUnknownId=True)
    connector = station.connector()
    async with csms_down(csms, station):
        await station.plug(connector)
        result = await station.present_tag("WANDERER", connector)
        assert (result["status"], result["source"]) == ("Accepted", "offline_rule")
        assert station.transaction_on(connector) is not None
    action = "StartTransaction" if version == "1.6" else "TransactionEvent"
    (start,) = await csms.wait_for(IDENTITY, action)
    if version == "2.0.1":
        assert start.payload["offline"] is True


async def test_a_silent_csms_falls_back_to_the_offline_rules(
    csms: RecordingCsms, station: Station, version: str
):
    assert await send_list(csms, station, 1, "Full", {"LISTED": id_info(version)}) == "Accepted"
    csms.answers["Authorize"] = Answer.silence()

    listed = await station.authorize("LISTED")
    unknown = await station.authorize("UNKNOWN")
    configure(station, AllowOfflineTxForUnknownId=True)
    allowed = await station.authorize("UNKNOWN")

    assert (listed.status, listed.source) == ("Accepted", "local_list")
    assert "did not answer" in listed.reason or "unreachable" in listed.reason
    assert (unknown.status, unknown.source) == ("Invalid", "offline_rule")
    assert (allowed.status, allowed.source) == ("Accepted", "offline_rule")
    assert authorizes(csms) == ["LISTED", "UNKNOWN", "UNKNOWN"]
    assert station.findings == 3  # each silence is a finding
    assert station.online  # a silent CSMS is not a lost connection


# -- 2.0.1 AuthCtrlr -----------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2.0.1"])
async def test_auth_disabled_accepts_every_token_without_asking(
    csms: RecordingCsms, station: Station, version: str
):
    answer = await ask(
        csms,
        station,
        "SetVariables",
        {
            "setVariableData": [
                {
                    "component": {"name": "AuthCtrlr"},
                    "variable": {"name": "Enabled"},
                    "attributeValue": "false",
                }
            ]
        },
    )
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
    csms.tag_status["ANYONE"] = "Blocked"

    decision = await station.authorize("ANYONE")
    presented = await station.present_tag("SOMEONE", station.connector())

    assert (decision.status, decision.source) == ("Accepted", "auth_disabled")
    assert (presented["status"], presented["source"]) == ("Accepted", "auth_disabled")
    assert authorizes(csms) == []
    assert [d["source"] for d in station.decisions] == ["auth_disabled", "auth_disabled"]


@pytest.mark.parametrize("version", ["2.0.1"])
async def test_disable_remote_authorization_decides_locally(
    csms: RecordingCsms, station: Station, version: str
):
    station.set_configuration("AuthCtrlr.DisableRemoteAuthorization", "true")
    assert await send_list(csms, station, 1, "Full", {"LISTED": id_info(version)}) == "Accepted"

    listed = await station.authorize("LISTED")  # LocalPreAuthorize is off
    unknown = await station.authorize("UNKNOWN")

    assert (listed.status, listed.source) == ("Accepted", "local_list")
    assert (unknown.status, unknown.source) == ("Invalid", "offline_rule")
    assert authorizes(csms) == []


# -- the local list ------------------------------------------------------------------------


async def test_send_local_list_full_differential_and_version_mismatch(
    csms: RecordingCsms, station: Station, version: str
):
    configure(station, LocalPreAuthorize=True)
    assert await list_version(csms, station) == 0

    full = {"ALPHA": id_info(version), "BRAVO": id_info(version, "Blocked")}
    assert await send_list(csms, station, 1, "Full", full) == "Accepted"
    assert await list_version(csms, station) == 1
    assert (await station.authorize("ALPHA")).source == "local_list"

    diff = {"BRAVO": id_info(version), "CHARLIE": id_info(version), "ALPHA": None}
    assert await send_list(csms, station, 2, "Differential", diff) == "Accepted"
    assert await list_version(csms, station) == 2
    assert sorted(tag for tag, _ in station.local_list.entries()) == ["BRAVO", "CHARLIE"]
    assert (await station.authorize("BRAVO")).source == "local_list"
    assert (await station.authorize("ALPHA")).source == "csms"  # gone from the list

    for stale in (2, 1):
        late = {"DELTA": id_info(version)}
        assert await send_list(csms, station, stale, "Differential", late) == "VersionMismatch"
    assert await list_version(csms, station) == 2
    assert "DELTA" not in station.local_list

    # A Full is how a CSMS recovers from a mismatch; an empty Full empties the list.
    assert await send_list(csms, station, 7, "Full", {"DELTA": id_info(version)}) == "Accepted"
    assert [tag for tag, _ in station.local_list.entries()] == ["DELTA"]
    assert await send_list(csms, station, 8, "Full", {}) == "Accepted"
    assert len(station.local_list) == 0
    assert await list_version(csms, station) == 8


async def test_a_disabled_local_list_is_refused(
    csms: RecordingCsms, station: Station, version: str
):
    configure(station, LocalAuthListEnabled=False)

    status = await send_list(csms, station, 1, "Full", {"ALPHA": id_info(version)})

    assert status == ("NotSupported" if version == "1.6" else "Failed")
    assert len(station.local_list) == 0
    if version == "1.6":
        assert await list_version(csms, station) == -1  # 1.6: -1 = not supported


async def test_the_rest_command_and_the_csms_share_one_list(
    csms: RecordingCsms, station: Station, version: str
):
    configure(station, LocalPreAuthorize=True)
    soon = utcnow() + timedelta(days=1)
    result = await execute(
        station,
        "local_auth_list",
        {
            "list_version": 3,
            "entries": [{"id_tag": "REST-1", "parent_id_tag": "G", "expiry_date": soon}],
        },
    )
    assert result == {"status": "Accepted", "list_version": 3, "entries_received": 1}
    assert await list_version(csms, station) == 3
    decision = await station.authorize("REST-1")
    assert (decision.source, decision.info.parent_id_tag) == ("local_list", "G")

    diff = {"CSMS-1": id_info(version)}
    assert await send_list(csms, station, 4, "Differential", diff) == "Accepted"
    with pytest.raises(InvalidRequest):  # not newer than what the CSMS sent
        await execute(station, "local_auth_list", {"list_version": 4, "entries": []})
    assert [tag for tag, _ in station.local_list.entries()] == ["CSMS-1", "REST-1"]

    await execute(
        station,
        "local_auth_list",
        {
            "list_version": 5,
            "update_type": "Differential",
            "entries": [{"id_tag": "REST-1", "delete": True}],
        },
    )
    assert await send_list(csms, station, 5, "Differential", diff) == "VersionMismatch"
    assert [tag for tag, _ in station.local_list.entries()] == ["CSMS-1"]
    assert (await station.authorize("CSMS-1")).source == "local_list"

    cleared = await execute(station, "clear_local_auth_list", {})
    assert cleared["entries_deleted"] == 1
    assert await list_version(csms, station) == 0
    assert len(station.local_list) == 0
    # After a clear the CSMS can start over from version 1.
    assert await send_list(csms, station, 1, "Differential", diff) == "Accepted"


async def test_a_rest_expiry_without_a_time_zone_is_read_as_utc(
    csms: RecordingCsms, station: Station, version: str
):
    configure(station, LocalPreAuthorize=True)
    naive_past = (utcnow() - timedelta(hours=1)).replace(tzinfo=None)
    await execute(
        station,
        "local_auth_list",
        {"list_version": 1, "entries": [{"id_tag": "OLD", "expiry_date": naive_past}]},
    )
    async with csms_down(csms, station):
        decision = await station.authorize("OLD")
    assert (decision.status, decision.source) == ("Expired", "local_list")


# -- the cache -----------------------------------------------------------------------------


async def test_clear_cache_is_accepted_and_rejected_when_the_cache_is_disabled(
    csms: RecordingCsms, station: Station, version: str
):
    await station.authorize("VISITOR")
    assert "VISITOR" in cached(station)

    assert (await ask(csms, station, "ClearCache", {}))["status"] == "Accepted"
    assert len(station.cache) == 0

    configure(station, AuthorizationCacheEnabled=False)
    assert (await ask(csms, station, "ClearCache", {}))["status"] == "Rejected"
    with pytest.raises(Conflict):
        await execute(station, "cache_reset", {})
    await station.authorize("VISITOR")
    assert len(station.cache) == 0  # a disabled cache learns nothing


# -- 1.6 LocalListConflict -----------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.6"])  # LocalListConflict is a 1.6 error code
async def test_a_csms_answer_that_contradicts_the_list_is_a_local_list_conflict(
    csms: RecordingCsms, station: Station, version: str
):
    assert await send_list(csms, station, 1, "Full", {"DISPUTED": id_info(version)}) == ("Accepted")
    csms.tag_status["DISPUTED"] = "Blocked"

    decision = await station.authorize("DISPUTED")

    assert (decision.status, decision.source) == ("Blocked", "csms")
    conflict = await csms.wait_until(
        lambda: [
            p
            for p in csms.payloads(IDENTITY, "StatusNotification")
            if p["error_code"] == "LocalListConflict"
        ]
    )
    assert conflict[0]["connector_id"] == 0
    assert "DISPUTED" not in cached(station)


async def test_an_answer_that_agrees_with_the_list_is_no_conflict(
    csms: RecordingCsms, station: Station, version: str
):
    assert await send_list(csms, station, 1, "Full", {"AGREED": id_info(version)}) == "Accepted"
    await station.authorize("AGREED")
    await asyncio.sleep(0.1)
    errors = [p.get("error_code") for p in csms.payloads(IDENTITY, "StatusNotification")]
    assert "LocalListConflict" not in errors


# -- the decision log ----------------------------------------------------------------------


async def test_every_decision_is_logged_with_its_source(
    csms: RecordingCsms, station: Station, version: str
):
    configure(station, LocalPreAuthorize=True)
    assert await send_list(csms, station, 1, "Full", {"LISTED": id_info(version)}) == "Accepted"
    csms.tag_status["ASKED"] = "Invalid"

    await station.authorize("LISTED")
    await station.authorize("ASKED")
    await station.authorize("ASKED")
    async with csms_down(csms, station):
        await station.authorize("NOBODY")

    log = [(d["id_tag"], d["status"], d["source"]) for d in station.decisions]
    assert log == [
        ("LISTED", "Accepted", "local_list"),
        ("ASKED", "Invalid", "csms"),
        ("ASKED", "Invalid", "csms"),  # a cached Invalid is checked with the CSMS again
        ("NOBODY", "Invalid", "offline_rule"),
    ]
    for entry in station.decisions:
        assert entry["reason"] and entry["at"].endswith("Z")
    await eventually(lambda: station.online)
