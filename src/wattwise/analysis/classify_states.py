"""Which combination of appliances is on, tracked through the meter's switching events.

A forest over single readings names a combination by its absolute level, so it fails as
soon as a load drifts (an LED driver warming up, a charging laptop) or a combination is
met that training never showed whole. A person reading the meter instead follows the
steps: "+26 W at unity power factor: the fan came on". This module does that:

* the aggregate is cut into steady segments at switching events (the NILM detector,
  :func:`wattwise.analysis.nilm.events.detect_events`);
* from the training part and its sub-meter labels it learns, per appliance, the step in
  active and reactive power when it switches on and when it switches off, and the active
  power and flicker it adds while on, each with how much it wanders;
* a Viterbi pass over the segments picks the sequence of on/off combinations whose steps
  and levels best explain what the meter saw. Every parameter is a mean or a spread
  measured on the training part, and each appliance only needs to have been seen switching
  — not every combination.

The step terms do not care where the level has drifted to, which is what lets drifting
loads be followed; the level terms keep the path honest between events.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.linear_model import LinearRegression

from wattwise.analysis.nilm.events import DetectorConfig, Event, detect_events, reactive_from_pf, suggest_config

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Above this many appliances the 2^n joint states, and the 4^n switches between them that
#: each step is scored against, get too many to decode exhaustively (8: 65,536 switches).
MAX_APPLIANCES = 8
#: Degrees of freedom of the Student-t each misfit is scored under (see :func:`_cost`).
#: Chosen on the checks inside the training part (``classify_validation``): 2 scored
#: 77.0 %, against 76.1 % for 1.5, 75.6 % for 3 and 4, 76.8 % for 8 and 72.4 % for a
#: Gaussian capped at 3 spreads (the cost used before). The test figure was printed
#: beside the checks in those runs (``docs/evaluation/classify.md`` says so).
T_DOF = 2.0
#: Flicker below this (W) is the meter's own noise.
FLICKER_FLOOR_W = 0.3
#: A steady stretch must last this many readings before it is an event's far side.
MIN_SEGMENT = 3
#: Segments shorter than this many readings teach no level (mostly the middle of a switch).
MIN_LEARN = 10


def meter_channels(frame: pd.DataFrame) -> tuple[FloatArray, FloatArray]:
    """Active and reactive power from what the meter gives (Q measured, else from PF, else V·I)."""
    p = frame["power"].to_numpy(dtype="float64")
    if "reactive" in frame.columns:
        q = frame["reactive"].to_numpy(dtype="float64")
    elif "pf" in frame.columns:
        q = reactive_from_pf(p, frame["pf"].to_numpy(dtype="float64"))
    elif {"voltage", "current"} <= set(frame.columns):
        s = frame["voltage"].to_numpy(dtype="float64") * frame["current"].to_numpy(dtype="float64")
        q = np.sqrt(np.maximum(s**2 - p**2, 0.0))
    else:
        q = np.zeros_like(p)
    return p, np.nan_to_num(q)


def event_steps(ts: npt.NDArray[np.int64], events: list[Event]) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Where each steady segment after the first begins, and the (ΔP, ΔQ) step into it.

    The step is the detector's, between the settled levels either side of the switch, so
    it does not depend on how far a drifting load wanders afterwards; readings in the
    middle of a switch (inrush, or appliances switched a few seconds apart) are in neither.
    """
    cuts = np.searchsorted(ts, [e.ts for e in events]).astype(np.int64)
    steps = np.array([[e.delta_p, e.delta_q or 0.0] for e in events], dtype="float64").reshape(-1, 2)
    previous = np.r_[0, cuts[:-1]]
    keep = (cuts > previous) & (cuts < ts.size)  # every segment holds at least one reading
    return cuts[keep], steps[keep]


