"""Exploration (temporary)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from interop import harness
from interop.harness import StartPeer
from support.live import Voltlab, eventually
from support.ocpi import bundle_chargers, create_bundle

TIMEOUT_S = 120 + (0 if harness.venv_ready() else harness.INSTALL_TIMEOUT_S)
pytestmark = pytest.mark.timeout(TIMEOUT_S)


async def exchanges(voltlab: Voltlab, bundle_id: str, direction: str) -> list[dict[str, Any]]:
    answer = await voltlab.client.get(
        f"/ocpi/cpos/{bundle_id}/logs", params={"direction": direction, "limit": 1000}
    )
    assert answer.status_code == 200, answer.text
    return list(reversed(answer.json()["data"]))


async def test_explore_emsp(voltlab: Voltlab, extrawest: StartPeer) -> None:
    cpo = await create_bundle(voltlab.client, "small-urban-ac")
    peer = await extrawest("EMSP")
    print(await peer.add_token(uid="XW00000003", whitelist="NEVER"))
    answer = await peer.connect(cpo["ocpi_peer_url"], cpo["token_a"])
    assert answer.status_code == 200, answer.text

    async def cached() -> Any:
        got = (await voltlab.client.get(f"/ocpi/cpos/{cpo['cpo_id']}/tokens")).json()
        return got if got["total"] == 3 else None

    try:
        print(json.dumps(await eventually(cached, timeout=10), indent=1))
    finally:
        for e in await exchanges(voltlab, cpo["cpo_id"], "out"):
            print(json.dumps(e, indent=1)[:3000])

    async def booted() -> Any:
        rows = await bundle_chargers(voltlab.client, cpo["cpo_id"])
        return rows if all(r["runtime"]["boot_status"] == "Accepted" for r in rows) else None

    chargers = await eventually(booted, timeout=20)
    for i, tag in enumerate(["XW00000003", "XWUNKNOWN01", "XW00000001"]):
        r = await voltlab.client.post(
            "/ocpp/commands/authorize-id-tag",
            json={"target": {"charger_id": chargers[i]["id"]}, "event": {"id_tag": tag}},
        )
        print(r.status_code, r.text)
        cid = r.json()["results"][0]["command"]["id"]

        async def done(cid: str = cid) -> Any:
            rec = (await voltlab.client.get(f"/ocpp/commands/{cid}")).json()
            return rec if rec["status"] in ("succeeded", "failed") else None

        print(json.dumps(await eventually(done, timeout=15), indent=1))
    log = (await voltlab.client.get(f"/ocpi/cpos/{cpo['cpo_id']}/authorizations")).json()
    print(json.dumps(log, indent=1))
    for e in (await exchanges(voltlab, cpo["cpo_id"], "out"))[-2:]:
        print(json.dumps(e, indent=1)[:3000])
    print(json.dumps((await peer.state())["authorize_calls"], indent=1))
    print(json.dumps((await peer.state())["requests"][-3:], indent=1))
    raise AssertionError("show")


async def test_explore_link(voltlab: Voltlab, extrawest: StartPeer) -> None:
    import time

    cpo = await create_bundle(voltlab.client, "small-urban-ac")
    peer = await extrawest("EMSP")
    await peer.add_token(uid="XW00000003", whitelist="NEVER")
    print(await peer.configure(max_page_size=2))
    t0 = time.monotonic()
    answer = await peer.connect(cpo["ocpi_peer_url"], cpo["token_a"])
    assert answer.status_code == 200, answer.text
    import asyncio

    await asyncio.sleep(3)
    got = (await voltlab.client.get(f"/ocpi/cpos/{cpo['cpo_id']}/tokens")).json()
    print(got["total"])
    for e in (await exchanges(voltlab, cpo["cpo_id"], "out"))[2:]:
        print(json.dumps(e, indent=1)[:1500])
    t1 = time.monotonic()
    pulled = await voltlab.client.post(f"/ocpi/cpos/{cpo['cpo_id']}/tokens/pull")
    print(time.monotonic() - t1, pulled.status_code, pulled.text, t1 - t0)
    state = await peer.state()
    print(json.dumps(state["requests"][-4:], indent=1))
    raise AssertionError("show")


async def test_explore_cpo(voltlab: Voltlab, extrawest: StartPeer) -> None:
    emsp = await create_bundle(voltlab.client, "emsp-basic", role="emsp")
    peer = await extrawest("CPO")
    connected = await voltlab.client.post(
        f"/ocpi/cpos/{emsp['cpo_id']}/connect",
        json={"versions_url": peer.versions_url, "token": peer.token_a},
    )
    assert connected.status_code == 200, connected.text
    created = await voltlab.client.post(
        f"/ocpi/cpos/{emsp['cpo_id']}/tokens",
        json={"uid": "VLTEST0001", "whitelist": "ALLOWED_OFFLINE", "visual_number": "VL 1"},
    )
    print(created.status_code, created.text)
    import asyncio

    await asyncio.sleep(1)
    print(json.dumps((await peer.state())["tokens_pushed"], indent=1))
    up = await voltlab.client.put(
        f"/ocpi/cpos/{emsp['cpo_id']}/tokens/VLTEST0001", json={"whitelist": "NEVER"}
    )
    print(up.status_code, up.text)
    await asyncio.sleep(1)
    print(json.dumps((await peer.state())["tokens_pushed"], indent=1))
    de = await voltlab.client.delete(f"/ocpi/cpos/{emsp['cpo_id']}/tokens/VLTEST0001")
    print(de.status_code, de.text)
    await asyncio.sleep(1)
    state = await peer.state()
    print(json.dumps(state["tokens_pushed"], indent=1))
    for e in (await exchanges(voltlab, emsp["cpo_id"], "out"))[3:]:
        print(json.dumps(e, indent=1)[:1500])
    [party] = state["parties"]
    print(json.dumps(party["endpoints"], indent=1))
    url = next(
        e["url"]
        for e in party["endpoints"]
        if e["identifier"] == "tokens" and e["role"] == "SENDER"
    )
    f = await peer.fetch(url, params={"limit": 2}, parse="tokens")
    print(json.dumps(f, indent=1)[:4000])
    f = await peer.fetch(
        f"{url}/VLTEST0001/authorize",
        method="POST",
        json={"location_id": "XWLOC1", "evse_uids": ["XWLOC1-1"]},
        parse="authorization_info",
    )
    print(json.dumps(f, indent=1)[:4000])
    raise AssertionError("show")
