"""The credentials handshake between two bundles of one voltlab, both directions, and
what the tokens open afterwards."""

from __future__ import annotations

import base64

import pytest

from support.live import Voltlab, eventually
from support.ocpi import create_bundle, ocpi_client

pytestmark = pytest.mark.timeout(60)


async def test_an_emsp_bundle_connects_to_a_cpo_bundle_and_pages_its_locations(
    voltlab: Voltlab,
) -> None:
    client = voltlab.client
    cpo = await create_bundle(client, "small-urban-ac")
    emsp = await create_bundle(client, "emsp-basic", role="emsp")

    connected = await client.post(
        f"/ocpi/cpos/{emsp['cpo_id']}/connect",
        json={"versions_url": cpo["ocpi_peer_url"], "token": cpo["token_a"]},
    )
    assert connected.status_code == 200, connected.text
    peer = connected.json()
    assert peer["status"] == "CONNECTED"
    assert peer["party"] == {"country_code": "NL", "party_id": "CPO", "role": "CPO"}

    cpo_peers = (await client.get(f"/ocpi/cpos/{cpo['cpo_id']}/peers")).json()["data"]
    assert [p["party"]["party_id"] for p in cpo_peers] == ["EMS"]
    assert cpo_peers[0]["initiated_by"] == "them"

    # Token A died with the handshake.
    async with ocpi_client(cpo["token_a"]) as ocpi:
        refused = await ocpi.get(cpo["ocpi_peer_url"])
    assert refused.status_code == 401
    assert refused.json()["status_code"] == 2000

    # The eMSP's token C (the one it stored for the CPO) opens the CPO's locations.
    emsp_peers = (await client.get(f"/ocpi/cpos/{emsp['cpo_id']}/peers")).json()["data"]
    locations_url = next(
        e["url"] for e in emsp_peers[0]["endpoints"] if e["identifier"] == "locations"
    )
    token_c = await _token_theirs(voltlab, int(emsp["cpo_id"]))
    encoded = base64.b64encode(token_c.encode()).decode()
    async with ocpi_client(encoded) as ocpi:
        answer = await ocpi.get(locations_url, headers={"X-Correlation-ID": "corr-1"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Correlation-ID"] == "corr-1"
    body = answer.json()
    assert body["status_code"] == 1000
    locations = body["data"]
    assert len(locations) == 2
    assert answer.headers["X-Total-Count"] == "2"
    evses = [evse for location in locations for evse in location["evses"]]
    assert len(evses) >= 6

    # The EVSE statuses follow the chargers at the built-in CSMS: all become AVAILABLE.
    async def all_available() -> bool:
        async with ocpi_client(token_c) as ocpi:
            data = (await ocpi.get(locations_url)).json()["data"]
        return all(e["status"] == "AVAILABLE" for loc in data for e in loc["evses"])

    await eventually(all_available, timeout=15)


async def _token_theirs(voltlab: Voltlab, bundle_id: int) -> str:
    from sqlalchemy import select

    from voltlab.storage.ocpi import OcpiPeer

    async with voltlab.services.sessions() as session:
        peer = (
            await session.scalars(select(OcpiPeer).where(OcpiPeer.bundle_id == bundle_id))
        ).one()
    assert peer.token_theirs
    return peer.token_theirs


async def test_a_cpo_bundle_connects_to_an_emsp_bundle(voltlab: Voltlab) -> None:
    client = voltlab.client
    cpo = await create_bundle(client, "highway-dc")
    emsp = await create_bundle(client, "emsp-basic", role="emsp")
    connected = await client.post(
        f"/ocpi/cpos/{cpo['cpo_id']}/connect",
        json={"versions_url": emsp["ocpi_peer_url"], "token": emsp["token_a"]},
    )
    assert connected.status_code == 200, connected.text
    assert connected.json()["party"]["role"] == "EMSP"

    async def logged() -> bool:
        logs = (await client.get(f"/ocpi/cpos/{cpo['cpo_id']}/logs")).json()
        return logs["total"] >= 3

    await eventually(logged)
