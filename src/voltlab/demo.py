"""``voltlab demo``: voltlab and its built-in CSMS on loopback, driven through the REST API.

Embedded default only (SQLite in a temporary data directory, no other server). The demo
is a REST client like any other: everything it shows comes from the public API.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from voltlab.auth.tokens import mint_token
from voltlab.csms import CsmsServer
from voltlab.settings import Settings

DEMO_MODELS = (
    ("OCPP1.6", "wallbox", "pulsar-plus", "Type2"),
    ("OCPP2.0.1", "abb", "terra-184", "CCS2"),
)
BOOT_TIMEOUT_S = 30.0


async def _serve(settings: Settings) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    from voltlab.app import create_app

    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(30):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


async def _deploy(
    api: httpx.AsyncClient, csms_url: str, per_version: int
) -> tuple[str, list[dict[str, Any]]]:
    location = (
        (await api.post("/ocpp/locations", json={"name": "voltlab demo depot", "city": "Utrecht"}))
        .raise_for_status()
        .json()
    )
    groups = [
        {
            "template": {
                "brand_slug": brand,
                "model_slug": model,
                "connector_type": connector,
                "ocpp_version": version,
                "ws_url": csms_url,
                "identity_prefix": f"DEMO-{version.removeprefix('OCPP').replace('.', '')}-",
                "template_name": f"{brand} {model}",
                "meter_interval_s": 1,
            },
            "charger_ids": [f"{n:03d}" for n in range(1, per_version + 1)],
        }
        for version, brand, model, connector in DEMO_MODELS
    ]
    job = (
        (await api.post(f"/ocpp/locations/{location['id']}/chargers", json=groups))
        .raise_for_status()
        .json()
    )
    while True:
        status = (await api.get(job["status_url"])).raise_for_status().json()
        if status["status"] in ("READY", "FAILED"):
            return location["id"], status["results"]["created"]
        await asyncio.sleep(0.1)


SESSION_S = 4


async def _charge(
    console: Console,
    api: httpx.AsyncClient,
    location_id: str,
    created: list[dict[str, Any]],
    csms: CsmsServer,
) -> int:
    """A charging session on every charger of the location: one fan-out command."""
    console.rule("start-session on the whole location")
    report = (
        (
            await api.post(
                "/ocpp/commands/start-session",
                json={
                    "target": {"location_id": location_id},
                    "event": {"id_tag": "DEMO-TAG", "duration_seconds": SESSION_S},
                },
            )
        )
        .raise_for_status()
        .json()
    )
    console.print(
        f"202: {report['queued_count']} queued, {report['failed_count']} failed; "
        f"each stops by itself after {SESSION_S} s"
    )
    await asyncio.sleep(SESSION_S + 2.5)
    table = Table(title="Transactions (GET /ocpp/chargers/{id}/transactions)")
    for column in ("identity", "transaction", "id tag", "energy Wh", "stop reason", "at the CSMS"):
        table.add_column(column)
    code = 0
    for item in created:
        rows = (await api.get(f"/ocpp/chargers/{item['charger_id']}/transactions")).json()["data"]
        at_csms = csms.stations.get(item["identity"])
        if not rows:
            code = 1
            table.add_row(item["identity"], "-", "-", "-", "-", "-")
            continue
        tx = rows[0]
        seen = "yes" if at_csms and at_csms.transactions else "no"
        table.add_row(
            item["identity"],
            str(tx["transaction_id"])[:13],
            str(tx["id_tag"]),
            f"{tx['energy_wh']:.0f}",
            str(tx["stop_reason"]),
            seen,
        )
    console.print(table)
    return code


async def run_demo(console: Console, *, chargers: int = 3, keep_data: bool = False) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="voltlab-demo-"))
    settings = Settings(data_dir=data_dir, database_url="", jwt_algorithm="HS256")
    started = time.monotonic()
    console.rule("[bold]voltlab demo")
    console.print(f"data directory [cyan]{data_dir}[/] (SQLite, removed at the end)")
    csms = await CsmsServer(heartbeat_interval_s=30).start()
    server, task, base_url = await _serve(settings)
    console.print(f"voltlab REST API [cyan]{base_url}[/]   built-in CSMS [cyan]{csms.url}[/]")
    exit_code = 0
    try:
        from voltlab.auth.tokens import ensure_secret

        token = mint_token(key=ensure_secret(settings)[0], role="user", org="demo")
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as api:
            location_id, created = await _deploy(api, csms.url, chargers)
            total = len(created)
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as progress:
                booting = progress.add_task("chargers booting at the CSMS", total=total)
                deadline = time.monotonic() + BOOT_TIMEOUT_S
                while time.monotonic() < deadline:
                    booted = sum(1 for s in csms.stations.values() if s.boots and s.connectors)
                    progress.update(booting, completed=booted)
                    if booted >= total:
                        break
                    await asyncio.sleep(0.1)
            # The frame log is written in batches: give the writer a flush interval.
            await asyncio.sleep(settings.framelog_flush_interval_s * 2)
            table = Table(title="Simulated chargers (GET /ocpp/chargers/{id})")
            for column in ("identity", "OCPP", "model", "link", "boot", "connectors", "frames"):
                table.add_column(column)
            for item in created:
                charger = (await api.get(f"/ocpp/chargers/{item['charger_id']}")).json()
                logs = (await api.get(f"/ocpp/chargers/{item['charger_id']}/logs?limit=1")).json()
                runtime = charger["runtime"]
                if runtime["boot_status"] != "Accepted":
                    exit_code = 1
                table.add_row(
                    charger["identity"],
                    charger["ocpp_version"].removeprefix("OCPP"),
                    charger["model"],
                    runtime["connection"],
                    str(runtime["boot_status"]),
                    " ".join(c["status"] for c in runtime["connectors"]),
                    str(logs["total"]),
                )
            console.print(table)
            seen = Table(title="What the built-in CSMS received")
            for column in ("identity", "boots", "statuses reported", "messages"):
                seen.add_column(column)
            for identity, station in sorted(csms.stations.items()):
                statuses = ", ".join(
                    f"{evse}:{status}" for (evse, _), status in sorted(station.connectors.items())
                )
                seen.add_row(identity, str(station.boots), statuses, str(station.messages))
            console.print(seen)
            exit_code = max(exit_code, await _charge(console, api, location_id, created, csms))
    finally:
        server.should_exit = True
        await task
        await csms.close()
        if not keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
    verdict = (
        "[green]every charger booted and charged[/]"
        if exit_code == 0
        else "[red]some chargers did not boot or charge[/]"
    )
    console.print(f"{verdict} in {time.monotonic() - started:.1f} s")
    return exit_code
