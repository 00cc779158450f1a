"""Small builders and waits shared by the REST API tests."""

from __future__ import annotations

from typing import Any

import httpx

from support.live import eventually

# Nothing listens on the discard port: a charger pointed here keeps reconnecting cheaply.
CLOSED_PORT_URL = "ws://127.0.0.1:9/ocpp"


def charger_body(identity: str, ws_url: str = CLOSED_PORT_URL, **fields: Any) -> dict[str, Any]:
    """A valid ``POST /ocpp/chargers`` body (ABB Terra 184, CCS2, OCPP 1.6)."""
    body: dict[str, Any] = {
        "identity": identity,
        "brand_slug": "abb",
        "model_slug": "terra-184",
        "connector_type": "CCS2",
        "ws_url": ws_url,
        "ocpp_version": "OCPP1.6",
    }
    if "location_id" not in fields:
        body["location_name"] = "Depot"
    body.update(fields)
    return body


def template(ws_url: str = CLOSED_PORT_URL, **fields: Any) -> dict[str, Any]:
    """A valid bulk-create template (ABB Terra 184, CCS2, OCPP 1.6)."""
    return {
        "brand_slug": "abb",
        "model_slug": "terra-184",
        "connector_type": "CCS2",
        "ocpp_version": "OCPP1.6",
        "ws_url": ws_url,
        **fields,
    }


async def create_charger(client: httpx.AsyncClient, identity: str, **fields: Any) -> str:
    """Create a charger, wait until it is READY; its id."""
    response = await client.post("/ocpp/chargers", json=charger_body(identity, **fields))
    assert response.status_code == 202, response.text
    charger_id: str = response.json()["charger_id"]
    await wait_status(client, charger_id, "READY")
    return charger_id


async def wait_status(client: httpx.AsyncClient, charger_id: str, status: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        body = (await client.get(f"/ocpp/chargers/{charger_id}/status")).json()
        return body if body["status"] == status else None

    result: dict[str, Any] = await eventually(reached)
    return result


async def runtime(client: httpx.AsyncClient, charger_id: str) -> dict[str, Any]:
    response = await client.get(f"/ocpp/chargers/{charger_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["runtime"]
    return result


def error_locs(response: httpx.Response) -> list[list[Any]]:
    """The ``loc`` of every error in a 422 answer."""
    assert response.status_code == 422, response.text
    return [error["loc"] for error in response.json()["detail"]]
