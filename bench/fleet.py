"""Fleet benchmark: one ``voltlab serve`` against the fast bench CSMS (bench/csms.py).

    .venv/bin/python bench/fleet.py --chargers 10000 --ocpp 1.6
    .venv/bin/python bench/fleet.py --quick --ocpp 2.0.1      # CI: correctness, < 60 s

Starts the CSMS and voltlab as subprocesses (temp data dir, SQLite unless
``--database-url``), bulk-creates N one-connector chargers in one location job and
measures, in order: the boot storm, RSS per charger, idle CPU, single-charger command
latency, a start-session fan-out, meter-value load with the API latency meanwhile, and
a restart of voltlab (SIGTERM, then kill -9). Prints a table of every figure against
its target (issue 9), writes the figures to bench/results/<time>-<N>-<ocpp>.json and
ends with one ``SUMMARY ...`` line. Exit status: 0, or 1 when a correctness check
failed (a charger not booted, a frame lost, an API error, a transaction not resumed),
or 2 with ``--strict`` when a speed target was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.table import Table

from stats import percentile

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
CSMS_SCRIPT = BENCH_DIR / "csms.py"

ORG = "bench"
ID_TAG = "BENCHTAG"
# One-connector AC model offered by both OCPP versions, so 1.6 and 2.0.1 runs compare.
MODEL = {"brand_slug": "alfen", "model_slug": "eve-single-pro-line", "connector_type": "Type2"}
HEARTBEAT_S = 60
METER_INTERVAL_S = 10
FANOUT_MAX = 1_000
MAX_PER_JOB = 10_000

console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)


class BenchError(Exception):
    """The bench could not go on (a process did not start, a deadline passed)."""


# -- small helpers -----------------------------------------------------------------------
def latency_summary(samples_s: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in samples_s]
    return {
        "n": len(ms),
        "p50_ms": _round(percentile(ms, 50), 2),
        "p95_ms": _round(percentile(ms, 95), 2),
        "p99_ms": _round(percentile(ms, 99), 2),
        "max_ms": _round(max(ms), 2) if ms else None,
    }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Deadline:
    """The whole run's time budget; every wait is bounded by it."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def within(self, seconds: float) -> float:
        """A monotonic deadline ``seconds`` from now, never past the run's end."""
        return min(time.monotonic() + seconds, self.end)


