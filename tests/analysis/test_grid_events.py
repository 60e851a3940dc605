"""Grid events and the load-versus-surge rule, on recorded data where it exists."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wattwise.analysis import grid_events, model_data

DATA = Path(__file__).parents[1] / "fixtures" / "anomaly" / "data"


def test_recorded_appliance_switch_ons_are_called_loads_not_surges() -> None:
    ihepc = model_data.load_ihepc(DATA)
    subs = ihepc[["kitchen", "laundry", "heater_ac"]].to_numpy()
    switched = np.concatenate([[False], (np.diff(subs, axis=0) > 500).any(axis=1)])
    result = grid_events.step_agreement(ihepc["power"].to_numpy(), ihepc["voltage"].to_numpy(), switched)
    assert result["switch_ons"] >= 100
    # Real supply: the voltage sags at most switch-ons, so the seed's rule agrees there...
    assert result["voltage_sagged"] >= 0.85
    assert result["seed_load_on"] == result["voltage_sagged"]
    # ...but leaves the rest undecided, while ours calls every one a load and none a surge.
    assert result["seed_undecided"] > 0
    assert result["ours_load_on"] == 1.0
    assert result["ours_grid"] == 0.0


def test_a_voltage_rise_that_drives_a_resistive_load_is_a_surge() -> None:
    # A 1 kW heater at 230 V; the grid jumps to 238 V: P follows V² (about +70 W).
    p0, v0, v1 = 1000.0, 230.0, 238.0
    assert grid_events.step_cause((p0, p0 * (v1 / v0) ** 2), (v0, v1)) == "grid_surge"
    # The same voltage rise while a 2 kW kettle switches on is a load, not the grid.
    assert grid_events.step_cause((p0, p0 + 2000.0), (v0, v1)) == "load_on"
    # A load switching on with the voltage sagging, and off with it recovering.
    assert grid_events.step_cause((300.0, 2300.0), (235.0, 232.0)) == "load_on"
    assert grid_events.step_cause((2300.0, 300.0), (232.0, 235.0)) == "load_off"
    assert grid_events.seed_rule(70.0, 8.0) == "grid_surge"
    assert grid_events.seed_rule(2000.0, 1.0) == "undecided"


def test_sags_swells_and_interruptions_have_durations_and_depths() -> None:
    ts = np.arange(20) * 1000
    volts = np.full(20, 231.0)
    volts[3:6] = [200.0, 195.0, 205.0]  # a 3 s sag to 195 V
    volts[10:12] = [256.0, 258.0]  # a swell above 253 V
    volts[15:17] = [2.0, 3.0]  # an interruption
    events = grid_events.voltage_events(ts, volts, nominal=230.0)
    kinds = [e.kind for e in events]
    assert kinds == ["sag", "swell", "interruption"]
    sag = events[0]
    assert sag.extreme == 195.0 and sag.duration_s == 3.0
    assert sag.describe() == "voltage sag to 195 V (85 % of 230 V) for 3 s"
    assert events[1].extreme == 258.0


def test_a_sag_that_hovers_at_the_threshold_is_one_event_thanks_to_hysteresis() -> None:
    ts = np.arange(8) * 1000
    volts = np.array([230, 205, 208, 206, 209, 207, 230, 230], dtype=float)
    events = grid_events.voltage_events(ts, volts)
    assert len(events) == 1 and events[0].duration_s == 5.0


def test_frequency_outside_one_percent_is_reported() -> None:
    ts = np.arange(10) * 1000
    freq = np.array([50.0, 49.9, 49.4, 49.3, 49.45, 50.0, 50.6, 50.0, 50.0, 50.0])
    events = grid_events.frequency_events(ts, freq)
    assert [e.kind for e in events] == ["under_frequency", "over_frequency"]
    assert events[0].extreme == 49.3 and events[0].duration_s == 3.0
    assert "under frequency" in events[0].describe()


def test_the_recorded_pzem_supply_shows_no_grid_events() -> None:
    ompm = model_data.load_ompm(DATA)
    ts = ompm["ts"].to_numpy()
    assert grid_events.voltage_events(ts, ompm["voltage"].to_numpy()) == []
    assert grid_events.frequency_events(ts, ompm["frequency"].to_numpy()) == []
