"""A simulated household behind one meter: what the meter would read, step by step.

The household is configuration (which appliances, how strong, how used, which supply);
the only thing that evolves is a small state: the time of the last reading and the
meter's unrounded energy counter. ``step`` is a pure function from one state to the next
with the reading and the ground-truth switching events in between; ``simulate`` does many
steps at once on numpy arrays and gives the very same readings, so a week of history and
the live readings that follow it are one continuous, reproducible series.

Electrically, each instant sums the active phases' P and Q by load kind, sags the supply
through its impedance, lets each kind's power follow the voltage, then reads it like a
PZEM-004T: 0.1 V, 0.001 A, 0.1 W, a 1 Wh counter, 0.1 Hz and 0.01 power factor.
The counter integrates every phase exactly over its part of each interval, so a kettle
between two readings far apart still adds its energy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from wattwise.devices.simulator import grid
from wattwise.devices.simulator.appliances import APPLIANCES, LoadKind
from wattwise.devices.simulator.noise import FloatArray, IntArray, normal, stream_id
from wattwise.devices.simulator.schedule import (
    ApplianceEvent,
    OwnedAppliance,
    Runs,
    events_between,
    runs_between,
)

_MWMS_PER_WH = 3.6e9  # milliwatt-milliseconds in one watt-hour
_HOUR_MS = 3_600_000
_P_NOISE = stream_id("meter.power")
_V_NOISE = stream_id("meter.voltage")
_PZEM_MIN_W = 0.4  # a PZEM-004T reads 0 below its starting power

COLUMNS: tuple[str, ...] = ("ts", "voltage", "current", "power", "energy", "frequency", "pf")


@dataclass(frozen=True, slots=True, kw_only=True)
class Household:
    """Everything fixed about one simulated home and its meter."""

    seed: int
    timezone: str = "UTC"
    appliances: tuple[OwnedAppliance, ...] = tuple(OwnedAppliance(appliance=a) for a in APPLIANCES)
    supply: grid.Supply = field(default_factory=grid.Supply)
    meter_gain: float = 1.0  # calibration error of the meter (±0.5 % for a PZEM)
    power_noise: float = 0.002  # relative noise of one power reading
    voltage_noise_v: float = 0.05
    energy_start_wh: float = 0.0


@dataclass(frozen=True, slots=True)
class HouseholdState:
    """What changes: time of the last reading (UTC ms) and the unrounded counter (Wh)."""

    ts: int
    energy_wh: float


@dataclass(frozen=True, slots=True)
class Samples:
    """Readings as parallel arrays, in the units and resolution of a PZEM-004T."""

    ts: IntArray
    voltage: FloatArray
    current: FloatArray
    power: FloatArray
    energy: FloatArray
    frequency: FloatArray
    pf: FloatArray

    def __len__(self) -> int:
        return len(self.ts)

    def rows(self) -> list[dict[str, float | int]]:
        """One JSON-ready dict per reading, as POST /api/v1/ingest takes them."""
        cols = {name: getattr(self, name).tolist() for name in COLUMNS}
        return [dict(zip(COLUMNS, values, strict=True)) for values in zip(*cols.values(), strict=True)]

    def frame(self) -> pd.DataFrame:
        """The readings as a DataFrame with the columns of ``COLUMNS``."""
        return pd.DataFrame({name: getattr(self, name) for name in COLUMNS})


def make_household(
    seed: int,
    *,
    timezone: str = "UTC",
    nominal_v: float = 230.0,
    nominal_hz: float = 50.0,
    every_appliance: bool = False,
) -> Household:
    """Draw one plausible household from ``seed``: which appliances, ratings, habits, supply.

    ``every_appliance`` gives the household one of each appliance of the table (useful
    when a test needs a washing machine); otherwise each is owned with its presence odds.
    """
    ZoneInfo(timezone)  # fail early on an unknown zone name
    rng = np.random.default_rng([seed, stream_id("household")])
    owned = []
    for appliance in APPLIANCES:
        present = rng.random() < appliance.presence
        power_scale = float(rng.uniform(0.85, 1.15))
        usage_scale = float(rng.uniform(0.6, 1.4))
        if present or every_appliance:
            owned.append(
                OwnedAppliance(
                    appliance=appliance, power_scale=round(power_scale, 3), usage_scale=round(usage_scale, 3)
                )
            )
    resistance = float(rng.uniform(0.2, 0.6))
    supply = grid.Supply(
        nominal_v=nominal_v,
        nominal_hz=nominal_hz,
        offset_v=float(rng.uniform(-4.0, 6.0)),
        resistance_ohm=resistance,
        reactance_ohm=0.3 * resistance,
    )
    return Household(
        seed=seed,
        timezone=timezone,
        appliances=tuple(owned),
        supply=supply,
        meter_gain=float(rng.uniform(0.995, 1.005)),
        energy_start_wh=float(np.floor(rng.uniform(0.0, 2_000_000.0))),
    )


def initial_state(household: Household, ts: int) -> HouseholdState:
    """The meter as found at ``ts``: its counter at the household's starting value."""
    return HouseholdState(ts=ts, energy_wh=household.energy_start_wh)


