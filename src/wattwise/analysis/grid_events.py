"""Grid events from a meter's voltage and frequency, and whose fault a change is.

Voltage sags and swells follow the usual power-quality convention (IEC 61000-4-30 /
EN 50160): a sag while the voltage is below 90 % of nominal, a swell above 110 %, an
interruption below 5 %; each event has a start, an end, a duration and its extreme value,
and ends only when the voltage is back inside the band by a 2 % hysteresis. Frequency
events use EN 50160's ±1 % band (49.5–50.5 Hz on a 50 Hz grid).

Steps (one reading to the next) are classified with the seed project's rule of thumb,
made physical: a load switching on draws current through the supply's impedance, so power
goes up while the voltage sags; a grid surge raises the voltage (by more than 5 V), and
power follows only as much as the voltage drives it — at most about twice the relative
voltage change for a resistive load (P = V²/R). A power rise far larger than that is a load,
whatever the voltage did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAG_FRACTION = 0.90
SWELL_FRACTION = 1.10
INTERRUPTION_FRACTION = 0.05
HYSTERESIS = 0.02
FREQUENCY_TOLERANCE = 0.01
#: The seed's threshold: a voltage rise of more than this is the grid, not a load.
SURGE_VOLTS = 5.0


@dataclass(frozen=True)
class GridEvent:
    """A sag, swell, interruption, over- or under-frequency episode."""

    kind: str
    start_ts: int
    end_ts: int
    extreme: float
    nominal: float

    @property
    def duration_s(self) -> float:
        return (self.end_ts - self.start_ts) / 1000.0

    def describe(self) -> str:
        """Plain words, e.g. ``voltage sag to 198 V (86 % of 230 V) for 3 s``."""
        unit = "Hz" if "frequency" in self.kind else "V"
        share = 100.0 * self.extreme / self.nominal
        what = self.kind.replace("_", " ")
        to = "to" if self.kind in ("sag", "interruption", "under_frequency") else "up to"
        label = f"voltage {what}" if unit == "V" else what
        return (
            f"{label} {to} {self.extreme:.4g} {unit} ({share:.0f} % of {self.nominal:g} {unit}) "
            f"for {self.duration_s:.0f} s"
        )


def _episodes(ts: np.ndarray, inside: np.ndarray, still: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges where ``inside`` starts an episode and ``still`` keeps it going."""
    out = []
    i, n = 0, len(ts)
    while i < n:
        if inside[i]:
            j = i
            while j + 1 < n and still[j + 1]:
                j += 1
            out.append((i, j))
            i = j + 1
        else:
            i += 1
    return out


def voltage_events(ts: np.ndarray, voltage: np.ndarray, *, nominal: float = 230.0) -> list[GridEvent]:
    """Sags, swells and interruptions relative to ``nominal``; the end is the first reading
    back inside the band (or the last reading of the episode when the data stop)."""
    ts = np.asarray(ts, dtype="int64")
    v = np.asarray(voltage, dtype="float64")
    events: list[GridEvent] = []
    sag_line = SAG_FRACTION * nominal
    cut_line = INTERRUPTION_FRACTION * nominal
    swell_line = SWELL_FRACTION * nominal
    slack = HYSTERESIS * nominal
    bands = (
        ("interruption", v < cut_line, v < cut_line + slack, np.min),
        ("sag", (v < sag_line) & (v >= cut_line), v < sag_line + slack, np.min),
        ("swell", v > swell_line, v > swell_line - slack, np.max),
    )
    for kind, inside, still, pick in bands:
        for a, b in _episodes(ts, inside, still):
            end = ts[b + 1] if b + 1 < len(ts) else ts[b]
            events.append(GridEvent(kind, int(ts[a]), int(end), float(pick(v[a : b + 1])), nominal))
    return _drop_nested(sorted(events, key=lambda e: e.start_ts))


def _drop_nested(events: list[GridEvent]) -> list[GridEvent]:
    """A sag that is part of an interruption is reported once, as the interruption."""
    kept: list[GridEvent] = []
    for event in events:
        if any(
            k.kind == "interruption"
            and event.kind == "sag"
            and k.start_ts <= event.end_ts
            and event.start_ts <= k.end_ts
            for k in events
        ):
            continue
        kept.append(event)
    return kept


