from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from support.live import Voltlab


@pytest.fixture
def client(voltlab: Voltlab) -> httpx.AsyncClient:
    """A user of tenant ``acme``."""
    return voltlab.client


@pytest.fixture
async def globex(voltlab: Voltlab) -> AsyncIterator[httpx.AsyncClient]:
    """A user of another tenant, ``globex``."""
    async with voltlab.client_for("globex") as other:
        yield other


@pytest.fixture
async def location_id(client: httpx.AsyncClient) -> str:
    response = await client.post("/ocpp/locations", json={"name": "Depot"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
