"""The Python floor of issue 9, measured on this machine: what a bare client costs.

    .venv/bin/python bench/floor.py                    # 10,000 OCPP 1.6 chargers
    .venv/bin/python bench/floor.py --chargers 1000 --heartbeats 3

A bare ``websockets`` client with no OCPP logic (compression off, ``max_queue=4``,
``write_limit=4096``, ``orjson``), the issue's reference, against ``bench/csms.py`` in its
own process: connect and boot (BootNotification, then one StatusNotification) N chargers
as fast as one uvloop process can, then heartbeat round trips on every connection. It
prints the boot wall time, RSS per connection and microseconds of client CPU per heartbeat
round trip.

``--client link`` runs the same client on voltlab's own WebSocket link
(``voltlab.simulator.wire``: ``websockets``' sans-I/O protocol on an asyncio transport),
no OCPP logic either: what the stations' socket layer costs by itself.

Why: the targets of ``bench/fleet.py`` were set against the floor measured on 2026-11-25
(6.3 s to boot 10,000, ~100 us a heartbeat round trip). Machines differ; this gives the
floor of the machine the fleet figures were taken on, so a missed target can be read as
voltlab's cost or the machine's.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import uvloop
from websockets.asyncio.client import ClientConnection, connect

from voltlab.simulator.link import dial
from voltlab.simulator.spec import StationSpec
from voltlab.simulator.wire import WsLink

BENCH_DIR = Path(__file__).resolve().parent


def host_busy_s() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def call(ws: ClientConnection | WsLink, n: int, action: str, payload: dict[str, Any]) -> Any:
    await ws.send(orjson.dumps([2, str(n), action, payload]).decode())
    return orjson.loads(await ws.recv())


async def boot(
    url: str, identity: str, gate: asyncio.Semaphore, client: str
) -> ClientConnection | WsLink:
    ws: ClientConnection | WsLink
    async with gate:
        if client == "link":
            spec = StationSpec("", "", identity, "1.6", url, "floor", "x", (), 0)
            ws = await dial(spec, password=None, open_timeout=120)
        else:
            ws = await connect(
                f"{url}/{identity}",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                compression=None,
                max_queue=4,
                write_limit=4096,
                ping_interval=None,
                open_timeout=120,
            )
    await call(ws, 1, "BootNotification", {"chargePointVendor": "floor", "chargePointModel": "x"})
    status = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    await call(ws, 2, "StatusNotification", status)
    return ws


async def main(
    args: argparse.Namespace, port: int, stats_port: int, csms: subprocess.Popen[bytes]
) -> None:
    me = psutil.Process()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stats_port}") as http:
            for _ in range(400):
                try:
                    (await http.get("/health")).raise_for_status()
                    break
                except httpx.HTTPError:
                    if csms.poll() is not None:
                        raise SystemExit(f"bench/csms.py exited ({csms.returncode})") from None
                    await asyncio.sleep(0.05)
            else:
                raise SystemExit("bench/csms.py did not answer /health within 20 s")
            rss0 = me.memory_info().rss
            host0 = host_busy_s()
            cpu0 = me.cpu_times()
            t0 = time.perf_counter()
            # The backlog of the CSMS's listening socket bounds connects in flight.
            gate = asyncio.Semaphore(args.in_flight)
            url = f"ws://127.0.0.1:{port}/ocpp"
            sockets = await asyncio.gather(
                *(boot(url, f"FLOOR{i:06d}", gate, args.client) for i in range(args.chargers))
            )
            boot_s = time.perf_counter() - t0
            cpu1 = me.cpu_times()
            rss = me.memory_info().rss - rss0
            t1 = time.perf_counter()
            for round_ in range(args.heartbeats):
                await asyncio.gather(*(call(ws, 10 + round_, "Heartbeat", {}) for ws in sockets))
            hb_s = time.perf_counter() - t1
            cpu2 = me.cpu_times()
            stats = (await http.get("/stats")).json()
            wall = time.perf_counter() - t0
            ours = (cpu2.user + cpu2.system) - (cpu0.user + cpu0.system) + stats["cpu_s"]
            others = max(0.0, host_busy_s() - host0 - ours) / wall
            trips = args.chargers * args.heartbeats
            hb_cpu = (cpu2.user + cpu2.system) - (cpu1.user + cpu1.system)
            boot_cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
            print(f"client            {args.client}")
            print(f"chargers          {args.chargers}")
            print(f"boot wall         {boot_s:.2f} s (client CPU {boot_cpu:.2f} s)")
            print(f"rss / connection  {rss / args.chargers / 1024:.1f} KiB")
            print(f"heartbeats        {trips} in {hb_s:.2f} s")
            print(f"client CPU / trip {1e6 * hb_cpu / trips:.0f} us")
            print(f"csms CPU          {stats['cpu_s']:.2f} s (since its start)")
            print(f"other processes   {100 * others:.0f} % of a core (above ~10 %: disturbed)")
            print(
                f"SUMMARY floor client={args.client} chargers={args.chargers} boot_s={boot_s:.2f} "
                f"rss_kib_per_conn={rss / args.chargers / 1024:.1f} "
                f"heartbeat_cpu_us={1e6 * hb_cpu / trips:.0f}"
            )
            for ws in sockets:
                await ws.close()
    finally:
        csms.terminate()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, default=10_000)
    parser.add_argument("--heartbeats", type=int, default=3, help="rounds on every connection")
    parser.add_argument(
        "--client",
        choices=("websockets", "link"),
        default="websockets",
        help="websockets' asyncio client (the issue's floor) or voltlab's WebSocket link",
    )
    parser.add_argument("--in-flight", type=int, default=500, help="connects at once")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one descriptor per socket
    port, stats_port = free_port(), free_port()
    csms = subprocess.Popen(
        [
            sys.executable,
            str(BENCH_DIR / "csms.py"),
            f"--port={port}",
            f"--stats-port={stats_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        uvloop.run(main(parser.parse_args(), port, stats_port, csms))
    finally:
        csms.terminate()
        csms.wait(10)
