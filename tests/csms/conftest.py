"""Fixtures for the built-in CSMS: a hub behind each attachment, with recording hooks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.csms.harness import CPO_REALM, Attachment, RecordingHooks, asgi_server
from voltlab.csms import CsmsHub, CsmsServer


@pytest.fixture
def hooks() -> RecordingHooks:
    return RecordingHooks()


@pytest.fixture(params=["standalone", "asgi"])
async def attachment(
    request: pytest.FixtureRequest, hooks: RecordingHooks
) -> AsyncIterator[Attachment]:
    """The standalone server (open default realm) and the ASGI route (closed realm)."""
    if request.param == "standalone":
        async with CsmsServer(heartbeat_interval_s=30, hooks=hooks) as server:
            yield Attachment("standalone", server.hub, "", server.url, closed=False)
        return
    hub = CsmsHub(heartbeat_interval_s=30)
    hub.add_realm(CPO_REALM, hooks=hooks)
    async with asgi_server(hub) as base_url:
        yield Attachment("asgi", hub, CPO_REALM, f"{base_url}/{CPO_REALM}", closed=True)


@pytest.fixture(params=["1.6", "2.0.1"])
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)
