"""``POST /ocpp/commands/<name>`` (18 commands) and ``GET /ocpp/commands/{id}``.

No ``from __future__ import annotations`` here: the per-command body models are built
at import time and FastAPI must see them as real classes, not strings.
"""

from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, create_model

from voltlab.api.deps import ServicesDep
from voltlab.auth.dependencies import TenantId
from voltlab.commands import service
from voltlab.commands.schemas import (
    COMMANDS,
    AnyTarget,
    ChargerTarget,
    CommandRecord,
    EmptyEvent,
    FanOutReport,
)

router = APIRouter(prefix="/ocpp/commands", tags=["commands"])

# Single-charger commands answer their result; proxy-message answers the queued command.
SINGLE_ANSWER_KEYS = {"proxy-message"}


def _body_model(name: str, event: type[BaseModel], single: bool) -> type[BaseModel]:
    target = ChargerTarget if single else AnyTarget
    # The documented examples of cache/reset and clear-local-auth-list send only a target.
    default: Any = EmptyEvent() if event is EmptyEvent else ...
    title = "".join(part.capitalize() for part in name.replace("/", "-").split("-"))
    return create_model(f"{title}Command", target=(target, ...), event=(event, default))


def _single_route(name: str, body_model: type[BaseModel]) -> None:
    async def run(body: body_model, services: ServicesDep, org: TenantId) -> dict[str, Any]:  # type: ignore[valid-type]
        queued, result = await service.run_single(
            services,
            org,
            name,
            body.target.charger_id,
            body.event,  # type: ignore[attr-defined]
        )
        if name in SINGLE_ANSWER_KEYS:
            return queued.model_dump(mode="json")
        return {**result, "command_id": queued.id}

    router.add_api_route(
        f"/{name}", run, methods=["POST"], name=name, summary=f"{name} (one charger)"
    )


def _fan_out_route(name: str, body_model: type[BaseModel]) -> None:
    async def run(body: body_model, services: ServicesDep, org: TenantId) -> Response:  # type: ignore[valid-type]
        report = await service.fan_out(services, org, name, body.target, body.event)  # type: ignore[attr-defined]
        # orjson: a report on 1,000 chargers is ~250 KB of JSON (pydantic models and the
        # standard library encoder: ~6 ms of loop time; dicts and orjson: ~1 ms).
        return Response(orjson.dumps(report), status_code=202, media_type="application/json")

    router.add_api_route(
        f"/{name}",
        run,
        methods=["POST"],
        name=name,
        status_code=202,
        response_model=FanOutReport,
        summary=f"{name} (a charger or a location)",
    )


for _name, (_event, _single) in COMMANDS.items():
    _model = _body_model(_name, _event, _single)
    (_single_route if _single else _fan_out_route)(_name, _model)


@router.get("/{command_id}")
async def get_command(command_id: str, services: ServicesDep, org: TenantId) -> CommandRecord:
    return await service.get_record(services, org, command_id)