def _utc_offset_ms(ts: IntArray, timezone: str) -> IntArray:
    """UTC offset of the zone at each instant, looked up once per hour spanned."""
    zone = ZoneInfo(timezone)
    hours = np.floor_divide(ts, _HOUR_MS)
    first, last = int(hours.min()), int(hours.max())
    table = np.array(
        [
            int(datetime.fromtimestamp(h * 3600, UTC).astimezone(zone).utcoffset().total_seconds())  # type: ignore[union-attr]
            * 1000
            for h in range(first, last + 1)
        ],
        np.int64,
    )
    offsets: IntArray = table[hours - first]
    return offsets


def local_hour(ts: IntArray, timezone: str) -> FloatArray:
    """Hour of the day (fractional) on the household's wall clock."""
    local = ts + _utc_offset_ms(ts, timezone)
    hours: FloatArray = np.mod(local, 86_400_000).astype(np.float64) / _HOUR_MS
    return hours


def _running(ts: IntArray, start: IntArray, end: IntArray, value: IntArray) -> tuple[IntArray, IntArray]:
    """Sum of ``value`` over runs on at each instant, and its integral since ``ts[0]``.

    A run counts at ``t`` when start ≤ t < end. The integral up to ``t`` is
    Σ v·(t − start) over active runs plus Σ v·(end − start) over finished ones, written as
    t·V(t) − B(t) so both come out of two running sums, exactly, in integers.
    """
    n = len(ts)
    at_start = np.searchsorted(ts, start, "left")
    at_end = np.searchsorted(ts, end, "left")
    ref = ts[0]
    d_level = np.zeros(n + 1, np.int64)
    d_base = np.zeros(n + 1, np.int64)
    np.add.at(d_level, at_start, value)
    np.add.at(d_level, at_end, -value)
    np.add.at(d_base, at_start, value * (start - ref))
    np.add.at(d_base, at_end, -value * (end - ref))
    level = np.cumsum(d_level[:n])
    integral: IntArray = (ts - ref) * level - np.cumsum(d_base[:n])
    return level, integral


def _by_kind(ts: IntArray, runs: Runs, kind: LoadKind) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """P (mW) and Q (mvar) of one load kind at each instant, and their integrals (·ms)."""
    sel = runs.kind == int(kind)
    p, e_p = _running(ts, runs.start[sel], runs.end[sel], runs.power_mw[sel])
    q, e_q = _running(ts, runs.start[sel], runs.end[sel], runs.reactive_mvar[sel])
    return p, q, e_p, e_q


@lru_cache(maxsize=4096)
def _hour_runs(household: Household, hour: int) -> Runs:
    """Runs on at some instant of one clock hour, kept for the steps inside it."""
    return runs_between(
        household.seed, household.appliances, household.timezone, hour * _HOUR_MS, (hour + 1) * _HOUR_MS
    )


def _runs(household: Household, t0: int, t1: int) -> Runs:
    """Runs on during [t0, t1]; a superset is harmless (runs outside add nothing)."""
    hour = t0 // _HOUR_MS
    if t1 <= (hour + 1) * _HOUR_MS:
        return _hour_runs(household, hour)
    return runs_between(household.seed, household.appliances, household.timezone, t0, t1)


def _weighted(parts: list[IntArray], factors: list[FloatArray] | None = None) -> FloatArray:
    """Σ parts[i] · factors[i] (or the plain sum), always added in the same order."""
    total = np.zeros(len(parts[0]), np.float64)
    for i, part in enumerate(parts):
        total = total + (part if factors is None else part * factors[i])
    return total


@dataclass(frozen=True, slots=True)
class Load:
    """What a set of appliances draws, per load kind: P (mW) and Q (mvar) at each reading,
    and the energy of each interval before it (mW·ms, var·ms) — exact integers."""

    p: tuple[IntArray, ...]
    q: tuple[IntArray, ...]
    e_p: tuple[IntArray, ...]
    e_q: tuple[IntArray, ...]

    def __add__(self, other: Load) -> Load:
        def pair(a: tuple[IntArray, ...], b: tuple[IntArray, ...]) -> tuple[IntArray, ...]:
            return tuple(x + y for x, y in zip(a, b, strict=True))

        return Load(pair(self.p, other.p), pair(self.q, other.q), pair(self.e_p, other.e_p), pair(self.e_q, other.e_q))


def check_times(state: HouseholdState, ts: IntArray) -> IntArray:
    """``ts`` as int64, refused unless strictly increasing after the state's last reading."""
    ts = np.asarray(ts, np.int64)
    if len(ts) == 0:
        raise ValueError("simulate needs at least one timestamp")
    if ts[0] <= state.ts or np.any(np.diff(ts) <= 0):
        raise ValueError("timestamps must increase and come after the state's last reading")
    return ts


