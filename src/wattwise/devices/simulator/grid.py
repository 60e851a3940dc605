"""The supply a household hangs on: drifting voltage, sag under load, frequency wander.

The open-circuit voltage is a pure function of time: a daily shape (high at night, low at
the evening peak when the whole feeder is loaded) plus slow random drift. The voltage at
the meter is that minus the drop across the service cable and transformer, the source
impedance R + jX: ΔV ≈ (R·P + X·Q) / V. A 2 kW kettle on 0.4 Ω sags the supply by about
3.5 V, which is what lets a detector tell a load switching on (P up, V down) from a grid
surge (V up with no load change).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wattwise.devices.simulator.noise import FloatArray, IntArray, smooth_noise, stream_id

_V_SLOW = stream_id("grid.voltage.slow")
_V_FAST = stream_id("grid.voltage.fast")
_F_SLOW = stream_id("grid.frequency.slow")
_F_FAST = stream_id("grid.frequency.fast")


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
