"""A restart of voltlab keeps its OCPI bundles working: the chargers come back to the
built-in CSMS with their passwords, the CPO's hooks decide again, tokens and peers stay."""

from __future__ import annotations

import httpx
import pytest

from support.live import LiveServer, eventually, token
from support.ocpi import create_bundle
from voltlab.settings import Settings

pytestmark = pytest.mark.timeout(90)


async def _booted(client: httpx.AsyncClient, cpo_id: str) -> list[dict]:
    page = (await client.get(f"/ocpp/chargers?ocpi_cpo_id={cpo_id}&limit=100")).json()
    rows = page["data"]
    if rows and all(r["runtime"]["boot_status"] == "Accepted" for r in rows):
        return rows
    return []


async def test_bundles_survive_a_restart_and_keep_deciding(settings: Settings) -> None:
    headers = {"Authorization": f"Bearer {token()}"}
    first = LiveServer(settings)
    async with first as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as client:
            cpo = await create_bundle(client, "small-urban-ac")
            emsp = await create_bundle(client, "emsp-basic", role="emsp")
            connected = await client.post(
                f"/ocpi/cpos/{emsp['cpo_id']}/connect",
                json={"versions_url": cpo["ocpi_peer_url"], "token": cpo["token_a"]},
            )
            assert connected.status_code == 200, connected.text
            await eventually(lambda: _booted(client, cpo["cpo_id"]), timeout=20)
            tokens = (await client.get(f"/ocpi/cpos/{emsp['cpo_id']}/tokens")).json()["data"]
            never = next(t for t in tokens if t["whitelist"] == "NEVER" and t["valid"])

    # Same database, same port: the stored charger URLs and peer URLs are valid again.
    async with (
        LiveServer(settings, port=port) as base_url,
        httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as client,
    ):
        chargers = await eventually(lambda: _booted(client, cpo["cpo_id"]), timeout=30)
        peers = (await client.get(f"/ocpi/cpos/{cpo['cpo_id']}/peers")).json()["data"]
        assert [p["status"] for p in peers] == ["CONNECTED"]

        answer = await client.post(
            "/ocpp/commands/authorize-id-tag",
            json={
                "target": {"charger_id": chargers[0]["id"]},
                "event": {"id_tag": never["uid"]},
            },
        )
        assert answer.status_code == 202, answer.text

        async def decided() -> list[dict]:
            log = await client.get(
                f"/ocpi/cpos/{cpo['cpo_id']}/authorizations?token_uid={never['uid']}"
            )
            return log.json()["data"]

        rows = await eventually(decided, timeout=15)
        assert rows[0]["path"] == "realtime"
        assert rows[0]["ocpi_allowed"] == "ALLOWED"
        assert rows[0]["ocpp_status"] == "Accepted"
