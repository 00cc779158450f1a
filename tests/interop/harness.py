"""Runs an extrawest-ocpi party next to a live voltlab: its own virtualenv, its own process.

extrawest-ocpi pins FastAPI 0.101, pydantic 1 and httpx 0.24, so it never enters voltlab's
virtualenv. ``ensure_venv()`` builds a virtualenv for it once per machine, in a cache
directory keyed by the package version, and reuses it afterwards::

    python = ensure_venv()                       # RegistryUnreachable: no network
    peer = await ExtrawestPeer.start(python, role="CPO", token_a="...", log_dir=tmp_path)
    try:
        state = await peer.state()
    finally:
        await peer.stop()

The cache is ``$VOLTLAB_INTEROP_VENV`` when set, else ``$XDG_CACHE_HOME/voltlab`` (by
default ``~/.cache/voltlab``) ``/interop-extrawest-venv``; each version gets a folder of its
own in it. A build that did not finish (no marker file) is thrown away and redone.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

EXTRAWEST_VERSION = "2025.7.16"
UVICORN_VERSION = "0.30.6"  # extrawest ships no server; any ASGI server runs its app
REQUIREMENTS = (f"extrawest-ocpi=={EXTRAWEST_VERSION}", f"uvicorn=={UVICORN_VERSION}")
INSTALL_TIMEOUT_S = 600.0
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
PEER_PROGRAM = Path(__file__).with_name("extrawest_app.py")
MARKER = ".voltlab-ready"
OUTPUT_TAIL = 6000

# What pip prints when it cannot reach the package index at all (DNS, refused, timeouts,
# proxy, TLS to the index). Any other failure of the install is a real failure.
_NETWORK_SIGNS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "No route to host",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyError",
    "Could not fetch URL",
    "connection broken by",
)

# Settings of extrawest (pydantic BaseSettings, read from the environment) and variables
# that would make the peer's interpreter see voltlab's packages: the peer does not inherit them.
_SCRUBBED_ENV = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "VIRTUAL_ENV",
    "ENVIRONMENT",
    "NO_AUTH",
    "OCPI_HOST",
    "OCPI_PREFIX",
    "PUSH_PREFIX",
    "PROTOCOL",
    "COUNTRY_CODE",
    "PARTY_ID",
    "TRAILING_SLASH",
    "CI_STRING_LOWERCASE_PREFERENCE",
    "BACKEND_CORS_ORIGINS",
)


class HarnessError(RuntimeError):
    """The interop harness could not do its job (a real failure, never a skip)."""


class RegistryUnreachable(HarnessError):
    """pip could not reach the package index: the only reason to skip these tests."""


# ---- the virtualenv ------------------------------------------------------------------


def cache_root() -> Path:
    configured = os.environ.get("VOLTLAB_INTEROP_VENV")
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "voltlab" / "interop-extrawest-venv"


def venv_dir() -> Path:
    return cache_root() / f"extrawest-ocpi-{EXTRAWEST_VERSION}"


def venv_python(venv: Path | None = None) -> Path:
    return (venv or venv_dir()) / "bin" / "python"


def _marker_text() -> str:
    return "\n".join(REQUIREMENTS) + "\n"


def venv_ready() -> bool:
    """Whether a finished virtualenv for these requirements is in the cache."""
    venv = venv_dir()
    marker = venv / MARKER
    try:
        return venv_python(venv).exists() and marker.read_text() == _marker_text()
    except OSError:
        return False


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One builder at a time per machine (parallel pytest processes share the cache)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(command: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env=_clean_env(),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout) + _text(exc.stderr)
        raise HarnessError(
            f"{' '.join(command)} did not finish within {timeout:.0f} s:\n{_tail(output)}"
        ) from exc


def ensure_venv() -> Path:
    """The peer's interpreter, building its virtualenv first if the cache has none.

    Raises ``RegistryUnreachable`` when pip cannot reach the index, ``HarnessError`` on
    any other failure."""
    venv = venv_dir()
    with _locked(cache_root()):
        if venv_ready():
            return venv_python(venv)
        if venv.exists():  # a build that stopped half-way
            shutil.rmtree(venv)
        created = _run([sys.executable, "-m", "venv", str(venv)], timeout=120)
        if created.returncode != 0:
            raise HarnessError(
                f"python -m venv {venv} failed:\n{_tail(created.stdout + created.stderr)}"
            )
        python = venv_python(venv)
        install = _run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--progress-bar",
                "off",
                *REQUIREMENTS,
            ],
            timeout=INSTALL_TIMEOUT_S,
        )
        output = install.stdout + install.stderr
        (venv / "pip-install.log").write_text(output)
        if install.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            if any(sign in output for sign in _NETWORK_SIGNS):
                raise RegistryUnreachable(
                    f"pip cannot reach the package index to install {' '.join(REQUIREMENTS)}:"
                    f"\n{_tail(output, 1500)}"
                )
            raise HarnessError(f"pip install {' '.join(REQUIREMENTS)} failed:\n{_tail(output)}")
        check = _run(
            [str(python), "-c", "import py_ocpi, uvicorn; print(py_ocpi.__version__)"],
            timeout=60,
        )
        if check.returncode != 0 or check.stdout.strip() != EXTRAWEST_VERSION:
            raise HarnessError(
                f"the new virtualenv does not import py_ocpi {EXTRAWEST_VERSION}:\n"
                f"{_tail(check.stdout + check.stderr)}"
            )
        (venv / MARKER).write_text(_marker_text())
        return python


# ---- the peer process ----------------------------------------------------------------


def free_port() -> int:
    """A free loopback TCP port (the OS's pick; the peer may still lose a race for it,
    which ``ExtrawestPeer.start`` retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ExtrawestPeer:
    """An extrawest-ocpi party (``extrawest_app.py``) in a process of its own, on loopback."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        *,
        role: str,
        port: int,
        token_a: str,
        country_code: str,
        party_id: str,
        log_path: Path,
    ) -> None:
        self.process = process
        self.role = role
        self.port = port
        self.token_a = token_a
        self.country_code = country_code
        self.party_id = party_id
        self.log_path = log_path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def versions_url(self) -> str:
        return f"{self.base_url}/ocpi/versions"

    @classmethod
    async def start(
        cls,
        python: Path,
        *,
        role: str,
        token_a: str,
        log_dir: Path,
        country_code: str = "DE",
        party_id: str | None = None,
        attempts: int = 3,
    ) -> ExtrawestPeer:
        """Start the peer and wait until it answers; ``HarnessError`` (with its output)
        when it does not."""
        party_id = party_id or ("XWC" if role == "CPO" else "XWE")
        failures: list[str] = []
        for attempt in range(attempts):
            peer = cls._spawn(python, role, token_a, country_code, party_id, log_dir)
            try:
                await peer._wait_ready()
                return peer
            except HarnessError as exc:
                await peer.stop()
                failures.append(f"attempt {attempt + 1} (port {peer.port}): {exc}")
                if "address already in use" not in peer.output().lower():
                    break
        raise HarnessError("the extrawest peer did not start:\n" + "\n".join(failures))

    @classmethod
    def _spawn(
        cls,
        python: Path,
        role: str,
        token_a: str,
        country_code: str,
        party_id: str,
        log_dir: Path,
    ) -> ExtrawestPeer:
        """Start the process (it takes no time: waiting for it is ``_wait_ready``)."""
        port = free_port()
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"extrawest-{role.lower()}-{port}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [
                    str(python),
                    "-I",  # isolated: no user site, no PYTHON* variables, no cwd on the path
                    "-u",
                    str(PEER_PROGRAM),
                    # "--opt=value": a token may start with "-"
                    f"--role={role}",
                    f"--port={port}",
                    f"--token-a={token_a}",
                    f"--country-code={country_code}",
                    f"--party-id={party_id}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=log_dir,  # extrawest reads a ".env" from the working directory
                env=_clean_env(),
                start_new_session=True,  # its own process group, killed as one
            )
        return cls(
            process,
            role=role,
            port=port,
            token_a=token_a,
            country_code=country_code,
            party_id=party_id,
            log_path=log_path,
        )

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if self.process.poll() is not None:
                    raise HarnessError(f"exited with {self.process.returncode}:\n{self.output()}")
                with contextlib.suppress(httpx.TransportError):
                    answer = await client.get(f"{self.base_url}/debug/state")
                    if answer.status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise HarnessError(
                        f"no answer within {READY_TIMEOUT_S:.0f} s:\n{self.output()}"
                    )
                await asyncio.sleep(0.1)

    async def state(self) -> dict[str, Any]:
        """What the peer saw: ``GET /debug/state``."""
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.get(f"{self.base_url}/debug/state")
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    async def connect(self, versions_url: str, token_a: str) -> httpx.Response:
        """Make the peer run the credentials handshake as initiator (``POST /debug/connect``):
        200 with what it registered, 502 with the step that failed and every answer."""
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(
                f"{self.base_url}/debug/connect",
                json={"versions_url": versions_url, "token_a": token_a},
            )

    async def _debug(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.post(f"{self.base_url}/debug/{path}", json=body)
        if answer.status_code != 200:
            raise HarnessError(f"POST /debug/{path}: HTTP {answer.status_code} {answer.text}")
        result: dict[str, Any] = answer.json()
        return result

    async def add_token(self, **fields: Any) -> dict[str, Any]:
        """Give the (eMSP) peer one more token of its own (``POST /debug/tokens``): the
        given Token fields over a seeded token's; the token."""
        return await self._debug("tokens", fields)

    async def configure(self, **config: Any) -> dict[str, Any]:
        """``POST /debug/config``: ``max_page_size`` (int or None), ``spec_single_objects``."""
        return await self._debug("config", config)

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        params: dict[str, Any] | None = None,
        json: Any = None,
        parse: str | None = None,
    ) -> dict[str, Any]:
        """One OCPI request from the peer to a party registered with it, with the token
        that party gave it (``POST /debug/fetch``): ``{http_status, headers, body,
        envelope_error, parsed, errors}``; ``parse`` ("tokens" | "authorization_info")
        validates ``data`` with extrawest's models."""
        return await self._debug(
            "fetch",
            {"method": method, "url": url, "params": params, "json": json, "parse": parse},
        )

    def output(self) -> str:
        """The tail of the peer's stdout and stderr."""
        try:
            return _tail(self.log_path.read_text(errors="replace"))
        except OSError as exc:
            return f"(no output: {exc})"

    async def stop(self) -> None:
        """SIGTERM the peer's process group, SIGKILL it if it lingers; idempotent."""
        process = self.process
        if process.poll() is not None:
            return
        _signal_group(process, signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            await asyncio.to_thread(process.wait, STOP_TIMEOUT_S)


StartPeer = Callable[..., Awaitable[ExtrawestPeer]]
"""The ``extrawest`` fixture: ``await extrawest("CPO" | "EMSP", token_a=None, **fields)``."""


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    # start_new_session=True made the peer the leader of a group whose id is its pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _tail(text: str, limit: int = OUTPUT_TAIL) -> str:
    text = text.strip()
    return text if len(text) <= limit else "...\n" + text[-limit:]
