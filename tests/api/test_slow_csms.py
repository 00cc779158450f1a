"""A slow CSMS backs up every charger's socket; the REST API must not wait for it.

Chargers of both versions charge on both outlets with a sample every second while their
CSMS takes half a second per CALL, so each one's transaction queue grows. Meanwhile the
API answers at once (it reads state, it never waits for a socket), and once the CSMS
catches up every transaction message reaches it in order with its transaction id.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import httpx
import pytest

from support.live import Voltlab, eventually
from support.slow_csms import SlowCsms
from tests.api.helpers import charger_body

pytestmark = pytest.mark.timeout(20)

CHARGERS = 8  # terra-184: two outlets each
DELAY_S = 0.5
TX_ACTIONS = ("StartTransaction", "MeterValues", "StopTransaction", "TransactionEvent")


async def _fan_out(
    client: httpx.AsyncClient, name: str, target: dict[str, Any], event: dict[str, Any]
) -> float:
    """POST a fan-out command; how long its 202 took. Every targeted charger is queued."""
    started = time.monotonic()
    response = await client.post(f"/ocpp/commands/{name}", json={"target": target, "event": event})
    took = time.monotonic() - started
    assert response.status_code == 202, response.text
    report = response.json()
    assert report["queued_count"] == report["targeted_count"] > 0, response.text
    return took


# The second outlet of a terra-184: connector 2 on 1.6, EVSE 2 on 2.0.1.
OUTLET = {"OCPP1.6": "connector_id", "OCPP2.0.1": "evse_id"}


async def _booted(client: httpx.AsyncClient, charger_id: str) -> bool:
    runtime = (await client.get(f"/ocpp/chargers/{charger_id}")).json()["runtime"]
    return runtime["connection"] == "connected" and runtime["boot_status"] == "Accepted"


def _tx_call(raw: str) -> bool:
    frame = json.loads(raw)
    return frame[0] == 2 and frame[2] in TX_ACTIONS


async def _logged(client: httpx.AsyncClient, charger_id: str, wire: list[str]) -> bool:
    response = await client.get(f"/ocpp/chargers/{charger_id}/logs", params={"limit": 1000})
    assert response.status_code == 200, response.text
    entries = response.json()["data"]  # newest first
    sent = [e["message"] for e in reversed(entries) if e["direction"] == "cp_to_csms"]
    return [raw for raw in sent if _tx_call(raw)] == wire


def _check_in_order(version: str, received: list[tuple[str, dict[str, Any]]], ids: list[int]):
    """Each outlet's transaction: start, every sample, stop; with its own transaction id."""
    if version == "OCPP1.6":
        starts = [p for a, p in received if a == "StartTransaction"]
        assert len(starts) == 2 == len(ids)
        id_of = {s["connectorId"]: tid for s, tid in zip(starts, ids, strict=True)}
        samples = [p for a, p in received if a == "MeterValues"]
        assert {p["connectorId"] for p in samples} == {1, 2}
        assert all(p["transactionId"] == id_of[p["connectorId"]] for p in samples), samples
        for connector_id, tid in id_of.items():
            mine = [
                a
                for a, p in received
                if p.get("connectorId") == connector_id or p.get("transactionId") == tid
            ]
            assert mine[0] == "StartTransaction" and mine[-1] == "StopTransaction", mine
            assert set(mine[1:-1]) == {"MeterValues"}, mine
        return
    events = [p for a, p in received if a == "TransactionEvent"]
    keys = {e["transactionInfo"]["transactionId"] for e in events}
    assert len(keys) == 2
    for key in keys:
        mine = [e for e in events if e["transactionInfo"]["transactionId"] == key]
        assert [e["seqNo"] for e in mine] == list(range(len(mine)))
        assert mine[0]["eventType"] == "Started" and mine[-1]["eventType"] == "Ended"
        assert any(e["eventType"] == "Updated" for e in mine[1:-1])


