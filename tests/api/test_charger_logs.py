"""GET /ocpp/chargers/{id}/logs: every OCPP frame, newest first, with filters and paging."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from support.csms import RecordingCsms
from support.live import Voltlab, eventually
from tests.api.helpers import create_charger, error_locs
from voltlab.storage.models import FrameLog

CALL, CALLRESULT = 2, 3
# OCPP 1.6 boots, then reports connector 0 (the whole charger) and both connectors.
STATUSES = 3


@pytest.fixture
async def booted(client: httpx.AsyncClient, csms: RecordingCsms) -> str:
    """A charger whose boot and status frames are in the log."""
    charger_id = await create_charger(client, "CP-LOG", ws_url=csms.url)
    await csms.wait_for("CP-LOG", "StatusNotification", count=STATUSES)

    async def logged() -> bool:
        body = (await client.get(f"/ocpp/chargers/{charger_id}/logs")).json()
        actions = [(e["direction"], e["action"]) for e in body["data"]]
        return actions.count(("csms_to_cp", "StatusNotification")) == STATUSES

    await eventually(logged)
    return charger_id


async def logs(client: httpx.AsyncClient, charger_id: str, **params: object) -> dict:
    response = await client.get(f"/ocpp/chargers/{charger_id}/logs", params=params)
    assert response.status_code == 200, response.text
    body: dict = response.json()
    return body


async def test_frames_are_logged_newest_first_with_their_wire_text(
    client: httpx.AsyncClient, booted: str
):
    body = await logs(client, booted)

    entries = list(reversed(body["data"]))  # oldest first
    assert set(body) >= {"data", "total", "limit", "offset"}
    assert (body["limit"], body["offset"]) == (100, 0)
    assert body["total"] == len(entries) == 2 + 2 * STATUSES
    assert [(e["direction"], e["action"]) for e in entries[:2]] == [
        ("cp_to_csms", "BootNotification"),
        ("csms_to_cp", "BootNotification"),
    ]
    call, result = (json.loads(e["message"]) for e in entries[:2])
    assert call[0] == CALL and call[2] == "BootNotification"
    assert call[3]["chargePointVendor"] == "ABB"
    assert result[0] == CALLRESULT and result[1] == call[1]
    assert result[2]["status"] == "Accepted"
    stamps = [e["timestamp"] for e in body["data"]]
    assert stamps == sorted(stamps, reverse=True)
    assert all(stamp.endswith("Z") for stamp in stamps)


async def test_the_event_filter_keeps_one_action(client: httpx.AsyncClient, booted: str):
    body = await logs(client, booted, event="StatusNotification")

    assert body["total"] == 2 * STATUSES  # the CALLs and their CALLRESULTs
    assert {e["action"] for e in body["data"]} == {"StatusNotification"}
    assert (await logs(client, booted, event="NoSuchAction"))["data"] == []


async def test_limit_and_offset_page_through_the_frames(client: httpx.AsyncClient, booted: str):
    everything = (await logs(client, booted))["data"]

    first = await logs(client, booted, limit=2)
    second = await logs(client, booted, limit=2, offset=2)
    beyond = await logs(client, booted, offset=1000)

    assert first["data"] + second["data"] == everything[:4]
    assert first["total"] == second["total"] == len(everything)
    assert (second["limit"], second["offset"]) == (2, 2)
    assert beyond["data"] == []


async def test_the_limit_goes_up_to_1000(client: httpx.AsyncClient, booted: str):
    assert (await logs(client, booted, limit=1000))["limit"] == 1000

    response = await client.get(f"/ocpp/chargers/{booted}/logs", params={"limit": 1001})

    assert error_locs(response) == [["query", "limit"]]


async def test_start_and_end_dates_bound_the_frames(client: httpx.AsyncClient, booted: str):
    everything = (await logs(client, booted))["data"]
    now = datetime.now(UTC)
    oldest = everything[-1]["timestamp"]

    future = await logs(client, booted, start_date=(now + timedelta(hours=1)).isoformat())
    past = await logs(client, booted, end_date=(now - timedelta(hours=1)).isoformat())
    window = await logs(
        client,
        booted,
        start_date=(now - timedelta(hours=1)).isoformat(),
        end_date=(now + timedelta(hours=1)).isoformat(),
    )
    from_oldest = await logs(client, booted, start_date=oldest, event="BootNotification")

    assert future["data"] == [] and future["total"] == 0
    assert past["data"] == []
    assert window["data"] == everything
    assert from_oldest["total"] == 2


async def test_a_naive_date_is_read_as_utc(client: httpx.AsyncClient, booted: str):
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None)

    body = await logs(client, booted, start_date=an_hour_ago.isoformat())

    assert body["total"] >= 6


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2026-13-01T00:00:00Z"}, "end_date"),
        ({"start_date": "0001-01-01T00:00:00+01:00"}, "start_date"),
        ({"end_date": "9999-12-31T23:59:59-01:00"}, "end_date"),
        ({"event": "x" * 65}, "event"),
        ({"event": "Boot\x00Notification"}, "event"),
    ],
)
async def test_a_bad_logs_query_is_422_naming_the_parameter(
    client: httpx.AsyncClient, params: dict, field: str
):
    charger_id = await create_charger(client, "CP-1")

    response = await client.get(f"/ocpp/chargers/{charger_id}/logs", params=params)

    assert error_locs(response) == [["query", field]]


async def test_a_new_charger_that_never_connected_has_an_empty_log(client: httpx.AsyncClient):
    charger_id = await create_charger(client, "CP-1")

    body = await logs(client, charger_id)

    assert (body["data"], body["total"]) == ([], 0)


async def test_logs_of_an_unknown_charger_are_404(client: httpx.AsyncClient):
    response = await client.get("/ocpp/chargers/nope/logs")

    assert response.status_code == 404


async def test_deleting_a_charger_deletes_its_frames_and_no_other(
    voltlab: Voltlab, client: httpx.AsyncClient, csms: RecordingCsms, booted: str
):
    other = await create_charger(client, "CP-STAYS", ws_url=csms.url)
    await csms.wait_for("CP-STAYS", "BootNotification")

    async def stored(charger_id: str) -> int:
        async with voltlab.services.sessions() as session:
            query = select(func.count()).where(FrameLog.charger_id == charger_id)
            return int(await session.scalar(query) or 0)

    assert await stored(booted) >= 2 + 2 * STATUSES
    assert (await client.delete(f"/ocpp/chargers/{booted}")).status_code == 204

    async def purged() -> bool:
        return await stored(booted) == 0

    await eventually(purged, timeout=5)
    assert (await client.get(f"/ocpp/chargers/{booted}/logs")).status_code == 404
    await eventually(lambda: stored(other), timeout=5)
