"""Offline: transaction messages queue while the CSMS is away and reach it in order once
it is back (OCPP 1.6 §3.7 and errata §3.18; 2.0.1 E04, E11-E13)."""

from __future__ import annotations

import time

from support.csms import Answer, RecordingCsms
from support.frames import ListSink
from support.live import eventually
from support.sessions import (
    FAST_METER,
    all_frames_valid,
    booted,
    configure,
    of,
    tx_messages,
)
from support.stations import running, spec_for
from voltlab.simulator import Station
from voltlab.simulator.model.authorization import IdTagInfo


async def _offline(csms: RecordingCsms, station: Station) -> None:
    await csms.stop()
    await eventually(lambda: not station.online)


async def _back(csms: RecordingCsms, station: Station) -> None:
    await csms.start()  # the same port
    await eventually(lambda: station.online and not station.queue, timeout=5)


def _tx_ids_201(csms: RecordingCsms, identity: str) -> list[str]:
    """The 2.0.1 transaction ids in the order their events arrived."""
    seen: list[str] = []
    for event in of(csms, identity, "TransactionEvent"):
        if event["transactionInfo"]["transactionId"] not in seen:
            seen.append(event["transactionInfo"]["transactionId"])
    return seen


async def test_transaction_messages_made_offline_arrive_in_order_after_the_reconnect(
    csms: RecordingCsms, version: str
):
    """Started online, metered and stopped offline; a second session wholly offline."""
    identity = "CP-OFFLINE"
    async with running(spec_for(csms.url, version, identity), options=FAST_METER) as station:
        await booted(station)
        configure(station, meter_interval=1)
        connector = station.connector()
        await station.plug(connector)
        await station.present_tag("TAG-C", connector)  # Authorize: Accepted, now cached
        first = station.transaction_on(connector)
        assert first is not None
        await eventually(lambda: not station.queue)  # the start reached the CSMS

        await _offline(csms, station)
        await eventually(lambda: len(station.queue) >= 1, timeout=3)  # a periodic sample
        await station.present_tag("TAG-C", connector)  # stop: same tag, no Authorize
        await station.unplug(connector)
        await station.plug(connector)
        second = await station.present_tag("TAG-C", connector)
        assert (second["status"], second["source"]) == ("Accepted", "cache")
        await station.present_tag("TAG-C", connector)
        queued = [m.action for m in station.queue]
        assert len(queued) >= 4, queued
        offline_since = time.monotonic()

        await _back(csms, station)
        assert all(r.at > offline_since for r in csms.received[identity][-len(queued) :])

    assert csms.actions(identity).count("Authorize") == 1
    messages = tx_messages(csms, identity)
    if version == "1.6":
        actions = [a for a, _ in messages]
        first_id, second_id = csms.transaction_ids
        # Start, samples, Stop of the first; Start, Stop of the second: in that order.
        assert actions[0] == "StartTransaction"
        assert actions[-3:] == ["StopTransaction", "StartTransaction", "StopTransaction"]
        assert set(actions[1:-3]) == {"MeterValues"}
        ids = [p.get("transactionId") for a, p in messages if a != "StartTransaction"]
        assert ids == [first_id] * (len(ids) - 1) + [second_id]
        stops = of(csms, identity, "StopTransaction")
        assert ["reason" in stop for stop in stops] == [False, False]  # both Local
    else:
        first_key, second_key = _tx_ids_201(csms, identity)
        assert first_key == first.key
        events = of(csms, identity, "TransactionEvent")
        for key in (first_key, second_key):
            mine = [e for e in events if e["transactionInfo"]["transactionId"] == key]
            assert [e["seqNo"] for e in mine] == list(range(len(mine)))
            assert mine[0]["eventType"] == "Started"
            assert mine[-1]["eventType"] == "Ended"
        # in order: everything of the first transaction before the second's
        keys = [e["transactionInfo"]["transactionId"] for e in events]
        assert keys == sorted(keys, key=[first_key, second_key].index)
        # events made while offline say so (E04.FR.03); the first Started was online
        assert not events[0].get("offline")
        assert all(e["offline"] is True for e in events[1:]), [e.get("offline") for e in events]
    all_frames_valid(csms, identity, version)


