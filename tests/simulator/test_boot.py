"""Boot of a station (OCPP 1.6 §4.2, 2.0.1 B01-B03) against a real CSMS on loopback."""

from __future__ import annotations

import asyncio
import base64

from support.csms import RecordingCsms
from support.frames import ListSink
from support.live import eventually
from support.stations import running, spec_for


def _boot_strings(version: str, payload: dict) -> tuple[str, str]:
    if version == "1.6":
        return payload["charge_point_vendor"], payload["charge_point_model"]
    station = payload["charging_station"]
    return station["vendor_name"], station["model"]


async def test_an_accepted_charger_reports_every_connector_then_heartbeats_at_the_csms_interval(
    csms: RecordingCsms, version: str
):
    csms.boot_interval = 1  # the spec's own 60 s must give way to the CSMS's interval
    spec = spec_for(csms.url, version, "CP-BOOT", brand="alfen", model="eve-double-pro-line")
    async with running(spec) as station:
        heartbeat = (await csms.wait_for("CP-BOOT", "Heartbeat"))[0]
        snapshot = station.snapshot()

    assert csms.paths["CP-BOOT"] == "/ocpp/CP-BOOT"
    assert csms.offered_subprotocols["CP-BOOT"] == spec.subprotocol
    assert spec.subprotocol == {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}[version]
    assert csms.auth_headers["CP-BOOT"] is None  # no password, no Basic auth

    actions = csms.actions("CP-BOOT")
    statuses = csms.hits("CP-BOOT", "StatusNotification")
    if version == "1.6":  # connector 0 is the charge point itself
        assert actions[:5] == ["BootNotification"] + ["StatusNotification"] * 3 + ["Heartbeat"]
        assert sorted(s.payload["connector_id"] for s in statuses) == [0, 1, 2]
        assert {s.payload["status"] for s in statuses} == {"Available"}
        assert {s.payload["error_code"] for s in statuses} == {"NoError"}
    else:
        assert actions[:4] == ["BootNotification"] + ["StatusNotification"] * 2 + ["Heartbeat"]
        assert sorted((s.payload["evse_id"], s.payload["connector_id"]) for s in statuses) == [
            (1, 1),
            (2, 1),
        ]
        assert {s.payload["connector_status"] for s in statuses} == {"Available"}

    boot = csms.hits("CP-BOOT", "BootNotification")[0]
    assert _boot_strings(version, boot.payload) == ("Alfen BV", "Eve Double Pro-line")

    # Heartbeat after the CSMS's 1 s interval without traffic, not before, not much later.
    idle = heartbeat.at - statuses[-1].at
    assert 0.9 <= idle <= 2.5, idle
    assert station.heartbeat_interval_s == 1
    assert snapshot.boot_status == "Accepted"
    assert snapshot.connection == "connected"
    assert snapshot.connects == 1
    assert snapshot.findings == 0


async def test_the_csms_interval_is_the_heartbeat_setting_and_survives_other_changes(
    csms: RecordingCsms, version: str
):
    csms.boot_interval = 7
    spec = spec_for(csms.url, version, "CP-HBKEY")
    meter_key = (
        "MeterValueSampleInterval" if version == "1.6" else "SampledDataCtrlr.TxUpdatedInterval"
    )
    heartbeat_key = "HeartbeatInterval" if version == "1.6" else "OCPPCommCtrlr.HeartbeatInterval"
    async with running(spec) as station:
        await csms.wait_for("CP-HBKEY", "StatusNotification")
        assert station.heartbeat_interval_s == 7
        # The CSMS reads back the interval it gave (a real charger stores it).
        values, unknown = station.get_configuration([heartbeat_key])
        assert (values[0]["value"], unknown) == ("7", [])
        # Another setting changes: the interval stays the CSMS's, not the default.
        assert station.set_configuration(meter_key, "15")[0] == "Accepted"
        assert station.heartbeat_interval_s == 7


