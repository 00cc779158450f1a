"""Frame-log benchmark: the real FrameLogWriter on a real, migrated database.

    .venv/bin/python bench/framelog.py                       # SQLite, 60,000 frames/s, 20 s
    .venv/bin/python bench/framelog.py --postgres            # a throwaway PostgreSQL database
    .venv/bin/python bench/framelog.py --rate 0              # as fast as the writer takes them
    .venv/bin/python bench/framelog.py --quick               # CI: correctness, ~10 s
    .venv/bin/python bench/framelog.py --purge               # then delete half the chargers

Issue 9: "every frame kept, or counted when retention drops it (never silently); batched
writes; >= 50,000 frames/s sustained to SQLite and to PostgreSQL".

The writer is wired as ``build_services`` wires it (the batch writers' engine for writes,
the API's engine for retention counts, the settings' flush interval, batch and queue
size) on a uvloop loop under the app's GC policy. A producer task on the same loop
records OCPP-J MeterValues CALLs (400-600 bytes) and their CALLRESULTs (~50 bytes), round robin over
``--chargers`` chargers, at ``--rate`` frames/s in slices of at most ``SLICE`` frames per
loop iteration (``--rate 0``: as fast as the writer takes them, the buffer kept half full).

Phases: prefill (every charger filled to its retention, so pruning runs from the first
second: the steady state of a long-running voltlab), warm-up, then the measured window.
Reported: frames recorded / written / dropped (buffer full) / pruned (``frame_log_stats``)
in the window, sustained written frames/s, the backlog at the end of the window and after
``close()``, event-loop lateness p50/p99/max (a probe timer every ``PROBE_EVERY_S``),
CPU and RSS. Correctness, over the whole run after ``close()``: nothing pending, every
recorded frame is a row, pruned or dropped, and the rows are those written minus pruned.

The writer task's time is split into transactions and retention steps by wrapping its
private ``_write``, ``_prune_step`` and ``_ends`` (a charger's first seqs) on the
instance (diagnostics only).

Figures go to bench/results/<time>-framelog-<database>.json; the last line is one
``SUMMARY ...`` line. Exit status: 0, 1 when a correctness check failed, or 2 with
``--strict`` when the throughput target was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psutil
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from stats import percentile
from voltlab.gc_policy import gc_policy
from voltlab.settings import Settings
from voltlab.storage.engine import create_engine, create_writer_engine, migrate, session_factory
from voltlab.storage.framelog import FrameLogWriter
from voltlab.storage.models import FrameLog, FrameLogStats

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"

TARGET_PER_S = 50_000
DEFAULT_PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
ORG = "bench"
# At most this many frames recorded per loop iteration: many stations each recording a
# frame in their own callback, never one long burst that would hide the writer's stalls.
SLICE = 200
TICK_S = 0.001
PROBE_EVERY_S = 0.005
POOL = 997  # distinct CALLs, a prime so charger and message do not pair up

console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
DEFAULTS = Settings.model_fields


def _default(name: str) -> Any:
    return DEFAULTS[name].default


# -- helpers -----------------------------------------------------------------------------
def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def host_busy_s() -> float:
    """CPU seconds the whole machine spent busy (all cores, all processes)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def meter_values_call(n: int) -> str:
    """An OCPP 1.6 MeterValues CALL of 400-600 bytes (2-4 sampled values)."""
    measurands = (
        ("Energy.Active.Import.Register", "Wh"),
        ("Power.Active.Import", "W"),
        ("Current.Import", "A"),
        ("Voltage", "V"),
    )
    sampled = [
        {
            "value": f"{(n * 7919 + i * 104729) % 1_000_000 / 10:.1f}",
            "context": "Sample.Periodic",
            "measurand": measurand,
            "location": "Outlet",
            "unit": unit,
        }
        for i, (measurand, unit) in enumerate(measurands[: 2 + n % 3])
    ]
    payload = {
        "connectorId": 1,
        "transactionId": 100_000 + n,
        "meterValue": [
            {"timestamp": f"2025-06-01T12:{n % 60:02d}:{n % 57:02d}Z", "sampledValue": sampled}
        ],
    }
    return orjson.dumps([2, str(uuid.UUID(int=n + 1)), "MeterValues", payload]).decode()


