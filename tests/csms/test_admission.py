"""Who may connect: Basic auth per (realm, identity), subprotocols, forgetting a station."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from websockets.exceptions import InvalidStatus

from support.live import eventually
from tests.csms.harness import CPO_REALM, asgi_server
from tests.csms.peers import basic, open_socket, running_peer
from voltlab.csms import CsmsHub, CsmsServer

pytestmark = pytest.mark.timeout(15)

OPEN_REALM = "open-1"


@pytest.fixture
async def hub_url() -> AsyncIterator[tuple[CsmsHub, str]]:
    """A hub with a closed realm (one password set) and an open one, on uvicorn."""
    hub = CsmsHub(heartbeat_interval_s=30)
    hub.add_realm(CPO_REALM)
    hub.add_realm(OPEN_REALM, require_auth=False)
    hub.set_password(CPO_REALM, "CP-1", "right-password:with-colon")
    async with asgi_server(hub) as base_url:
        yield hub, base_url


async def _refused(url: str, *, subprotocols: list[str], authorization: str | None = None):  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidStatus) as refused:
        await open_socket(url, subprotocols=subprotocols, authorization=authorization)
    return refused.value.response


@pytest.mark.parametrize(
    ("identity", "authorization"),
    [
        ("CP-1", basic("CP-1", "wrong-password")),
        ("CP-1", None),
        ("CP-1", basic("CP-2", "right-password:with-colon")),  # user must be the identity
        ("CP-1", "Basic not-base64!"),
        ("CP-UNKNOWN", basic("CP-UNKNOWN", "anything")),  # closed realm, no password set
    ],
)
async def test_the_asgi_route_refuses_bad_credentials_with_401(
    hub_url: tuple[CsmsHub, str], identity: str, authorization: str | None
) -> None:
    hub, base_url = hub_url
    response = await _refused(
        f"{base_url}/{CPO_REALM}/{identity}",
        subprotocols=["ocpp1.6"],
        authorization=authorization,
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert hub.station(CPO_REALM, identity) is None


async def test_the_asgi_route_admits_the_right_password_and_open_realms(
    hub_url: tuple[CsmsHub, str],
) -> None:
    hub, base_url = hub_url
    async with running_peer(
        f"{base_url}/{CPO_REALM}", "CP-1", "2.0.1", password="right-password:with-colon"
    ):
        station = await eventually(lambda: hub.station(CPO_REALM, "CP-1"), timeout=3)
        assert station.connected and station.ocpp_version == "2.0.1"
    async with running_peer(f"{base_url}/{OPEN_REALM}", "CP-ANY", "1.6"):
        await eventually(lambda: hub.session(OPEN_REALM, "CP-ANY"), timeout=3)
    # The same identity in two realms is two stations.
    assert hub.station(OPEN_REALM, "CP-1") is None


async def test_the_asgi_route_answers_404_for_an_unknown_realm(
    hub_url: tuple[CsmsHub, str],
) -> None:
    _, base_url = hub_url
    response = await _refused(f"{base_url}/nope/CP-1", subprotocols=["ocpp1.6"])
    assert response.status_code == 404


async def test_a_station_without_an_ocpp_subprotocol_is_refused_with_400(
    hub_url: tuple[CsmsHub, str],
) -> None:
    hub, base_url = hub_url
    for offered in ([], ["ocpp2.1"]):
        response = await _refused(f"{base_url}/{OPEN_REALM}/CP-X", subprotocols=offered)
        assert response.status_code == 400
    assert hub.station(OPEN_REALM, "CP-X") is None
    async with CsmsServer() as server:  # the standalone server answers the same
        response = await _refused(f"{server.url}/CP-X", subprotocols=[])
        assert response.status_code == 400


async def test_both_versions_offered_picks_1_6_as_the_standalone_server_does(
    hub_url: tuple[CsmsHub, str],
) -> None:
    _, base_url = hub_url
    socket = await open_socket(
        f"{base_url}/{OPEN_REALM}/CP-BOTH", subprotocols=["ocpp2.0.1", "ocpp1.6"]
    )
    assert socket.subprotocol == "ocpp1.6"
    await socket.close()


async def test_forget_disconnects_the_station_and_refuses_it_afterwards(
    hub_url: tuple[CsmsHub, str],
) -> None:
    hub, base_url = hub_url
    async with running_peer(
        f"{base_url}/{CPO_REALM}", "CP-1", "1.6", password="right-password:with-colon"
    ) as peer:
        await eventually(lambda: hub.session(CPO_REALM, "CP-1"), timeout=3)
        await hub.forget(CPO_REALM, "CP-1")
        async with asyncio.timeout(3):
            await peer.connection.wait_closed()
        assert peer.connection.close_code == 1000
        assert hub.station(CPO_REALM, "CP-1") is None
        assert hub.session(CPO_REALM, "CP-1") is None
    response = await _refused(
        f"{base_url}/{CPO_REALM}/CP-1",
        subprotocols=["ocpp1.6"],
        authorization=basic("CP-1", "right-password:with-colon"),
    )
    assert response.status_code == 401


async def test_a_disconnect_ends_the_session_without_errors_in_the_logs(
    hub_url: tuple[CsmsHub, str], caplog: pytest.LogCaptureFixture
) -> None:
    hub, base_url = hub_url
    caplog.set_level(logging.DEBUG)
    # uvicorn's loggers do not propagate to the root, where caplog listens.
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addHandler(caplog.handler)
    try:
        for abrupt in (False, True):
            socket = await open_socket(f"{base_url}/{OPEN_REALM}/CP-GONE", subprotocols=["ocpp1.6"])
            await eventually(lambda: hub.session(OPEN_REALM, "CP-GONE"), timeout=3)
            if abrupt:  # no close handshake: the TCP connection just drops
                socket.transport.abort()
            else:
                await socket.close()
            await eventually(lambda: hub.session(OPEN_REALM, "CP-GONE") is None, timeout=3)
            station = hub.station(OPEN_REALM, "CP-GONE")
            assert station is not None and not station.connected
    finally:
        uvicorn_log.removeHandler(caplog.handler)
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert noisy == []
    assert any("disconnected" in r.getMessage() for r in caplog.records)