async def test_a_pending_charger_answers_the_csms_and_boots_again_after_the_interval(
    csms: RecordingCsms, version: str
):
    csms.boot_status, csms.boot_interval = "Pending", 1
    async with running(spec_for(csms.url, version, "CP-PEND")) as station:
        first = (await csms.wait_for("CP-PEND", "BootNotification"))[0]
        await eventually(lambda: station.boot_status == "Pending")

        answer = await csms.call("CP-PEND", "FooBar", {}, timeout=0.5)
        assert answer is not None, "a Pending charger must answer the CSMS"
        assert answer.error_code == "NotImplemented"

        csms.boot_status = "Accepted"
        second = (await csms.wait_for("CP-PEND", "BootNotification", count=2))[1]
        await csms.wait_for("CP-PEND", "StatusNotification")
        assert station.boot_status == "Accepted"

    assert second.at - first.at >= 0.95
    # Nothing but BootNotification before Accepted.
    assert csms.actions("CP-PEND")[:2] == ["BootNotification", "BootNotification"]
    assert station.findings == 0


async def test_a_boot_the_csms_triggers_while_pending_takes_its_answer(
    csms: RecordingCsms, version: str
):
    """Pending for 30 s, then the CSMS triggers a BootNotification: its answer counts.
    Pending with 1 s: the next boot comes a second later, not after the 30 s; then
    Accepted: statuses follow, and no boot is sent after that."""
    csms.boot_status, csms.boot_interval = "Pending", 30
    trigger = {"requestedMessage": "BootNotification"}
    async with running(spec_for(csms.url, version, "CP-TRIG")) as station:
        await eventually(lambda: station.boot_status == "Pending")

        csms.boot_interval = 1
        answer = await csms.call("CP-TRIG", "TriggerMessage", trigger)
        assert answer is not None and answer.payload["status"] == "Accepted"
        boots = await csms.wait_for("CP-TRIG", "BootNotification", count=2)
        csms.boot_status = "Accepted"
        third = (await csms.wait_for("CP-TRIG", "BootNotification", count=3, timeout=5))[2]
        assert 0.9 <= third.at - boots[1].at <= 3  # the triggered answer's 1 s, not 30 s
        await csms.wait_for("CP-TRIG", "StatusNotification")
        assert station.boot_status == "Accepted"

        # Accepted now: a further trigger is refused, and nothing boots again.
        answer = await csms.call("CP-TRIG", "TriggerMessage", trigger)
        assert answer is not None and answer.payload["status"] == "Rejected"
        await asyncio.sleep(1.2)
    assert len(csms.hits("CP-TRIG", "BootNotification")) == 3
    assert station.findings == 0


async def test_a_boot_the_csms_triggers_and_accepts_ends_the_pending_wait(
    csms: RecordingCsms, version: str
):
    csms.boot_status, csms.boot_interval = "Pending", 1
    async with running(spec_for(csms.url, version, "CP-TRIG2")) as station:
        await eventually(lambda: station.boot_status == "Pending")
        csms.boot_status, csms.boot_interval = "Accepted", 60
        answer = await csms.call(
            "CP-TRIG2", "TriggerMessage", {"requestedMessage": "BootNotification"}
        )
        assert answer is not None and answer.payload["status"] == "Accepted"
        await csms.wait_for("CP-TRIG2", "StatusNotification")
        assert station.boot_status == "Accepted"
        await asyncio.sleep(1.5)  # past the first Pending interval
    # The boot loop saw the acceptance: no third BootNotification once the 1 s was over.
    assert len(csms.hits("CP-TRIG2", "BootNotification")) == 2