class LagProbe:
    """How late a timer every ``every_s`` fires: the longest the loop was busy at once."""

    def __init__(self, every_s: float = PROBE_EVERY_S) -> None:
        self._every = every_s
        self.samples: list[float] = []
        self.recording = False
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self) -> None:
        self._arm(asyncio.get_running_loop())

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        self._due = loop.time() + self._every
        self._handle = loop.call_at(self._due, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.recording:
            self.samples.append(max(0.0, loop.time() - self._due))
        self._arm(loop)

    def summary(self) -> dict[str, Any]:
        ms = [s * 1000 for s in self.samples]
        return {
            "probes": len(ms),
            "p50_ms": _round(percentile(ms, 50)),
            "p99_ms": _round(percentile(ms, 99)),
            "max_ms": _round(max(ms) if ms else None),
            "over_10ms": sum(1 for m in ms if m > 10),
        }


class StepTimes:
    """Wall time of the writer's transactions and retention steps (private methods,
    wrapped on this one instance): what the writer task spends its time on."""

    def __init__(self, framelog: FrameLogWriter) -> None:
        self.recording = False
        self.times: dict[str, list[float]] = {
            "write": [],
            "prune": [],
            "first_read": [],
            "purge": [],
        }
        for name, key in (
            ("_write", "write"),
            ("_prune_step", "prune"),
            ("_ends", "first_read"),
            ("_purge_step", "purge"),
        ):
            original = getattr(framelog, name, None)
            if original is not None:
                setattr(framelog, name, self._timed(original, key))

    def _timed(self, original: Any, key: str) -> Any:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                if self.recording:
                    self.times[key].append(time.perf_counter() - started)

        return timed

    def summary(self, window_s: float) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, samples in self.times.items():
            ms = [s * 1000 for s in samples]
            out[key] = {
                "count": len(ms),
                "busy_pct": round(100 * sum(samples) / window_s, 1),
                "p50_ms": _round(percentile(ms, 50), 1),
                "max_ms": _round(max(ms) if ms else None, 1),
            }
        return out


class Producer:
    """Records frames on the loop at ``rate`` per second (0: as fast as possible)."""

    def __init__(self, framelog: FrameLogWriter, chargers: list[str], keep_pending: int) -> None:
        self.framelog = framelog
        self.keep_pending = keep_pending
        self.chargers = chargers
        self.calls = [meter_values_call(n) for n in range(POOL)]
        self.results = [orjson.dumps([3, json.loads(c)[1], {}]).decode() for c in self.calls]
        self.recorded = 0
        self.bytes = 0

    def _record(self, count: int) -> None:
        record, chargers, calls, results = (
            self.framelog.record,
            self.chargers,
            self.calls,
            self.results,
        )
        n_chargers, size, start = len(chargers), 0, self.recorded
        for j in range(start, start + count):
            exchange = j >> 1  # a CALL, then its CALLRESULT, for the same charger
            charger = chargers[exchange % n_chargers]
            if j & 1:
                message = results[exchange % POOL]
                record(ORG, charger, "csms_to_cp", "MeterValues", message)
            else:
                message = calls[exchange % POOL]
                record(ORG, charger, "cp_to_csms", "MeterValues", message)
            size += len(message)
        self.recorded += count
        self.bytes += size

    async def run(self, rate: float, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        started, produced = loop.time(), 0
        while not stop.is_set():
            if rate <= 0:
                # As fast as the writer takes them: the buffer kept half full, never
                # overflowing (a producer that only overflowed it would starve the loop).
                if self.framelog.pending < self.keep_pending:
                    self._record(SLICE)
                    await asyncio.sleep(0)
                else:
                    await asyncio.sleep(TICK_S)
                continue
            due = int((loop.time() - started) * rate) - produced
            count = min(due, SLICE)
            if count > 0:
                self._record(count)
                produced += count
            # Behind (the loop was busy): the next slice at once; else wait a tick.
            await asyncio.sleep(0 if due > SLICE else TICK_S)

    async def fill(self, per_charger: int, queue_size: int) -> None:
        """``per_charger`` frames for every charger, fast, never past half the buffer."""
        goal = self.recorded + per_charger * len(self.chargers)
        while self.recorded < goal:
            if self.framelog.pending > queue_size // 2:
                await asyncio.sleep(0.005)
                continue
            self._record(min(SLICE, goal - self.recorded))
            await asyncio.sleep(0)


# -- the run -----------------------------------------------------------------------------
@dataclass
class Options:
    database_url: str | None
    postgres_admin: str | None
    chargers: int
    rate: float
    seconds: float
    warmup_s: float
    retention: int
    prefill: bool
    batch_size: int
    flush_interval_s: float
    queue_size: int
    quick: bool
    strict: bool
    results_dir: Path
    purge: bool


@dataclass
class Run:
    figures: dict[str, Any] = field(default_factory=dict)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append((name, ok, detail))

    @property
    def correct(self) -> bool:
        return all(ok for _, ok, _ in self.checks)


async def _pg_admin(admin_url: str, statement: str) -> None:
    import asyncpg

    url = make_url(admin_url).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _totals(
    sessions: async_sessionmaker[AsyncSession], chargers: list[str]
) -> tuple[int, int]:
    """(rows, pruned) of the bench's chargers."""
    async with sessions() as session:
        rows = await session.scalar(
            select(func.count()).select_from(FrameLog).where(FrameLog.charger_id.in_(chargers))
        )
    return int(rows or 0), await _pruned(sessions, chargers)


async def _pruned(sessions: async_sessionmaker[AsyncSession], chargers: list[str]) -> int:
    async with sessions() as session:
        value = await session.scalar(
            select(func.coalesce(func.sum(FrameLogStats.pruned), 0)).where(
                FrameLogStats.charger_id.in_(chargers)
            )
        )
    return int(value or 0)


async def bench(o: Options, run: Run, tmp: Path) -> None:
    url = o.database_url or f"sqlite+aiosqlite:///{tmp / 'framelog.db'}"
    run.figures["database"] = make_url(url).get_backend_name()
    engine: AsyncEngine = create_engine(url)
    writer_engine: AsyncEngine | None = None
    try:
        await migrate(engine)
        sessions = session_factory(engine)
        # As build_services wires it: writes on the batch writers' engine.
        writer_engine = create_writer_engine(engine)
        writer_sessions = session_factory(writer_engine)

        def new_writer() -> FrameLogWriter:
            return FrameLogWriter(
                sessions,
                flush_interval_s=o.flush_interval_s,
                batch_size=o.batch_size,
                queue_size=o.queue_size,
                retention=o.retention,
                writer=writer_sessions,
            )

        chargers = await _measure(o, run, new_writer(), sessions)
        if o.purge:
            await _purge(o, run, new_writer(), sessions, chargers)
    finally:
        if writer_engine is not None and writer_engine is not engine:
            await writer_engine.dispose()
        await engine.dispose()


async def _measure(
    o: Options,
    run: Run,
    framelog: FrameLogWriter,
    sessions: async_sessionmaker[AsyncSession],
) -> list[str]:
    """The throughput window and its checks; the chargers' ids."""
    f = run.figures
    chargers = [str(uuid.uuid4()) for _ in range(o.chargers)]  # voltlab's charger ids
    producer = Producer(framelog, chargers, keep_pending=o.queue_size // 2)
    probe = LagProbe()
    steps = StepTimes(framelog)
    stop = asyncio.Event()
    producing: asyncio.Task[None] | None = None
    framelog.start()
    probe.start()
    me = psutil.Process()
    try:
        if o.prefill:
            t0 = time.perf_counter()
            await producer.fill(o.retention, o.queue_size)
            await framelog.flush()  # the prefill is written before the clock starts
            f["prefill_frames"] = producer.recorded
            f["prefill_s"] = round(time.perf_counter() - t0, 2)

        producing = asyncio.create_task(producer.run(o.rate, stop), name="producer")
        await asyncio.sleep(o.warmup_s)

        # -- the measured window --
        start = {
            "t": time.perf_counter(),
            "recorded": producer.recorded,
            "bytes": producer.bytes,
            "written": framelog.written,
            "dropped": framelog.dropped,
            "pruned": await _pruned(sessions, chargers),
            "cpu": sum(me.cpu_times()[:2]),
            "host": host_busy_s(),
        }
        probe.recording = steps.recording = True
        end_at = start["t"] + o.seconds
        last_written, last_t = framelog.written, start["t"]
        while (now := time.perf_counter()) < end_at:
            await asyncio.sleep(min(1.0, end_at - now))
            now = time.perf_counter()
            run.samples.append(
                {
                    "t": round(now - start["t"], 2),
                    "interval_s": round(now - last_t, 3),
                    "written": framelog.written - last_written,
                    "pending": framelog.pending,
                    "recorded": producer.recorded - start["recorded"],
                }
            )
            last_written, last_t = framelog.written, now
        probe.recording = steps.recording = False
        elapsed = time.perf_counter() - start["t"]
        cpu = sum(me.cpu_times()[:2]) - start["cpu"]
        host = host_busy_s() - start["host"]
        written = framelog.written - start["written"]
        recorded = producer.recorded - start["recorded"]
        f["window_s"] = round(elapsed, 2)
        f["recorded"] = recorded
        f["recorded_per_s"] = round(recorded / elapsed)
        f["mean_frame_bytes"] = round((producer.bytes - start["bytes"]) / max(1, recorded))
        f["written"] = written
        f["written_per_s"] = round(written / elapsed)
        per_second = [s["written"] / s["interval_s"] for s in run.samples if s["interval_s"] > 0.9]
        f["written_per_s_min_1s"] = round(min(per_second)) if per_second else None
        f["dropped"] = framelog.dropped - start["dropped"]
        f["backlog_end"] = framelog.pending
        f["lag"] = probe.summary()
        f["writer_steps"] = steps.summary(elapsed)
        f["cpu_bench_pct"] = round(100 * cpu / elapsed, 1)
        f["cpu_others_pct"] = round(100 * max(0.0, host - cpu) / elapsed, 1)
        f["rss_mb"] = round(me.memory_info().rss / 2**20, 1)
        f["pruned"] = await _pruned(sessions, chargers) - start["pruned"]

    finally:
        stop.set()
        if producing is not None:
            await producing
        # What a SIGTERM does: close() writes the backlog.
        t0 = time.perf_counter()
        await framelog.close(timeout=120)
        f["close_s"] = round(time.perf_counter() - t0, 2)
        probe.stop()
    f["backlog_after_close"] = framelog.pending
    f["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    rows, pruned = await _totals(sessions, chargers)
    total = {
        "recorded": producer.recorded,
        "written": framelog.written,
        "dropped": framelog.dropped,
        "pruned": pruned,
        "rows": rows,
    }
    f["totals"] = total
    run.check("nothing pending after close()", framelog.pending == 0, f"{framelog.pending}")
    run.check(
        "every recorded frame is a row, pruned or dropped (rows + pruned + dropped == recorded)",
        rows + pruned + framelog.dropped == producer.recorded,
        f"{rows} + {pruned} + {framelog.dropped} vs {producer.recorded}",
    )
    run.check(
        "rows == written - pruned",
        rows == framelog.written - pruned,
        f"{rows} vs {framelog.written} - {pruned}",
    )
    run.check(
        "written + dropped == recorded",
        framelog.written + framelog.dropped == producer.recorded,
        f"{framelog.written} + {framelog.dropped} vs {producer.recorded}",
    )
    if o.prefill and o.seconds >= 5:
        # Every charger was at its retention before the window: pruning must have run.
        run.check("retention pruned and counted frames", pruned > 0, f"pruned={pruned}")
    return chargers


async def _purge(
    o: Options,
    run: Run,
    framelog: FrameLogWriter,
    sessions: async_sessionmaker[AsyncSession],
    chargers: list[str],
) -> None:
    """Delete half the chargers, as a location delete does, on a new writer (a new
    process: what the first one left is stored), while the other half keep writing at
    ``--rate``: how long the purge takes, how long each of its steps holds the writer,
    and what the kept chargers' frames meanwhile get."""
    doomed, kept = chargers[::2], chargers[1::2]
    rows_before, _ = await _totals(sessions, doomed)
    producer = Producer(framelog, kept, keep_pending=o.queue_size // 2)
    probe = LagProbe()
    steps = StepTimes(framelog)
    stop = asyncio.Event()
    framelog.start()
    probe.start()
    producing = asyncio.create_task(producer.run(o.rate, stop), name="producer")
    try:
        await asyncio.sleep(o.warmup_s)
        probe.recording = steps.recording = True
        t0, written0 = time.perf_counter(), framelog.written
        framelog.forget(doomed)
        async with asyncio.timeout(600):
            # The writer advances a counter and signals nothing: poll it.
            while framelog.purged < rows_before:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - t0
        written = framelog.written - written0
        probe.recording = steps.recording = False
    finally:
        stop.set()
        await producing
        await framelog.close(timeout=120)
        probe.stop()
    rows_after, _ = await _totals(sessions, doomed)
    async with sessions() as session:
        stats_after = await session.scalar(
            select(func.count())
            .select_from(FrameLogStats)
            .where(FrameLogStats.charger_id.in_(doomed))
        )
    run.figures["purge"] = {
        "chargers": len(doomed),
        "rows": rows_before,
        "seconds": round(elapsed, 2),
        "rows_per_s": round(rows_before / elapsed),
        "steps": steps.summary(elapsed),
        "kept_written_per_s": round(written / elapsed),
        "lag": probe.summary(),
    }
    run.check(
        "purge: the deleted chargers' frames and counts are gone, nobody else's",
        rows_after == 0 and not stats_after and framelog.purged == rows_before,
        f"rows {rows_before} -> {rows_after}, stats rows {stats_after}, purged {framelog.purged}",
    )
    run.check("purge: nothing pending after close()", framelog.pending == 0)


# -- report ------------------------------------------------------------------------------
def report(o: Options, run: Run, stamp: str, error: str | None, elapsed: float) -> int:
    f = run.figures
    database = f.get("database", "?")
    rate = "max" if o.rate <= 0 else f"{o.rate:,.0f}/s"
    table = Table(
        title=f"voltlab frame-log bench: {database}, rate {rate}, {o.chargers:,} chargers, "
        f"{o.seconds:g} s" + (" (quick: correctness, not speed)" if o.quick else "")
    )
    for column in ("figure", "value", "target", "result"):
        table.add_column(column)
    written_per_s = f.get("written_per_s")
    # Only a run offered at least the target can show it; a slower producer says nothing.
    judged = written_per_s is not None and (o.rate <= 0 or o.rate >= TARGET_PER_S)
    met = judged and written_per_s >= TARGET_PER_S
    mark = "[green]met[/]" if met else ("[dim]n/a[/]" if not judged else "[red]missed[/]")
    table.add_row("written frames/s, sustained", fmt(written_per_s), f">= {TARGET_PER_S:,}", mark)
    lag = f.get("lag", {})
    rows = [
        ("recorded frames/s", f.get("recorded_per_s")),
        ("written frames/s, slowest second", f.get("written_per_s_min_1s")),
        ("recorded in the window", f.get("recorded")),
        ("written in the window", f.get("written")),
        ("dropped in the window (buffer full, counted)", f.get("dropped")),
        ("pruned in the window (retention, counted)", f.get("pruned")),
        ("mean frame bytes", f.get("mean_frame_bytes")),
        ("backlog at the end of the window", f.get("backlog_end")),
        ("close(): seconds to write the backlog", f.get("close_s")),
        ("backlog after close()", f.get("backlog_after_close")),
        (
            "loop lateness p50 / p99 / max (ms)",
            "/".join(fmt(lag.get(k)) for k in ("p50_ms", "p99_ms", "max_ms")),
        ),
        ("probes later than 10 ms", lag.get("over_10ms")),
        *(
            (
                f"writer task: {key} (count, % of the window, p50/max ms)",
                f"{fmt(v['count'])}, {fmt(v['busy_pct'])}%, {fmt(v['p50_ms'])}/{fmt(v['max_ms'])}",
            )
            for key, v in f.get("writer_steps", {}).items()
            if v["count"] or key != "purge"  # the window has no purge; --purge reports its own
        ),
        (
            "CPU: bench process / other processes (% of one core)",
            "/".join(fmt(f.get(k)) for k in ("cpu_bench_pct", "cpu_others_pct")),
        ),
        ("RSS at the end / peak (MB)", f"{fmt(f.get('rss_mb'))}/{fmt(f.get('peak_rss_mb'))}"),
        ("prefill: frames / seconds", f"{fmt(f.get('prefill_frames'))}/{fmt(f.get('prefill_s'))}"),
    ]
    purge = f.get("purge")
    if purge:
        step = purge["steps"]["purge"]
        rows += [
            ("purge: chargers / rows deleted", f"{fmt(purge['chargers'])}/{fmt(purge['rows'])}"),
            ("purge: seconds / rows per s", f"{fmt(purge['seconds'])}/{fmt(purge['rows_per_s'])}"),
            (
                "purge: steps (count, % of the time, p50/max ms)",
                f"{fmt(step['count'])}, {fmt(step['busy_pct'])}%, "
                f"{fmt(step['p50_ms'])}/{fmt(step['max_ms'])}",
            ),
            ("purge: the kept chargers' frames written per s", purge["kept_written_per_s"]),
            ("purge: loop lateness max (ms)", purge["lag"].get("max_ms")),
        ]
    for label, value in rows:
        table.add_row(f"  {label}", fmt(value), "", "")
    console.print(table)

    checks = Table(title="correctness (whole run, after close())")
    for column in ("check", "result", "detail"):
        checks.add_column(column)
    for name, ok, detail in run.checks:
        checks.add_row(name, "[green]ok[/]" if ok else "[red]FAIL[/]", detail[:160])
    console.print(checks)
    if error:
        console.print(f"[red]bench error:[/] {error}")

    correct = run.correct and error is None and bool(run.checks)
    payload = {
        "bench": "framelog",
        "started_at": stamp,
        "elapsed_s": round(elapsed, 1),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in o.__dict__.items()},
        "host": {
            "cpus": os.cpu_count(),
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "figures": f,
        "per_second": run.samples,
        "target": {"written_per_s": TARGET_PER_S, "judged": judged, "met": met},
        "checks": [{"name": n, "ok": ok, "detail": d} for n, ok, d in run.checks],
        "correct": correct,
        "error": error,
    }
    o.results_dir.mkdir(parents=True, exist_ok=True)
    out = o.results_dir / f"{stamp}-framelog-{database}.json"
    out.write_text(json.dumps(payload, indent=2, default=str))
    console.print(f"figures written to {out}")

    summary = {
        "database": database,
        "rate": "max" if o.rate <= 0 else int(o.rate),
        "chargers": o.chargers,
        "seconds": o.seconds,
        "recorded_per_s": f.get("recorded_per_s"),
        "written_per_s": written_per_s,
        "dropped": f.get("dropped"),
        "pruned": f.get("pruned"),
        "backlog_end": f.get("backlog_end"),
        "backlog_after_close": f.get("backlog_after_close"),
        "lag_p50_ms": lag.get("p50_ms"),
        "lag_p99_ms": lag.get("p99_ms"),
        "lag_max_ms": lag.get("max_ms"),
        "rss_mb": f.get("rss_mb"),
        **(
            {
                "purge_rows": purge["rows"],
                "purge_s": purge["seconds"],
                "purge_step_max_ms": purge["steps"]["purge"]["max_ms"],
                "purge_kept_written_per_s": purge["kept_written_per_s"],
            }
            if purge
            else {}
        ),
        "correct": "yes" if correct else "NO",
        "target_50k": "met" if met else ("n/a" if not judged else "missed"),
    }
    print("SUMMARY " + " ".join(f"{k}={v}" for k, v in summary.items()), flush=True)
    if not correct:
        return 1
    if o.strict and judged and not met:
        return 2
    return 0


# -- entry point -------------------------------------------------------------------------
def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description="voltlab frame-log benchmark (issue 9)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--database-url", help="e.g. postgresql+asyncpg://postgres@host/db")
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=DEFAULT_PG_ADMIN,
        metavar="ADMIN_URL",
        help="create a throwaway database voltlab_bench_framelog_<pid> on that server "
        f"(default {DEFAULT_PG_ADMIN}) and drop it at the end",
    )
    parser.add_argument("--chargers", type=int, help="chargers (default 2000; --quick 200)")
    parser.add_argument(
        "--rate", type=float, default=60_000, help="frames/s; 0: as fast as the writer takes them"
    )
    parser.add_argument("--seconds", type=float, help="measured window (default 20; --quick 5)")
    parser.add_argument(
        "--warmup", type=float, help="seconds before the window (default 3; --quick 1)"
    )
    parser.add_argument(
        "--retention", type=int, help="frames kept per charger (default 250; --quick 50)"
    )
    parser.add_argument(
        "--no-prefill", action="store_true", help="start empty (pruning starts only later)"
    )
    parser.add_argument("--batch-size", type=int, default=_default("framelog_batch_size"))
    parser.add_argument(
        "--flush-interval", type=float, default=_default("framelog_flush_interval_s")
    )
    parser.add_argument("--queue-size", type=int, default=_default("framelog_queue_size"))
    parser.add_argument(
        "--purge",
        action="store_true",
        help="then delete half the chargers (a location) while the other half keep writing",
    )
    parser.add_argument("--quick", action="store_true", help="a short correctness run for CI")
    parser.add_argument("--strict", action="store_true", help="exit 2 when the target is missed")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.database_url and args.postgres:
        parser.error("--database-url and --postgres exclude each other")
    quick = args.quick
    return Options(
        database_url=args.database_url,
        postgres_admin=args.postgres,
        chargers=args.chargers or (200 if quick else 2_000),
        rate=args.rate,
        seconds=args.seconds or (5 if quick else 20),
        warmup_s=args.warmup if args.warmup is not None else (1 if quick else 3),
        retention=args.retention or (50 if quick else 250),
        prefill=not args.no_prefill,
        batch_size=args.batch_size,
        flush_interval_s=args.flush_interval,
        queue_size=args.queue_size,
        quick=quick,
        strict=args.strict,
        results_dir=args.results_dir,
        purge=args.purge,
    )


async def amain(o: Options, run: Run, tmp: Path) -> str | None:
    created: str | None = None
    try:
        if o.postgres_admin:
            name = f"voltlab_bench_framelog_{os.getpid()}"
            await _pg_admin(o.postgres_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await _pg_admin(o.postgres_admin, f'CREATE DATABASE "{name}"')
            created = name
            o.database_url = (
                make_url(o.postgres_admin)
                .set(drivername="postgresql+asyncpg", database=name)
                .render_as_string(hide_password=False)
            )
        # As the app runs: GC policy on; the writer's buffer is long-lived objects.
        async with gc_policy():
            await asyncio.wait_for(bench(o, run, tmp), o.warmup_s + o.seconds + 600)
    except Exception as exc:  # the report still prints what was measured
        return f"{type(exc).__name__}: {exc}"
    finally:
        if created is not None and o.postgres_admin:
            with contextlib.suppress(Exception):
                await _pg_admin(
                    o.postgres_admin, f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)'
                )
    return None


def main(argv: list[str] | None = None) -> int:
    o = parse(argv)
    run = Run()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    started = time.monotonic()
    try:
        import uvloop  # the app's loop (voltlab serve)

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover  (Windows)
        runner = asyncio.run
    with tempfile.TemporaryDirectory(prefix="voltlab-bench-framelog-") as tmp:
        try:
            error = runner(amain(o, run, Path(tmp)))
        except KeyboardInterrupt:
            error = "interrupted"
    return report(o, run, stamp, error, time.monotonic() - started)


if __name__ == "__main__":
    sys.exit(main())
