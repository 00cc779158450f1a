"""Helpers for tests of OCPI bundles: create one and wait until it is READY."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from support.live import eventually


async def create_bundle(
    client: httpx.AsyncClient, template: str = "small-urban-ac", **fields: Any
) -> dict[str, Any]:
    """POST /ocpi/cpos and wait for READY; the 202 answer."""
    body = {
        "template": template,
        "country_code": "NL",
        "party_id": "CPO" if fields.get("role", "cpo") == "cpo" else "EMS",
        "name_prefix": "T",
        **fields,
    }
    response = await client.post("/ocpi/cpos", json=body)
    assert response.status_code == 202, response.text
    accepted = response.json()

    async def ready() -> bool:
        status = (await client.get(accepted["status_url"])).json()
        assert status["status"] != "FAILED", status
        return status["status"] == "READY"

    await eventually(ready, timeout=20)
    return accepted


def ocpi_client(token: str) -> httpx.AsyncClient:
    """A plain HTTP client that speaks to OCPI endpoints with ``token`` (plain, not base64)."""
    return httpx.AsyncClient(headers={"Authorization": f"Token {token}"}, timeout=10)


async def bundle_chargers(client: httpx.AsyncClient, cpo_id: str) -> list[dict[str, Any]]:
    """Every charger of a bundle, through ``GET /ocpp/chargers?ocpi_cpo_id=`` (all pages)."""
    chargers: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = await client.get(
            "/ocpp/chargers", params={"ocpi_cpo_id": cpo_id, "page": page, "limit": 100}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        chargers += body["data"]
        if not body["data"] or len(chargers) >= body["total"]:
            return chargers
        page += 1


async def stored_peer(services: Any, bundle_id: int | str) -> Any:
    """The one peer row a bundle stored (``OcpiPeer``: ``token_ours``, ``token_theirs``...)."""
    from sqlalchemy import select

    from voltlab.storage.ocpi import OcpiPeer

    async with services.sessions() as session:
        return (
            await session.scalars(select(OcpiPeer).where(OcpiPeer.bundle_id == int(bundle_id)))
        ).one()


async def stored_token_uids(services: Any, bundle_id: int | str) -> list[str]:
    """The uids of the tokens an eMSP bundle owns (its rows, in insertion order)."""
    from sqlalchemy import select

    from voltlab.storage.ocpi import OcpiToken

    async with services.sessions() as session:
        rows = await session.scalars(
            select(OcpiToken.uid)
            .where(OcpiToken.bundle_id == int(bundle_id))
            .order_by(OcpiToken.id)
        )
        return list(rows.all())


@dataclass
class Roaming:
    """A CPO bundle and an eMSP bundle of one voltlab, the eMSP connected to the CPO."""

    cpo: dict[str, Any]  # the 202 answers of POST /ocpi/cpos
    emsp: dict[str, Any]
    token_c: str  # what the eMSP calls the CPO with
    token_b: str  # what the CPO calls the eMSP with
    endpoints: dict[str, str]  # the CPO's module URLs, by identifier

    @property
    def locations_url(self) -> str:
        return self.endpoints["locations"]


async def connect_emsp_to_cpo(
    voltlab: Any, cpo: dict[str, Any] | None = None, *, template: str = "small-urban-ac"
) -> Roaming:
    """Create (unless given) a CPO bundle and an eMSP bundle, run the handshake with the eMSP
    initiating (``/connect`` with the CPO's Token A), and read the tokens both sides stored."""
    client = voltlab.client
    if cpo is None:
        cpo = await create_bundle(client, template)
    emsp = await create_bundle(client, "emsp-basic", role="emsp")
    connected = await client.post(
        f"/ocpi/cpos/{emsp['cpo_id']}/connect",
        json={"versions_url": cpo["ocpi_peer_url"], "token": cpo["token_a"]},
    )
    assert connected.status_code == 200, connected.text
    peer = connected.json()
    endpoints = {e["identifier"]: e["url"] for e in peer["endpoints"]}
    emsp_side = await stored_peer(voltlab.services, emsp["cpo_id"])
    cpo_side = await stored_peer(voltlab.services, cpo["cpo_id"])
    assert emsp_side.token_theirs == cpo_side.token_ours
    return Roaming(
        cpo=cpo,
        emsp=emsp,
        token_c=emsp_side.token_theirs,
        token_b=cpo_side.token_theirs,
        endpoints=endpoints,
    )
