"""Energy and power out of OCPP meter values (both versions), as plain functions.

``read_16`` takes 1.6 ``meterValue`` lists, ``read_201`` takes 2.0.1 ones, both in the
snake_case the ``ocpp`` handlers receive. Each returns the last sample's total import
energy in Wh and active import power in W (``None`` when not sampled).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
# 1.6 and 2.0.1 both default an absent measurand to the energy register.
DEFAULT_MEASURAND = ENERGY
# Units we scale to Wh / W; anything else (varh, A, ...) never matches these measurands.
_SCALE = {"Wh": 1.0, "kWh": 1000.0, "W": 1.0, "kW": 1000.0}


@dataclass(frozen=True, slots=True)
class Reading:
    energy_wh: float | None = None
    power_w: float | None = None


@dataclass(frozen=True, slots=True)
class _Value:
    measurand: str
    phase: str | None
    location: str | None
    amount: float


def _pick(values: list[_Value], measurand: str) -> float | None:
    # Only what flows through the outlet counts (location Outlet is the default). A
    # phase-less value is the total; without one, the per-phase values add up to it.
    mine = [v for v in values if v.measurand == measurand and v.location in (None, "Outlet")]
    total = [v.amount for v in mine if v.phase is None]
    if total:
        return total[-1]
    phases = {v.phase: v.amount for v in mine if v.phase in ("L1", "L2", "L3", "N")}
    return sum(phases.values()) if phases else None


def _read(samples: Iterable[list[_Value]]) -> Reading:
    energy = power = None
    for values in samples:  # in order: the last sample carrying a measurand wins
        energy = e if (e := _pick(values, ENERGY)) is not None else energy
        power = p if (p := _pick(values, POWER)) is not None else power
    return Reading(energy_wh=energy, power_w=power)


def _value_16(value: dict[str, Any]) -> _Value | None:
    if value.get("format") == "SignedData":
        return None
    measurand = value.get("measurand", DEFAULT_MEASURAND)
    unit = value.get("unit", "Wh" if measurand == ENERGY else "W")
    if unit not in _SCALE:
        return None
    try:
        amount = float(value["value"]) * _SCALE[unit]
    except (KeyError, TypeError, ValueError):
        return None
    return _Value(measurand, value.get("phase"), value.get("location"), amount)


def _value_201(value: dict[str, Any]) -> _Value | None:
    measurand = value.get("measurand", DEFAULT_MEASURAND)
    unit_of_measure = value.get("unit_of_measure") or {}
    unit = unit_of_measure.get("unit", "Wh" if measurand == ENERGY else "W")
    if unit not in _SCALE:
        return None
    try:
        amount = float(value["value"]) * 10 ** int(unit_of_measure.get("multiplier", 0))
    except (KeyError, TypeError, ValueError):
        return None
    return _Value(measurand, value.get("phase"), value.get("location"), amount * _SCALE[unit])


def read_16(meter_value: list[dict[str, Any]] | None) -> Reading:
    return _read(
        [v for raw in sample.get("sampled_value", []) if (v := _value_16(raw)) is not None]
        for sample in meter_value or []
    )


def read_201(meter_value: list[dict[str, Any]] | None) -> Reading:
    return _read(
        [v for raw in sample.get("sampled_value", []) if (v := _value_201(raw)) is not None]
        for sample in meter_value or []
    )
