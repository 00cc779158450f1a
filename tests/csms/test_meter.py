"""Energy and power out of meter values, both versions, without sockets."""

from __future__ import annotations

from voltlab.csms.meter import Reading, read_16, read_201


def test_1_6_reads_wh_and_kwh_and_the_last_sample_wins() -> None:
    samples = [
        {"sampled_value": [{"value": "100"}]},  # no measurand: the energy register, Wh
        {
            "sampled_value": [
                {"value": "1.25", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
                {"value": "11", "measurand": "Power.Active.Import", "unit": "kW"},
                {"value": "16", "measurand": "Current.Import", "unit": "A"},
            ]
        },
    ]
    assert read_16(samples) == Reading(energy_wh=1250, power_w=11000)


def test_1_6_adds_up_phases_only_without_a_total_and_skips_signed_and_ev_values() -> None:
    per_phase = [
        {
            "sampled_value": [
                {"value": "2300", "measurand": "Power.Active.Import", "phase": p, "unit": "W"}
                for p in ("L1", "L2", "L3")
            ]
            + [
                {"value": "5", "format": "SignedData"},
                {"value": "9999", "location": "EV"},
                {"value": "42"},
            ]
        }
    ]
    assert read_16(per_phase) == Reading(energy_wh=42, power_w=6900)
    assert read_16(None) == Reading()


def test_2_0_1_applies_units_and_multipliers() -> None:
    samples = [
        {
            "sampled_value": [
                {"value": 1.6, "unit_of_measure": {"unit": "Wh", "multiplier": 3}},
                {
                    "value": 7.4,
                    "measurand": "Power.Active.Import",
                    "unit_of_measure": {"unit": "kW"},
                },
            ]
        }
    ]
    assert read_201(samples) == Reading(energy_wh=1600, power_w=7400)
    assert read_201([{"sampled_value": [{"value": 2, "unit_of_measure": {"unit": "kWh"}}]}]) == (
        Reading(energy_wh=2000)
    )
