"""A self-cycling appliance's rhythm (a fridge) learnt from a person's labels.

A site without sub-meters learns an appliance only from the runs a person names. When
the named runs of one appliance look like a thermostat's cycle — small steps of about
the same size, runs of about the same length, the same switching again some time after
each run — the appliance gets a :class:`CycleModel`, built by :func:`learn_cycle` from
the labelled runs' ON lengths and steps and from the rests the meter's own events show
after them, as the evaluation builds one from a sub-meter's cycles.

A label gives the run (its ON and OFF events); the rest after it is not labelled. It
is the time to the appliance's next cycle: the next switching-on of about the labelled
size that a switching-off of about the labelled size follows about one run later. A
lone step of that size is often another load's; a step followed by its own OFF one run
later rarely is (on REFIT's and AMPds2's training parts, the median rest found after
every labelled fridge run is within 7 % of the sub-meter's: 3,424 s against 3,392 s and
1,680 s against 1,800 s; the first such step alone gives 2,888 s and 660 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from wattwise.analysis.nilm.bursts import MIN_LABELS
from wattwise.analysis.nilm.cycles import CycleModel, learn_cycle
from wattwise.analysis.nilm.events import Event

#: a thermostat's compressor, not a heater: at or above this a labelled appliance is
#: left to the burst rule (its minimum draw, :func:`learn_burst`) or to pairing. On
#: REFIT's training part the dishwasher's 2.2 kW heater runs are as regular as the
#: fridge's (ON log spread 0.21, rests 0.18) but come only during a wash
MAX_STEP_W = 500.0
#: how far a step may differ from the labelled median (share) and still be the
#: appliance's next cycle; and how much longer or shorter than the labelled runs'
#: median that cycle's run may be (the sub-meter shows ON spreads of 0.16-0.18 log)
SIZE_BAND = 0.2
RUN_FACTOR = 1.5
#: the longest rest looked for: a fridge's are 30-60 min (REFIT, AMPds2)
MAX_REST_S = 4 * 3600.0
#: how irregular the rests found may be (log spread). The rests come from the meter's
#: events, where another load's step of the same size sometimes stands in for the
#: appliance's next cycle (AMPds2's fridge, 1-min readings: 1.26 over all 62 labelled
#: runs, its sub-meter 0.27), so this is looser than the sub-meter's 0.6; the ON lengths,
#: which the labels give, keep the sub-meter's 0.6
MAX_REST_LOG_SD = 1.5
MAX_ON_LOG_SD = 0.6


@dataclass(frozen=True, slots=True)
class LabelledRun:
    """A run a person named: its ON and its OFF event (a closed run)."""

    on: Event
    off: Event

    @property
    def on_s(self) -> float:
        return (self.off.ts - self.on.ts) / 1000.0


def rest_after(run: LabelledRun, events: Sequence[Event], on_w: float, off_w: float, on_s: float) -> float | None:
    """Seconds from the run's OFF to the appliance's next cycle among ``events`` (the
    meter's, in time order): the first ON within :data:`SIZE_BAND` of ``on_w`` that an
    OFF within the band of ``off_w`` follows between ``on_s`` / :data:`RUN_FACTOR` and
    ``on_s`` × :data:`RUN_FACTOR` later; None when there is none within
    :data:`MAX_REST_S`."""
    last = run.off.ts + int(MAX_REST_S * 1000)
    later = [e for e in events if run.off.ts < e.ts <= last + int(on_s * RUN_FACTOR * 1000)]
    for i, e in enumerate(later):
        if e.ts > last:
            break
        if not e.is_on or abs(e.delta_p - on_w) > SIZE_BAND * on_w:
            continue
        if any(_ends(e, f, off_w, on_s) for f in later[i + 1 :]):
            return (e.ts - run.off.ts) / 1000.0
    return None


def _ends(on: Event, off: Event, off_w: float, on_s: float) -> bool:
    """Whether ``off`` may end a run of the appliance that ``on`` began."""
    seconds = (off.ts - on.ts) / 1000.0
    return (
        not off.is_on
        and abs(-off.delta_p - off_w) <= SIZE_BAND * off_w
        and on_s / RUN_FACTOR <= seconds <= on_s * RUN_FACTOR
    )


def may_cycle(runs: Sequence[LabelledRun], min_labels: int = MIN_LABELS) -> bool:
    """Whether the labelled runs are enough, and small enough, to be looked at further
    (before the meter's events are read for their rests): at least ``min_labels``, ON
    steps' median below :data:`MAX_STEP_W`, every run of positive length."""
    if len(runs) < min_labels or min(r.on_s for r in runs) <= 0:
        return False
    return float(np.median([r.on.delta_p for r in runs])) < MAX_STEP_W


def cycle_model_from_labels(
    runs: Sequence[LabelledRun], events: Sequence[Event], min_labels: int = MIN_LABELS
) -> CycleModel | None:
    """A :class:`CycleModel` when a person's labelled runs of one appliance look like a
    thermostat's cycle, else None.

    The rule: at least ``min_labels`` labelled runs (as many as a burst model asks, for
    the same reason: fewer could be one appliance's odd use), ON steps' median below
    :data:`MAX_STEP_W`, ON lengths as regular as the sub-meter rule asks (log spread
    ≤ :data:`MAX_ON_LOG_SD`), a next cycle found in ``events`` (the meter's, time
    order) after at least ``min_labels`` of them, those rests' log spread ≤
    :data:`MAX_REST_LOG_SD`; then :func:`learn_cycle` as from a sub-meter, with the
    labelled runs for its cycles (no coverage asked: labels sample the day, they do not
    cover it)."""
    if not may_cycle(runs, min_labels):
        return None
    on_w = float(np.median([r.on.delta_p for r in runs]))
    off_w = float(np.median([-r.off.delta_p for r in runs]))
    on_s = [r.on_s for r in runs]
    typical_s = float(np.median(on_s))
    found = [rest_after(r, events, on_w, off_w, typical_s) for r in runs]
    rests = [s for s in found if s is not None]
    steps = [e.delta_p for r in runs for e in (r.on, r.off)]
    step_var = [None if e.delta_q is None else e.delta_q * (1 if e.is_on else -1) for r in runs for e in (r.on, r.off)]
    learnt = learn_cycle(
        on_s,
        rests,
        steps,
        span_s=0.0,
        min_cycles=min_labels,
        max_log_sd=MAX_REST_LOG_SD,
        min_coverage=0.0,
        step_var=step_var,
    )
    # its ON spread is at least learn_cycle's floor (0.35), never above the ON limit
    if learnt is None or learnt.on_log_sd > MAX_ON_LOG_SD:
        return None
    return replace(learnt, from_labels=True)
