"""Configuration keys (1.6) and device-model variables (2.0.1), and the settings the
station reads from them.

A station keeps only its overrides; the defaults and the ``StationSettings`` derived
from them are shared by every station of one shape (see ``versions``), so a change of
configuration swaps the settings object instead of editing it.
"""

from __future__ import annotations

from typing import Any

from voltlab.simulator.ocpp201 import device_model as config201
from voltlab.simulator.ops.base import StationBase
from voltlab.simulator.versions import shared_settings

# Write-only keys (1.6 AuthorizationKey, 2.0.1 SecurityCtrlr.BasicAuthPassword): never
# read back by the CSMS or the API, and no setting depends on them.
SECRET_KEYS = frozenset({"AuthorizationKey", "SecurityCtrlr.BasicAuthPassword"})


class ConfiguringOps(StationBase):
    __slots__ = ()

    def set_configuration(
        self, key: str, value: str, *, force: bool = False
    ) -> tuple[str, str | None]:
        name = key
        if self.spec.ocpp_version == "2.0.1":
            name = config201.resolve(self.config, key) or key
        status, reason = self.config.set(name, value, force=force)
        if status in ("Accepted", "RebootRequired"):
            self._apply_settings()
            self.changed()
        return status, reason

    def get_configuration(self, keys: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        names = keys or [n for n in self.config.names() if n not in SECRET_KEYS]
        known, unknown = [], []
        for name in names:
            entry = self.config.entry(name)
            if entry is None or name in SECRET_KEYS:
                unknown.append(name)
                continue
            known.append({"key": name, "readonly": entry.readonly, "value": self.config.get(name)})
        return known, unknown

    def configuration(self) -> list[dict[str, Any]]:
        return [
            {
                "key": name,
                "value": None if name in SECRET_KEYS else self.config.get(name),
                "readonly": entry.readonly,
                "overridden": name in self.config.overrides,
            }
            for name in self.config.names()
            if (entry := self.config.entry(name)) is not None
        ]

    def _apply_settings(self) -> None:
        spec = self.spec
        shape = (len(spec.connectors), spec.heartbeat_interval_s, spec.meter_interval_s)
        # Secrets shape no setting: left out, stations with their own password still share
        # settings, and the shared cache never holds a password.
        overrides = tuple(
            sorted(item for item in self.config.overrides.items() if item[0] not in SECRET_KEYS)
        )
        self.settings = shared_settings(spec.ocpp_version, shape, overrides)
        self.heartbeat_interval_s = self.settings.heartbeat_interval_s
        self.local_list.max_length = self.settings.local_list_max_length
