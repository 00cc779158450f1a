"""Read-outs of a charger's simulated state: configuration, local list, cache, transactions."""

from __future__ import annotations

from typing import Any

from voltlab.domain.chargers.service import get
from voltlab.services import Services


async def read(services: Services, org_id: str, charger_id: str, what: str) -> Any:
    row = await get(services, org_id, charger_id)  # 404 across tenants
    await services.states.flush()  # a stopped charger's newest state is in the store
    return await services.fleet.inspect(row.id, what)


async def local_auth_list(services: Services, org_id: str, charger_id: str) -> dict[str, Any]:
    data = await read(services, org_id, charger_id, "local_auth_list")
    return {
        "list_version": data.get("version", 0),
        "max_length": data.get("max_length"),
        "entries": data.get("entries", []),
    }
