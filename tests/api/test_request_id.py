"""Every response carries X-Request-ID: the caller's when it is safe, else a new one."""

from __future__ import annotations

import uuid

import httpx
import pytest

from support.live import LiveServer, Voltlab
from voltlab.settings import Settings


async def test_a_callers_request_id_is_echoed(client: httpx.AsyncClient):
    response = await client.get("/ocpp/locations", headers={"X-Request-ID": "trace-42.a:b_c"})

    assert response.headers["X-Request-ID"] == "trace-42.a:b_c"


async def test_a_request_id_is_generated_when_none_is_sent(client: httpx.AsyncClient):
    first = await client.get("/ocpp/locations")
    second = await client.get("/ocpp/locations")

    uuid.UUID(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "unsafe", ["x" * 129, "has space", "semi;colon", "<script>", 'quote"d', "ünïcode"]
)
async def test_an_unsafe_request_id_is_replaced(client: httpx.AsyncClient, unsafe: str):
    response = await client.get("/ocpp/locations", headers={"X-Request-ID": unsafe.encode()})

    echoed = response.headers["X-Request-ID"]
    assert echoed != unsafe
    uuid.UUID(echoed)


@pytest.mark.parametrize("path", ["/health", "/ocpp/locations/unknown", "/no-such-route"])
async def test_errors_and_unauthenticated_routes_carry_a_request_id_too(
    voltlab: Voltlab, path: str
):
    async with httpx.AsyncClient(base_url=voltlab.base_url, timeout=10) as anonymous:
        response = await anonymous.get(path, headers={"X-Request-ID": "abc-123"})
        unauthorized = await anonymous.get("/ocpp/chargers", headers={"X-Request-ID": "abc-124"})

    assert response.headers["X-Request-ID"] == "abc-123"
    assert unauthorized.status_code == 401
    assert unauthorized.headers["X-Request-ID"] == "abc-124"


async def test_a_500_names_its_request_id_in_the_body_and_the_header(settings: Settings):
    live = LiveServer(settings)

    async def boom() -> None:
        raise RuntimeError("a bug")

    live.app.add_api_route("/boom", boom)
    async with live as base_url, httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        echoed = await client.get("/boom", headers={"X-Request-ID": "req-500"})
        replaced = await client.get("/boom", headers={"X-Request-ID": "not safe"})

    assert echoed.status_code == 500
    assert echoed.json() == {"detail": "internal error", "request_id": "req-500"}
    assert echoed.headers["X-Request-ID"] == "req-500"
    assert replaced.json()["request_id"] == replaced.headers["X-Request-ID"] != "not safe"