def segment_medians(x: FloatArray, cuts: npt.NDArray[np.int64]) -> FloatArray:
    """Median of ``x`` over each segment (robust to the inrush at its start)."""
    bounds = np.r_[0, cuts, x.size]
    return np.array([float(np.median(x[a:b])) if b > a else np.nan for a, b in itertools.pairwise(bounds)])


def flicker(x: FloatArray) -> float:
    """How much a steady stretch flickers: the 95th percentile of the readings' distance
    from their 9-reading running median. Some drivers (LED lamps) add spikes of several
    watts that no level or step shows, which tells them from an equally large load."""
    x = x[2:-2]  # the edges still carry the switch
    if x.size < 3:
        return 0.0
    smooth = pd.Series(x).rolling(9, center=True, min_periods=1).median().to_numpy()
    return float(np.quantile(np.abs(x - smooth), 0.95))


def segment_levels(p: FloatArray, cuts: npt.NDArray[np.int64]) -> FloatArray:
    """Per segment: median active power and flicker (segments × 2).

    Only active power adds up across appliances whatever they are. The meter's Q (from
    its power factor, P/S) is mostly harmonic current for switch-mode supplies, and the
    harmonics of several such supplies partly cancel: in the OMPM first hour the laptop
    alone adds 24 var but beside the LED lamp or the monitor only 1–3 var. So Q is used
    in the steps (where it tells a motor or a lamp from a switch-mode supply) and not in
    the levels of combinations.
    """
    bounds = np.r_[0, cuts, p.size]
    rough = [flicker(p[a:b]) for a, b in itertools.pairwise(bounds)]
    return np.stack([segment_medians(p, cuts), np.asarray(rough)], axis=1)


def segment_states(states: BoolArray, cuts: npt.NDArray[np.int64]) -> BoolArray:
    """The on/off combination held by most readings of each segment."""
    bounds = np.r_[0, cuts, states.shape[0]]
    rows = [
        states[a:b].mean(axis=0) > 0.5 if b > a else np.zeros(states.shape[1], bool)
        for a, b in itertools.pairwise(bounds)
    ]
    return np.array(rows, dtype=bool).reshape(len(rows), states.shape[1])


@dataclass(frozen=True)
class StateTracker:
    """What was learned, per appliance: the step when it switches on and off, the level it
    adds while on, and how much each wanders (variances), beside the meter's own noise.

    Levels are (appliances × 2): active power (W) and flicker (W); steps are
    (appliances × 2): ΔP (W) and ΔQ (var). ``flip_cost[k]`` is the price of an event at
    which k appliances switch together (−log of how often that happened in training).
    """

    appliances: tuple[str, ...]
    detector: DetectorConfig
    base: FloatArray
    level: FloatArray
    level_var: FloatArray
    noise_var: FloatArray
    step_on: FloatArray
    step_off: FloatArray
    step_var: FloatArray  # (2 × appliances) × 2: when it switches, then while it stays on
    step_noise_var: FloatArray
    flip_cost: FloatArray


def _least_squares(design: FloatArray, target: FloatArray) -> FloatArray:
    """Coefficients per column of ``design`` (columns never used stay 0)."""
    used = design.any(axis=0)
    coef = np.zeros((design.shape[1], target.shape[1]))
    if used.any() and target.shape[0]:
        coef[used] = np.linalg.lstsq(design[:, used], target, rcond=None)[0]
    return coef


def _shrunk(design: FloatArray, target: FloatArray, noise_var: FloatArray, prior_var: FloatArray) -> FloatArray:
    """Per channel, the most likely offsets given Gaussian noise and a Gaussian prior around 0.

    A switch seen once, or only ever together with others, stays close to its prior
    unless that appliance is known to wander (``prior_var`` columns × channels): a
    resistive lamp's off-step is minus its level, an LED driver's may be anything near it.
    """
    k, ch = design.shape[1], target.shape[1]
    out = np.zeros((k, ch))
    if target.shape[0] == 0:
        return out
    for j in range(ch):
        gram = design.T @ design + np.diag(noise_var[j] / prior_var[:, j])
        out[:, j] = np.linalg.solve(gram, design.T @ target[:, j])
    return out


