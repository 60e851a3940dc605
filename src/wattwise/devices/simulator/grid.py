"""The supply a household hangs on: drifting voltage, sag under load, frequency wander.

The open-circuit voltage is a pure function of time: a daily shape (high at night, low at
the evening peak when the whole feeder is loaded) plus slow random drift. The voltage at
the meter is that minus the drop across the service cable and transformer, the source
impedance R + jX: ΔV ≈ (R·P + X·Q) / V. A 2 kW kettle on 0.4 Ω sags the supply by about
3.5 V, which is what lets a detector tell a load switching on (P up, V down) from a grid
surge (V up with no load change). Surges come from the feeder: a few a week, 6–15 V for
5 s to 2 min, at random hours, reported in the ground truth as appliance ``grid``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wattwise.devices.simulator.noise import FloatArray, IntArray, smooth_noise, stream_id, uniform_pair
from wattwise.devices.simulator.schedule import ApplianceEvent

_V_SLOW = stream_id("grid.voltage.slow")
_V_FAST = stream_id("grid.voltage.fast")
_F_SLOW = stream_id("grid.frequency.slow")
_F_FAST = stream_id("grid.frequency.fast")
_SURGE = stream_id("grid.surge")
_SURGE_SLOT_MS = 3_600_000
_SURGE_MIN_MS, _SURGE_MAX_MS = 5_000, 120_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Supply:
    """The electrical character of one household's connection."""

    nominal_v: float = 230.0
    nominal_hz: float = 50.0
    offset_v: float = 0.0
    drift_v: float = 2.5
    resistance_ohm: float = 0.4
    reactance_ohm: float = 0.12
    wander_hz: float = 0.05
    surges_per_day: float = 0.5


@dataclass(frozen=True, slots=True)
class Surge:
    """The supply stands ``rise_v`` higher during [start, end) (UTC ms)."""

    start: int
    end: int
    rise_v: float


def surges_between(supply: Supply, seed: int, t0: int, t1: int) -> list[Surge]:
    """Surges on at some instant of [t0, t1]: at most one per clock hour, drawn from (seed, hour)."""
    slots = np.arange((t0 - _SURGE_SLOT_MS) // _SURGE_SLOT_MS, t1 // _SURGE_SLOT_MS + 1, dtype=np.int64)
    occurs, when = uniform_pair(seed, _SURGE, slots)
    length, rise = uniform_pair(seed, _SURGE + 1, slots)
    found = []
    for i in np.nonzero(occurs < supply.surges_per_day / 24.0)[0]:
        start = int(slots[i]) * _SURGE_SLOT_MS + int(when[i] * (_SURGE_SLOT_MS - _SURGE_MAX_MS))
        end = start + _SURGE_MIN_MS + int(length[i] * (_SURGE_MAX_MS - _SURGE_MIN_MS))
        if end > t0 and start <= t1:
            found.append(Surge(start, end, 6.0 + 9.0 * float(rise[i])))
    return found


def surge_events(supply: Supply, seed: int, t0: int, t1: int) -> list[ApplianceEvent]:
    """Ground truth of surges starting or ending in (t0, t1]: appliance ``grid``, no ΔP."""
    events = []
    for surge in surges_between(supply, seed, t0, t1):
        for ts, state in ((surge.start, "on"), (surge.end, "off")):
            if t0 < ts <= t1:
                events.append(ApplianceEvent(ts=ts, appliance="grid", state=state, phase="surge", delta_w=0.0))
    return events


def _bump(hour: FloatArray, centre: float, width: float) -> FloatArray:
    """A Gaussian bump on the 24-hour circle."""
    distance = np.abs((hour - centre + 12.0) % 24.0 - 12.0)
    bump: FloatArray = np.exp(-((distance / width) ** 2))
    return bump


_MINUTES = np.arange(24 * 60 + 1, dtype=np.float64) / 60.0
#: The feeder's daily shape, V, minute by minute: high at night, dips at breakfast and dinner.
_DAILY_V = 2.5 * _bump(_MINUTES, 3.0, 3.5) - 5.0 * _bump(_MINUTES, 20.0, 2.0) - 2.0 * _bump(_MINUTES, 8.0, 1.5)


def open_circuit_voltage(supply: Supply, seed: int, ts: IntArray, local_hour: FloatArray) -> FloatArray:
    """Voltage with no load of ours: daily feeder shape plus slow random drift."""
    daily = np.interp(local_hour, _MINUTES, _DAILY_V)
    drift = supply.drift_v * smooth_noise(seed, _V_SLOW, ts, 20 * 60_000)
    flicker = 0.3 * supply.drift_v * smooth_noise(seed, _V_FAST, ts, 90_000)
    volts: FloatArray = supply.nominal_v + supply.offset_v + daily + drift + flicker
    for surge in surges_between(supply, seed, int(ts[0]), int(ts[-1])):
        volts[np.searchsorted(ts, surge.start) : np.searchsorted(ts, surge.end)] += surge.rise_v
    return volts


def loaded_voltage(supply: Supply, open_v: FloatArray, power_w: FloatArray, reactive_var: FloatArray) -> FloatArray:
    """Voltage at the meter once the household draws P + jQ through the source impedance."""
    drop = (supply.resistance_ohm * power_w + supply.reactance_ohm * reactive_var) / open_v
    return open_v - drop


def frequency(supply: Supply, seed: int, ts: IntArray) -> FloatArray:
    """Grid frequency: slow wander around nominal (the whole grid, so no sag of ours)."""
    slow = smooth_noise(seed, _F_SLOW, ts, 5 * 60_000)
    fast = smooth_noise(seed, _F_FAST, ts, 20_000)
    return supply.nominal_hz + supply.wander_hz * (slow + 0.4 * fast)
