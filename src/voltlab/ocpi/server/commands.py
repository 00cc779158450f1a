"""Commands (OCPI 2.2.1 chapter 13), both interfaces of a bundle's OCPI base:

- ``POST /ocpi/{cpo_id}/2.2.1/commands/{command}``: the RECEIVER interface of a CPO
  bundle (an eMSP sends START_SESSION, STOP_SESSION, UNLOCK_CONNECTOR, ...);
- ``POST /ocpi/{cpo_id}/2.2.1/commands/{command}/{command_id}``: the SENDER interface of
  an eMSP bundle, the ``response_url`` it handed out, where the CPO POSTs the
  CommandResult.

An unknown command name is not a resource: HTTP 404, status_code 2000. A known command
with a body that does not validate: HTTP 400, 2001 naming the field. An unknown location
answers HTTP 200 (the endpoint exists: "a HTTP error MUST NOT be returned"), status_code
2003 and a REJECTED CommandResponse, as the spec's figure 32 shows.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from voltlab.ocpi.cpo import commands as cpo_commands
from voltlab.ocpi.emsp import commands as emsp_commands
from voltlab.ocpi.models.commands import (
    CommandResult,
    CommandType,
    StartSession,
    StopSession,
    UnlockConnector,
)
from voltlab.ocpi.server.context import CallerDep, reply, require_role
from voltlab.ocpi.transport import NotFound, correlation_headers, ocpi_response, read_json

router = APIRouter(prefix="/ocpi/{cpo_id}/2.2.1/commands", tags=["OCPI protocol"])

BODIES: dict[CommandType, type[BaseModel]] = {
    CommandType.START_SESSION: StartSession,
    CommandType.STOP_SESSION: StopSession,
    CommandType.UNLOCK_CONNECTOR: UnlockConnector,
}


def _command(name: str) -> CommandType:
    try:
        return CommandType(name)
    except ValueError:
        raise NotFound(f"unknown command {name!r}") from None


@router.post("/{command}")
async def post_command(request: Request, caller: CallerDep, command: str) -> Response:
    peer = caller.registered
    require_role(caller, "CPO", "the commands RECEIVER interface")
    kind = _command(command)
    model = BODIES.get(kind)
    body: Any
    if model is not None:
        body = await read_json(request, model)  # 400 + 2001 naming the field
    else:
        # RESERVE_NOW / CANCEL_RESERVATION are answered NOT_SUPPORTED whatever the body;
        # keep what was sent for the command log.
        try:
            body = orjson.loads(await request.body() or b"null")
        except orjson.JSONDecodeError:
            body = None
    answer = await cpo_commands.receive(caller.services, caller.bundle, peer, kind, body)
    return ocpi_response(
        answer.response,
        status_code=answer.status_code,
        status_message=answer.status_message,
        headers=correlation_headers(request),
    )


@router.post("/{command}/{command_id}")
async def post_result(
    request: Request, caller: CallerDep, command: str, command_id: str
) -> Response:
    peer = caller.registered
    require_role(caller, "EMSP", "the commands SENDER interface")
    kind = _command(command)
    result = await read_json(request, CommandResult)
    await emsp_commands.store_result(caller.services, caller.bundle, peer, kind, command_id, result)
    return reply(request)
