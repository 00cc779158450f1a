"""``CsmsServer`` keeps its public behaviour on top of the hub."""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus

from support.live import eventually
from tests.csms.peers import basic, open_socket, running_peer
from voltlab.csms import DEFAULT_REALM, CsmsServer

pytestmark = pytest.mark.timeout(15)


async def test_passwords_none_is_open_and_a_dict_is_live_and_closed() -> None:
    async with CsmsServer(passwords={"CP-1": "s3cret:pässword-42"}) as server:
        assert server.url == f"ws://127.0.0.1:{server.port}/ocpp"
        assert server.hub.requires_auth(DEFAULT_REALM)
        with pytest.raises(InvalidStatus) as refused:
            await open_socket(f"{server.url}/CP-2", subprotocols=["ocpp1.6"])
        assert refused.value.response.status_code == 401

        assert server.passwords is not None
        server.passwords["CP-2"] = "added-later"  # the mapping stays live
        async with running_peer(server.url, "CP-2", "1.6", password="added-later"):
            await eventually(lambda: server.session("CP-2"), timeout=3)
            assert "CP-2" in server.stations
        async with running_peer(server.url, "CP-1", "2.0.1", password="s3cret:pässword-42"):
            await eventually(lambda: server.session("CP-1"), timeout=3)

        server.passwords = None
        assert not server.hub.requires_auth(DEFAULT_REALM)
        socket = await open_socket(
            f"{server.url}/CP-3", subprotocols=["ocpp1.6"], authorization=basic("x", "y")
        )
        await socket.close()
