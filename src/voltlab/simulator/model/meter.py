"""The EV and the energy meter of one connector: power drawn, energy integrated, SoC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NOMINAL_VOLTAGE_V = 230.0


@dataclass(slots=True)
class Meter:
    """Energy register (Wh, never goes back), present power and the EV's state of charge.

    ``max_power_w`` is the connector's hardware limit; ``requested_w`` what the EV (or a
    ``power-update``) asks for; the charging-profile limit caps both.
    """

    max_power_w: float
    energy_wh: float = 0.0
    power_w: float = 0.0
    requested_w: float | None = None
    battery_wh: float = 60_000.0
    soc_percent: float = 20.0
    phases: int = 3
    # The monotonic time the register was last integrated up to (see ``settle``).
    at: float = 0.0

    def target_power(self, limit_w: float | None, *, charging: bool) -> float:
        if not charging:
            return 0.0
        power = self.max_power_w if self.requested_w is None else self.requested_w
        if limit_w is not None:
            power = min(power, limit_w)
        if self.soc_percent >= 100.0:
            return 0.0
        return max(0.0, min(power, self.max_power_w))

    def advance(self, seconds: float) -> float:
        """Integrate the present power over ``seconds``; returns the Wh added. The EV
        stops drawing once its battery is full, even within the interval."""
        if seconds <= 0 or self.power_w <= 0:
            return 0.0
        room = max(0.0, (100.0 - self.soc_percent) / 100.0 * self.battery_wh)
        added = min(self.power_w * seconds / 3600.0, room)
        self.energy_wh += added
        if added >= room:
            self.soc_percent = 100.0  # exactly: the EV stops drawing (target_power)
        else:
            self.soc_percent = min(100.0, self.soc_percent + 100.0 * added / self.battery_wh)
        return added

    def settle(self, now: float) -> float:
        """Integrate the power held since the last settle up to ``now`` (monotonic).

        Power is constant between two changes, so the register is exact whenever it is
        settled: before the power changes and before the register is read."""
        previous, self.at = self.at, now
        return self.advance(now - previous) if previous else 0.0

    def seconds_until(self, energy_wh: float) -> float | None:
        """When the register reaches ``energy_wh`` at the present power (None: never)."""
        if self.power_w <= 0:
            return None
        return max(0.0, (energy_wh - self.energy_wh) * 3600.0 / self.power_w)

    def seconds_until_full(self) -> float | None:
        return self.seconds_until(
            self.energy_wh + (100.0 - self.soc_percent) / 100.0 * self.battery_wh
        )

    @property
    def current_a(self) -> float:
        return self.power_w / (NOMINAL_VOLTAGE_V * self.phases) if self.phases else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "energy_wh": self.energy_wh,
            "requested_w": self.requested_w,
            "soc_percent": self.soc_percent,
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.energy_wh = float(data.get("energy_wh", self.energy_wh))
        self.requested_w = data.get("requested_w")
        self.soc_percent = float(data.get("soc_percent", self.soc_percent))
