"""Fixtures of the interop tests: extrawest-ocpi's virtualenv (once per machine) and peers.

``extrawest`` starts peers on demand and stops them after the test::

    async def test_x(voltlab, extrawest):
        peer = await extrawest("CPO")            # an ExtrawestPeer, ready

A failing test's report carries each peer's output (section "extrawest ... output").
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from interop.harness import ExtrawestPeer, RegistryUnreachable, StartPeer, ensure_venv

_PEERS = pytest.StashKey[list[ExtrawestPeer]]()


@pytest.fixture(scope="session")
def extrawest_python() -> Path:
    """The interpreter of extrawest's virtualenv; built on first use (about a minute)."""
    try:
        return ensure_venv()
    except RegistryUnreachable as exc:
        pytest.skip(f"extrawest-ocpi cannot be installed: {exc}")


@pytest.fixture
async def extrawest(
    extrawest_python: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[StartPeer]:
    peers: list[ExtrawestPeer] = []
    request.node.stash[_PEERS] = peers

    async def start(role: str, token_a: str | None = None, **fields: Any) -> ExtrawestPeer:
        peer = await ExtrawestPeer.start(
            extrawest_python,
            role=role,
            token_a=token_a or secrets.token_urlsafe(24),
            log_dir=tmp_path / "extrawest",
            **fields,
        )
        peers.append(peer)
        return peer

    try:
        yield start
    finally:
        for peer in peers:
            await peer.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for peer in item.stash.get(_PEERS, []):
        report.sections.append(
            (f"extrawest {peer.role} peer (port {peer.port}) output", peer.output())
        )