def _variances(design: FloatArray, resid: FloatArray, floor: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Split the residuals' variance into the meter's own noise and each appliance's share.

    Squared residuals are regressed, non-negatively, on which appliances are involved:
    a steady fan adds almost nothing, a drifting LED driver a lot, so each is trusted as
    much as it deserves. Residuals are clipped at five robust spreads first so that a
    segment still holding part of a switch does not dominate.
    """
    n, ch = design.shape[1], resid.shape[1]
    if resid.shape[0] < 2:
        return floor**2, np.zeros((n, ch))
    spread = np.maximum(1.4826 * np.median(np.abs(resid), axis=0), floor)
    sq = np.minimum(np.abs(resid), 5.0 * spread) ** 2
    noise = np.empty(ch)
    per = np.zeros((n, ch))
    used = design.any(axis=0)
    if not used.any():
        return np.maximum(sq.mean(axis=0), floor**2), per
    for j in range(ch):
        fit = LinearRegression(positive=True).fit(design[:, used], sq[:, j])
        noise[j] = max(float(fit.intercept_), float(floor[j]) ** 2)
        per[used, j] = fit.coef_
    return noise, per


def _unseen_residuals(design: FloatArray, target: FloatArray) -> FloatArray:
    """Residuals of each segment predicted from the *other* combinations only.

    The test will show combinations training never saw whole, so what matters is how well
    the levels add up, not how well they fit what was seen: an appliance whose share does
    not add up (or drifts) gets large residuals here and so a wide tolerance. Where leaving
    a combination out leaves an appliance unseen, the ordinary residual is used.
    """
    full = design @ _least_squares(design, target)
    out = target - full
    combos, which = np.unique(design, axis=0, return_inverse=True)
    for k in range(combos.shape[0]):
        rest = which.reshape(-1) != k
        if not np.array_equal(design[rest].any(axis=0), design.any(axis=0)):
            continue
        here = ~rest
        out[here] = target[here] - design[here] @ _least_squares(design[rest], target[rest])
    return out


def _flip_costs(flips: npt.NDArray[np.int64], n: int) -> FloatArray:
    """−log of how often k appliances switched at one event (add-one smoothed)."""
    counts = np.bincount(flips, minlength=n + 1)[: n + 1].astype("float64") + 1.0
    return np.asarray(-np.log(counts / counts.sum()), dtype="float64")


@dataclass(frozen=True)
class _Levels:
    base: FloatArray
    level: FloatArray
    level_var: FloatArray
    noise_var: FloatArray


def _fit_levels(levels: FloatArray, seg_on: BoolArray, usable: BoolArray, floor: FloatArray) -> _Levels:
    """What each appliance adds to the segment levels while on, and how much that wanders
    when predicting combinations not seen whole (from the ``usable`` segments only)."""
    idle = usable & ~seg_on.any(axis=1)
    base = np.median(levels[idle], axis=0) if idle.any() else np.zeros(levels.shape[1])
    design = seg_on[usable].astype("float64")
    coef = _least_squares(design, levels[usable] - base)
    noise_var, level_var = _variances(design, _unseen_residuals(design, levels[usable] - base), floor)
    return _Levels(base, coef, level_var, noise_var)


def _fit_steps(
    deltas: FloatArray, before: BoolArray, after: BoolArray, lv: _Levels, q_lv: _Levels, floor_w: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per appliance, (ΔP, ΔQ) when it switches on and when off; the variances of a step by
    who switches and by who stays on across it; and how often k switched at once.

    Each event is explained by the labels ``before`` and ``after`` it. A switch's step is
    expected to be ± what the appliance adds to the level (``lv`` in P, ``q_lv`` in Q), give
    or take how far that is known to wander, so a switch seen once, or only ever together
    with others, stays near it instead of taking an arbitrary share of a joint step.
    """
    ups, downs = after & ~before, before & ~after
    design = np.hstack([ups, downs]).astype("float64")
    own = np.hstack([lv.level[:, :1], q_lv.level])
    prior = np.vstack([own, -own])
    own_var = np.hstack([lv.level_var[:, :1], q_lv.level_var]) + floor_w**2
    noise = np.r_[lv.noise_var[0], q_lv.noise_var[0]]
    coef = prior + _shrunk(design, deltas - design @ prior, noise, np.vstack([own_var, own_var]))
    flipped = (ups | downs).astype("float64")
    involved = np.hstack([flipped, (before & after).astype("float64")])
    step_noise, step_var = _variances(involved, deltas - design @ coef, np.array([floor_w, floor_w]))
    return coef, step_var, step_noise, _flip_costs(flipped.sum(axis=1).astype(np.int64), before.shape[1])


def fit_state_tracker(
    ts: npt.ArrayLike,
    frame: pd.DataFrame,
    states: pd.DataFrame,
    *,
    detector: DetectorConfig | None = None,
    known: npt.ArrayLike | None = None,
) -> StateTracker:
    """Learn steps and levels from a training stretch and its per-appliance on/off labels.

    ``known`` (one flag per reading) says which readings' labels may be used: segments
    mostly outside it teach no level and the events at their edges no step, as if nobody
    had said what was on there (how :mod:`classify_validation` hides a pair of appliances
    or a stretch of time while still decoding the whole stream).
    """
    if states.shape[1] > MAX_APPLIANCES:
        raise ValueError(f"at most {MAX_APPLIANCES} appliances can be tracked jointly, got {states.shape[1]}")
    t = np.asarray(ts, dtype=np.int64)
    p, q = meter_channels(frame)
    on = states.to_numpy(dtype=bool)
    if on.shape[0] != p.size:
        raise ValueError(f"{on.shape[0]} label rows for {p.size} readings")
    labelled = np.ones(p.size, dtype=bool) if known is None else np.asarray(known, dtype=bool)
    cfg = detector or _detector_for(p, on, labelled)
    cuts, deltas = event_steps(t, detect_events(t, p, q, cfg))
    seg_on = segment_states(on, cuts)
    seg_labelled = segment_states(labelled[:, None], cuts)[:, 0]
    teaches_level = (np.diff(np.r_[0, cuts, p.size]) >= MIN_LEARN) & seg_labelled
    lv = _fit_levels(segment_levels(p, cuts), seg_on, teaches_level, np.array([cfg.tol_abs_w, FLICKER_FLOOR_W]))
    # Q levels do not add up well enough to decode with, but they say what a step should be
    q_lv = _fit_levels(segment_medians(q, cuts)[:, None], seg_on, teaches_level, np.array([cfg.tol_abs_w]))
    teaches_step = seg_labelled[:-1] & seg_labelled[1:]  # events between two labelled segments
    step, step_var, step_noise, flip_cost = _fit_steps(
        deltas[teaches_step], seg_on[:-1][teaches_step], seg_on[1:][teaches_step], lv, q_lv, cfg.tol_abs_w
    )
    n = on.shape[1]
    return StateTracker(
        appliances=tuple(states.columns),
        detector=cfg,
        base=lv.base,
        level=lv.level,
        level_var=lv.level_var,
        noise_var=lv.noise_var,
        step_on=step[:n],
        step_off=step[n:],
        step_var=step_var,
        step_noise_var=step_noise,
        flip_cost=flip_cost,
    )


def _detector_for(p: FloatArray, on: BoolArray, labelled: BoolArray) -> DetectorConfig:
    """Event threshold from the signal's own noise and the smallest appliance's level
    (from the ``labelled`` readings only: hidden labels teach nothing, this threshold included)."""
    design = on[labelled].astype("float64")
    coef = _least_squares(design, p[labelled][:, None])
    seen = coef[design.any(axis=0), 0]
    smallest = float(np.min(np.abs(seen))) if seen.size else None
    cfg = suggest_config(p, smallest_load_w=smallest, second="q")
    return DetectorConfig(
        min_step_w=cfg.min_step_w, tol_abs_w=cfg.tol_abs_w, tol_rel=cfg.tol_rel, min_steady=MIN_SEGMENT, level_n=5
    )


def _cost(x: FloatArray, mean: FloatArray, var: FloatArray) -> FloatArray:
    """Negative log-likelihood under a Student-t (:data:`T_DOF` degrees of freedom) centred
    on ``mean`` with scale² ``var``, summed over channels.

    Its tails are heavy: a spike the model has no name for (a driver's flicker, a surge)
    or a step of a load that drifted since training costs little more than a plain misfit,
    so one reading does not bend the whole path, yet a misfit of 5 W still costs less than
    one of 15 W. A Gaussian capped at 3 spreads (the cost used before) made every
    hypothesis beyond the cap equally bad, and the choice between them then fell to
    whatever was left (the price of the switch, a noisy reactive step): with loads that
    drifted since training, many steps were beyond the cap for every hypothesis.
    """
    z2 = (x - mean) ** 2 / var
    misfit = (T_DOF + 1.0) * np.log1p(z2 / T_DOF)
    out: FloatArray = np.asarray(0.5 * (misfit + np.log(var)), dtype="float64").sum(axis=-1)
    return out


@dataclass(frozen=True)
class _Switches:
    """Every switch between two joint states [from, to]: expected step, its variance, price."""

    mean: FloatArray
    var: FloatArray
    price: FloatArray


def _switches(model: StateTracker, combos: BoolArray) -> _Switches:
    n = combos.shape[1]
    ups = (~combos[:, None, :] & combos[None, :, :]).astype("float64")  # [from, to, appliance]
    downs = (combos[:, None, :] & ~combos[None, :, :]).astype("float64")
    stays = (combos[:, None, :] & combos[None, :, :]).astype("float64")
    flips = ups + downs
    return _Switches(
        mean=ups @ model.step_on + downs @ model.step_off,
        var=model.step_noise_var + flips @ model.step_var[:n] + stays @ model.step_var[n:],
        price=model.flip_cost[flips.sum(axis=2).astype(np.int64)],
    )


def track_states(model: StateTracker, ts: npt.ArrayLike, frame: pd.DataFrame) -> BoolArray:
    """On/off of every appliance at every reading (rows × appliances): the Viterbi path over
    the steady segments between events, each segment scored by its level and each event by
    its step, given the joint state either side."""
    t = np.asarray(ts, dtype=np.int64)
    p, q = meter_channels(frame)
    n = len(model.appliances)
    if p.size == 0:
        return np.zeros((0, n), dtype=bool)
    cuts, deltas = event_steps(t, detect_events(t, p, q, model.detector))
    levels = segment_levels(p, cuts)
    combos = np.array(list(itertools.product([False, True], repeat=n)), dtype=bool)
    c = combos.astype("float64")
    mean_level = model.base + c @ model.level
    var_level = model.noise_var + c @ model.level_var
    sw = _switches(model, combos)

    cost = _cost(levels[0], mean_level, var_level)
    back = []
    for k in range(1, levels.shape[0]):
        trans = cost[:, None] + sw.price + _cost(deltas[k - 1], sw.mean, sw.var)
        arg = np.argmin(trans, axis=0)
        back.append(arg)
        cost = trans[arg, np.arange(combos.shape[0])] + _cost(levels[k], mean_level, var_level)
    path = [int(np.argmin(cost))]
    for arg in reversed(back):
        path.append(int(arg[path[-1]]))
    path.reverse()
    lengths = np.diff(np.r_[0, cuts, p.size])
    return np.repeat(combos[path], lengths, axis=0)