def load_of(household: Household, after: int, ts: IntArray) -> tuple[Load, Runs]:
    """The household's appliances' draw at ``ts`` and over each interval since ``after``."""
    grid_ts = np.concatenate([[after], ts])
    runs = _runs(household, after, int(ts[-1]))
    kinds = [_by_kind(grid_ts, runs, kind) for kind in LoadKind]
    load = Load(
        p=tuple(k[0][1:] for k in kinds),
        q=tuple(k[1][1:] for k in kinds),
        e_p=tuple(np.diff(k[2]) for k in kinds),
        e_q=tuple(np.diff(k[3]) for k in kinds),
    )
    return load, runs


@dataclass(frozen=True, slots=True)
class Voltage:
    """The supply at the meters: at each reading, and its mean over each interval."""

    at_reading: FloatArray
    mean: FloatArray


def supply_voltage(feeder: Household, after: int, ts: IntArray, load: Load) -> Voltage:
    """Voltage of ``feeder``'s supply when it carries ``load`` (the whole load behind it)."""
    supply = feeder.supply
    open_v = grid.open_circuit_voltage(supply, feeder.seed, ts, local_hour(ts, feeder.timezone))
    at_reading = grid.loaded_voltage(supply, open_v, _weighted(list(load.p)) / 1000.0, _weighted(list(load.q)) / 1000.0)
    span_ms = np.diff(np.concatenate([[after], ts])).astype(np.float64)
    mean_p = _weighted(list(load.e_p)) / span_ms / 1000.0
    mean_q = _weighted(list(load.e_q)) / span_ms / 1000.0
    return Voltage(at_reading, grid.loaded_voltage(supply, open_v, mean_p, mean_q))


def read_meter(
    meter: Household, feeder: Household, state: HouseholdState, ts: IntArray, load: Load, voltage: Voltage
) -> tuple[HouseholdState, Samples]:
    """What ``meter`` reads of ``load`` on ``feeder``'s supply at ``voltage``, and its new state."""
    nominal = feeder.supply.nominal_v
    factors = [(voltage.at_reading / nominal) ** kind.exponent for kind in LoadKind]
    power = _weighted(list(load.p), factors) / 1000.0
    reactive = _weighted(list(load.q), factors) / 1000.0
    # the counter's energy follows the interval's mean voltage, sagged by its mean load
    mean_factors = [(voltage.mean / nominal) ** kind.exponent for kind in LoadKind]
    added_wh = _weighted(list(load.e_p), mean_factors) * meter.meter_gain / _MWMS_PER_WH
    energy = np.cumsum(np.concatenate([[state.energy_wh], added_wh]))[1:]

    seed = meter.seed
    jitter = 1.0 + meter.power_noise * normal(seed, _P_NOISE, ts)
    measured_p = power * meter.meter_gain * jitter
    measured_q = reactive * meter.meter_gain * jitter
    measured_v = voltage.at_reading + meter.voltage_noise_v * normal(seed, _V_NOISE, ts)
    apparent = np.hypot(measured_p, measured_q)
    current = apparent / measured_v
    with np.errstate(invalid="ignore", divide="ignore"):
        pf: FloatArray = np.where(apparent > 0, measured_p / apparent, 0.0).astype(np.float64)
    measured_p = np.where(measured_p < _PZEM_MIN_W, 0.0, measured_p)

    samples = Samples(
        ts=ts,
        voltage=np.round(measured_v, 1),
        current=np.round(current, 3),
        power=np.round(measured_p, 1),
        energy=np.floor(energy),
        frequency=np.round(grid.frequency(feeder.supply, feeder.seed, ts), 1),
        pf=np.round(pf, 2),
    )
    return replace(state, ts=int(ts[-1]), energy_wh=float(energy[-1])), samples


def simulate(
    household: Household, state: HouseholdState, ts: IntArray
) -> tuple[HouseholdState, Samples, list[ApplianceEvent]]:
    """Readings at each of ``ts`` (strictly increasing, after ``state.ts``), the new state
    and the switching events in (state.ts, ts[-1]]."""
    ts = check_times(state, ts)
    load, runs = load_of(household, state.ts, ts)
    voltage = supply_voltage(household, state.ts, ts, load)
    new_state, samples = read_meter(household, household, state, ts, load, voltage)
    events = events_between(runs, household.appliances, state.ts, int(ts[-1]))
    events.extend(grid.surge_events(household.supply, household.seed, state.ts, int(ts[-1])))
    events.sort(key=lambda e: e.ts)
    return new_state, samples, events


def step(
    household: Household, state: HouseholdState, interval_ms: int
) -> tuple[HouseholdState, dict[str, float | int], list[ApplianceEvent]]:
    """Advance one reading: the new state, the reading ``interval_ms`` later, the events."""
    if interval_ms <= 0:
        raise ValueError(f"interval must be positive, got {interval_ms} ms")
    new_state, samples, events = simulate(household, state, np.array([state.ts + interval_ms], np.int64))
    return new_state, samples.rows()[0], events


def regular_times(start_ms: int, end_ms: int, interval_ms: int) -> IntArray:
    """Reading times start + k·interval in (start, end]."""
    return np.arange(start_ms + interval_ms, end_ms + 1, interval_ms, dtype=np.int64)
