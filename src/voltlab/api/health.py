from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from voltlab import __version__
from voltlab.api.deps import ServicesDep

router = APIRouter(tags=["health"])

INDEX = """<!doctype html><html><head><meta charset="utf-8"><title>voltlab</title></head>
<body><h1>voltlab {version}</h1><p>An open lab for EV-charging backends.</p>
<ul><li><a href="/docs">API docs (Swagger UI)</a></li><li><a href="/redoc">ReDoc</a></li>
<li><a href="/openapi.json">OpenAPI document</a></li><li><a href="/health">health</a></li></ul>
</body></html>"""


@router.get("/health")
async def health(services: ServicesDep) -> dict[str, Any]:
    framelog = services.framelog
    return {
        "status": "ok",
        "version": __version__,
        "database": services.engine.dialect.name,
        "chargers_running": services.fleet.running_count(),
        "framelog": {
            "written": framelog.written,
            "pending": framelog.pending,
            "dropped": framelog.dropped,
        },
        "event_loop_lag": services.loop_lag.summary(),
    }


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index() -> str:
    return INDEX.format(version=__version__)