async def test_a_rejected_charger_stays_silent_until_the_interval_is_over(
    csms: RecordingCsms, version: str
):
    csms.boot_status, csms.boot_interval = "Rejected", 1
    sink = ListSink()
    async with running(spec_for(csms.url, version, "CP-REJ"), sink) as station:
        first = (await csms.wait_for("CP-REJ", "BootNotification"))[0]
        await eventually(lambda: station.boot_status == "Rejected")

        # The charger answers nothing while Rejected, and notes the CSMS's mistake.
        assert await csms.call("CP-REJ", "FooBar", {}, timeout=0.4) is None
        assert len(csms.frames["CP-REJ"]) == 1  # only the first BootNotification
        assert station.findings == 1
        assert "Rejected" in (sink.findings()[0].finding or "")

        csms.boot_status = "Accepted"
        second = (await csms.wait_for("CP-REJ", "BootNotification", count=2))[1]
        await csms.wait_for("CP-REJ", "StatusNotification")

    assert second.at - first.at >= 0.95
    assert csms.actions("CP-REJ")[:2] == ["BootNotification", "BootNotification"]


async def test_the_rejected_interval_holds_across_a_reconnect(csms: RecordingCsms, version: str):
    csms.boot_status, csms.boot_interval = "Rejected", 1
    async with running(spec_for(csms.url, version, "CP-REJ2")) as station:
        first = (await csms.wait_for("CP-REJ2", "BootNotification"))[0]
        await eventually(lambda: station.boot_status == "Rejected")
        await csms.close("CP-REJ2")  # "communication may be closed by either side"
        await eventually(lambda: csms.handshakes["CP-REJ2"] == 2)
        csms.boot_status = "Accepted"
        second = (await csms.wait_for("CP-REJ2", "BootNotification", count=2))[1]

    assert second.at - first.at >= 0.95


async def test_an_unsupported_action_gets_not_supported_and_an_unknown_one_not_implemented(
    csms: RecordingCsms, version: str
):
    # A known action of the version that the simulator does not implement (security
    # extension / customer information), and a made-up one.
    action, payload = (
        ("ExtendedTriggerMessage", {"requestedMessage": "Heartbeat"})
        if version == "1.6"
        else ("CustomerInformation", {"requestId": 1, "report": True, "clear": False})
    )
    async with running(spec_for(csms.url, version, "CP-NI")) as station:
        await csms.wait_for("CP-NI", "StatusNotification")
        known = await csms.call("CP-NI", action, payload)
        unknown = await csms.call("CP-NI", "FooBar", {"x": 1})
        assert station.snapshot().connection == "connected"

    # OCPP-J: NotSupported for a defined action the charger lacks, NotImplemented for an
    # action the version does not define.
    for asked, answer, code in (
        (action, known, "NotSupported"),
        ("FooBar", unknown, "NotImplemented"),
    ):
        assert answer is not None
        assert answer.error_code == code
        assert asked in answer.error_description
    assert station.findings == 0


async def test_a_password_is_sent_as_http_basic_auth_with_the_identity_as_username(
    csms: RecordingCsms, version: str
):
    csms.passwords["CP-AUTH"] = "s3cret:pässword-42"
    spec = spec_for(csms.url, version, "CP-AUTH", password="s3cret:pässword-42")
    async with running(spec):
        await csms.wait_for("CP-AUTH", "BootNotification")

    token = base64.b64decode(csms.auth_headers["CP-AUTH"].removeprefix("Basic "))
    assert token.decode() == "CP-AUTH:s3cret:pässword-42"


async def test_a_wrong_password_keeps_the_charger_out_and_says_why(
    csms: RecordingCsms, version: str
):
    csms.passwords["CP-BAD"] = "the-right-one"
    async with running(spec_for(csms.url, version, "CP-BAD", password="wrong")) as station:
        await eventually(lambda: station.last_error and "401" in station.last_error)
        assert station.snapshot().connection != "connected"
        assert station.connects == 0
    assert csms.actions("CP-BAD") == []


def test_the_url_is_the_endpoint_then_the_identity():
    assert spec_for("ws://csms.test/ocpp", "1.6", "CP-9").url == "ws://csms.test/ocpp/CP-9"
    assert spec_for("ws://csms.test/ocpp/", "2.0.1", "CP-9").url == "ws://csms.test/ocpp/CP-9"