# -- subprocesses ------------------------------------------------------------------------
@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int, *, group: bool = False) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(self.popen.pid, sig)
            else:
                self.popen.send_signal(sig)

    async def wait(self, timeout: float) -> int | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            code = self.popen.poll()
            if code is not None:
                return code
            await asyncio.sleep(0.05)
        return None

    def kill_tree(self) -> None:
        """SIGTERM the process group, then SIGKILL what is left (synchronous, bounded)."""
        if self.alive():
            self.signal(signal.SIGTERM, group=True)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(5)
        self.signal(signal.SIGKILL, group=True)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def die_with_parent() -> None:
    """In the child, before exec: SIGKILL it when the bench dies, even by kill -9 (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def spawn(name: str, argv: list[str], log_path: Path, env: dict[str, str]) -> Proc:
    handle = log_path.open("ab")
    try:
        popen = subprocess.Popen(
            argv,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: killpg on any exit
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
            cwd=BENCH_DIR.parent,
        )
    finally:
        handle.close()
    return Proc(name, popen, log_path)


def host_busy_s() -> float:
    """CPU seconds the whole machine spent busy (all cores, all processes)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def tree_of(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss(pid: int) -> int:
    total = 0
    for proc in tree_of(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total


def tree_cpu_s(pid: int) -> float:
    total = 0.0
    for proc in tree_of(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


# -- the two peers -----------------------------------------------------------------------
class CsmsClient:
    def __init__(self, port: int) -> None:
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=15)

    async def stats(self, *, exact: bool = False) -> dict[str, Any]:
        response = await self.http.get("/stats", params={"exact": "1"} if exact else None)
        response.raise_for_status()
        return response.json()

    async def identity(self, identity: str) -> dict[str, Any]:
        response = await self.http.get(f"/identity/{identity}")
        response.raise_for_status()
        return response.json()

    async def reset(self) -> None:
        (await self.http.post("/reset")).raise_for_status()


class Api:
    """voltlab's REST API; every unexpected status is kept as an error."""

    def __init__(self, port: int, token: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
        )
        self.errors: list[str] = []
        self.calls = 0

    async def request(
        self, method: str, path: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any
    ) -> tuple[httpx.Response | None, float]:
        self.calls += 1
        started = time.perf_counter()
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.errors.append(f"{method} {path}: {type(exc).__name__}: {exc}")
            return None, time.perf_counter() - started
        elapsed = time.perf_counter() - started
        if response.status_code not in expect:
            self.errors.append(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response, elapsed

    async def json(
        self, method: str, path: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any
    ) -> Any:
        response, _ = await self.request(method, path, expect=expect, **kwargs)
        if response is None or response.status_code not in expect:
            raise BenchError(f"{method} {path} failed: {self.errors[-1]}")
        return response.json()


# -- results -----------------------------------------------------------------------------
@dataclass
class Target:
    key: str
    label: str
    limit: float | tuple[float, float]
    unit: str
    higher_is_worse: bool = True

    def describe(self) -> str:
        if isinstance(self.limit, tuple):
            return f"{self.limit[0]:g}-{self.limit[1]:g} {self.unit}"
        return f"{'<=' if self.higher_is_worse else '>='} {self.limit:g} {self.unit}"

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return False
        if isinstance(self.limit, tuple):
            return self.limit[0] <= value <= self.limit[1]
        return value <= self.limit if self.higher_is_worse else value >= self.limit


def targets_for(ocpp: str, chargers: int) -> list[Target]:
    """Issue 9's targets; they are stated for 10,000 chargers and held at any N."""
    targets = [
        Target(
            "boot_s",
            "boot storm: all BootNotifications at the CSMS",
            10 if ocpp == "1.6" else 12,
            "s",
        ),
        Target("rss_kib_per_charger", "RSS growth per connected charger", 50, "KiB"),
        Target("idle_cpu_pct", "idle CPU, all connected (heartbeats only)", 3, "% core"),
        Target("cmd_p50_ms", "single-charger command p50 (worst of both)", 5, "ms"),
        Target("cmd_p99_ms", "single-charger command p99 (worst of both)", 25, "ms"),
        Target("fanout_202_ms", "start-session fan-out: the 202", 100, "ms"),
        Target("fanout_all_s", "start-session fan-out: all starts at the CSMS", 3, "s"),
        Target("meter_rate_pct", "meter frames at the CSMS vs configured rate", (98, 102), "%"),
        Target("meter_api_p99_ms", "API p99 during meter load", 50, "ms"),
        Target("restart_s", "restart (SIGTERM): all reconnected, from the signal", 30, "s"),
        Target("restart_kill_s", "restart (kill -9): all reconnected, from the signal", 30, "s"),
    ]
    if chargers >= 10_000:
        targets.insert(2, Target("rss_tree_mb", "RSS of the voltlab tree at 10,000", 700, "MB"))
    return targets


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Results:
    figures: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, bool(ok), detail))
        if not ok:
            console.print(f"[red]CHECK FAILED[/] {name}: {detail}")
        return bool(ok)

    @property
    def correct(self) -> bool:
        return all(c.ok for c in self.checks)


# -- the benchmark -----------------------------------------------------------------------
@dataclass
class Options:
    chargers: int
    ocpp: str
    quick: bool
    database_url: str | None
    ramp: float | None
    csms_workers: int
    idle_window_s: float
    meter_window_s: float
    meter_interval_s: int
    latency_calls: int
    timeout_s: float
    skip: set[str]
    profile: set[str]
    profile_rate: int
    keep_data: bool
    strict: bool
    results_dir: Path


class FleetBench:
    def __init__(self, opts: Options) -> None:
        self.o = opts
        self.r = Results()
        self.deadline = Deadline(opts.timeout_s)
        self.tmp = Path(tempfile.mkdtemp(prefix="voltlab-bench-"))
        self.data_dir = self.tmp / "data"
        self.secret = secrets.token_urlsafe(32)
        self.csms_port = free_port()
        self.csms_stats_port = free_port()
        self.api_port = free_port()
        self.csms_proc: Proc | None = None
        self.voltlab: Proc | None = None
        self.voltlab_runs = 0
        self.csms: CsmsClient | None = None
        self.api: Api | None = None
        self.location_id = ""
        self.charger_ids: list[str] = []
        self.identities: list[str] = []
        self.charging: list[str] = []  # identities with a started session
        self.status_per_charger = 2 if opts.ocpp == "1.6" else 1  # 1.6 adds connector 0
        self.meter_key = "MeterValues" if opts.ocpp == "1.6" else "TransactionEvent:Updated"
        self.start_key = "StartTransaction" if opts.ocpp == "1.6" else "TransactionEvent:Started"
        self.stop_key = "StopTransaction" if opts.ocpp == "1.6" else "TransactionEvent:Ended"
        self.list_version = 0
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")

    # -- lifecycle ------------------------------------------------------------------------
    async def start_csms(self) -> None:
        argv = [
            sys.executable,
            str(CSMS_SCRIPT),
            "--host=127.0.0.1",
            f"--port={self.csms_port}",
            f"--stats-port={self.csms_stats_port}",
            f"--heartbeat-interval={HEARTBEAT_S}",
            f"--workers={self.o.csms_workers}",
        ]
        self.csms_proc = spawn("csms", argv, self.tmp / "csms.log", dict(os.environ))
        self.csms = CsmsClient(self.csms_stats_port)
        end = self.deadline.within(20)
        while time.monotonic() < end:
            if not self.csms_proc.alive():
                raise BenchError(f"the CSMS exited:\n{self.csms_proc.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                await self.csms.stats()
                return
            await asyncio.sleep(0.1)
        raise BenchError("the CSMS did not come up in 20 s")

    def voltlab_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOLTLAB_")}
        env.update(
            {
                "VOLTLAB_JWT_SECRET": self.secret,
                "VOLTLAB_DATA_DIR": str(self.data_dir),
                "VOLTLAB_LOG_LEVEL": "warning",  # no access log line per request
                "VOLTLAB_MAX_CHARGERS": str(max(20_000, self.o.chargers)),
            }
        )
        if self.o.database_url:
            env["VOLTLAB_DATABASE_URL"] = self.o.database_url
        ramp_field = self.ramp_setting()
        if self.o.ramp and ramp_field:
            env[f"VOLTLAB_{ramp_field.upper()}"] = str(self.o.ramp)
        return env

    @staticmethod
    def ramp_setting() -> str | None:
        """The voltlab setting for a connection ramp, if this version has one."""
        with contextlib.suppress(ImportError):
            from voltlab.settings import Settings

            for name in Settings.model_fields:
                if "ramp" in name:
                    return name
        return None

    async def start_voltlab(self) -> float:
        """Start ``voltlab serve``; returns the seconds until ``/health`` answered."""
        started = time.monotonic()
        self.launch_voltlab()
        return await self.voltlab_healthy(started)

    def launch_voltlab(self) -> None:
        self.voltlab_runs += 1
        argv = [
            sys.executable,
            "-m",
            "voltlab",
            "serve",
            "--host=127.0.0.1",
            f"--port={self.api_port}",
            f"--data-dir={self.data_dir}",
        ]
        self.voltlab = spawn("voltlab", argv, self.tmp / "voltlab.log", self.voltlab_env())

    async def voltlab_healthy(self, started: float) -> float:
        assert self.voltlab is not None
        limit = 60 + self.o.chargers / 50  # a restart resumes every charger first
        end = self.deadline.within(limit)
        async with httpx.AsyncClient(timeout=2) as probe:
            while time.monotonic() < end:
                if not self.voltlab.alive():
                    raise BenchError(f"voltlab exited:\n{self.voltlab.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    response = await probe.get(f"http://127.0.0.1:{self.api_port}/health")
                    if response.status_code == 200:
                        return time.monotonic() - started
                await asyncio.sleep(0.05)
        raise BenchError(f"voltlab did not answer /health in {limit:.0f} s:\n{self.voltlab.tail()}")

    def stop_processes(self) -> None:
        for proc in (self.voltlab, self.csms_proc):
            if proc is not None:
                proc.kill_tree()

    def remove_data(self) -> None:
        if self.o.keep_data:
            console.print(f"data and logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    async def close_clients(self) -> None:
        for client in (self.api, self.csms):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.http.aclose()

    # -- measuring helpers ----------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def phase(self, name: str) -> AsyncIterator[dict[str, Any]]:
        """Wall time and CPU of voltlab, the CSMS and the bench itself over a phase."""
        assert self.csms is not None and self.voltlab is not None
        info: dict[str, Any] = {}
        pid = self.voltlab.pid
        before_csms = await self.csms.stats()
        before_voltlab = tree_cpu_s(pid)
        before_bench = time.process_time()
        before_host = host_busy_s()
        started = time.monotonic()
        # A phase that restarts voltlab starts its profiler itself (info["_profiler"]).
        profiler = None if name.startswith("restart") else self.start_profiler(name)
        try:
            yield info
        finally:
            wall = max(time.monotonic() - started, 1e-6)
            after_csms = await self.csms.stats()
            voltlab_pid_same = self.voltlab.pid == pid
            csms_workers = [
                100 * (b - a) / wall
                for a, b in zip(
                    before_csms["cpu_s_per_worker"], after_csms["cpu_s_per_worker"], strict=False
                )
            ]
            info.update(
                {
                    "wall_s": round(wall, 3),
                    "csms_cpu_pct": round(
                        100 * (after_csms["cpu_s"] - before_csms["cpu_s"]) / wall, 1
                    ),
                    "csms_busiest_worker_pct": round(max(csms_workers, default=0.0), 1),
                    "bench_cpu_pct": round(100 * (time.process_time() - before_bench) / wall, 1),
                    "csms_frames": after_csms["frames"] - before_csms["frames"],
                }
            )
            if voltlab_pid_same:
                info["voltlab_cpu_pct"] = round(100 * (tree_cpu_s(pid) - before_voltlab) / wall, 1)
            else:  # restarted within the phase: the new process's whole life
                info["voltlab_cpu_pct"] = round(100 * tree_cpu_s(self.voltlab.pid) / wall, 1)
            host = 100 * (host_busy_s() - before_host) / wall
            ours = info["voltlab_cpu_pct"] + info["csms_cpu_pct"] + info["bench_cpu_pct"]
            info["host_cpu_pct"] = round(host, 1)
            info["other_cpu_pct"] = round(max(0.0, host - ours), 1)
            if info["other_cpu_pct"] >= 25:
                self.r.notes.append(
                    f"phase {name}: other processes on this machine used "
                    f"{info['other_cpu_pct']:.0f}% of a core meanwhile; its figures are disturbed"
                )
            profiler = info.pop("_profiler", None) or profiler
            if profiler is not None:
                info["profile"] = await self.stop_profiler(profiler, name)
            self.r.phases[name] = info
            if info["csms_busiest_worker_pct"] >= 90:
                self.r.notes.append(
                    f"phase {name}: the CSMS was the bottleneck (busiest worker at "
                    f"{info['csms_busiest_worker_pct']:.0f}% of a core); rerun with "
                    "--csms-workers 2 or read this figure as a lower bound"
                )

    def start_profiler(self, phase: str) -> subprocess.Popen[bytes] | None:
        if phase not in self.o.profile or self.voltlab is None:
            return None
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(py_spy).exists():
            self.r.notes.append("py-spy is not installed: no profile taken")
            return None
        out = self.o.results_dir / f"{self.stamp}-{self.o.chargers}-{self.o.ocpp}-{phase}.txt"
        self.o.results_dir.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(self.voltlab.pid),
                "--format",
                "raw",
                "--rate",
                str(self.o.profile_rate),
                "--gil",  # only the thread running Python: where the CPU goes
                "--nonblocking",
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    async def stop_profiler(self, proc: subprocess.Popen[bytes], phase: str) -> dict[str, Any]:
        out = self.o.results_dir / f"{self.stamp}-{self.o.chargers}-{self.o.ocpp}-{phase}.txt"
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        for _ in range(100):
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        else:
            proc.kill()
        return {"raw": str(out), **summarize_profile(out)}

    async def csms_stats(self, exact: bool = False) -> dict[str, Any]:
        assert self.csms is not None
        return await self.csms.stats(exact=exact)

    async def wait_for(
        self,
        what: str,
        done: Callable[[dict[str, Any]], bool],
        seconds: float,
        *,
        every: float = 0.1,
    ) -> tuple[bool, dict[str, Any]]:
        """Poll the CSMS until ``done(stats)``; bounded by ``seconds`` and the run's end."""
        end = self.deadline.within(seconds)
        stats = await self.csms_stats()
        while not done(stats):
            if time.monotonic() >= end:
                return False, stats
            if self.voltlab is not None and not self.voltlab.alive():
                raise BenchError(f"voltlab died while waiting for {what}:\n{self.voltlab.tail()}")
            await asyncio.sleep(every)
            stats = await self.csms_stats()
        return True, stats

    async def health(self) -> dict[str, Any]:
        assert self.api is not None
        return await self.api.json("GET", "/health")

    async def framelog_settled(self, seconds: float = 20) -> dict[str, Any]:
        end = self.deadline.within(seconds)
        health = await self.health()
        while health["framelog"]["pending"] and time.monotonic() < end:
            await asyncio.sleep(0.2)
            health = await self.health()
        return health

    # -- setup ----------------------------------------------------------------------------
    async def setup(self) -> None:
        from voltlab.auth.tokens import mint_token

        await self.start_csms()
        self.r.figures["voltlab_startup_s"] = round(await self.start_voltlab(), 2)
        token = mint_token(key=self.secret, role="user", org=ORG, ttl_s=6 * 3600, sub="bench")
        self.api = Api(self.api_port, token)
        location = await self.api.json(
            "POST", "/ocpp/locations", expect=(201,), json={"name": "bench fleet"}
        )
        self.location_id = location["id"]

    def template(self) -> dict[str, Any]:
        return {
            **MODEL,
            "ocpp_version": "OCPP1.6" if self.o.ocpp == "1.6" else "OCPP2.0.1",
            "ws_url": f"ws://127.0.0.1:{self.csms_port}/ocpp",
            "identity_prefix": "bench-",
            "heartbeat_interval_s": HEARTBEAT_S,
            "meter_interval_s": self.o.meter_interval_s,
        }

    async def create_job(self, suffixes: list[str]) -> str:
        assert self.api is not None
        body = [
            {"template": self.template(), "charger_ids": suffixes, "chargers_number": len(suffixes)}
        ]
        accepted = await self.api.json(
            "POST", f"/ocpp/locations/{self.location_id}/chargers", expect=(202,), json=body
        )
        return accepted["job_id"]

    # -- (a) boot storm, (b) memory -------------------------------------------------------
    async def boot_storm(self) -> None:
        assert self.api is not None and self.csms is not None and self.voltlab is not None
        n = self.o.chargers
        await self.csms.reset()
        await asyncio.sleep(0.5)  # let voltlab's start-up work finish before the baseline
        self.r.figures["rss_before_mb"] = round(tree_rss(self.voltlab.pid) / 2**20, 1)
        suffixes = [f"{i:05d}" for i in range(1, n + 1)]
        async with self.phase("boot") as info:
            t0 = time.time()
            jobs: list[str] = []
            if self.o.ramp and not self.ramp_setting():
                # No ramp setting in this voltlab: create chargers in one job per second.
                step = max(1, int(self.o.ramp))
                self.r.notes.append(
                    f"voltlab has no connection-ramp setting: the bench created the chargers "
                    f"in jobs of {step} per second instead of one job"
                )
                for start in range(0, n, step):
                    jobs.append(await self.create_job(suffixes[start : start + step]))
                    if start + step < n:
                        await asyncio.sleep(1)
            else:
                for start in range(0, n, MAX_PER_JOB):
                    jobs.append(await self.create_job(suffixes[start : start + MAX_PER_JOB]))
            post_s = time.time() - t0
            want_status = n * self.status_per_charger
            boot_budget = 30 if self.o.quick else max(60, n / 40)
            job_results, job_s = await self.poll_jobs(jobs, t0, boot_budget)
            booted_ok, stats = await self.wait_for(
                "the boot storm",
                lambda s: (
                    s["booted"] >= n
                    and s["status_ids"] >= n
                    and s["received"].get("StatusNotification", 0) >= want_status
                ),
                max(1.0, boot_budget - (time.time() - t0)),
            )
            info["post_s"] = round(post_s, 3)
        created = [c for r in job_results for c in r["results"]["created"]]
        failed = [c for r in job_results for c in r["results"]["failed"]]
        self.charger_ids = [c["charger_id"] for c in created]
        self.identities = [c["identity"] for c in created]
        self.r.figures.update(
            {
                "job_s": _round(job_s, 2),
                "booted": stats["booted"],
                "status_frames": stats["received"].get("StatusNotification", 0),
                "boot_s": _round(stats["new_at"].get("boot", 0) - t0, 2)
                if stats["booted"] >= n
                else None,
                "boot_status_s": _round(stats["last_at"].get("StatusNotification", 0) - t0, 2)
                if booted_ok
                else None,
                "boot_post_s": round(post_s, 3),
                "csms_connects": stats["connects"],
            }
        )
        self.r.check(
            "bulk job READY with every charger created",
            all(r["status"] == "READY" for r in job_results) and len(created) == n and not failed,
            f"jobs={[r['status'] for r in job_results]} created={len(created)} failed={len(failed)}"
            + (f" first failure: {failed[0]}" if failed else ""),
        )
        self.r.check(
            "every charger booted (distinct BootNotifications at the CSMS)",
            stats["booted"] >= n,
            f"{stats['booted']}/{n} booted (limit {boot_budget:.0f} s)",
        )
        self.r.check(
            "every charger's StatusNotifications arrived",
            stats["status_ids"] >= n
            and stats["received"].get("StatusNotification", 0) >= want_status,
            f"{stats['status_ids']}/{n} chargers, "
            f"{stats['received'].get('StatusNotification', 0)}/{want_status} frames",
        )
        self.r.check(
            "one connection per charger (no reconnects during the boot storm)",
            stats["connects"] == n and stats["open"] == n,
            f"connects={stats['connects']} open={stats['open']} (want {n})",
        )

    async def poll_jobs(
        self, jobs: list[str], t0: float, seconds: float
    ) -> tuple[list[dict[str, Any]], float | None]:
        """Poll the job(s) until READY/FAILED. A poll that times out is an API error,
        but the bench goes on: the slowest poll is the API's stall during the storm."""
        assert self.api is not None
        end = self.deadline.within(seconds)
        results: dict[str, dict[str, Any]] = {}
        slowest = 0.0
        try:
            while time.monotonic() < end:
                for job_id in jobs:
                    if job_id in results:
                        continue
                    response, took = await self.api.request(
                        "GET",
                        f"/ocpp/locations/{self.location_id}/chargers/jobs/{job_id}",
                        timeout=10,
                    )
                    slowest = max(slowest, took)
                    if response is not None and response.status_code == 200:
                        job = response.json()
                        if job["status"] in ("READY", "FAILED"):
                            results[job_id] = job
                if len(results) == len(jobs):
                    return [results[j] for j in jobs], time.time() - t0
                await asyncio.sleep(0.2)
        finally:
            self.r.figures["boot_api_max_ms"] = round(slowest * 1000, 1)
        raise BenchError(f"bulk job(s) not finished in {seconds:.0f} s")

    async def memory(self) -> None:
        assert self.voltlab is not None
        n = self.o.chargers
        after = tree_rss(self.voltlab.pid)
        before = self.r.figures["rss_before_mb"] * 2**20
        self.r.figures["rss_after_mb"] = round(after / 2**20, 1)
        self.r.figures["rss_tree_mb"] = round(after / 2**20, 1)
        self.r.figures["rss_kib_per_charger"] = round((after - before) / 1024 / n, 1)

    # -- (c) idle CPU ---------------------------------------------------------------------
    async def idle(self) -> None:
        assert self.voltlab is not None
        await self.framelog_settled()
        await asyncio.sleep(1)
        window = self.o.idle_window_s
        before = await self.csms_stats()
        async with self.phase("idle") as info:
            cpu0 = tree_cpu_s(self.voltlab.pid)
            t0 = time.monotonic()
            await asyncio.sleep(min(window, max(0.0, self.deadline.remaining() - 5)))
            wall = time.monotonic() - t0
            cpu = tree_cpu_s(self.voltlab.pid) - cpu0
        after = await self.csms_stats()
        await self.memory()  # steady state: after the storm and the frame log settled
        heartbeats = after["received"].get("Heartbeat", 0) - before["received"].get("Heartbeat", 0)
        self.r.figures.update(
            {
                "idle_cpu_pct": round(100 * cpu / wall, 2),
                "idle_window_s": round(wall, 1),
                "idle_heartbeats": heartbeats,
                "idle_heartbeats_expected": round(self.o.chargers * wall / HEARTBEAT_S),
            }
        )
        info["heartbeats"] = heartbeats
        self.r.check(
            "connections stay up while idle",
            after["disconnects"] == before["disconnects"] and after["open"] == self.o.chargers,
            f"disconnects +{after['disconnects'] - before['disconnects']}, open={after['open']}",
        )

    # -- (d) command latency --------------------------------------------------------------
    def local_list_body(self, charger_id: str) -> dict[str, Any]:
        self.list_version += 1
        v = self.list_version
        return {
            "target": {"charger_id": charger_id},
            "event": {
                "list_version": v,
                "entries": [{"id_tag": f"T{v}-{i}"} for i in range(10)],
            },
        }

    async def latency(self) -> None:
        assert self.api is not None
        charger = self.charger_ids[0]
        samples: dict[str, list[float]] = {"local_auth_list": [], "get_charger": []}
        bad_before = len(self.api.errors)
        async with self.phase("latency"):
            for _ in range(5):  # warm-up: connection pool, first-use code paths
                await self.api.request(
                    "POST", "/ocpp/commands/local-auth-list", json=self.local_list_body(charger)
                )
                await self.api.request("GET", f"/ocpp/chargers/{charger}")
            for _ in range(self.o.latency_calls):
                _, s = await self.api.request(
                    "POST", "/ocpp/commands/local-auth-list", json=self.local_list_body(charger)
                )
                samples["local_auth_list"].append(s)
            for _ in range(self.o.latency_calls):
                response, s = await self.api.request("GET", f"/ocpp/chargers/{charger}")
                samples["get_charger"].append(s)
        summary = {name: latency_summary(values) for name, values in samples.items()}
        self.r.figures["cmd"] = summary
        self.r.figures["cmd_p50_ms"] = max(s["p50_ms"] for s in summary.values())
        self.r.figures["cmd_p95_ms"] = max(s["p95_ms"] for s in summary.values())
        self.r.figures["cmd_p99_ms"] = max(s["p99_ms"] for s in summary.values())
        runtime = response.json()["runtime"] if response is not None else {}
        self.r.check(
            "single-charger commands answered without error",
            len(self.api.errors) == bad_before,
            "; ".join(self.api.errors[bad_before:][:3]),
        )
        self.r.check(
            "the charger's runtime reads connected and Accepted",
            runtime.get("connection") == "connected" and runtime.get("boot_status") == "Accepted",
            f"runtime={ {k: runtime.get(k) for k in ('state', 'connection', 'boot_status')} }",
        )

    # -- (e) fan-out, (f) meter load ------------------------------------------------------
    async def start_sessions(self, ids: list[str]) -> tuple[dict[str, Any] | None, float]:
        assert self.api is not None
        body = {
            "target": {"location_id": self.location_id, "charger_ids": ids},
            "event": {"id_tag": ID_TAG},
        }
        response, seconds = await self.api.request(
            "POST", "/ocpp/commands/start-session", expect=(202,), json=body
        )
        if response is None or response.status_code != 202:
            return None, seconds
        return response.json(), seconds

    async def fan_out(self) -> None:
        n = min(FANOUT_MAX, len(self.charger_ids))
        ids = self.charger_ids[:n]
        before = await self.csms_stats()
        async with self.phase("fanout"):
            t0 = time.time()
            report, seconds = await self.start_sessions(ids)
            ok, stats = await self.wait_for(
                "the fan-out starts",
                lambda s: s["started_ids"] - before["started_ids"] >= n,
                30 if self.o.quick else 60,
                every=0.05,
            )
        started = stats["started_ids"] - before["started_ids"]
        self.charging = self.identities[:n]
        self.r.figures.update(
            {
                "fanout_n": n,
                "fanout_202_ms": round(seconds * 1000, 1),
                "fanout_all_s": _round(stats["new_at"].get("started", 0) - t0, 2) if ok else None,
                "fanout_started": started,
            }
        )
        self.r.check(
            f"fan-out start-session: 202 with all {n} queued",
            report is not None and report["queued_count"] == n and report["failed_count"] == 0,
            "no 202"
            if report is None
            else f"queued={report['queued_count']} failed={report['failed']}"[:300],
        )
        self.r.check(
            f"every started transaction's {self.start_key} arrived",
            started >= n,
            f"{started}/{n} at the CSMS",
        )

    async def meter_load(self) -> None:
        assert self.api is not None
        rest = self.charger_ids[len(self.charging) :]
        if rest:
            before = await self.csms_stats()
            report, _ = await self.start_sessions(rest)
            ok, stats = await self.wait_for(
                "all sessions started",
                lambda s: s["started_ids"] - before["started_ids"] >= len(rest),
                30 if self.o.quick else max(60, len(rest) / 100),
            )
            self.r.check(
                f"start-session on the other {len(rest)} chargers",
                report is not None and report["failed_count"] == 0 and ok,
                f"{stats['started_ids'] - before['started_ids']}/{len(rest)} started",
            )
        self.charging = list(self.identities)
        # Every charger sends its first sample one interval after its start.
        await asyncio.sleep(
            min(self.o.meter_interval_s + 1, max(0, self.deadline.remaining() - 30))
        )
        window = self.o.meter_window_s
        latencies: list[float] = []
        by_kind: dict[str, list[float]] = {"read": [], "command": []}
        stop = asyncio.Event()

        async def api_load() -> None:
            # Paced reads and writes while the meter frames flow: 10 requests/s.
            assert self.api is not None
            i = 0
            while not stop.is_set():
                charger = self.charger_ids[i % len(self.charger_ids)]
                if i % 2:
                    _, s = await self.api.request(
                        "POST",
                        "/ocpp/commands/local-auth-list",
                        json=self.local_list_body(self.charger_ids[0]),
                        timeout=30,
                    )
                else:
                    _, s = await self.api.request("GET", f"/ocpp/chargers/{charger}", timeout=30)
                latencies.append(s)
                by_kind["command" if i % 2 else "read"].append(s)
                i += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.1)

        bad_before = len(self.api.errors)
        async with self.phase("meter") as info:
            first = await self.csms_stats()
            loader = asyncio.create_task(api_load())
            await asyncio.sleep(min(window, max(0.0, self.deadline.remaining() - 20)))
            last = await self.csms_stats()
            stop.set()
            await loader
        wall = last["time"] - first["time"]
        frames = last["meter_frames"] - first["meter_frames"]
        expected = len(self.charging) / self.o.meter_interval_s
        actual = frames / wall
        health = await self.health()
        api = latency_summary(latencies)
        info["api"] = api
        info["api_by_kind"] = {kind: latency_summary(v) for kind, v in by_kind.items()}
        self.r.figures.update(
            {
                "meter_window_s": round(wall, 1),
                "meter_expected_per_s": round(expected, 1),
                "meter_actual_per_s": round(actual, 1),
                "meter_rate_pct": round(100 * actual / expected, 1) if expected else None,
                "meter_api_p50_ms": api["p50_ms"],
                "meter_api_p99_ms": api["p99_ms"],
                "meter_api_read_p99_ms": info["api_by_kind"]["read"]["p99_ms"],
                "meter_api_command_p99_ms": info["api_by_kind"]["command"]["p99_ms"],
                "meter_framelog_pending": health["framelog"]["pending"],
                # voltlab's own probe of its event loop (absent before the probe existed)
                "meter_loop_lag_p99_ms": health.get("event_loop_lag", {}).get("p99_ms"),
                "meter_loop_lag_max_ms": health.get("event_loop_lag", {}).get("max_ms"),
                "meter_unknown_tx": last["meter_unknown_tx"],
            }
        )
        self.r.check(
            "API answered without error under meter load",
            len(self.api.errors) == bad_before,
            "; ".join(self.api.errors[bad_before:][:3]),
        )
        self.r.check(
            "meter frames reference the transaction the CSMS started",
            last["meter_unknown_tx"] == 0 and last["overlapping_starts"] == 0,
            f"unknown tx ids={last['meter_unknown_tx']} "
            f"overlapping starts={last['overlapping_starts']}",
        )

    # -- frame log spot check -------------------------------------------------------------
    async def frame_log(self) -> None:
        """The frame log of a few chargers holds every CALL the CSMS received from them."""
        assert self.api is not None
        health = await self.framelog_settled()
        self.r.figures["framelog_written"] = health["framelog"]["written"]
        self.r.figures["framelog_dropped"] = health["framelog"]["dropped"]
        self.r.check(
            "frame log dropped nothing", health["framelog"]["dropped"] == 0, str(health["framelog"])
        )
        if health["framelog"]["pending"]:
            # A backlog, not a loss: the frames are still queued in voltlab.
            self.r.check(
                "frame log keeps up (nothing pending 20 s after the load)",
                False,
                f"{health['framelog']['pending']} frames still pending; sampled chargers not "
                "compared",
            )
            return
        stable = (
            "BootNotification",
            "StatusNotification",
            "Authorize",
            self.start_key.split(":")[0],
        )
        picks = sorted({0, len(self.charger_ids) // 2, len(self.charger_ids) - 1})
        mismatches: list[str] = []
        assert self.csms is not None
        for index in picks:
            charger, identity = self.charger_ids[index], self.identities[index]
            at_csms = (await self.csms.identity(identity))["received"]
            page = await self.api.json(
                "GET", f"/ocpp/chargers/{charger}/logs", params={"limit": 1000}
            )
            logged: Counter[str] = Counter()
            for entry in page["data"]:
                if entry["direction"] == "cp_to_csms" and entry["message"].startswith("[2,"):
                    logged[entry["action"]] += 1
            for action in stable:
                csms_count = sum(v for k, v in at_csms.items() if k.split(":")[0] == action)
                if logged[action] != csms_count:
                    mismatches.append(
                        f"{identity} {action}: log {logged[action]} csms {csms_count}"
                    )
        self.r.check(
            "frame log holds every CALL the CSMS received (sampled chargers)",
            not mismatches,
            "; ".join(mismatches[:4]),
        )

    # -- (g) restart ----------------------------------------------------------------------
    async def restart(self, sig: int, label: str) -> None:
        assert self.voltlab is not None and self.csms is not None
        n = self.o.chargers
        before = await self.csms_stats()
        old = self.voltlab
        t_sig = time.time()
        old.signal(sig, group=sig == signal.SIGKILL)
        code = await old.wait(min(60, max(1, self.deadline.remaining() - 10)))
        shutdown_s = time.time() - t_sig
        if code is None:
            self.r.notes.append(f"{label}: voltlab did not exit in 60 s after the signal; killed")
            old.kill_tree()
        await self.wait_for("the CSMS to see every connection close", lambda s: s["open"] == 0, 15)
        await self.csms.reset()
        async with self.phase(f"restart_{label}") as info:
            t_launch = time.time()
            launched = time.monotonic()
            self.launch_voltlab()
            info["_profiler"] = self.start_profiler(f"restart_{label}")
            health_s = await self.voltlab_healthy(launched)
            ok, stats = await self.wait_for(
                "reconnection after the restart",
                lambda s: s["booted"] >= n and s["open"] >= n,
                30 if self.o.quick else max(60, n / 100),
            )
        reconnected_at = max(stats["new_at"].get("boot", 0), stats["new_at"].get("connect", 0))
        key = "restart_s" if sig == signal.SIGTERM else "restart_kill_s"
        self.r.figures.update(
            {
                key: _round(reconnected_at - t_sig, 2) if ok else None,
                f"{key}_shutdown": round(shutdown_s, 2),
                f"{key}_from_launch": _round(reconnected_at - t_launch, 2) if ok else None,
                f"{key}_health_s": round(health_s, 2),
                f"{key}_exit_code": code,
            }
        )
        self.r.check(
            f"{label}: every charger reconnected and booted",
            ok,
            f"booted {stats['booted']}/{n}, open {stats['open']}/{n}",
        )
        # Resumed: every transaction open at the CSMS before the restart goes on with
        # meter values of the same transaction id. A start that was still queued in voltlab
        # may arrive now (delivered late, not lost); a second start for a charger whose
        # transaction is open, or a stop, is a failure.
        open_before = before["open_transactions"]
        resumed_ok, stats = await self.wait_for(
            "transactions to resume",
            lambda s: s["meter_ids"] >= open_before,
            self.o.meter_interval_s * 2 + 5,
            every=0.25,
        )
        starts = stats["received"].get(self.start_key, 0)
        stops = stats["received"].get(self.stop_key, 0)
        overlapping = stats["overlapping_starts"] - before["overlapping_starts"]
        self.r.figures[f"{key}_resumed"] = stats["meter_ids"]
        self.r.figures[f"{key}_late_starts"] = starts
        if starts:
            self.r.notes.append(
                f"{label}: {starts} {self.start_key} arrived only after the restart: sessions "
                "voltlab had accepted but whose start it had not sent before it stopped"
            )
        self.r.check(
            f"{label}: every open transaction resumed (meter values, same transaction id)",
            resumed_ok and stats["meter_unknown_tx"] == before["meter_unknown_tx"],
            f"{stats['meter_ids']}/{open_before} resumed, unknown tx ids "
            f"+{stats['meter_unknown_tx'] - before['meter_unknown_tx']}",
        )
        self.r.check(
            f"{label}: no transaction started twice or stopped",
            overlapping == 0 and stops == 0,
            f"second starts while open: {overlapping}, {self.stop_key} x{stops}, "
            f"late first starts x{starts}",
        )

    # -- the run --------------------------------------------------------------------------
    async def run(self) -> None:
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("boot", self.boot_storm),
            ("idle", self.idle),
            ("latency", self.latency),
            ("fanout", self.fan_out),
            ("meter", self.meter_load),
            ("framelog", self.frame_log),
            ("restart", lambda: self.restart(signal.SIGTERM, "sigterm")),
            ("restart", lambda: self.restart(signal.SIGKILL, "kill9")),
        ]
        await self.setup()
        for name, step in steps:
            if name in self.o.skip:
                continue
            if self.deadline.remaining() <= 0:
                raise BenchError(f"out of time before the {name} phase")
            console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] phase {name} ...")
            await step()
            if name in ("fanout", "meter") and not self.charger_ids:
                break

    def api_check(self) -> None:
        if self.api is not None:
            self.r.figures["api_calls"] = self.api.calls
            self.r.check(
                "no error from the API",
                not self.api.errors,
                f"{len(self.api.errors)} errors: " + "; ".join(self.api.errors[:3]),
            )

    def log_check(self) -> None:
        text = ""
        with contextlib.suppress(OSError):
            text = (self.tmp / "voltlab.log").read_text(errors="replace")
        exceptions = log_exceptions(text)
        errors = sum(
            1 for line in text.splitlines() if " ERROR " in line or line.startswith("ERROR")
        )
        tracebacks = sum(exceptions.values())
        self.r.figures["voltlab_log_tracebacks"] = tracebacks
        self.r.figures["voltlab_log_errors"] = errors
        self.r.figures["voltlab_log_exceptions"] = dict(exceptions.most_common(10))
        for line, count in exceptions.most_common(5):
            self.r.notes.append(f"voltlab logged x{count}: {line}")
        self.r.check(
            "voltlab logged no traceback",
            tracebacks == 0,
            f"{tracebacks} tracebacks, {errors} ERROR lines"
            + (f"; {exceptions.most_common(1)[0][0]}" if exceptions else ""),
        )

    async def csms_check(self) -> None:
        if self.csms is None:
            return
        with contextlib.suppress(httpx.HTTPError):
            stats = await self.csms_stats()
            self.r.figures["csms_received"] = stats["received"]
            self.r.check(
                "the CSMS saw only well-formed, known CALLs",
                stats["malformed"] == 0
                and stats["callerrors_sent"] == 0
                and stats["results_received"] == 0,
                f"malformed={stats['malformed']} unknown actions={stats['callerrors_sent']} "
                f"stray results={stats['results_received']}",
            )


def log_exceptions(text: str) -> Counter[str]:
    """Each traceback in a log as 'what was logged before it => the exception line'."""
    found: Counter[str] = Counter()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("Traceback (most recent call last)"):
            continue
        before = lines[i - 1].strip()[:160] if i else ""
        for follow in lines[i + 1 :]:
            if follow and not follow[0].isspace() and not follow.startswith("Traceback"):
                if follow.startswith(("During handling", "The above exception")):
                    continue
                found[f"{before} => {follow.strip()[:240]}"] += 1
                break
    return found


# -- profile summary ---------------------------------------------------------------------
def summarize_profile(path: Path, top: int = 15) -> dict[str, Any]:
    """Top functions by own samples and by inclusive samples from py-spy's raw output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {"error": "no profile written"}
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    pct = lambda c: round(100 * c / total, 1) if total else 0.0  # noqa: E731
    return {
        "samples": total,
        "top_own": [[frame, pct(c)] for frame, c in own.most_common(top)],
        "top_inclusive": [[frame, pct(c)] for frame, c in inclusive.most_common(top * 2)],
    }


# -- report ------------------------------------------------------------------------------
def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def report(bench: FleetBench, elapsed: float, error: str | None) -> int:
    o, r = bench.o, bench.r
    figures = r.figures
    targets = targets_for(o.ocpp, o.chargers)
    table = Table(
        title=f"voltlab fleet bench: {o.chargers} chargers, OCPP {o.ocpp}"
        + (" (quick: correctness, not speed)" if o.quick else "")
    )
    for column in ("figure", "value", "target", "result"):
        table.add_column(column)
    results = []
    for target in targets:
        value = figures.get(target.key)
        met = target.met(value) if target.key in figures or not _skipped(target.key, o) else None
        if _skipped(target.key, o):
            met = None
        results.append((target, value, met))
        mark = "[green]met[/]" if met else ("[dim]n/a[/]" if met is None else "[red]missed[/]")
        table.add_row(f"{target.label} ({target.key})", fmt(value), target.describe(), mark)
    cmd = figures.get("cmd", {})
    for name, s in cmd.items():
        table.add_row(
            f"  {name} p50/p95/p99/max",
            f"{fmt(s['p50_ms'])}/{fmt(s['p95_ms'])}/{fmt(s['p99_ms'])}/{fmt(s['max_ms'])} ms",
            "",
            "",
        )
    for key in (
        "rss_before_mb",
        "rss_after_mb",
        "job_s",
        "boot_api_max_ms",
        "csms_connects",
        "boot_status_s",
        "idle_heartbeats",
        "meter_expected_per_s",
        "meter_actual_per_s",
        "restart_s_from_launch",
        "restart_kill_s_from_launch",
        "voltlab_startup_s",
    ):
        if key in figures:
            table.add_row(f"  {key}", fmt(figures[key]), "", "")
    console.print(table)

    phases = Table(title="CPU by phase (% of one core)")
    for column in (
        "phase",
        "wall s",
        "voltlab",
        "CSMS (busiest worker)",
        "bench",
        "other processes",
        "CSMS frames",
    ):
        phases.add_column(column)
    for name, info in r.phases.items():
        busy = info.get("csms_busiest_worker_pct", 0)
        phases.add_row(
            name,
            fmt(info.get("wall_s")),
            fmt(info.get("voltlab_cpu_pct")),
            f"{fmt(info.get('csms_cpu_pct'))} ({fmt(busy)})"
            + (" [red]CSMS-bound[/]" if busy >= 90 else ""),
            fmt(info.get("bench_cpu_pct")),
            fmt(info.get("other_cpu_pct")),
            fmt(info.get("csms_frames")),
        )
    console.print(phases)

    checks = Table(title="correctness")
    for column in ("check", "result", "detail"):
        checks.add_column(column)
    for c in r.checks:
        checks.add_row(c.name, "[green]ok[/]" if c.ok else "[red]FAIL[/]", c.detail[:160])
    console.print(checks)
    for note in r.notes:
        console.print(f"[yellow]note:[/] {note[:2000]}")
    for name, info in r.phases.items():
        if "profile" in info and info["profile"].get("top_own"):
            console.print(
                f"[bold]py-spy top (own samples), phase {name}[/] ({info['profile']['raw']})"
            )
            for frame, pct in info["profile"]["top_own"][:10]:
                console.print(f"  {pct:5.1f}%  {frame}")
    if error:
        console.print(f"[red]bench error:[/] {error}")

    scored = [(t, v, m) for t, v, m in results if m is not None]
    met_count = sum(1 for _, _, m in scored if m)
    csms_bound = [
        name for name, info in r.phases.items() if info.get("csms_busiest_worker_pct", 0) >= 90
    ]
    payload = {
        "chargers": o.chargers,
        "ocpp": o.ocpp,
        "quick": o.quick,
        "database": "postgresql" if (o.database_url or "").startswith("postgres") else "sqlite",
        "csms_workers": o.csms_workers,
        "meter_interval_s": o.meter_interval_s,
        "started_at": bench.stamp,
        "elapsed_s": round(elapsed, 1),
        "host": {
            "cpus": os.cpu_count(),
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "platform": platform.platform(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        },
        "figures": figures,
        "targets": [
            {"key": t.key, "label": t.label, "value": v, "target": t.describe(), "met": m}
            for t, v, m in results
        ],
        "targets_met": met_count,
        "targets_scored": len(scored),
        "checks": [c.__dict__ for c in r.checks],
        "correct": r.correct and error is None,
        "phases": r.phases,
        "csms_bound": csms_bound,
        "notes": r.notes,
        "error": error,
    }
    o.results_dir.mkdir(parents=True, exist_ok=True)
    out = o.results_dir / f"{bench.stamp}-{o.chargers}-{o.ocpp}.json"
    out.write_text(json.dumps(payload, indent=2, default=str))
    console.print(f"figures written to {out}")

    correct = payload["correct"]
    summary = {
        "chargers": o.chargers,
        "ocpp": o.ocpp,
        "boot_s": figures.get("boot_s"),
        "rss_kib_per_charger": figures.get("rss_kib_per_charger"),
        "rss_tree_mb": figures.get("rss_tree_mb"),
        "idle_cpu_pct": figures.get("idle_cpu_pct"),
        "cmd_p50_ms": figures.get("cmd_p50_ms"),
        "cmd_p99_ms": figures.get("cmd_p99_ms"),
        "fanout_202_ms": figures.get("fanout_202_ms"),
        "fanout_all_s": figures.get("fanout_all_s"),
        "meter_rate_pct": figures.get("meter_rate_pct"),
        "meter_api_p99_ms": figures.get("meter_api_p99_ms"),
        "restart_s": figures.get("restart_s"),
        "restart_kill_s": figures.get("restart_kill_s"),
        "csms_bound": ",".join(csms_bound) or "none",
        "correct": "yes" if correct else "NO",
        "targets_met": f"{met_count}/{len(scored)}",
    }
    print("SUMMARY " + " ".join(f"{k}={fmt(v)}" for k, v in summary.items()), flush=True)
    if not correct:
        return 1
    if o.strict and met_count < len(scored):
        return 2
    return 0


SKIP_OF = {
    "boot_s": "boot",
    "rss_kib_per_charger": "idle",
    "rss_tree_mb": "idle",
    "idle_cpu_pct": "idle",
    "cmd_p50_ms": "latency",
    "cmd_p99_ms": "latency",
    "fanout_202_ms": "fanout",
    "fanout_all_s": "fanout",
    "meter_rate_pct": "meter",
    "meter_api_p99_ms": "meter",
    "restart_s": "restart",
    "restart_kill_s": "restart",
}


def _skipped(key: str, o: Options) -> bool:
    return SKIP_OF.get(key, "") in o.skip


# -- entry point -------------------------------------------------------------------------
def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description="voltlab fleet benchmark (issue 9)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--chargers", type=int, help="fleet size (default 10000; --quick: 500)")
    parser.add_argument("--ocpp", choices=("1.6", "2.0.1"), default="1.6")
    parser.add_argument("--quick", action="store_true", help="500 chargers, short windows, CI")
    parser.add_argument("--database-url", help="e.g. postgresql+asyncpg://u:p@host/db (empty db)")
    parser.add_argument("--ramp", type=float, help="connection ramp, chargers per second")
    parser.add_argument("--csms-workers", type=int, default=1, help="SO_REUSEPORT CSMS processes")
    parser.add_argument("--idle-window", type=float, help="seconds (default 60; --quick 10)")
    parser.add_argument("--meter-window", type=float, help="seconds (default 60; --quick 10)")
    parser.add_argument("--meter-interval", type=int, help="meter_interval_s of every charger")
    parser.add_argument("--latency-calls", type=int, default=200, help="calls per command")
    parser.add_argument("--timeout", type=float, help="hard limit for the run, seconds")
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated phases: idle,latency,fanout,meter,framelog,restart",
    )
    parser.add_argument(
        "--profile",
        default="",
        help="py-spy the voltlab process during these phases (e.g. boot,idle)",
    )
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--keep-data", action="store_true", help="keep the data dir and logs")
    parser.add_argument("--strict", action="store_true", help="exit 2 when a target is missed")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    chargers = args.chargers or (500 if args.quick else 10_000)
    if not 1 <= chargers <= 20_000:
        parser.error("--chargers must be 1..20000")
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if "meter" in skip or "fanout" in skip:
        skip.add("restart")  # resuming transactions needs them started
    quick = args.quick
    return Options(
        chargers=chargers,
        ocpp=args.ocpp,
        quick=quick,
        database_url=args.database_url,
        ramp=args.ramp,
        csms_workers=args.csms_workers,
        idle_window_s=args.idle_window or (10 if quick else 60),
        meter_window_s=args.meter_window or (6 if quick else 60),
        meter_interval_s=args.meter_interval or (3 if quick else METER_INTERVAL_S),
        latency_calls=args.latency_calls if not quick else min(args.latency_calls, 50),
        timeout_s=args.timeout or (110 if quick else 600 + chargers * 0.1),
        skip=skip,
        profile={s.strip() for s in args.profile.split(",") if s.strip()},
        profile_rate=args.profile_rate,
        keep_data=args.keep_data,
        strict=args.strict,
        results_dir=args.results_dir,
    )


async def amain(bench: FleetBench) -> str | None:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, task.cancel)  # type: ignore[union-attr]
    try:
        await asyncio.wait_for(bench.run(), bench.o.timeout_s + 30)
    except BenchError as exc:
        return str(exc)
    except TimeoutError:
        return f"the run exceeded its limit of {bench.o.timeout_s:.0f} s"
    finally:
        bench.api_check()
        await bench.csms_check()
        await bench.close_clients()
    return None


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)
    raise_fd_limit()
    bench = FleetBench(opts)
    started = time.monotonic()
    error: str | None = None
    try:
        error = asyncio.run(amain(bench))
    except (KeyboardInterrupt, asyncio.CancelledError):
        error = "interrupted"
    finally:
        bench.stop_processes()
        if bench.voltlab is not None:
            bench.log_check()
        if error:
            bench.r.check("the bench ran to the end", False, error)
        if not bench.r.correct:
            for proc in (bench.voltlab, bench.csms_proc):
                if proc is not None:
                    console.print(f"[dim]--- last lines of the {proc.name} log ---[/]")
                    console.print(proc.tail(40), markup=False)
        bench.remove_data()
    return report(bench, time.monotonic() - started, error)


if __name__ == "__main__":
    sys.exit(main())
