"""What a station takes from its OCPP version, and what stations of one shape share.

A station picks its ``Version`` once; the adapter, payload builders and configuration
keys hang off it, so the rest of the station branches on the version in few places.
The configuration defaults and the settings derived from them are cached here so that
ten thousand stations configured alike hold one copy, not one each.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from voltlab.simulator.configuration import ConfigStore, Entry
from voltlab.simulator.ocpp16 import adapter as adapter16
from voltlab.simulator.ocpp16 import configuration as config16
from voltlab.simulator.ocpp16 import messages as messages16
from voltlab.simulator.ocpp16.adapter import Ocpp16Adapter
from voltlab.simulator.ocpp201 import adapter as adapter201
from voltlab.simulator.ocpp201 import device_model as config201
from voltlab.simulator.ocpp201 import messages as messages201
from voltlab.simulator.ocpp201.adapter import Ocpp201Adapter
from voltlab.simulator.settings_view import StationSettings

Adapter = Ocpp16Adapter | Ocpp201Adapter


@dataclass(frozen=True, slots=True)
class Version:
    adapter: Callable[..., Adapter]
    adapter_module: ModuleType
    messages: ModuleType
    config: ModuleType


VERSIONS = {
    "1.6": Version(Ocpp16Adapter, adapter16, messages16, config16),
    "2.0.1": Version(Ocpp201Adapter, adapter201, messages201, config201),
}


@functools.cache
def config_defaults(
    version: str, connectors: int, heartbeat_s: int, meter_s: int
) -> dict[str, Entry]:
    # Shared by every station of the same shape: each keeps only its overrides.
    return VERSIONS[version].config.defaults(connectors, heartbeat_s, meter_s)


@functools.lru_cache(maxsize=1024)
def shared_settings(
    version: str, shape: tuple[int, int, int], overrides: tuple[tuple[str, str], ...]
) -> StationSettings:
    # Immutable and a function of the configuration: stations configured alike share one.
    config = ConfigStore(config_defaults(version, *shape), dict(overrides))
    return VERSIONS[version].config.settings(config)
