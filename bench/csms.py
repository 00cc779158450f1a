"""A fast CSMS peer for benchmarks: accepts every charger, answers every CALL at once.

Raw ``websockets`` (asyncio) + ``orjson``, no ``ocpp`` library and no validation: the
point is to cost as little CPU per frame as possible, so that a benchmark measures the
simulator and not its peer. Chargers connect to ``ws://HOST:PORT/<anything>/<identity>``
with subprotocol ``ocpp1.6`` or ``ocpp2.0.1``.

What it received is served as JSON on a second port (plain asyncio HTTP, no framework)::

    GET  /stats            counters: connections, frames per action, distinct identities
                           that booted / sent a status / started / sent meter values,
                           CPU seconds of every process, the time of the latest frames
    GET  /stats?exact=1    the same, with distinct identities unioned across workers
    GET  /identity/<id>    frames per action received from one charger (and its txs)
    POST /reset            zero counters and identity sets (transactions are kept)
    GET  /health           {"status": "ok"}

``--workers N`` runs N ``SO_REUSEPORT`` processes for when one process cannot keep up;
each keeps its own counters and the stats endpoint (in the parent) adds them up.

Run alone::

    python bench/csms.py --port 9000 --stats-port 9001 --verbose
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

Handler = Callable[["Stats", str, dict[str, Any]], dict[str, Any]]

# Transaction ids of worker k start at k * TX_ID_STRIDE + 1: unique across workers.
TX_ID_STRIDE = 100_000_000


class Clock:
    """``currentTime`` text, rebuilt at most once per second."""

    __slots__ = ("_second", "_text")

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self._text


class Stats:
    """Counters of one process. Identity sets and counters reset on ``/reset``; the
    transactions started (per identity) survive a reset so resumed ones are recognised."""

    def __init__(self, worker: int, heartbeat_interval_s: int) -> None:
        self.worker = worker
        self.heartbeat_interval_s = heartbeat_interval_s
        self.clock = Clock()
        self.tx_ids = itertools.count(worker * TX_ID_STRIDE + 1)
        self.started_at = time.time()
        self.open = 0
        self.tx_of: dict[str, list[str]] = {}  # identity -> transaction ids, oldest first
        self.tx_open: dict[str, str] = {}  # identity -> its transaction not yet ended
        self.reset()

    def reset(self) -> None:
        self.reset_at = time.time()
        self.connects = 0
        self.disconnects = 0
        self.frames = 0
        self.received: dict[str, int] = {}
        self.last_at: dict[str, float] = {}
        self.new_at: dict[str, float] = {}
        self.booted: set[str] = set()
        self.status_ids: set[str] = set()
        self.started_ids: set[str] = set()
        self.meter_ids: set[str] = set()
        self.connected_ids: set[str] = set()
        self.per_identity: dict[str, dict[str, int]] = {}
        self.malformed = 0
        self.callerrors_sent = 0
        self.results_received = 0
        self.meter_frames = 0
        self.meter_unknown_tx = 0
        self.overlapping_starts = 0
        self.stops_unknown_tx = 0

    def add(self, kind: str, ids: set[str], identity: str, now: float) -> None:
        if identity not in ids:
            ids.add(identity)
            self.new_at[kind] = now

    # -- transactions ----------------------------------------------------------------
    def tx_started(self, identity: str, tx_id: str) -> None:
        if identity in self.tx_open:
            self.overlapping_starts += 1
        self.tx_of.setdefault(identity, []).append(tx_id)
        self.tx_open[identity] = tx_id
        self.add("started", self.started_ids, identity, time.time())

    def tx_meter(self, identity: str, tx_id: Any) -> None:
        self.meter_frames += 1
        if tx_id is not None and str(tx_id) not in self.tx_of.get(identity, ()):
            self.meter_unknown_tx += 1
        self.add("meter", self.meter_ids, identity, time.time())

    def tx_ended(self, identity: str, tx_id: Any) -> None:
        if str(tx_id) not in self.tx_of.get(identity, ()):
            self.stops_unknown_tx += 1
        if self.tx_open.get(identity) == str(tx_id):
            del self.tx_open[identity]

    def snapshot(self, exact: bool) -> dict[str, Any]:
        sets = {
            "booted": self.booted,
            "status_ids": self.status_ids,
            "started_ids": self.started_ids,
            "meter_ids": self.meter_ids,
            "connected_ids": self.connected_ids,
        }
        snap: dict[str, Any] = {
            "worker": self.worker,
            "pid": os.getpid(),
            "cpu_s": time.process_time(),
            "uptime_s": time.time() - self.started_at,
            "reset_at": self.reset_at,
            "open": self.open,
            "connects": self.connects,
            "disconnects": self.disconnects,
            "frames": self.frames,
            "received": dict(self.received),
            "last_at": dict(self.last_at),
            "new_at": dict(self.new_at),
            "malformed": self.malformed,
            "callerrors_sent": self.callerrors_sent,
            "results_received": self.results_received,
            "meter_frames": self.meter_frames,
            "meter_unknown_tx": self.meter_unknown_tx,
            "overlapping_starts": self.overlapping_starts,
            "stops_unknown_tx": self.stops_unknown_tx,
            "open_transactions": len(self.tx_open),
        }
        for name, ids in sets.items():
            snap[name] = sorted(ids) if exact else len(ids)
        return snap

    def identity(self, identity: str) -> dict[str, Any]:
        return {
            "received": dict(self.per_identity.get(identity, {})),
            "transactions": list(self.tx_of.get(identity, [])),
            "open_transaction": self.tx_open.get(identity),
        }


# -- answers ------------------------------------------------------------------------------
def _boot(st: Stats, identity: str, payload: dict[str, Any]) -> dict[str, Any]:
    st.add("boot", st.booted, identity, time.time())
    return {
        "status": "Accepted",
        "currentTime": st.clock.now(),
        "interval": st.heartbeat_interval_s,
    }


def _heartbeat(st: Stats, identity: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"currentTime": st.clock.now()}


def _status(st: Stats, identity: str, payload: dict[str, Any]) -> dict[str, Any]:
    st.add("status", st.status_ids, identity, time.time())
    return {}


def _empty(st: Stats, identity: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {}


def _accepted(st: Stats, identity: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"status": "Accepted"}


ACCEPTED_TAG = {"status": "Accepted"}


def _authorize16(st: Stats, identity: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"idTagInfo": ACCEPTED_TAG}


def _start16(st: Stats, identity: str, payload: dict[str, Any]) -> dict[str, Any]:
    tx_id = next(st.tx_ids)
    st.tx_started(identity, str(tx_id))
    return {"transactionId": tx_id, "idTagInfo": ACCEPTED_TAG}


def _stop16(st: Stats, identity: str, payload: dict[str, Any]) -> dict[str, Any]:
    st.tx_ended(identity, payload.get("transactionId"))
    return {}


def _meter16(st: Stats, identity: str, payload: dict[str, Any]) -> dict[str, Any]:
    if "transactionId" in payload:
        st.tx_meter(identity, payload["transactionId"])
    return {}


def _authorize201(st: Stats, identity: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"idTokenInfo": ACCEPTED_TAG}


def _transaction_event(st: Stats, identity: str, payload: dict[str, Any]) -> dict[str, Any]:
    event = payload.get("eventType")
    tx_id = (payload.get("transactionInfo") or {}).get("transactionId")
    if event == "Started":
        st.tx_started(identity, str(tx_id))
    elif event == "Updated":
        if payload.get("triggerReason") == "MeterValuePeriodic":
            st.tx_meter(identity, tx_id)
    elif event == "Ended":
        st.tx_ended(identity, tx_id)
    return {"idTokenInfo": ACCEPTED_TAG} if "idToken" in payload else {}


def _certificate(st: Stats, identity: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"status": "Accepted", "exiResponse": ""}


HANDLERS_16: dict[str, Handler] = {
    "BootNotification": _boot,
    "Heartbeat": _heartbeat,
    "StatusNotification": _status,
    "Authorize": _authorize16,
    "StartTransaction": _start16,
    "StopTransaction": _stop16,
    "MeterValues": _meter16,
    "DataTransfer": _accepted,
    "DiagnosticsStatusNotification": _empty,
    "FirmwareStatusNotification": _empty,
    # Security extension (1.6 white paper)
    "SecurityEventNotification": _empty,
    "SignCertificate": _accepted,
    "LogStatusNotification": _empty,
    "SignedFirmwareStatusNotification": _empty,
}

HANDLERS_201: dict[str, Handler] = {
    "BootNotification": _boot,
    "Heartbeat": _heartbeat,
    "StatusNotification": _status,
    "Authorize": _authorize201,
    "TransactionEvent": _transaction_event,
    "MeterValues": _empty,
    "NotifyEvent": _empty,
    "NotifyReport": _empty,
    "NotifyMonitoringReport": _empty,
    "NotifyChargingLimit": _empty,
    "ClearedChargingLimit": _accepted,
    "NotifyEVChargingNeeds": _accepted,
    "NotifyEVChargingSchedule": _accepted,
    "NotifyDisplayMessages": _empty,
    "NotifyCustomerInformation": _empty,
    "ReportChargingProfiles": _empty,
    "ReservationStatusUpdate": _empty,
    "SecurityEventNotification": _empty,
    "SignCertificate": _accepted,
    "LogStatusNotification": _empty,
    "FirmwareStatusNotification": _empty,
    "PublishFirmwareStatusNotification": _empty,
    "GetCertificateStatus": _accepted,
    "Get15118EVCertificate": _certificate,
    "DataTransfer": _accepted,
}


def _identity(path: str) -> str:
    return path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "-"


async def _serve_connection(st: Stats, ws: ServerConnection) -> None:
    identity = _identity(ws.request.path if ws.request else "/")
    handlers = HANDLERS_201 if ws.subprotocol == "ocpp2.0.1" else HANDLERS_16
    st.open += 1
    st.connects += 1
    st.add("connect", st.connected_ids, identity, time.time())
    recv = ws.recv
    send = ws.send
    loads = orjson.loads
    dumps = orjson.dumps
    try:
        while True:
            raw = await recv(decode=False)
            try:
                frame = loads(raw)
                kind = frame[0]
            except (orjson.JSONDecodeError, IndexError, KeyError, TypeError):
                st.malformed += 1
                continue
            now = time.time()
            st.frames += 1
            if kind != 2:  # the CSMS sends no CALLs; a result is a charger's mistake
                st.results_received += 1
                continue
            try:
                unique_id, action, payload = frame[1], frame[2], frame[3]
            except (IndexError, TypeError):
                st.malformed += 1
                continue
            key = action
            if action == "TransactionEvent" and type(payload) is dict:
                key = f"TransactionEvent:{payload.get('eventType')}"
            received = st.received
            received[key] = received.get(key, 0) + 1
            st.last_at[key] = now
            per = st.per_identity.get(identity)
            if per is None:
                per = st.per_identity[identity] = {}
            per[key] = per.get(key, 0) + 1
            handler = handlers.get(action)
            if handler is None or type(payload) is not dict:
                st.callerrors_sent += 1
                reply: list[Any] = [4, unique_id, "NotImplemented", f"no handler: {action}", {}]
            else:
                reply = [3, unique_id, handler(st, identity, payload)]
            await send(dumps(reply), text=True)
    except ConnectionClosed:
        pass
    finally:
        st.open -= 1
        st.disconnects += 1


def _select_subprotocol(connection: ServerConnection, offered: Any) -> Any:
    for name in offered:
        if name in ("ocpp1.6", "ocpp2.0.1"):
            return name
    return None


async def run_ws(st: Stats, host: str, port: int, *, reuse_port: bool) -> Any:
    async def handler(ws: ServerConnection) -> None:
        await _serve_connection(st, ws)

    return await serve(
        handler,
        host,
        port,
        select_subprotocol=_select_subprotocol,
        compression=None,
        max_queue=4,
        write_limit=4096,
        ping_interval=None,  # the chargers ping (WebSocketPingInterval); the CSMS answers
        open_timeout=60,
        close_timeout=2,
        backlog=65_535,  # a boot storm must not overflow the accept queue (SYN retries: 1 s)
        reuse_port=reuse_port,
        server_header=None,
    )


# -- stats over HTTP ------------------------------------------------------------------------
class Aggregator:
    """Local stats (one process) or the sum over workers (pipes to each)."""

    def __init__(self, local: Stats | None, pipes: list[Connection]) -> None:
        self.local = local
        self.pipes = pipes
        self._locks = [asyncio.Lock() for _ in pipes]

    async def _ask(self, index: int, request: tuple[str, Any]) -> Any:
        pipe = self.pipes[index]

        def exchange() -> Any:
            pipe.send(request)
            if not pipe.poll(5):
                raise TimeoutError(f"worker {index} did not answer")
            return pipe.recv()

        async with self._locks[index]:
            return await asyncio.to_thread(exchange)

    async def _all(self, request: tuple[str, Any]) -> list[Any]:
        if self.local is not None:
            return [_answer(self.local, request)]
        return list(await asyncio.gather(*(self._ask(i, request) for i in range(len(self.pipes)))))

    async def stats(self, exact: bool) -> dict[str, Any]:
        parts = await self._all(("stats", exact))
        return merge(parts, exact, parent_cpu_s=0.0 if self.local else time.process_time())

    async def identity(self, identity: str) -> dict[str, Any]:
        parts = await self._all(("identity", identity))
        merged: dict[str, Any] = {"identity": identity, "received": {}, "transactions": []}
        for part in parts:
            for key, count in part["received"].items():
                merged["received"][key] = merged["received"].get(key, 0) + count
            merged["transactions"].extend(part["transactions"])
            merged["open_transaction"] = merged.get("open_transaction") or part["open_transaction"]
        return merged

    async def reset(self) -> None:
        await self._all(("reset", None))


def _answer(st: Stats, request: tuple[str, Any]) -> Any:
    what, arg = request
    if what == "stats":
        return st.snapshot(bool(arg))
    if what == "identity":
        return st.identity(arg)
    if what == "reset":
        st.reset()
        return True
    raise ValueError(what)


SUMMED = (
    "open",
    "connects",
    "disconnects",
    "frames",
    "malformed",
    "callerrors_sent",
    "results_received",
    "meter_frames",
    "meter_unknown_tx",
    "overlapping_starts",
    "stops_unknown_tx",
    "open_transactions",
)
ID_SETS = ("booted", "status_ids", "started_ids", "meter_ids", "connected_ids")


def merge(parts: list[dict[str, Any]], exact: bool, parent_cpu_s: float) -> dict[str, Any]:
    """One view of all workers. Distinct identities are summed per worker unless
    ``exact`` (an identity that reconnected to another worker then counts twice)."""
    out: dict[str, Any] = {key: sum(p[key] for p in parts) for key in SUMMED}
    out["workers"] = len(parts)
    out["pids"] = [p["pid"] for p in parts]
    out["cpu_s_per_worker"] = [p["cpu_s"] for p in parts]
    out["cpu_s"] = sum(p["cpu_s"] for p in parts) + parent_cpu_s
    out["uptime_s"] = max(p["uptime_s"] for p in parts)
    out["reset_at"] = max(p["reset_at"] for p in parts)
    out["time"] = time.time()
    received: dict[str, int] = {}
    last_at: dict[str, float] = {}
    new_at: dict[str, float] = {}
    for part in parts:
        for key, count in part["received"].items():
            received[key] = received.get(key, 0) + count
        for key, at in part["last_at"].items():
            last_at[key] = max(at, last_at.get(key, 0.0))
        for key, at in part["new_at"].items():
            new_at[key] = max(at, new_at.get(key, 0.0))
    out["received"] = received
    out["last_at"] = last_at
    out["new_at"] = new_at
    for name in ID_SETS:
        if exact:
            union: set[str] = set().union(*(p[name] for p in parts))
            out[name] = len(union)
            out[f"{name}_list"] = sorted(union)
        else:
            out[name] = sum(p[name] for p in parts)
    return out


async def serve_stats(agg: Aggregator, host: str, port: int) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        status, body = 200, b"{}"
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length" and int(value.strip() or 0):
                    await reader.readexactly(int(value.strip()))
            url = urlsplit(target)
            query = parse_qs(url.query)
            if url.path == "/stats" and method == "GET":
                exact = query.get("exact", ["0"])[0] not in ("0", "false", "")
                body = orjson.dumps(await agg.stats(exact))
            elif url.path.startswith("/identity/") and method == "GET":
                body = orjson.dumps(await agg.identity(url.path.removeprefix("/identity/")))
            elif url.path == "/reset" and method == "POST":
                await agg.reset()
                body = b'{"status": "reset"}'
            elif url.path == "/health":
                body = b'{"status": "ok"}'
            else:
                status, body = 404, b'{"detail": "not found"}'
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            status, body = 400, b'{"detail": "bad request"}'
        except Exception as exc:  # the stats port must answer, whatever happened
            status, body = 500, orjson.dumps({"detail": f"{type(exc).__name__}: {exc}"})
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, host, port, reuse_address=True)


async def report_every_second(agg: Aggregator, stop: asyncio.Event) -> None:
    previous: dict[str, Any] | None = None
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        snap = await agg.stats(False)
        if previous is not None:
            wall = snap["time"] - previous["time"]
            cpu = 100 * (snap["cpu_s"] - previous["cpu_s"]) / wall
            fps = (snap["frames"] - previous["frames"]) / wall
            top = sorted(snap["received"].items(), key=lambda kv: -kv[1])[:4]
            print(
                f"csms open={snap['open']} booted={snap['booted']} frames/s={fps:.0f} "
                f"cpu={cpu:.0f}% " + " ".join(f"{k}={v}" for k, v in top),
                flush=True,
            )
        previous = snap


# -- processes ------------------------------------------------------------------------------
def _install_loop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _single(args: argparse.Namespace) -> None:
    stop = _stop_event()
    st = Stats(0, args.heartbeat_interval)
    server = await run_ws(st, args.host, args.port, reuse_port=False)
    agg = Aggregator(st, [])
    stats_server = await serve_stats(agg, args.host, args.stats_port)
    print(_banner(args), flush=True)
    reporter = asyncio.create_task(report_every_second(agg, stop)) if args.verbose else None
    await stop.wait()
    if reporter:
        await reporter
    stats_server.close()
    server.close(close_connections=True)
    await asyncio.wait_for(server.wait_closed(), 5)


async def _worker(args: argparse.Namespace, index: int, pipe: Connection) -> None:
    stop = _stop_event()
    st = Stats(index, args.heartbeat_interval)
    server = await run_ws(st, args.host, args.port, reuse_port=True)
    loop = asyncio.get_running_loop()

    def on_request() -> None:
        while pipe.poll():
            try:
                request = pipe.recv()
            except EOFError:
                stop.set()
                return
            pipe.send(_answer(st, request))

    loop.add_reader(pipe.fileno(), on_request)
    pipe.send("ready")
    await stop.wait()
    server.close(close_connections=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.wait_closed(), 5)


def _die_with_parent() -> None:
    """A worker must not outlive the parent, even one killed with SIGKILL (Linux)."""
    if sys.platform == "linux":
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


def _worker_main(args: argparse.Namespace, index: int, pipe: Connection) -> None:
    _die_with_parent()
    _install_loop()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_worker(args, index, pipe))


async def _parent(args: argparse.Namespace) -> None:
    stop = _stop_event()
    context = multiprocessing.get_context("fork")
    pipes: list[Connection] = []
    workers = []
    for index in range(args.workers):
        ours, theirs = context.Pipe()
        process = context.Process(target=_worker_main, args=(args, index, theirs), daemon=True)
        process.start()
        pipes.append(ours)
        workers.append(process)
    try:
        for pipe in pipes:
            if not await asyncio.to_thread(pipe.poll, 20):
                raise RuntimeError("a CSMS worker did not start")
            pipe.recv()
        agg = Aggregator(None, pipes)
        stats_server = await serve_stats(agg, args.host, args.stats_port)
        print(_banner(args), flush=True)
        reporter = asyncio.create_task(report_every_second(agg, stop)) if args.verbose else None
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if any(not p.is_alive() for p in workers):
                print("csms: a worker died; stopping", file=sys.stderr, flush=True)
                stop.set()
        if reporter:
            await reporter
        stats_server.close()
    finally:
        for process in workers:
            if process.is_alive() and process.pid:
                os.kill(process.pid, signal.SIGTERM)
        for process in workers:
            process.join(5)
            if process.is_alive():
                process.kill()


def _banner(args: argparse.Namespace) -> str:
    return (
        f"csms listening ws://{args.host}:{args.port}/ocpp/<identity> "
        f"stats http://{args.host}:{args.stats_port}/stats workers={args.workers}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--stats-port", type=int, default=0, help="default: --port + 1")
    parser.add_argument("--heartbeat-interval", type=int, default=60)
    parser.add_argument("--workers", type=int, default=1, help="SO_REUSEPORT processes")
    parser.add_argument("--verbose", action="store_true", help="print a line per second")
    args = parser.parse_args(argv)
    if not args.stats_port:
        args.stats_port = args.port + 1
    _install_loop()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_single(args) if args.workers <= 1 else _parent(args))


if __name__ == "__main__":
    main()
