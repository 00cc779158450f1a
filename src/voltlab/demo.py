"""``voltlab demo``: the seed-003 token authorization flow on real sockets, end to end.

voltlab starts on loopback (SQLite in a temporary data directory, no other server); the
demo is a REST client like any other, so everything it shows comes from the public API:

1. a CPO bundle (simulated chargers at the built-in CSMS) and an eMSP bundle (tokens);
2. the credentials handshake, the CPO pulling the eMSP's tokens;
3. sessions on the simulated chargers covering every path: a whitelisted cache hit, a
   NEVER token asked in real time, a token the CPO does not know, a blocked token, an eMSP
   that answers too late (fallback), and a remote start by OCPI command;
4. every authorization (path, result, latency, reference) and every CDR (energy, cost,
   reference), checked against each other.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from voltlab.auth.tokens import ensure_secret, mint_token
from voltlab.settings import Settings

SESSION_S = 3  # each simulated session charges this long, then stops by itself
WAIT_S = 30.0


class DemoFailed(Exception):
    pass


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


async def _until(what: str, check: Callable[[], Awaitable[Any]], timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise DemoFailed(f"timed out waiting for {what}")


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise DemoFailed(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:300]}"
        )
    return response.json() if response.content else None


@dataclass
class Lab:
    api: httpx.AsyncClient
    console: Console
    cpo: dict[str, Any]
    emsp: dict[str, Any]
    chargers: list[dict[str, Any]]
    tokens: dict[str, dict[str, Any]]  # label keyword -> token

    async def command(self, name: str, charger: dict[str, Any], event: dict[str, Any]) -> Any:
        body = {"target": {"charger_id": charger["id"]}, "event": event}
        return _ok(await self.api.post(f"/ocpp/commands/{name}", json=body))


async def _bundles(api: httpx.AsyncClient, console: Console) -> tuple[dict[str, Any], ...]:
    console.rule("1. Two OCPI parties: a CPO and an eMSP")
    common = {"country_code": "NL", "name_prefix": "DEMO", "seed": 2026}
    cpo = _ok(
        await api.post(
            "/ocpi/cpos", json={"template": "small-urban-ac", "party_id": "VLC", **common}
        )
    )
    emsp = _ok(
        await api.post(
            "/ocpi/cpos",
            json={"template": "emsp-basic", "party_id": "VLE", "role": "emsp", **common},
        )
    )
    for bundle in (cpo, emsp):

        async def ready(b: dict[str, Any] = bundle) -> bool:
            status = _ok(await api.get(b["status_url"]))
            if status["status"] == "FAILED":
                raise DemoFailed(f"bundle {b['cpo_id']} failed: {status['error']}")
            return bool(status["status"] == "READY")

        await _until(f"bundle {bundle['cpo_id']} to be READY", ready)
    table = Table(title="POST /ocpi/cpos")
    for column in ("bundle", "role", "party", "template", "OCPI versions URL"):
        table.add_column(column)
    for bundle, template in ((cpo, "small-urban-ac"), (emsp, "emsp-basic")):
        party = bundle["party"]
        table.add_row(
            bundle["cpo_id"],
            party["role"],
            f"{party['country_code']}*{party['party_id']}",
            template,
            bundle["ocpi_peer_url"],
        )
    console.print(table)
    return cpo, emsp


async def _chargers(lab: Lab) -> None:
    api = lab.api

    async def booted() -> list[dict[str, Any]] | None:
        page = _ok(await api.get(f"/ocpp/chargers?ocpi_cpo_id={lab.cpo['cpo_id']}&limit=100"))
        rows = page["data"]
        ok = all(r["runtime"]["boot_status"] == "Accepted" for r in rows)
        return rows if rows and ok else None

    lab.chargers = await _until("the CPO's chargers to boot at the built-in CSMS", booted)
    table = Table(title="The CPO's simulated chargers, booted at voltlab's built-in CSMS")
    for column in ("identity", "OCPP", "model", "EVSEs", "connection", "boot"):
        table.add_column(column, no_wrap=True)
    for row in lab.chargers:
        table.add_row(
            row["identity"],
            row["ocpp_version"].removeprefix("OCPP"),
            row["model"],
            str(len(row["evse_uids"] or [])),
            row["runtime"]["connection"],
            row["runtime"]["boot_status"],
        )
    lab.console.print(table)


async def _handshake(lab: Lab) -> None:
    api, console = lab.api, lab.console
    console.rule("2. Credentials handshake, token pull")
    peer = _ok(
        await api.post(
            f"/ocpi/cpos/{lab.emsp['cpo_id']}/connect",
            json={"versions_url": lab.cpo["ocpi_peer_url"], "token": lab.cpo["token_a"]},
        )
    )
    console.print(
        f"eMSP {lab.emsp['cpo_id']} -> CPO {lab.cpo['cpo_id']}: {peer['status']} "
        f"(Token A used once; tokens B and C exchanged)"
    )
    own = _ok(await api.get(f"/ocpi/cpos/{lab.emsp['cpo_id']}/tokens?limit=100"))["data"]

    async def pulled() -> bool:
        cache = _ok(await api.get(f"/ocpi/cpos/{lab.cpo['cpo_id']}/tokens?limit=100"))
        return bool(cache["total"] >= len(own))

    await _until("the CPO to pull the eMSP's tokens", pulled)
    table = Table(title="The eMSP's tokens, now in the CPO's cache")
    for column in ("uid", "type", "whitelist", "valid", "purpose"):
        table.add_column(column, no_wrap=column != "purpose")
    for token in own:
        table.add_row(
            token["uid"],
            token["type"],
            token["whitelist"],
            str(token["valid"]),
            str(token.get("label") or ""),
        )
    console.print(table)

    def find(whitelist: str, valid: bool = True, kind: str = "RFID") -> dict[str, Any]:
        for token in own:
            if (token["whitelist"], token["valid"], token["type"]) == (whitelist, valid, kind):
                return dict(token)
        raise DemoFailed(f"the eMSP template has no {kind} {whitelist} token (valid={valid})")

    lab.tokens = {
        "always": find("ALWAYS"),
        "never": find("NEVER"),
        "offline": find("ALLOWED_OFFLINE"),
        "blocked": find("ALLOWED", valid=False),
        "app": find("ALLOWED", kind="APP_USER"),
    }
    created = _ok(
        await api.post(
            f"/ocpi/cpos/{lab.emsp['cpo_id']}/tokens?push=false",
            json={
                "uid": "DEMO0NEW0CARD001",
                "type": "RFID",
                "contract_id": "NL-VLE-CDEMO0001-X",
                "issuer": "voltlab demo eMSP",
                "valid": True,
                "whitelist": "ALLOWED",
                "label": "issued after the handshake, never pushed: unknown to the CPO",
            },
        )
    )
    lab.tokens["unknown"] = created["token"]


async def _sessions(lab: Lab) -> None:
    api, console = lab.api, lab.console
    console.rule("3. Sessions on the simulated chargers")
    if len(lab.chargers) < 6:
        raise DemoFailed("the CPO template needs at least 6 chargers")
    ch = lab.chargers
    session = {"duration_seconds": SESSION_S}
    console.print("cache hit, real-time NEVER, unknown token, blocked token (in parallel)")
    await asyncio.gather(
        lab.command("start-session", ch[0], {"id_tag": lab.tokens["always"]["uid"], **session}),
        lab.command("start-session", ch[1], {"id_tag": lab.tokens["never"]["uid"], **session}),
        lab.command("start-session", ch[2], {"id_tag": lab.tokens["unknown"]["uid"], **session}),
        lab.command("authorize-id-tag", ch[3], {"id_tag": lab.tokens["blocked"]["uid"]}),
    )
    await asyncio.sleep(SESSION_S + 1)

    console.print("the eMSP answers after 3 s, the CPO waits 1 s: fallback policy 'whitelist'")
    _ok(await api.put(f"/ocpi/cpos/{lab.emsp['cpo_id']}/behaviour", json={"answer_delay_ms": 3000}))
    _ok(
        await api.put(
            f"/ocpi/cpos/{lab.cpo['cpo_id']}/behaviour",
            json={"realtime_timeout_ms": 1000, "fallback_policy": "whitelist"},
        )
    )
    await lab.command("start-session", ch[4], {"id_tag": lab.tokens["offline"]["uid"], **session})
    await asyncio.sleep(SESSION_S + 1.5)
    _ok(await api.put(f"/ocpi/cpos/{lab.emsp['cpo_id']}/behaviour", json={"answer_delay_ms": 0}))

    console.print("remote start: the EV plugs in, the eMSP sends START_SESSION")
    await lab.command("plug-connector", ch[5], {"connector_id": 1})
    location_id = ch[5]["ocpi_location_id"]
    evse_uid = (ch[5]["evse_uids"] or [None])[0]
    command = _ok(
        await api.post(
            f"/ocpi/cpos/{lab.emsp['cpo_id']}/commands/START_SESSION",
            json={
                "token_uid": lab.tokens["app"]["uid"],
                "location_id": location_id,
                "evse_uid": evse_uid,
            },
        )
    )

    async def result() -> Any:
        got = _ok(await api.get(f"/ocpi/cpos/{lab.emsp['cpo_id']}/commands/{command['id']}"))
        return got.get("result")

    answer = await _until("the CommandResult of START_SESSION", result)
    console.print(f"START_SESSION: {command['response']['result']}, then {answer['result']}")

    async def remote_session() -> Any:
        sessions = _ok(await api.get(f"/ocpi/cpos/{lab.cpo['cpo_id']}/sessions?status=ACTIVE"))
        return next(
            (s for s in sessions["data"] if s["cdr_token"]["uid"] == lab.tokens["app"]["uid"]),
            None,
        )

    running = await _until("the remotely started session", remote_session)
    await asyncio.sleep(SESSION_S)
    _ok(
        await api.post(
            f"/ocpi/cpos/{lab.emsp['cpo_id']}/commands/STOP_SESSION",
            json={"session_id": running["id"]},
        )
    )


async def _report(lab: Lab) -> int:
    api, console = lab.api, lab.console
    console.rule("4. What happened")
    cdrs_expected = 4  # cache hit, NEVER, unknown, fallback; plus the remote start

    async def cdrs() -> list[dict[str, Any]] | None:
        data = _ok(await api.get(f"/ocpi/cpos/{lab.emsp['cpo_id']}/cdrs?limit=100"))["data"]
        return data if len(data) >= cdrs_expected + 1 else None

    received = await _until("the CDRs at the eMSP", cdrs)
    authorizations = _ok(await api.get(f"/ocpi/cpos/{lab.cpo['cpo_id']}/authorizations?limit=100"))
    labels = {token["uid"]: name for name, token in lab.tokens.items()}
    table = Table(title="GET /ocpi/cpos/{cpo}/authorizations (oldest first)")
    for column in ("token", "case", "path", "eMSP said", "OCPP", "ms", "reference"):
        table.add_column(column, no_wrap=True)
    rows = list(reversed(authorizations["data"]))
    for row in rows:
        table.add_row(
            row["token_uid"],
            labels.get(row["token_uid"], "?"),
            row["path"],
            str(row["ocpi_allowed"] or "-"),
            row["ocpp_status"],
            f"{row['latency_ms']:.0f}",
            (row["authorization_reference"] or "-")[:8],
        )
    console.print(table)
    cdr_table = Table(title="CDRs received by the eMSP")
    for column in ("token", "case", "auth method", "Wh", "cost", "reference", "matches"):
        cdr_table.add_column(column, no_wrap=True)
    references = {row["authorization_reference"] for row in rows if row["authorization_reference"]}
    failures = []
    for cdr in received:
        reference = cdr.get("authorization_reference")
        matched = reference in references
        if not matched:
            failures.append(f"CDR {cdr['id']} has no matching authorization")
        cost = cdr["total_cost"]
        cdr_table.add_row(
            cdr["cdr_token"]["uid"],
            labels.get(cdr["cdr_token"]["uid"], "?"),
            cdr["auth_method"],
            f"{cdr['total_energy'] * 1000:.0f}",
            f"{cost.get('incl_vat', cost['excl_vat']):.2f} {cdr['currency']}",
            (reference or "-")[:8],
            "yes" if matched else "NO",
        )
    console.print(cdr_table)
    expected = {
        ("always", "cache", True),
        ("never", "realtime", True),
        ("unknown", "realtime", True),
        ("blocked", "cache", False),
        ("offline", "fallback", True),
        ("app", "command", True),
    }
    seen = {(labels.get(r["token_uid"]), r["path"], r["ocpp_status"] == "Accepted") for r in rows}
    failures += [f"no {case} authorization via {path}" for case, path, _ in expected - seen]
    for failure in failures:
        console.print(f"[red]{failure}[/]")
    return 1 if failures else 0


async def run_demo(console: Console, *, keep_data: bool = False) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="voltlab-demo-"))
    # Meter values every second, so the sessions show energy growing.
    settings = Settings(data_dir=data_dir, database_url="", default_meter_interval_s=1)
    started = time.monotonic()
    console.rule("[bold]voltlab demo: OCPI token authorization, CPO <-> eMSP")
    console.print(f"data directory [cyan]{data_dir}[/] (SQLite, removed at the end)")
    server, task, base_url = await _serve(settings)
    console.print(f"voltlab [cyan]{base_url}[/] (REST API, OCPI endpoints, built-in CSMS)")
    exit_code = 1
    try:
        token = mint_token(key=ensure_secret(settings)[0], role="user", org="demo")
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as api:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as progress:
                progress.add_task("creating bundles and booting chargers", total=None)
                cpo, emsp = await _bundles(api, console)
                lab = Lab(api, console, cpo, emsp, [], {})
                await _chargers(lab)
            await _handshake(lab)
            await _sessions(lab)
            exit_code = await _report(lab)
    except DemoFailed as exc:
        console.print(f"[red]demo failed: {exc}[/]")
    finally:
        server.should_exit = True
        await task
        if not keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
    verdict = (
        "[green]every authorization path worked; every CDR carries its authorization_reference[/]"
        if exit_code == 0
        else "[red]the flow did not complete[/]"
    )
    console.print(f"{verdict} in {time.monotonic() - started:.1f} s")
    return exit_code
