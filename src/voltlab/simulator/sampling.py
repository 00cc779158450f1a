"""Meter readings by measurand, in the units both versions report."""

from __future__ import annotations

from voltlab.simulator.model.meter import NOMINAL_VOLTAGE_V, Meter

UNITS = {
    "Energy.Active.Import.Register": "Wh",
    "Power.Active.Import": "W",
    "Current.Import": "A",
    "Voltage": "V",
    "SoC": "Percent",
}


def readings(meter: Meter, measurands: tuple[str, ...]) -> list[tuple[str, float, str]]:
    """(measurand, value, unit) for each configured measurand."""
    values = {
        "Energy.Active.Import.Register": round(meter.energy_wh, 1),
        "Power.Active.Import": round(meter.power_w, 1),
        "Current.Import": round(meter.current_a, 2),
        "Voltage": NOMINAL_VOLTAGE_V,
        "SoC": round(meter.soc_percent, 1),
    }
    return [(m, values[m], UNITS[m]) for m in measurands if m in values]
