"""Which appliances are on in each steady stretch: event-constrained state decoding.

Where one meter sees everything (no large unmetered loads), the steady segments
between detected events can be explained as a whole: each appliance is off or on at
its typical power, the segment's median level is the base load plus the appliances
that are on, and appliances change state only at events, a change costing
``switch_cost``. A Viterbi pass over the segments finds the most likely sequence of
state combinations; an event's label is then the appliance whose state changed there.
Unlike pairing one ON with one OFF, this keeps the whole house consistent when several
appliances switch within a second of each other.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from wattwise.analysis.nilm.events import Event
from wattwise.analysis.nilm.signatures import UNIDENTIFIED

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class StateModel:
    """ON power level(s) of each appliance, the base load and the decoding costs.

    ``reactive_var`` optionally gives the Q (var) drawn at each of those levels; with an
    aggregate Q it separates loads of equal power (a lamp from a laptop charger).
    """

    power_w: dict[str, list[float]]
    reactive_var: dict[str, list[float]] | None = None
    base_w: float = 0.0
    base_var: float = 0.0
    noise_w: float = 3.0
    noise_var: float = 5.0
    rel_noise: float = 0.05
    switch_cost: float = 4.0
    max_appliances: int = 10
    #: segments shorter than this (samples) are the middle of a switch (a fan stepping
    #: through its speeds, loads switched a second apart): their level is not scored
    min_segment: int = 1
    #: times the ON levels are re-fitted to the decoded recording itself and it is
    #: decoded again (a charger, a warming LED driver, a monitor's brightness drift away
    #: from the levels learnt)
    adapt: int = 0
    #: how the decoded levels become each sample's watts (:mod:`.apportion`): "none"
    #: keeps the levels; "share", "edges" or "runs" follow the aggregate
    apportion: str = "none"
    #: for "gain": each appliance's gain as the aggregate sees it against its own
    #: sub-meter, and the base load under those gains (learnt from the training part)
    gains: dict[str, float] = field(default_factory=dict)
    gain_base_w: float = 0.0
    #: live (:mod:`.live_decode`): a sample's state is decided once it is this old (s),
    #: from everything the meter has seen by then
    live_lag_s: float = 120.0

    def __post_init__(self) -> None:
        if len(self.power_w) > self.max_appliances:
            raise ValueError(f"at most {self.max_appliances} appliances can be decoded jointly")
        if any(not levels for levels in self.power_w.values()):
            raise ValueError("every appliance needs at least one ON power level")


def renamed_states(model: StateModel, old: str, new: str) -> StateModel:
    """The model with appliance ``old`` called ``new`` in the same place (a person renamed
    it): the combinations keep their numbers, so a live decoding goes on from what it
    decided (:meth:`.live_decode.LiveDecoder.feed`). Two appliances decoded jointly are
    two loads the levels tell apart, so one cannot be renamed onto the other."""
    if old == new or old not in model.power_w:
        return model
    if new in model.power_w:
        raise ValueError(f"name: {old!r} and {new!r} are decoded as two loads; they cannot be merged")

    def keyed(levels: Mapping[str, Any]) -> dict[str, Any]:
        return {new if k == old else k: v for k, v in levels.items()}

    reactive = None if model.reactive_var is None else keyed(model.reactive_var)
    return replace(model, power_w=keyed(model.power_w), reactive_var=reactive, gains=keyed(model.gains))


@dataclass(frozen=True, slots=True)
class Tables:
    """What the Viterbi pass scores with, from the model alone (shared by the offline
    pass and the live one, :mod:`.live_decode`): every combination of the appliances'
    levels (W per appliance, numbered with every appliance off first), its total W and
    var, and what going from one combination to another costs."""

    names: list[str]
    combos: FloatArray
    totals: FloatArray
    q_totals: FloatArray | None
    step_cost: FloatArray

    @classmethod
    def of(cls, model: StateModel) -> Tables:
        names = list(model.power_w)
        options = [[0.0, *model.power_w[n]] for n in names]
        combos = np.array(list(itertools.product(*options)), dtype=np.float64)
        totals = model.base_w + combos.sum(axis=1)
        q_totals = None
        if model.reactive_var is not None:
            q_opts = [[0.0, *model.reactive_var[n]] for n in names]
            q_totals = model.base_var + np.array(list(itertools.product(*q_opts)), dtype=np.float64).sum(axis=1)
        flips = (combos[:, None, :] != combos[None, :, :]).sum(axis=2)
        # an event must change something: staying in the same combination costs as a
        # switch, but a hair less, so that of two equally good paths the one that switches
        # less wins (combinations are numbered with every appliance off first: an exact tie
        # used to go to switching a load off and back on across a segment too short to be
        # scored)
        step_cost = model.switch_cost * np.where(flips == 0, 1.0 - 1e-6, flips)
        return cls(names, combos, totals, q_totals, step_cost)

    def emission(self, level: float, q_level: float, model: StateModel) -> FloatArray:
        """Each combination's cost for a segment at ``level`` W (and ``q_level`` var;
        NaN: not scored)."""
        out = np.zeros(self.totals.size)
        pairs = [(level, self.totals, model.noise_w)]
        if self.q_totals is not None:
            pairs.append((q_level, self.q_totals, model.noise_var))
        for lev, tot, noise in pairs:
            if not np.isnan(lev):
                scale = np.maximum(noise, model.rel_noise * np.maximum(np.abs(tot), abs(lev)))
                out += ((lev - tot) / scale) ** 2
        return out


def _segment_levels(power: FloatArray, cuts: npt.NDArray[np.int64]) -> FloatArray:
    bounds = np.r_[0, cuts, power.size]
    return np.array([float(np.nanmedian(power[a:b])) if b > a else np.nan for a, b in itertools.pairwise(bounds)])


def decode(
    ts: npt.ArrayLike,
    power: npt.ArrayLike,
    events: Sequence[Event],
    model: StateModel,
    reactive: npt.ArrayLike | None = None,
) -> tuple[dict[str, FloatArray], list[str]]:
    """Per-sample power of each appliance and the label of each event (``reactive``:
    the aggregate Q in var, used when the model knows each level's Q)."""
    t = np.asarray(ts, dtype=np.int64)
    p = np.asarray(power, dtype=np.float64)
    tables = Tables.of(model)
    names, combos = tables.names, tables.combos
    cuts = np.searchsorted(t, [e.ts for e in events]).astype(np.int64)
    levels = _segment_levels(p, cuts)
    short = np.diff(np.r_[0, cuts, p.size]) < model.min_segment
    levels[short] = np.nan
    if reactive is not None and tables.q_totals is not None:
        q_levels = _segment_levels(np.asarray(reactive, dtype=np.float64), cuts)
        q_levels[short] = np.nan
    else:
        q_levels = np.full(levels.size, np.nan)
    step_cost = tables.step_cost

    def emission(seg: int) -> FloatArray:
        return tables.emission(float(levels[seg]), float(q_levels[seg]), model)

    cost = emission(0)
    back = []
    for seg in range(1, levels.size):
        total = cost[:, None] + step_cost
        arg = np.argmin(total, axis=0)
        back.append(arg)
        cost = total[arg, np.arange(combos.shape[0])] + emission(seg)
    path = [int(np.argmin(cost))]
    for arg in reversed(back):
        path.append(int(arg[path[-1]]))
    path.reverse()
    if model.adapt > 0:
        steady = np.diff(np.r_[0, cuts, p.size]) >= 3  # not the middle of a switch
        scale = _level_scale(combos[path], np.where(steady, levels, np.nan) - model.base_w)
        refitted = {n: [w * float(scale[j]) for w in model.power_w[n]] for j, n in enumerate(names)}
        return decode(t, p, events, replace(model, power_w=refitted, adapt=model.adapt - 1), reactive)

    bounds = np.r_[0, cuts, p.size]
    out = {n: np.zeros(p.size) for n in names}
    for seg, (a, b) in enumerate(itertools.pairwise(bounds)):
        for j, n in enumerate(names):
            out[n][a:b] = combos[path[seg], j]
    labels = [step_label(e, combos[path[k]], combos[path[k + 1]], names) for k, e in enumerate(events)]
    return out, labels


def step_label(event: Event, before: FloatArray, after: FloatArray, names: Sequence[str]) -> str:
    """The appliance the decoding changed at ``event`` (from the combination ``before``
    to ``after``): of several, the one whose change best matches the step."""
    changed = [j for j in range(len(names)) if before[j] != after[j]]
    if not changed:
        return UNIDENTIFIED
    j = min(changed, key=lambda j: abs(event.delta_p - (after[j] - before[j])))
    return names[j]


def ridge_factors(x: FloatArray, y: FloatArray, shrink: float = 0.1) -> FloatArray:
    """One factor per column of ``x`` so that ``x @ factors`` best explains ``y``: least
    squares shrunk towards 1 (a factor the data hardly sees stays near the learnt level)
    and kept within ×0.5–2."""
    gram = x.T @ x
    lam = shrink * float(np.mean(np.diag(gram))) + 1e-9
    scale = np.linalg.solve(gram + lam * np.eye(gram.shape[0]), x.T @ y + lam)
    return np.asarray(np.clip(scale, 0.5, 2.0), dtype=np.float64)


def _level_scale(assigned: FloatArray, levels: FloatArray, shrink: float = 0.1) -> FloatArray:
    """Per appliance, the factor by which its decoded levels best explain the segments'
    levels (over scored segments): a load that drifts away from its learnt level drifts
    for the whole of a run."""
    use = ~np.isnan(levels) & (assigned > 0).any(axis=1)
    return ridge_factors(assigned[use], levels[use], shrink)


def typical_powers(
    appliances: Mapping[str, FloatArray],
    on_w: Mapping[str, float],
    reactive: Mapping[str, FloatArray] | None = None,
    levels: int = 2,
    spread: float = 0.3,
) -> tuple[dict[str, list[float]], dict[str, list[float]] | None]:
    """ON level(s) of each appliance (W, and var when its Q is known): its median while
    on, or, when it runs at clearly different powers (fan speeds, dimmers, chargers), the
    medians of ``levels`` equal-count bands of its ON power."""
    power: dict[str, list[float]] = {}
    var: dict[str, list[float]] = {}
    for n, v in appliances.items():
        on = v > on_w.get(n, 10.0)
        if not on.any():
            continue
        q = reactive[n] if reactive is not None and n in reactive else np.zeros(v.size)
        q1, med, q3 = (float(x) for x in np.percentile(v[on], [25, 50, 75]))
        if levels > 1 and (q3 - q1) > spread * med:
            edges = np.percentile(v[on], np.linspace(0, 100, levels + 1))
            bands = [on & (v >= a) & (v <= b) for a, b in itertools.pairwise(edges)]
            power[n] = [float(np.median(v[m])) for m in bands]
            var[n] = [float(np.median(q[m])) for m in bands]
        else:
            power[n] = [med]
            var[n] = [float(np.median(q[on]))]
    return power, (var if reactive is not None else None)


def switch_events(t: npt.NDArray[np.int64], events: Sequence[Event], series: Mapping[str, FloatArray]) -> list[Event]:
    """The decoded switchings: at each event, one event per appliance that the decoding
    turned on or off there, its ΔP that appliance's own step; an event at which nothing
    turned on or off (a fan changing speed, a lamp's warm-up ramp, a charger's drift) is
    not a switching and is left out. Several appliances switching within a second give
    one aggregate step but as many switchings."""
    out: list[Event] = []
    cuts = np.searchsorted(t, [e.ts for e in events])
    for e, c in zip(events, cuts, strict=True):
        if c <= 0 or c >= t.size:
            continue
        for name, p in series.items():
            before, after = float(p[c - 1]), float(p[c])
            if (before > 0) != (after > 0):
                out.append(replace(e, delta_p=after - before, label=name, scores=dict(e.scores)))
    return out