def frequency_events(ts: np.ndarray, frequency: np.ndarray, *, nominal: float = 50.0) -> list[GridEvent]:
    """Over- and under-frequency episodes outside ``nominal`` ± 1 %."""
    ts = np.asarray(ts, dtype="int64")
    f = np.asarray(frequency, dtype="float64")
    band = FREQUENCY_TOLERANCE * nominal
    events: list[GridEvent] = []
    for kind, inside, pick in (
        ("under_frequency", f < nominal - band, np.min),
        ("over_frequency", f > nominal + band, np.max),
    ):
        for a, b in _episodes(ts, inside, inside):
            end = ts[b + 1] if b + 1 < len(ts) else ts[b]
            events.append(GridEvent(kind, int(ts[a]), int(end), float(pick(f[a : b + 1])), nominal))
    return sorted(events, key=lambda e: e.start_ts)


@dataclass(frozen=True)
class Step:
    """A change between two consecutive readings and what caused it."""

    ts: int
    d_power: float
    d_voltage: float
    cause: str  # load_on, load_off, grid_surge, grid_dip

    def describe(self) -> str:
        words = {
            "load_on": "a load switched on",
            "load_off": "a load switched off",
            "grid_surge": "the grid voltage rose (surge)",
            "grid_dip": "the grid voltage fell",
        }[self.cause]
        return f"{words}: power {self.d_power:+.0f} W, voltage {self.d_voltage:+.1f} V"


def step_cause(power: tuple[float, float], voltage: tuple[float, float]) -> str:
    """``load_on``/``load_off``/``grid_surge``/``grid_dip`` for a change between two readings.

    The grid explains a power change only when the voltage moved by more than
    :data:`SURGE_VOLTS` in the same direction and the relative power change is at most about
    twice the relative voltage change (what a resistive load does); anything else is a load.
    """
    (p0, p1), (v0, v1) = power, voltage
    dp, dv = p1 - p0, v1 - v0
    base = max(abs(p0), 1.0)
    driven_by_grid = abs(dv) > SURGE_VOLTS and dp * dv > 0 and abs(dp) / base <= 2.5 * abs(dv) / max(v0, 1.0)
    if driven_by_grid:
        return "grid_surge" if dv > 0 else "grid_dip"
    return "load_on" if dp > 0 else "load_off"


def classify_steps(
    ts: np.ndarray, power: np.ndarray, voltage: np.ndarray, *, min_power_step: float = 20.0
) -> list[Step]:
    """Every change where power moved by ``min_power_step`` W or more, with its cause."""
    ts = np.asarray(ts, dtype="int64")
    p = np.asarray(power, dtype="float64")
    v = np.asarray(voltage, dtype="float64")
    steps = []
    for i in np.flatnonzero(np.abs(np.diff(p)) >= min_power_step):
        cause = step_cause((p[i], p[i + 1]), (v[i], v[i + 1]))
        steps.append(Step(int(ts[i + 1]), float(p[i + 1] - p[i]), float(v[i + 1] - v[i]), cause))
    return steps


def seed_rule(d_power: float, d_voltage: float) -> str:
    """The seed project's rule exactly as written, for comparison: P up and V down is a load,
    V up by more than 5 V with P up is a surge, anything else is undecided."""
    if d_power > 0 and d_voltage < 0:
        return "load_on"
    if d_power > 0 and d_voltage > SURGE_VOLTS:
        return "grid_surge"
    return "undecided"


def step_agreement(power: np.ndarray, voltage: np.ndarray, switched_on: np.ndarray) -> dict[str, float]:
    """How the classification of recorded switch-ons (known from sub-meters) comes out.

    ``switched_on[i]`` marks readings where a sub-metered appliance switched on since the
    previous reading. Returns the share called ``load_on`` by our rule and by the seed's rule
    (which leaves steps with the voltage steady or slightly up undecided).
    """
    p = np.asarray(power, dtype="float64")
    v = np.asarray(voltage, dtype="float64")
    idx = np.flatnonzero(np.asarray(switched_on, dtype=bool)[1:] & (np.diff(p) > 0)) + 1
    ours = [step_cause((p[i - 1], p[i]), (v[i - 1], v[i])) for i in idx]
    seeds = [seed_rule(p[i] - p[i - 1], v[i] - v[i - 1]) for i in idx]
    n = max(len(idx), 1)
    return {
        "switch_ons": float(len(idx)),
        "ours_load_on": sum(c == "load_on" for c in ours) / n,
        "ours_grid": sum(c.startswith("grid") for c in ours) / n,
        "seed_load_on": sum(c == "load_on" for c in seeds) / n,
        "seed_grid_surge": sum(c == "grid_surge" for c in seeds) / n,
        "seed_undecided": sum(c == "undecided" for c in seeds) / n,
        "voltage_sagged": float(np.mean([v[i] < v[i - 1] for i in idx])) if len(idx) else float("nan"),
    }
