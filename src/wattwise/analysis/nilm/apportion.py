"""Each appliance's watts, sample by sample, once the joint decoding has said which are on.

The decoding (:mod:`.decode`) gives each appliance one of its learnt levels for a
whole steady segment. Where one meter sees every load, the aggregate itself says more:

- **edges**: a sample the meter took while a load was switching reads part-way between
  the combinations either side of the event (a kettle read at 905 W of its 2,140 W in
  the second it switched on); the switching appliances get that part of their change;
- **runs**: a load draws a little more or less in one run than its learnt level (a kettle
  2,140 W today, 2,106 W learnt), and when two loads run together the segment's level
  cannot tell whose that is; the segments of the same runs can (the water heater alone
  before the kettle starts): a least-squares factor per run of each appliance, shrunk
  towards 1, fitted to the steady segments;
- **share**: what the aggregate still holds beyond the base load (drift inside a
  segment, a meter reading a fraction of a percent high) goes to the appliances on at
  that sample in proportion to their decoded power (at most doubling it);
- **gain**: the share, where the aggregate meter sees each appliance at its own gain
  against the appliance's sub-meter (learnt from the training part: the lab's aggregate
  reads the water heater 0.7 % high and the vacuum 0.5 % low), so the split follows
  what each load's own meter would read.

Each step is a pure function of the recording, the decoded states and what was learnt
from the training part (no test labels, no state between calls): it runs wherever the
joint decoding does: the offline path (`NilmModel.disaggregate`) and the live meter's
fixed-lag decoding (:mod:`.live_decode`, on the decided samples and their neighbours;
"runs" needs a run's whole length and is applied there as "edges").
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from wattwise.analysis.nilm.decode import StateModel, ridge_factors
from wattwise.analysis.nilm.events import Event

FloatArray = npt.NDArray[np.float64]

#: how the decoded levels become watts: "none" keeps the decoded levels
MODES = ("none", "share", "edges", "runs", "gain")


def _stack(series: Mapping[str, FloatArray]) -> tuple[list[str], FloatArray]:
    names = list(series)
    return names, np.column_stack([np.asarray(series[n], dtype=np.float64) for n in names])


def share_residual(
    power: FloatArray, watts: FloatArray, base_w: float, gains: FloatArray | None = None, max_scale: float = 2.0
) -> FloatArray:
    """Scale each sample's appliances so that they add up to the aggregate less the base
    (a factor within [0, ``max_scale``]), each seen by the aggregate at its ``gain``; a
    sample with nothing on is left at 0."""
    total = watts.sum(axis=1) if gains is None else watts @ gains
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(total > 0, (power - base_w) / total, 1.0)
    factor = np.clip(np.nan_to_num(scale, nan=1.0), 0.0, max_scale)
    return np.asarray(watts * factor[:, None], dtype=np.float64)


def edge_samples(
    power: FloatArray, watts: FloatArray, cuts: npt.NDArray[np.int64], base_w: float, noise_w: float, rel_noise: float
) -> FloatArray:
    """The samples either side of each switching event, read part-way between the
    combinations before and after it, get that part of the change. A sample within
    three noise scales of its own segment's total is a steady reading and is left."""
    out = watts.copy()
    n = power.size
    for c in np.unique(cuts):
        if c <= 0 or c >= n:
            continue
        before, after = watts[c - 1], watts[c]
        change = after - before
        step = float(change.sum())
        if step == 0.0:
            continue
        for i, own in ((c - 1, before), (c, after)):
            expected = base_w + float(own.sum())
            resid = float(power[i]) - expected
            scale = max(noise_w, rel_noise * max(abs(expected), abs(float(power[i]))))
            if abs(resid) <= 3.0 * scale:
                continue
            # how far the reading went towards the other side of the event
            frac = resid / step if i == c - 1 else 1.0 + resid / step
            if 0.0 < frac < 1.0:
                out[i] = before + frac * change
    return out


