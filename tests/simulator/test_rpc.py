"""The adapters' cheap per-connection state, pinned against what ``ocpp`` expects."""

from __future__ import annotations

import pytest
from ocpp.routing import create_route_map
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v201 import ChargePoint as Cp201

from support.frames import ListSink
from support.stations import FAST, spec_for
from voltlab.simulator import Station
from voltlab.simulator.ocpp16.adapter import Ocpp16Adapter
from voltlab.simulator.ocpp201.adapter import Ocpp201Adapter
from voltlab.simulator.rpc import _routes

ADAPTERS = {"1.6": (Ocpp16Adapter, Cp16), "2.0.1": (Ocpp201Adapter, Cp201)}
# Replaced on purpose: answers go to the one waiting CALL's future (``_waiting``).
REPLACED = {"_response_queue"}


class _NoSocket:
    async def send_call(self, frame: str, action: str, unique_id: str) -> None:
        raise AssertionError("not sent in these tests")


def _pair(version: str) -> tuple[Ocpp16Adapter | Ocpp201Adapter, Station]:
    station = Station(spec_for("ws://127.0.0.1:9", version), ListSink(), FAST)
    adapter_cls, _ = ADAPTERS[version]
    return adapter_cls(station, _NoSocket(), response_timeout=5), station  # type: ignore[arg-type]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_the_adapter_sets_what_ocpps_own_init_sets(version: str):
    """``ocpp.ChargePoint.__init__`` is skipped (it builds a route map and a queue per
    connection); every attribute it sets must still be there for ``ocpp``'s methods."""
    adapter, _ = _pair(version)
    _, base = ADAPTERS[version]
    plain = base("CP-1", _NoSocket())
    assert set(vars(plain)) - REPLACED <= set(vars(adapter))
    assert adapter.id == "CP-1"
    assert adapter._ocpp_version == version


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_every_connection_shares_one_route_table(version: str):
    first, station = _pair(version)
    second, _ = _pair(version)
    assert first.route_map._table is second.route_map._table  # type: ignore[attr-defined]
    assert _routes.cache_info().currsize >= 1
    # ``ocpp`` looks handlers up by action and calls them bound to the adapter.
    action = "RemoteStartTransaction" if version == "1.6" else "RequestStartTransaction"
    assert action in first.route_map
    assert "Heartbeat" not in first.route_map  # a charger-initiated action has no handler
    handlers = first.route_map[action]
    assert handlers["_on_action"].__self__ is first
    assert handlers.get("_skip_schema_validation", False) is False
    with pytest.raises(KeyError):
        handlers["_after_action"]
    # The same actions as ``ocpp`` would map for this connection itself.
    assert set(first.route_map) == set(create_route_map(first))
    assert station.findings == 0