async def test_the_api_answers_at_once_while_a_slow_csms_backs_up_every_chargers_socket(
    voltlab: Voltlab, client: httpx.AsyncClient, location_id: str
):
    csms = await SlowCsms(boot_interval=60).start()
    try:
        chargers: dict[str, tuple[str, str]] = {}  # identity -> (charger id, version)
        for n in range(CHARGERS):
            identity, version = f"CP-SLOW-{n}", ("OCPP1.6", "OCPP2.0.1")[n % 2]
            body = charger_body(
                identity,
                csms.url,
                location_id=location_id,
                ocpp_version=version,
                meter_interval_s=1,
            )
            response = await client.post("/ocpp/chargers", json=body)
            assert response.status_code == 202, response.text
            chargers[identity] = (response.json()["charger_id"], version)
        for charger_id, _ in chargers.values():
            await eventually(lambda cid=charger_id: _booted(client, cid), timeout=10)
        fleet = voltlab.services.fleet
        stations = [s for cid, _ in chargers.values() if (s := fleet.station(cid)) is not None]
        assert len(stations) == CHARGERS

        by_version = {
            version: [cid for cid, v in chargers.values() if v == version] for version in OUTLET
        }

        async def on_every_outlet(name: str) -> None:
            for version, key in OUTLET.items():
                target = {"location_id": location_id, "charger_ids": by_version[version]}
                for outlet in (1, 2):
                    tag = {"id_tag": f"TAG-{outlet}"} if name == "start-session" else {}
                    took = await _fan_out(client, name, target, {key: outlet, **tag})
                    assert took < 1.0, f"the 202 waited for the chargers: {took:.2f}s"

        csms.delay_s = DELAY_S
        await on_every_outlet("start-session")
        # Backed up: every charger has transaction messages waiting for the slow CSMS.
        await eventually(lambda: all(len(s.queue) >= 3 for s in stations), timeout=10)

        some_id = next(iter(chargers.values()))[0]
        paths = [
            "/health",
            f"/ocpp/chargers?location_id={location_id}&limit=50",
            f"/ocpp/chargers/{some_id}",
            f"/ocpp/chargers/{some_id}/transactions",
            f"/ocpp/chargers/{some_id}/logs?limit=200",
            f"/ocpp/locations/{location_id}/chargers",
        ]
        latencies: list[tuple[float, str]] = []
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            for path in paths:
                started = time.monotonic()
                response = await client.get(path)
                latencies.append((time.monotonic() - started, path))
                assert response.status_code == 200, (path, response.text)
        # Still backed up after the measurement: the answers did not wait for a drain.
        assert sum(len(s.queue) for s in stations) >= CHARGERS
        slowest = max(latencies)
        assert slowest[0] < DELAY_S, f"{slowest[1]} took {slowest[0]:.3f}s"
        assert statistics.median(t for t, _ in latencies) < 0.1
        assert len(latencies) >= 3 * len(paths)

        csms.delay_s = 0.0  # the CSMS catches up; every session is stopped
        await on_every_outlet("stop-session")
        await eventually(
            lambda: all(not s.transactions and not s.queue for s in stations),
            timeout=15,
        )
        for identity, (charger_id, _) in chargers.items():
            runtime = (await client.get(f"/ocpp/chargers/{charger_id}")).json()["runtime"]
            assert runtime["findings"] == 0, runtime  # slow, not silent: no timeout, no drop
            assert runtime["connects"] == 1, runtime
            # The frame log holds what the CSMS got, in the same order.
            wire = [raw for raw in csms.frames[identity] if _tx_call(raw)]
            await eventually(lambda cid=charger_id, w=wire: _logged(client, cid, w), timeout=5)
    finally:
        await csms.stop()

    # The 1.6 transaction ids, by charger, as the CSMS handed them out.
    ids_by_identity: dict[str, list[int]] = {}
    for identity, transaction_id in zip(_starts(csms), csms.transaction_ids, strict=True):
        ids_by_identity.setdefault(identity, []).append(transaction_id)
    for identity, (_, version) in chargers.items():
        received = [(a, p) for a, p in csms.calls(identity) if a in TX_ACTIONS]
        _check_in_order(version, received, ids_by_identity.get(identity, []))


def _starts(csms: SlowCsms) -> list[str]:
    """The identity of each StartTransaction in the order the CSMS answered them, which
    is the order it handed out transaction ids in (both happen in one handler call)."""
    starts = [
        (received.at, identity)
        for identity, calls in csms.received.items()
        for received in calls
        if received.action == "StartTransaction"
    ]
    return [identity for _, identity in sorted(starts)]
