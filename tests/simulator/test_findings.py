"""A CSMS that answers wrongly or not at all: the station notes a finding and goes on."""

from __future__ import annotations

import pytest

from support.csms import Answer, RecordingCsms
from support.frames import ListSink
from support.live import Voltlab, eventually
from support.stations import running, spec_for

WRONG_ANSWERS = {
    # currentTime must be a date-time string
    "invalid": Answer.with_payload({"currentTime": 42}),
    "callerror": Answer.with_error("InternalError"),
    "silence": Answer.silence(),
}
WHAT_THE_FINDING_SAYS = {
    "invalid": "invalid Heartbeat",
    "callerror": "CALLERROR",
    "silence": "no answer",
}


@pytest.mark.parametrize("wrong", list(WRONG_ANSWERS))
async def test_a_wrong_heartbeat_answer_is_a_finding_not_a_crash(
    csms: RecordingCsms, version: str, wrong: str
):
    csms.boot_interval = 1
    csms.answers["Heartbeat"] = WRONG_ANSWERS[wrong]
    sink = ListSink()
    async with running(spec_for(csms.url, version, "CP-HB"), sink) as station:
        await eventually(lambda: station.findings >= 1, timeout=5)
        assert station.snapshot().connection == "connected"
        assert station.connects == 1  # the socket stayed up

    (finding,) = sink.findings()[:1]
    assert finding.action == "Heartbeat"
    assert finding.direction == "csms_to_cp"
    assert WHAT_THE_FINDING_SAYS[wrong] in (finding.finding or "")
    assert station.snapshot().findings == len(sink.findings())


@pytest.mark.parametrize("wrong", list(WRONG_ANSWERS))
async def test_a_wrong_boot_answer_is_a_finding_and_the_boot_is_tried_again(
    csms: RecordingCsms, version: str, wrong: str
):
    csms.answers["BootNotification"] = WRONG_ANSWERS[wrong]
    sink = ListSink()
    async with running(spec_for(csms.url, version, "CP-BF"), sink) as station:
        await eventually(lambda: station.findings >= 1, timeout=5)
        assert station.boot_status is None
        # Nothing but BootNotification until the CSMS accepts the charger.
        assert set(csms.actions("CP-BF")) == {"BootNotification"}

        del csms.answers["BootNotification"]  # the CSMS is fixed
        await csms.wait_for("CP-BF", "StatusNotification")
        assert station.boot_status == "Accepted"

    assert sink.findings()[0].action == "BootNotification"
    assert "BootNotification" in (sink.findings()[0].finding or "")


async def test_a_csms_that_ignores_the_subprotocol_is_a_finding():
    """A CSMS that accepts the socket but picks no OCPP subprotocol."""
    from websockets.asyncio.server import serve

    async def handler(conn) -> None:
        await conn.wait_closed()

    server = await serve(handler, "127.0.0.1", 0)  # offers no subprotocol
    port = server.sockets[0].getsockname()[1]
    sink = ListSink()
    try:
        async with running(spec_for(f"ws://127.0.0.1:{port}", "1.6", "CP-SUB"), sink) as station:
            await eventually(lambda: station.findings >= 1)
            assert "subprotocol" in (station.last_error or "")
            assert station.connects == 0
    finally:
        server.close()
        await server.wait_closed()
    assert sink.findings()[0].action == "Connect"


async def test_findings_are_counted_in_the_runtime_and_flagged_in_the_frame_log(
    voltlab: Voltlab, csms: RecordingCsms, version: str
):
    csms.boot_interval = 1
    csms.answers["Heartbeat"] = Answer.with_error("InternalError")
    created = await voltlab.client.post(
        "/ocpp/chargers",
        json={
            "identity": "CP-FIND",
            "brand_slug": "abb",
            "model_slug": "terra-184",
            "connector_type": "CCS2",
            "ws_url": csms.url,
            "ocpp_version": "OCPP1.6" if version == "1.6" else "OCPP2.0.1",
            "location_name": "Depot",
        },
    )
    assert created.status_code == 202, created.text
    charger_id = created.json()["charger_id"]

    async def runtime_findings() -> int:
        charger = (await voltlab.client.get(f"/ocpp/chargers/{charger_id}")).json()
        return int(charger["runtime"]["findings"])

    await eventually(runtime_findings, timeout=5)

    async def flagged() -> list[dict]:
        logs = await voltlab.client.get(f"/ocpp/chargers/{charger_id}/logs")
        assert logs.status_code == 200, logs.text
        return [e for e in logs.json()["data"] if e["finding"]]

    entries = await eventually(flagged, timeout=5)
    assert entries[0]["action"] == "Heartbeat"
    assert "CALLERROR InternalError" in entries[0]["finding"]
    charger = (await voltlab.client.get(f"/ocpp/chargers/{charger_id}")).json()
    assert charger["runtime"]["connection"] == "connected"