def run_factors(
    power: FloatArray,
    watts: FloatArray,
    cuts: npt.NDArray[np.int64],
    base_w: float,
    min_len: int = 3,
    shrink: float = 0.1,
) -> FloatArray:
    """Each appliance's decoded watts times a factor per run (a stretch it is on without
    a break), fitted to the medians of the segments of at least ``min_len`` samples (a
    switch's middle is no level) as the decoding re-fits its levels
    (:func:`.decode.ridge_factors`)."""
    bounds = np.r_[0, np.unique(cuts[(cuts > 0) & (cuts < power.size)]), power.size]
    segs = [(a, b) for a, b in itertools.pairwise(bounds) if b > a]
    on = watts > 0
    # run id per sample and appliance: counts the ON starts
    starts = np.vstack([on[:1], on[1:] & ~on[:-1]])
    run_id = np.cumsum(starts, axis=0) - 1
    cols: dict[tuple[int, int], int] = {}
    rows, ys = [], []
    for a, b in segs:
        if b - a < min_len:
            continue
        row: dict[int, float] = {}
        for j in np.flatnonzero(on[a]):
            key = (int(j), int(run_id[a, j]))
            row[cols.setdefault(key, len(cols))] = float(watts[a, j])
        level = float(np.nanmedian(power[a:b])) if np.isfinite(power[a:b]).any() else np.nan
        if row and np.isfinite(level):
            rows.append(row)
            ys.append(level - base_w)
    if not cols:
        return watts
    x = np.zeros((len(rows), len(cols)))
    for i, row in enumerate(rows):
        for k, v in row.items():
            x[i, k] = v
    factors = ridge_factors(x, np.asarray(ys, dtype=np.float64), shrink)
    out = watts.copy()
    for (app, run), k in cols.items():
        mask = on[:, app] & (run_id[:, app] == run)
        out[mask, app] *= factors[k]
    return out


def learn_gains(
    appliances: Mapping[str, FloatArray], aggregate: FloatArray, lo: float = 0.5, hi: float = 2.0
) -> tuple[dict[str, float], float]:
    """Each appliance's gain as the aggregate meter sees it against its own sub-meter,
    and the base load under those gains: least squares of the aggregate on the
    sub-meters plus a constant over the training part (an appliance never on keeps 1)."""
    names = [n for n, v in appliances.items() if np.nanmax(np.abs(v), initial=0.0) > 0]
    x = np.column_stack([np.asarray(appliances[n], dtype=np.float64) for n in names] + [np.ones(aggregate.size)])
    ok = np.isfinite(aggregate) & np.isfinite(x).all(axis=1)
    coef = np.linalg.lstsq(x[ok], aggregate[ok], rcond=None)[0]
    gains = {n: 1.0 for n in appliances} | {n: float(np.clip(c, lo, hi)) for n, c in zip(names, coef[:-1], strict=True)}
    return gains, float(coef[-1])


def apportion(
    ts: npt.ArrayLike,
    power: npt.ArrayLike,
    events: Sequence[Event],
    series: Mapping[str, FloatArray],
    model: StateModel,
) -> dict[str, FloatArray]:
    """The decoded series turned into watts by the model's ``apportion``: "share" only
    shares the residual, "edges" first splits the switching samples, "runs" also fits a
    factor per run, "gain" is "edges" sharing by the learnt gains (see the module's
    docstring)."""
    mode = model.apportion
    if mode not in MODES:
        raise ValueError(f"unknown apportioning {mode!r}; one of {MODES}")
    if mode == "none" or not series:
        return dict(series)
    t = np.asarray(ts, dtype=np.int64)
    p = np.asarray(power, dtype=np.float64)
    names, watts = _stack(series)
    cuts = np.searchsorted(t, [e.ts for e in events]).astype(np.int64)
    if mode == "runs":
        watts = run_factors(p, watts, cuts, model.base_w)
    if mode != "share":
        watts = edge_samples(p, watts, cuts, model.base_w, model.noise_w, model.rel_noise)
    if mode == "gain" and model.gains:
        gains = np.array([model.gains.get(n, 1.0) for n in names])
        watts = share_residual(p, watts, model.gain_base_w, gains)
    else:
        watts = share_residual(p, watts, model.base_w)
    return {n: watts[:, j] for j, n in enumerate(names)}
