"""OCPI commands of a bundle (management API, bearer auth, tenant-scoped):

- ``POST /ocpi/cpos/{cpo_id}/commands/{START_SESSION|STOP_SESSION|UNLOCK_CONNECTOR}``: an
  eMSP bundle sends a command to a connected CPO; 200 with the stored command and the
  CPO's CommandResponse (``result`` is null until the CPO POSTs it), 400 for a CPO bundle,
  422 for another command name or a missing field, 502 when the CPO failed.
- ``GET /ocpi/cpos/{cpo_id}/commands[?direction=sent|received]``: sent and received
  commands, newest first.
- ``GET /ocpi/cpos/{cpo_id}/commands/{command_id}``: one command; poll it for ``result``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from voltlab.api.deps import LimitQ, PageQ, ServicesDep
from voltlab.auth.dependencies import TenantId
from voltlab.ocpi.bundles import service
from voltlab.ocpi.emsp import commands
from voltlab.ocpi.models.commands import CommandType
from voltlab.storage.ocpi import OcpiBundle, OcpiCommand

router = APIRouter(tags=["OCPI commands"])


class SendableCommand(StrEnum):
    START_SESSION = "START_SESSION"
    STOP_SESSION = "STOP_SESSION"
    UNLOCK_CONNECTOR = "UNLOCK_CONNECTOR"


def _party(bundle: OcpiBundle) -> dict[str, str]:
    return {"country_code": bundle.country_code, "party_id": bundle.party_id}


def command_out(bundle: OcpiBundle, row: OcpiCommand) -> dict[str, Any]:
    """A command as the management API shows it: ``cpo`` and ``emsp`` are the two parties
    (one of them the bundle itself), ``request`` the OCPI body, ``response`` the
    CommandResponse, ``result`` the CommandResult or null."""
    stored_request = row.request or {}
    stored_response = row.response or {}
    peer = stored_request.get("party")
    sent = row.direction == "sent"
    out: dict[str, Any] = {
        "id": row.id,
        "direction": row.direction,
        "command": row.command,
        "cpo": peer if sent else _party(bundle),
        "emsp": _party(bundle) if sent else peer,
        "url": stored_request.get("url"),
        "request": stored_request.get("body"),
        "response": stored_response.get("data"),
        # The envelope's OCPI status_code (1000, or e.g. 2003 for an unknown location).
        "status_code": stored_response.get("status_code"),
        "result": row.result,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    for extra in ("status_message", "error"):  # said by the CPO, or why the POST failed
        if stored_response.get(extra):
            out[extra] = stored_response[extra]
    return out


@router.post("/ocpi/cpos/{cpo_id}/commands/{command}")
async def send_command(
    cpo_id: str,
    command: SendableCommand,
    services: ServicesDep,
    org: TenantId,
    body: Annotated[commands.CommandRequest | None, Body()] = None,
) -> dict[str, Any]:
    bundle = await service.get(services, org, cpo_id)
    row = await commands.send(
        services, bundle, CommandType(command.value), body or commands.CommandRequest()
    )
    return command_out(bundle, row)


@router.get("/ocpi/cpos/{cpo_id}/commands")
async def list_commands(
    cpo_id: str,
    services: ServicesDep,
    org: TenantId,
    direction: Annotated[str | None, Query(pattern="^(sent|received)$")] = None,
    page: PageQ = 1,
    limit: LimitQ = 50,
) -> dict[str, Any]:
    bundle = await service.get(services, org, cpo_id)
    rows, total = await commands.page(services, bundle, direction=direction, page=page, limit=limit)
    return {
        "data": [command_out(bundle, row) for row in rows],
        "total": total,
        "page": page,
        "limit": limit,
    }


@router.get("/ocpi/cpos/{cpo_id}/commands/{command_id}")
async def get_command(
    cpo_id: str, command_id: str, services: ServicesDep, org: TenantId
) -> dict[str, Any]:
    bundle = await service.get(services, org, cpo_id)
    return command_out(bundle, await commands.get(services, bundle, command_id))