async def test_an_unknown_tag_offline_starts_only_if_the_configuration_allows_it(
    csms: RecordingCsms, version: str
):
    identity = "CP-UNKNOWN"
    async with running(spec_for(csms.url, version, identity), options=FAST_METER) as station:
        await booted(station)
        connector = station.connector()
        await _offline(csms, station)
        await station.plug(connector)

        configure(station, offline_unknown=False)
        refused = await station.present_tag("NEVER-SEEN", connector)
        assert refused["status"] != "Accepted"
        assert station.transaction_on(connector) is None

        configure(station, offline_unknown=True)
        allowed = await station.present_tag("NEVER-SEEN", connector)
        assert (allowed["status"], allowed["source"]) == ("Accepted", "offline_rule")
        assert station.transaction_on(connector) is not None
        assert [m.action for m in station.queue] == [
            "StartTransaction" if version == "1.6" else "TransactionEvent"
        ]

        # Back online, the CSMS does not know the tag: the transaction is stopped
        # (StopTransactionOnInvalidId / StopTxOnInvalidId default true; errata §3.17, C15).
        csms.tag_status["NEVER-SEEN"] = "Invalid"
        await _back(csms, station)
        await eventually(lambda: not station.transactions and not station.queue)

    assert "Authorize" not in csms.actions(identity)
    if version == "1.6":
        (start,) = of(csms, identity, "StartTransaction")
        assert start["idTag"] == "NEVER-SEEN"
        (stop,) = of(csms, identity, "StopTransaction")
        assert stop["reason"] == "DeAuthorized"
        assert stop["transactionId"] == csms.transaction_ids[0]
    else:
        started, ended = of(csms, identity, "TransactionEvent")
        assert started["offline"] is True
        assert started["idToken"]["idToken"] == "NEVER-SEEN"
        assert ended["transactionInfo"]["stoppedReason"] == "DeAuthorized"
        assert not ended.get("offline")  # made online
    all_frames_valid(csms, identity, version)


async def test_a_local_list_tag_starts_offline_and_the_start_is_replayed(
    csms: RecordingCsms, version: str
):
    identity = "CP-LOCAL"
    async with running(spec_for(csms.url, version, identity), options=FAST_METER) as station:
        await booted(station)
        station.send_local_list(1, "Full", [("LIST-1", IdTagInfo("Accepted"))])
        configure(station, local_authorize_offline=True)
        connector = station.connector()
        await _offline(csms, station)
        await station.plug(connector)
        result = await station.present_tag("LIST-1", connector)
        assert (result["status"], result["source"]) == ("Accepted", "local_list")
        await station.unplug(connector)  # EVDisconnected, offline too
        await _back(csms, station)

    if version == "1.6":
        assert [a for a, _ in tx_messages(csms, identity)] == [
            "StartTransaction",
            "StopTransaction",
        ]
        (stop,) = of(csms, identity, "StopTransaction")
        assert stop["transactionId"] == csms.transaction_ids[0]
        assert stop["reason"] == "EVDisconnected"
    else:
        events = of(csms, identity, "TransactionEvent")
        assert [e["eventType"] for e in events] == ["Started", "Ended"]
        assert [e["offline"] for e in events] == [True, True]
        assert events[1]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    all_frames_valid(csms, identity, version)


async def test_a_start_the_csms_keeps_failing_is_retried_then_dropped_as_a_finding(
    csms: RecordingCsms, version: str, sink: ListSink
):
    identity = "CP-RETRY"
    start_action = "StartTransaction" if version == "1.6" else "TransactionEvent"
    csms.answers[start_action] = Answer.with_error("InternalError")
    async with running(spec_for(csms.url, version, identity), sink, FAST_METER) as station:
        await booted(station)
        configure(station, meter_interval=0, attempts=2, retry_interval=1)
        connector = station.connector()
        await station.plug(connector)
        await station.present_tag("TAG-X", connector)
        await eventually(lambda: not station.queue, timeout=4)
        tries = csms.hits(identity, start_action)
        assert len(tries) == 2  # TransactionMessageAttempts / MessageAttempts
        assert tries[1].at - tries[0].at >= 0.9  # RetryInterval x 1 before the retry
        findings = [f.finding or "" for f in sink.findings()]
        assert any("dropped after 2 attempts" in f for f in findings), findings
        assert station.findings >= 3  # two CALLERRORs and the drop

        del csms.answers[start_action]  # the CSMS is fixed
        await station.present_tag("TAG-X", connector)
        await eventually(lambda: not station.queue and not station.transactions)

    if version == "1.6":
        (stop,) = of(csms, identity, "StopTransaction")
        assert stop["transactionId"] == -1  # no id was ever received (errata §3.18)
    else:
        (ended,) = of(csms, identity, "TransactionEvent", "Ended")
        assert ended["seqNo"] == 1  # the dropped Started had 0
    all_frames_valid(csms, identity, version)


async def test_a_transaction_whose_last_message_is_dropped_does_not_stay_open(
    csms: RecordingCsms, version: str
):
    identity = "CP-DROPEND"
    async with running(spec_for(csms.url, version, identity), options=FAST_METER) as station:
        await booted(station)
        configure(station, meter_interval=0, attempts=1, retry_interval=0)
        connector = station.connector()
        await station.plug(connector)
        await station.present_tag("TAG-Z", connector)
        await eventually(lambda: not station.queue)
        csms.answers["StopTransaction" if version == "1.6" else "TransactionEvent"] = (
            Answer.with_error("GenericError")
        )
        await station.present_tag("TAG-Z", connector)
        await eventually(lambda: not station.queue)

        assert station.transactions == {}
        (summary,) = station.transactions_view()
        assert summary["status"] == "Ended"
        assert station.findings == 2  # the CALLERROR and the drop
    all_frames_valid(csms, identity, version)
