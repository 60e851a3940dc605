"""Per-meter anomaly detection: a seasonal baseline plus an Isolation Forest, with reasons.

How it decides, in plain words: the model learns from the meter's own history what is
usual — the typical power for each hour of the week (hour of the day while the history is
shorter than three weeks), how long the load usually stays on in one go, how fast power
usually changes, and the usual voltage, current, power factor and frequency when the meter
reports them. An Isolation Forest over those features gives each reading a score; a reading
is flagged when its score is higher than all but a small share (``contamination``) of the
history's own scores. Each flagged reading gets the one reason that stands out most, e.g.
"power 2.4 kW is 5× the usual for Tuesday 14:00" or "on for 47 min without a break; the
longest run in its history is 25 min".

A load that cycles by thermostat (a fridge) also gets a cycle model (:class:`CycleModel`):
each cycle's expected length from the rests before it, and a CUSUM that adds up cycles
running long until the evidence is stronger than any normal history day ever gave. It
then flags, each when its cycle ends, the last minutes of the cycles that ran long — as
many minutes as those cycles typically ran over: once for the cycles that raised the
alarm, then for each later cycle while it stands (the ``earlier`` spans of
:func:`score_frame`; :func:`decided_at` gives when each reading was known to be
anomalous, so delays stay honest).

A whole-house meter is also watched for blocks of extra load (a step up of 1 kW or more,
the same step down 20-120 minutes later; :mod:`wattwise.analysis.anomaly_steps`), reported
as ``earlier`` spans when the block ends.

Live use: fit once from history (:func:`fit_anomaly_model`), keep the model and a
:class:`Carry` per meter, and call :func:`score_frame` on each chunk (or
:func:`score_reading` on each reading); chunked scoring gives the same result as scoring
everything at once. Refit when :func:`needs_refresh` says the history has grown enough.
Models are plain picklable objects (``features.dump_model`` / ``features.load_model``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from wattwise.analysis.anomaly_steps import StepCarry, block_reason, find_blocks
from wattwise.analysis.features import (
    Calendar,
    calendar,
    format_duration,
    format_watts,
    readings_frame,
    slot_name,
)
from wattwise.analysis.forest_scores import CompactForest
from wattwise.domain.readings import Reading

#: Electrical quantities used as features when the meter reports them.
OPTIONAL_METRICS = ("voltage", "current", "pf", "frequency")
UNITS = {"voltage": " V", "current": " A", "frequency": " Hz", "pf": ""}
WEEKLY_AFTER_MS = 21 * 86_400_000
#: A gap longer than this breaks an on-run (the meter was silent; we do not know).
MAX_GAP_MS = 15 * 60_000
#: Bumped whenever a fitted model's shape changes: a stored model of another version is refitted
#: (version 4, the same model with scikit-learn's whole forest, is compacted instead: :func:`upgraded`).
MODEL_VERSION = 5
#: How many completed on-runs make "recent" when judging whether cycles are getting longer.
RECENT_RUNS = 5
#: Features about on-runs; left out for a meter whose load does not cycle (a whole house).
RUN_FEATURES = ("on_run_s", "on_run_wh", "recent_runs")
#: Runs are "regular" (a cycling appliance) when their lengths vary less than this (robust
#: spread over median, :func:`_robust_cv`).
REGULAR_RUNS_CV = 1.0
#: At or below this a meter reads standby (an appliance that is off).
STANDBY_W = 5.0
#: A meter at standby less than this share of its history is never off (a whole house).
NEVER_OFF_SHARE = 0.2
#: The window over which a deviation from the usual power must last to count as sustained.
SUSTAIN_MS = 10 * 60_000
#: at most this many readings at once: medians by :func:`_window_medians`, not pandas
FEW_ROWS = 4096
#: A step larger than this share of the power starts a new level (a program's next phase).
LEVEL_STEP = 0.25
#: An appliance off this long has finished its program; its next run is a new program's first.
PROGRAM_GAP_MS = 2 * 3_600_000
#: Features that describe the time of day; left out with ``seasonal=False``.
SEASONAL_FEATURES = ("vs_usual", "sustained", "hour_sin", "hour_cos")


# --------------------------------------------------------------------------- cycle model


@dataclass
class CycleModel:
    """How long one cycle of a cycling load (a fridge, a freezer) lasts, given how long it was off.

    A thermostat-driven load runs longer after a longer rest, so the expected length of a
    cycle is a straight line in the two preceding off times (learned from the history). A
    fault that makes every cycle run long (a leaking door seal, a tired compressor) shifts
    cycles by less than their natural scatter, so one long cycle proves little; a CUSUM of
    the cycles' excess (in units of the scatter) adds the evidence up and raises the alarm
    when it passes ``alarm`` — the highest value it ever reached on a history day it had not
    learned from. Then the last minutes of the cycles that built it up, and while it stands
    of each later cycle that ran long, are flagged when the cycle ends (``earlier`` in
    :func:`score_frame`'s answer): as many minutes as those cycles typically ran over, since
    a fault adds about the same running time to each cycle, at its end.
    """

    coef: np.ndarray  # intercept, off before (s), off before that (s) -> cycle length (s)
    scatter_s: float  # residual standard deviation of the cycle length
    step_s: float  # the meter's usual interval between readings
    bridge_s: float  # an off spell this short is a stutter inside one cycle, not a new cycle
    slack: float  # CUSUM allowance per cycle, in scatters
    alarm: float  # CUSUM level that raises the alarm (from leave-one-day-out on the history)
    typical_s: float  # median cycle length (for the reason text)


@dataclass
class CycleCarry:
    """Where the cycle model stands between chunks: the current cycle and the CUSUM."""

    start: int | None = None
    last_on: int | None = None
    offs: tuple[float, ...] = ()
    cusum: float = 0.0
    excess: tuple[float, ...] = ()  # excess (s) of the cycles since the CUSUM last stood at 0
    pending: tuple[tuple[int, int, float], ...] = ()  # those cycles (start, last on, excess), not yet flagged


@dataclass(frozen=True)
class CycleVerdicts:
    """Per reading: flagged as it happens (and why), and the spans of earlier readings
    decided there (a cycle's end)."""

    flagged: np.ndarray
    elapsed_s: np.ndarray  # how long the cycle has run, this reading included
    expected_s: np.ndarray  # the cycle's expected length
    excess_s: np.ndarray  # the usual excess of the cycles behind the alarm, as it stands
    earlier: list[tuple[tuple[int, int], ...]]
    tail_excess_s: np.ndarray  # the usual excess of the cycles behind the verdict (0: none)
    alarm: np.ndarray  # True where the verdict is the alarm itself (the cycles that raised it)


CYCLE_SLACK = 0.5
#: While the alarm stands, a cycle is flagged as it runs once it is this many scatters past
#: its expected length (a normal cycle seldom is), up to its recent cycles' usual excess
#: further: beyond that it is more likely one long use (a bath) than the fault.
CYCLE_LIVE_MARGIN = 2.0
#: Cycles further than this many robust scatters from the fitted line are left out of it.
CYCLE_TRIM = 4.0
#: No single cycle adds more than this many scatters to the CUSUM.
CYCLE_CLIP = 3.0
#: Fewer complete cycles than this in the history and no cycle model is fitted.
MIN_CYCLES = 20


def _expected_cycle_s(model: CycleModel, offs: tuple[float, ...]) -> float:
    """The line in the two rests before the cycle; the typical cycle while they are not
    both known (a recording's first cycles), so that those cycles add evidence too."""
    if len(offs) < 2:
        return model.typical_s if model.typical_s > 0 else float("nan")
    return float(model.coef[0] + model.coef[1] * offs[-1] + model.coef[2] * offs[-2])


def _usual_excess_spans(
    model: CycleModel, cycles: tuple[tuple[int, int, float], ...], excess: tuple[float, ...]
) -> tuple[tuple[int, int], ...]:
    """The last minutes of each cycle ``(start, last on, own excess)`` that ran long, as many
    as the cycles behind the alarm typically ran over (median excess).

    A fault adds about the same running time to every cycle, at its end. Flagging every
    minute past the expected length instead also flagged the minutes of a cycle that was
    naturally long by a scatter or two: on the held-out training days half of the water
    heater's flags were such (docs/evaluation/anomaly.md, fourth pass); a cycle that
    happened to be short hides part of the extra time before the expected end, and only the
    cycle's end shows how long it really ran.
    """
    step_ms = int(model.step_s * 1000)
    minutes = round(float(np.median(excess)) / model.step_s) if excess else 0
    if minutes <= 0:
        return ()
    return tuple((max(start, last_on - (minutes - 1) * step_ms), last_on) for start, last_on, own in cycles if own > 0)


def _cycle_pass(
    model: CycleModel,
    ts: np.ndarray,
    power: np.ndarray,
    on_threshold: float,
    segment_start: np.ndarray,
    carry: CycleCarry,
) -> tuple[CycleVerdicts, CycleCarry, list[tuple[float, float, float]]]:
    """Walk the readings once, closing cycles and keeping the CUSUM; chunks join seamlessly.

    Also returns each completed cycle as ``(off before, off before that, length)`` in
    seconds (NaN rests where they are not both known): the rows the fit learns from.
    """
    n = len(ts)
    flagged = np.zeros(n, dtype=bool)
    elapsed = np.zeros(n)
    expected = np.full(n, np.nan)
    excess_now = np.zeros(n)
    tail_excess = np.zeros(n)
    alarm_here = np.zeros(n, dtype=bool)
    earlier: list[tuple[tuple[int, int], ...]] = [() for _ in range(n)]
    done: list[tuple[float, float, float]] = []
    start, last_on, offs = carry.start, carry.last_on, carry.offs
    cusum, excess, pending = carry.cusum, carry.excess, carry.pending
    for i in range(n):
        t = int(ts[i])
        if segment_start[i] or (last_on is not None and t <= last_on):
            start, last_on, offs = None, None, ()
        if start is not None and last_on is not None and t - last_on > model.bridge_s * 1000:
            # The cycle has ended (this reading is past the stutter allowance): judge it.
            guess = _expected_cycle_s(model, offs)
            length = (last_on - start) / 1000.0 + model.step_s
            known = len(offs) == 2
            done.append((offs[-1] if known else np.nan, offs[-2] if known else np.nan, length))
            if np.isfinite(guess):
                alarmed = cusum > model.alarm
                cusum = max(0.0, cusum + _cycle_evidence(length - guess, model.scatter_s) - model.slack)
                cycle = (start, last_on, length - guess)
                if cusum <= 0:
                    excess, pending = (), ()
                elif not alarmed:
                    excess, pending = (*excess, length - guess), (*pending, cycle)
                    if cusum > model.alarm:
                        earlier[i], pending = _usual_excess_spans(model, pending, excess), ()
                        alarm_here[i] = bool(earlier[i])
                else:
                    excess = (*excess, length - guess)[-RECENT_RUNS:]
                    earlier[i] = _usual_excess_spans(model, (cycle,), excess)
                if earlier[i]:
                    tail_excess[i] = float(np.median(excess))
            start = None
        if not power[i] > on_threshold:
            continue
        if start is None:
            if last_on is not None:
                offs = (*offs, (t - last_on) / 1000.0)[-2:]
            start = t
        last_on = t
        if cusum > model.alarm and excess:
            elapsed[i] = (t - start) / 1000.0 + model.step_s
            expected[i] = _expected_cycle_s(model, offs)
            excess_now[i] = float(np.median(excess))
            margin = expected[i] + CYCLE_LIVE_MARGIN * model.scatter_s
            flagged[i] = margin < elapsed[i] <= margin + excess_now[i]
    verdicts = CycleVerdicts(flagged, elapsed, expected, excess_now, earlier, tail_excess, alarm_here)
    return verdicts, CycleCarry(start, last_on, offs, cusum, excess, pending), done


@dataclass
class Carry:
    """What scoring remembers between chunks of one meter: the previous reading and the run."""

    ts: int | None = None
    values: dict[str, float] = field(default_factory=dict)
    on: bool = False
    run_start: int = 0
    level_start: int = 0
    run_pos: int = 0  # which run of its program the current (or last) run is, from 0
    last_on_ts: int | None = None
    run_wh: float = 0.0
    recent_runs: tuple[float, ...] = ()
    recent_deviation: tuple[tuple[int, float], ...] = ()
    cycle: CycleCarry = field(default_factory=CycleCarry)
    steps: StepCarry = field(default_factory=StepCarry)


@dataclass
class AnomalyModel:
    """A fitted per-meter model: baseline, on/off level, forest, threshold and feature ranges."""

    tz: str
    weekly: bool
    baseline: np.ndarray  # median power per slot (168 or 24)
    spread: np.ndarray  # robust spread (1.4826 × MAD) of power per slot
    z_low: float  # the history's own low and high fences of the baseline deviation
    z_high: float
    power_floor: float  # below this a never-off meter is dead or bypassed (0 when it cycles)
    power_ceiling: float  # above this the power is beyond anything in the history
    metric_bounds: dict[str, tuple[float, float]]  # V, I, PF, f: the history's range, widened
    on_threshold: float
    metrics: tuple[str, ...]
    feature_names: tuple[str, ...]
    forest: CompactForest  # what scoring needs of the fitted IsolationForest
    threshold: float
    low: np.ndarray  # per-feature 0.5 % quantile of the history
    high: np.ndarray  # per-feature 99.5 % quantile of the history
    typical: np.ndarray  # per-feature median
    typical_run_s: float  # median completed on-run (0 when too few runs to tell)
    longest_run_s: float
    recent_runs_fence: float  # the highest recent-runs ratio in the history
    trained_from: int
    trained_until: int
    n_train: int
    version: int = MODEL_VERSION
    cycles: CycleModel | None = None  # cycle lengths of a cycling load (None otherwise)
    blocks: bool = False  # look for blocks of extra load (a never-off, whole-house meter)
    #: the longest run at each position in a program (first run, second …); later ones: longest_run_s
    longest_at: tuple[float, ...] = ()


#: The columns of :func:`score_frame`'s answer.
SCORE_COLUMNS = ("ts", "score", "anomalous", "reason", "earlier", "earlier_reason")


@dataclass(frozen=True)
class Finding:
    """One flagged reading, ready to be stored and shown."""

    ts: int
    score: float
    reason: str


def _slots(cal: Calendar, weekly: bool) -> np.ndarray:
    """Each reading's baseline slot: its hour of the week, or of the day while not ``weekly``."""
    return cal.hour_of_week if weekly else cal.hour


def _on_threshold(power: np.ndarray) -> float:
    """The level above which the load counts as on: 5 W, or a tenth of its high level."""
    high = float(np.quantile(power, 0.99)) if power.size else 0.0
    return max(5.0, 0.1 * high)


def _segment_starts(frame: pd.DataFrame) -> np.ndarray:
    """True where a new recording starts (a ``segment`` column changes value)."""
    if "segment" not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    seg = frame["segment"].to_numpy()
    return np.concatenate([[False], seg[1:] != seg[:-1]])


def _sustained(
    ts: np.ndarray,
    deviation: np.ndarray,
    before: tuple[tuple[int, float], ...],
    segment_start: np.ndarray,
) -> tuple[np.ndarray, tuple[tuple[int, float], ...]]:
    """Median deviation over the last :data:`SUSTAIN_MS` (a shift that lasts, not a blip)."""
    all_ts = np.concatenate([np.array([t for t, _ in before], dtype="int64"), ts])
    all_dev = np.concatenate([np.array([d for _, d in before], dtype="float64"), deviation])
    offset = len(before)
    # Blocks restart where a new segment begins or the clock goes backwards.
    restart = np.zeros(len(all_ts), dtype=bool)
    restart[offset:] |= segment_start
    restart[1:] |= all_ts[1:] <= all_ts[:-1]
    block = np.cumsum(restart)
    if len(ts) <= FEW_ROWS:
        out = _window_medians(all_ts, all_dev, block, offset)
    else:
        series = pd.Series(all_dev, index=pd.to_datetime(all_ts, unit="ms"))
        rolled = series.groupby(block).rolling(pd.Timedelta(milliseconds=SUSTAIN_MS)).median()
        out = rolled.to_numpy()[offset:]
    keep = all_ts > (all_ts[-1] - SUSTAIN_MS if all_ts.size else 0)
    window = tuple((int(t), float(d)) for t, d in zip(all_ts[keep], all_dev[keep], strict=True))
    return out, window


def _window_medians(ts: np.ndarray, values: np.ndarray, block: np.ndarray, first: int) -> np.ndarray:
    """The median of each value from ``first`` on over its window ``(t - SUSTAIN_MS, t]`` in its
    block, NaN left out: what pandas' time-based ``groupby().rolling().median()`` gives, for
    the few readings a live step brings a meter, without pandas' machinery (ten times the
    medians' own cost there). The window is kept sorted as it slides; a long frame (a fit)
    still goes to pandas' own sliding median."""
    times, vals, blocks = ts.tolist(), values.tolist(), block.tolist()
    out = np.empty(len(times) - first)
    window: list[float] = []  # the finite values of the current window, sorted
    lo = first  # the oldest reading in the window
    for i in range(first, len(times)):
        if i == first or blocks[i] != blocks[i - 1]:
            lo = i if i > first else int(np.searchsorted(block[:i], block[i], side="left"))
            while times[lo] <= times[i] - SUSTAIN_MS:  # times rise within a block
                lo += 1
            window = sorted(v for v in vals[lo : i + 1] if v == v)
        else:
            if vals[i] == vals[i]:
                bisect.insort(window, vals[i])
            while times[lo] <= times[i] - SUSTAIN_MS:
                if vals[lo] == vals[lo]:
                    del window[bisect.bisect_left(window, vals[lo])]
                lo += 1
        k = len(window)
        out[i - first] = np.nan if k == 0 else window[k // 2] if k % 2 else (window[k // 2 - 1] + window[k // 2]) / 2
    return out


def _features(
    model_like: AnomalyModel | None,
    frame: pd.DataFrame,
    carry: Carry,
    *,
    cal: Calendar,
    weekly: bool,
    baseline: np.ndarray,
    spread: np.ndarray,
    on_threshold: float,
    metrics: tuple[str, ...],
    typical_run_s: float,
) -> tuple[dict[str, np.ndarray], Carry]:
    """Per-reading features, by name, in the forest's column order; the loop carries run
    state so chunks join seamlessly. (Arrays, not a frame: a live step scores a few readings,
    and building a frame cost more than the features.)

    ``recent_runs`` is the median length of the last :data:`RECENT_RUNS` completed on-runs
    divided by the meter's typical run: above 1 the load's cycles have been getting longer
    (a fridge whose door seal leaks, a heater whose element is scaling up). ``run_pos`` is
    which run of its program the current run is (0: the first after :data:`PROGRAM_GAP_MS`
    off, or after a break in the recording). ``cal`` is the calendar of ``frame``'s readings
    (built once by the caller, who needs it too).
    """
    del model_like
    ts = frame["ts"].to_numpy(dtype="int64")
    power = frame["power"].to_numpy(dtype="float64")
    n = len(frame)
    run_s = np.zeros(n)
    run_wh = np.zeros(n)
    dp = np.zeros(n)
    deltas = {m: np.zeros(n) for m in metrics}
    values = {m: frame[m].to_numpy(dtype="float64") for m in metrics}
    prev_ts, prev = carry.ts, dict(carry.values)
    on, start, wh = carry.on, carry.run_start, carry.run_wh
    level_start = carry.level_start
    level_s = np.zeros(n)
    run_pos = np.zeros(n, dtype="int64")
    pos, last_on_ts = carry.run_pos, carry.last_on_ts
    recent = list(carry.recent_runs)
    recent_median = float(np.median(recent)) if recent else 0.0
    ratio = np.ones(n)
    segment_start = _segment_starts(frame)
    for i in range(n):
        t, p = int(ts[i]), float(power[i])
        gap = (t - prev_ts) if prev_ts is not None else None
        now_on = p > on_threshold
        fresh = gap is None or gap <= 0 or gap > MAX_GAP_MS or bool(segment_start[i])
        if fresh:
            last_on_ts = None  # a break in the recording: whatever ran before is not this program
        if fresh or now_on != on:
            if on and not fresh and prev_ts is not None:
                recent = [*recent, (prev_ts - start) / 1000.0][-RECENT_RUNS:]
                recent_median = float(np.median(recent))
            on, start, wh = now_on, t, 0.0
            if now_on:
                new_program = last_on_ts is None or t - last_on_ts > PROGRAM_GAP_MS
                pos = 0 if new_program else pos + 1
        elif now_on and gap is not None:
            wh += p * gap / 3_600_000.0
        run_s[i] = (t - start) / 1000.0 if now_on else 0.0
        run_pos[i] = pos
        if now_on:
            last_on_ts = t
        last = prev.get("power", p)
        if fresh or t == start or abs(p - last) > LEVEL_STEP * max(abs(p), abs(last)):
            level_start = t
        level_s[i] = (t - level_start) / 1000.0
        run_wh[i] = wh
        if typical_run_s > 0 and len(recent) == RECENT_RUNS:
            ratio[i] = recent_median / typical_run_s
        dp[i] = 0.0 if fresh else p - prev.get("power", p)
        for m in metrics:
            v = float(values[m][i])
            deltas[m][i] = 0.0 if fresh or not np.isfinite(v) else v - prev.get(m, v)
            if np.isfinite(v):
                prev[m] = v
        prev["power"] = p
        prev_ts = t
    slot = _slots(cal, weekly)
    usual = baseline[slot]
    deviation = (power - usual) / spread[slot]
    sustained, window = _sustained(ts, deviation, carry.recent_deviation, segment_start)
    angle = 2 * np.pi * cal.minute_of_day / 1440.0
    feats = {
        "power": power,
        "change": dp,
        "vs_usual": deviation,
        "sustained": sustained,
        "on_run_s": run_s,
        "on_run_wh": run_wh,
        "recent_runs": ratio,
        "level_s": level_s,
        "run_pos": run_pos,
        "hour_sin": np.sin(angle),
        "hour_cos": np.cos(angle),
    }
    for m in metrics:
        column = values[m]
        # NaN becomes the chunk's median (and ±inf the largest floats); a chunk with neither,
        # the usual live one, needs no median
        finite = np.isfinite(column).all()
        feats[m] = column.copy() if finite else np.nan_to_num(column, nan=float(np.nanmedian(column)) if n else 0.0)
        feats[f"{m}_change"] = deltas[m]
    new_carry = Carry(
        ts=prev_ts,
        values=prev,
        on=on,
        run_start=start,
        level_start=level_start,
        run_pos=pos,
        last_on_ts=last_on_ts,
        run_wh=wh,
        recent_runs=tuple(recent),
        recent_deviation=window,
    )
    return feats, new_carry


def _seasonal_baseline(power: np.ndarray, slots: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Median and robust spread of power per slot; empty slots take the overall values.

    The spread has a floor (5 W, or 5 % of the typical level) so that a slot that was
    always the same does not make every small wobble look extreme.
    """
    overall = float(np.median(power))
    overall_spread = 1.4826 * float(np.median(np.abs(power - overall)))
    baseline = np.full(size, overall)
    spread = np.full(size, overall_spread)
    frame = pd.DataFrame({"slot": slots, "power": power})
    med = frame.groupby("slot")["power"].median()
    baseline[med.index.to_numpy()] = med.to_numpy()
    frame["dev"] = np.abs(power - baseline[slots])
    mad = frame.groupby("slot")["dev"].median() * 1.4826
    spread[mad.index.to_numpy()] = mad.to_numpy()
    floor = np.maximum(5.0, 0.05 * np.abs(baseline))
    return baseline, np.maximum(spread, floor)


#: The same non-zero power for this long is a recorder filling a gap, not a household.
FILL_MS = 15 * 60_000


def _without_fills(frame: pd.DataFrame) -> pd.DataFrame:
    """The history without stretches where a power above the on level repeats unchanged for
    :data:`FILL_MS` or more (a recorder forward-filling a gap: REFIT holds one 2.7 kW
    value for 13 hours). Learning from them would teach the model that a house can draw
    2.7 kW all night. A standby level that never changes (an appliance's 2 W) is kept.
    What remains is split into segments at each removed stretch."""
    power = frame["power"].to_numpy(dtype="float64")
    ts = frame["ts"].to_numpy(dtype="int64")
    repeat = np.concatenate([[False], (power[1:] == power[:-1]) & (power[1:] > _on_threshold(power))])
    fill = np.zeros(len(frame), dtype=bool)
    for start, end in index_runs(repeat):
        if ts[end - 1] - ts[start - 1] >= FILL_MS:
            fill[start - 1 : end] = True
    if not fill.any() or fill.all():
        return frame
    base = frame["segment"].to_numpy() if "segment" in frame.columns else np.zeros(len(frame), dtype="int64")
    pieces = np.cumsum(np.concatenate([[False], fill[1:] & ~fill[:-1]]))
    combined = pd.factorize(pd.Series(base))[0] * (int(pieces.max()) + 1) + pieces
    kept = frame.assign(segment=pd.factorize(pd.Series(combined))[0])
    return kept[~fill].reset_index(drop=True)


#: A never-off meter's history may hold this share of zero readings and still count as never off.
ZERO_GAP_SHARE = 0.01


def _power_floor(power: np.ndarray) -> float:
    """Half the lowest level (0.1 % quantile) a never-off meter reads: below it, it is dead.

    A few zero readings in the history are gaps a recorder filled with zeros (REFIT does this
    for gaps over five minutes), not a house drawing nothing, so when they are under
    :data:`ZERO_GAP_SHARE` of the history they are left out; otherwise 0 W is usual here
    and the floor is 0.
    """
    positive = power[power > 0]
    if positive.size == 0 or 1.0 - positive.size / power.size >= ZERO_GAP_SHARE:
        return 0.5 * float(np.quantile(power, 0.001))
    return 0.5 * float(np.quantile(positive, 0.001))


def _widened_range(values: np.ndarray) -> tuple[float, float]:
    """The history's 0.1–99.9 % range widened by half its width on each side."""
    finite = values[np.isfinite(values)]
    low, high = (float(q) for q in np.quantile(finite, [0.001, 0.999]))
    margin = 0.5 * max(high - low, 1e-3 * max(abs(high), 1.0))
    return low - margin, high + margin


def _completed_runs(ts: np.ndarray, power: np.ndarray, on_threshold: float, segment_start: np.ndarray) -> np.ndarray:
    """Durations (s) of the on-runs that start and end inside the history; a gap breaks a run."""
    durations = []
    start: int | None = None
    for i in range(1, len(ts)):
        was_on, is_on = power[i - 1] > on_threshold, power[i] > on_threshold
        gap = ts[i] - ts[i - 1]
        if gap <= 0 or gap > MAX_GAP_MS or segment_start[i]:
            start = None
        elif is_on and not was_on:
            start = i
        elif was_on and not is_on and start is not None:
            durations.append((ts[i - 1] - ts[start]) / 1000.0)
            start = None
    return np.asarray(durations, dtype="float64")


def _longest_at(feats: pd.DataFrame, on_threshold: float, segment_start: np.ndarray) -> tuple[float, ...]:
    """The longest run that ended inside the history at each position in its program
    (first run, second, …; 0 where none did).

    A dishwasher heats twice in a program, about 11 min and then about 15; a fault that
    makes the first heating run 13 min is still shorter than the longest run in the
    history, but it can be longer than any *first* heating.
    """
    on = feats["power"].to_numpy() > on_threshold
    ends = np.flatnonzero(on[:-1] & ~on[1:] & ~segment_start[1:])
    longest: dict[int, float] = {}
    for position, length in zip(feats["run_pos"].to_numpy()[ends], feats["on_run_s"].to_numpy()[ends], strict=True):
        longest[int(position)] = max(longest.get(int(position), 0.0), float(length))
    return tuple(longest.get(k, 0.0) for k in range(max(longest, default=-1) + 1))


def _robust_cv(runs: np.ndarray) -> float:
    """How much run lengths vary: robust spread (1.4826 × MAD) over the median.

    Robust because a water heater's few long runs while a bath fills (54 min against its
    usual 5-7) made the plain std/mean pass 1 on eight days of history, and the heater lost
    its cycle model; its thermostat runs are as regular as ever.
    """
    median = float(np.median(runs))
    return 1.4826 * float(np.median(np.abs(runs - median))) / max(median, 1e-9)


def _step_s(ts: np.ndarray) -> float:
    """The meter's usual interval between readings, in seconds."""
    return float(np.median(np.diff(ts))) / 1000.0 if len(ts) > 1 else 60.0


def _cycle_folds(frame: pd.DataFrame) -> np.ndarray:
    """Which held-out part each reading belongs to: its recording, or its day if only one."""
    if "segment" in frame.columns and frame["segment"].nunique() >= 3:
        return np.asarray(pd.factorize(frame["segment"])[0], dtype="int64")
    return np.asarray(frame["ts"].to_numpy(dtype="int64") // 86_400_000, dtype="int64")


def _bridge_s(ts: np.ndarray, power: np.ndarray, on_threshold: float, step_s: float) -> float:
    """Half the shortest usual rest between cycles (5 % quantile), at least two readings."""
    on_ts = ts[power > on_threshold]
    rests = np.diff(on_ts) / 1000.0
    rests = rests[rests > 1.5 * step_s]
    if rests.size == 0:
        return 2 * step_s
    return max(2 * step_s, 0.5 * float(np.quantile(rests, 0.05)))


def _line_fit(rows: np.ndarray) -> tuple[np.ndarray, float]:
    """Cycle length from the two preceding rests, and the scatter around that line.

    Robust: a few cycles far off the line (a water heater's long run while a bath fills)
    would otherwise set both the line and the scatter, and a scatter of minutes hides a
    fault that adds one minute to each cycle. Cycles further than :data:`CYCLE_TRIM`
    robust scatters from the line are left out and the line is fitted again; the scatter
    is the robust spread (1.4826 × MAD) of what is left.
    """
    design = np.column_stack([np.ones(len(rows)), rows[:, 0], rows[:, 1]])
    keep = np.ones(len(rows), dtype=bool)
    coef, scatter = np.zeros(3), 0.0
    for _ in range(3):
        coef = np.linalg.lstsq(design[keep], rows[keep, 2], rcond=None)[0]
        residual = rows[:, 2] - design @ coef
        scatter = 1.4826 * float(np.median(np.abs(residual[keep] - np.median(residual[keep]))))
        keep = np.abs(residual) <= CYCLE_TRIM * max(scatter, 1e-9)
    return coef, scatter


def _cycle_evidence(excess_s: float, scatter_s: float) -> float:
    """One cycle's excess in scatters, capped: one very long cycle is one unusual use, not a fault."""
    return min(excess_s / scatter_s, CYCLE_CLIP)


def _with_rests(rows: np.ndarray) -> np.ndarray:
    """The cycles whose two preceding rests are known (the line learns from these)."""
    return np.asarray(rows[np.isfinite(rows[:, 0])], dtype="float64")


def _worst_cusum(rows: np.ndarray, coef: np.ndarray, scatter: float, slack: float, typical: float) -> float:
    worst, cusum = 0.0, 0.0
    for off1, off2, length in rows:
        guess = coef[0] + coef[1] * off1 + coef[2] * off2 if np.isfinite(off1) else typical
        cusum = max(0.0, cusum + _cycle_evidence(length - guess, scatter) - slack)
        worst = max(worst, cusum)
    return worst


def fit_cycle_model(frame: pd.DataFrame, on_threshold: float) -> CycleModel | None:
    """Learn a cycling load's cycle lengths; None when the history has too few cycles or parts.

    The alarm level is chosen without any fault: each history day (or recording) in turn is
    held out, the line is learned from the others, and the highest CUSUM the held-out day
    reaches is the level that a normal day can reach; the alarm is the highest of those.
    """
    ts = frame["ts"].to_numpy(dtype="int64")
    power = frame["power"].to_numpy(dtype="float64")
    if len(ts) < 2:
        return None
    step_s = _step_s(ts)
    folds = _cycle_folds(frame)
    segment_start = _segment_starts(frame) | np.concatenate([[False], folds[1:] != folds[:-1]])
    probe = CycleModel(np.zeros(3), 1.0, step_s, _bridge_s(ts, power, on_threshold, step_s), CYCLE_SLACK, np.inf, 0.0)
    per_fold = []
    for fold in np.unique(folds):
        part = folds == fold
        _, _, rows = _cycle_pass(probe, ts[part], power[part], on_threshold, segment_start[part], CycleCarry())
        per_fold.append(np.asarray(rows, dtype="float64").reshape(-1, 3))
    usable = [rows for rows in per_fold if np.isfinite(rows[:, 0]).any()]
    every = _with_rests(np.vstack(per_fold))
    if len(every) < MIN_CYCLES or len(usable) < 3:
        return None
    worst = 0.0
    for k, held_out in enumerate(usable):
        rest = _with_rests(np.vstack([r for j, r in enumerate(usable) if j != k]))
        coef, scatter = _line_fit(rest)
        typical = float(np.median(rest[:, 2]))
        worst = max(worst, _worst_cusum(held_out, coef, max(scatter, step_s / 2), CYCLE_SLACK, typical))
    coef, scatter = _line_fit(every)
    return CycleModel(
        coef=coef,
        scatter_s=max(scatter, step_s / 2),
        step_s=step_s,
        bridge_s=probe.bridge_s,
        slack=CYCLE_SLACK,
        alarm=max(worst, 1.0),
        typical_s=float(np.median(every[:, 2])),
    )


def fit_anomaly_model(
    history: pd.DataFrame,
    *,
    tz: str = "UTC",
    contamination: float = 0.002,
    seasonal: bool = True,
    random_state: int = 0,
) -> AnomalyModel:
    """Learn what is usual for one meter from its own history (``ts``, ``power`` [, V, I …]).

    Separate recordings may be passed together with a ``segment`` column: runs, changes and
    sustained deviations never cross from one segment to the next.

    ``contamination`` is the share of the history's own readings the forest would have
    flagged: it sets how quiet the detector is. ``seasonal=False`` leaves the time of day out
    (for a single appliance whose use has no daily rhythm).
    """
    if len(history) < 100:
        raise ValueError(f"history has {len(history)} readings; at least 100 are needed to learn")
    if not 0 < contamination < 0.5:
        raise ValueError(f"contamination must be in (0, 0.5), got {contamination}")
    order = ["segment", "ts"] if "segment" in history.columns else ["ts"]
    # A row without a power value is a gap, not a reading: one such row in the history made
    # every quantile NaN and the on level fall to its 5 W floor (the washing machine's day 3).
    history = history[np.isfinite(history["power"].to_numpy(dtype="float64"))]
    frame = _without_fills(history.sort_values(order, kind="stable").reset_index(drop=True))
    ts = frame["ts"].to_numpy(dtype="int64")
    power = frame["power"].to_numpy(dtype="float64")
    weekly = int(ts.max() - ts.min()) >= WEEKLY_AFTER_MS
    cal = calendar(ts, tz)
    slots = _slots(cal, weekly)
    size = 168 if weekly else 24
    baseline, spread = _seasonal_baseline(power, slots, size)
    on_threshold = _on_threshold(power)
    runs = _completed_runs(ts, power, on_threshold, _segment_starts(frame))
    # A whole house is never off; one appliance's meter is at standby most of the time, even
    # when its runs are too irregular to count as cycling (a washing machine's programs).
    # The cycling rules (typical run, recent runs, cycle model) need a load that cycles on
    # and off regularly (a fridge, a heater); elsewhere ``typical_run_s`` stays 0.
    never_off = float(np.mean(power <= STANDBY_W)) < NEVER_OFF_SHARE
    cycling = (
        runs.size >= 3
        and not never_off
        and float(np.mean(power <= on_threshold)) >= 0.2
        and _robust_cv(runs) <= REGULAR_RUNS_CV
    )
    typical_run = float(np.median(runs)) if cycling else 0.0
    metrics = tuple(
        m
        for m in OPTIONAL_METRICS
        if m in frame.columns and np.isfinite(frame[m].to_numpy(dtype="float64")).mean() > 0.5
    )
    columns, _ = _features(
        None,
        frame,
        Carry(),
        cal=cal,
        weekly=weekly,
        baseline=baseline,
        spread=spread,
        on_threshold=on_threshold,
        metrics=metrics,
        typical_run_s=typical_run,
    )
    feats = pd.DataFrame(columns)
    cycles = fit_cycle_model(frame, on_threshold) if cycling else None
    # With a cycle model the run features are judged there, where in the cycle it matters.
    use_runs = cycling and cycles is None
    names = tuple(
        c
        for c in feats.columns
        if (seasonal or c not in SEASONAL_FEATURES)
        and (use_runs or c not in RUN_FEATURES)
        and c not in ("level_s", "run_pos")
    )
    matrix = feats[list(names)].to_numpy(dtype="float64")
    forest = IsolationForest(n_estimators=100, random_state=random_state, n_jobs=1)
    forest.fit(matrix)
    scores = -forest.score_samples(matrix)
    return AnomalyModel(
        tz=tz,
        weekly=weekly,
        baseline=baseline,
        spread=spread,
        power_floor=_power_floor(power) if never_off else 0.0,
        power_ceiling=1.2 * float(power.max()),
        metric_bounds={m: _widened_range(frame[m].to_numpy(dtype="float64")) for m in metrics},
        z_low=float(np.quantile(feats["sustained"], contamination / 2)),
        z_high=float(np.quantile(feats["sustained"], 1.0 - contamination / 2)),
        on_threshold=on_threshold,
        metrics=metrics,
        feature_names=names,
        forest=CompactForest.of(forest),
        threshold=float(np.quantile(scores, 1.0 - contamination)),
        low=np.quantile(matrix, 0.005, axis=0),
        high=np.quantile(matrix, 0.995, axis=0),
        typical=np.median(matrix, axis=0),
        typical_run_s=typical_run,
        longest_run_s=float(runs.max()) if runs.size else float(feats["on_run_s"].max()),
        longest_at=_longest_at(feats, on_threshold, _segment_starts(frame)),
        recent_runs_fence=float(feats["recent_runs"].max()),
        trained_from=int(ts.min()),
        trained_until=int(ts.max()),
        n_train=len(frame),
        cycles=cycles,
        blocks=never_off,
    )


def _longest_here(model: AnomalyModel, run_pos: np.ndarray) -> np.ndarray:
    """The longest run the history holds at each reading's position in its program; the
    longest of all where the history has no run at that position. Only for a load whose
    runs are regular phases (a dishwasher's two heatings) and that has no cycle model (a
    thermostat's runs make no program): a washing machine's short spin bursts count as
    runs too, so its run numbers mean little."""
    at = np.asarray(model.longest_at, dtype="float64")
    if model.cycles is not None or model.typical_run_s <= 0 or at.size == 0:
        return np.full(len(run_pos), model.longest_run_s)
    here = at[np.minimum(run_pos, at.size - 1)]
    return np.where((run_pos < at.size) & (here > 0), here, model.longest_run_s)


def _rule_reason(model: AnomalyModel, run_s: float, ratio: float, power: float, longest: float, pos: int) -> str:
    if run_s > longest and longest < model.longest_run_s:
        return (
            f"on for {format_duration(run_s)} without a break at {format_watts(power)}; run {pos + 1} of a "
            f"program lasted at most {format_duration(longest)} in its history (its longest run of all: "
            f"{format_duration(model.longest_run_s)})"
        )
    if run_s > model.longest_run_s:
        return (
            f"on for {format_duration(run_s)} without a break at {format_watts(power)}; "
            f"the longest run in its history is {format_duration(model.longest_run_s)}"
        )
    return (
        f"its last {RECENT_RUNS} cycles ran {ratio:.1f}× as long as usual "
        f"({format_duration(ratio * model.typical_run_s)} against {format_duration(model.typical_run_s)}), "
        f"and this one is {format_duration(run_s)} in"
    )


def _cycle_reason(verdicts: CycleVerdicts, i: int) -> str:
    return (
        f"on for {format_duration(verdicts.elapsed_s[i])} in this cycle; after its rest, a cycle usually "
        f"lasts {format_duration(verdicts.expected_s[i])}, and its recent cycles have each run about "
        f"{format_duration(verdicts.excess_s[i])} longer than expected (worn seal, compressor or thermostat?)"
    )


def _earlier_reason(
    cycles: CycleModel | None, spans: tuple[tuple[int, int], ...], tail_excess_s: float, alarm: bool
) -> str:
    """Why earlier spans are anomalous: the cycles that raised the alarm (``alarm``), or one
    cycle's last minutes judged at its end while the alarm stands."""
    if cycles is None or not spans:
        return ""
    minutes = format_duration(sum((b - a) / 1000.0 + cycles.step_s for a, b in spans))
    usual = format_duration(tail_excess_s)
    if alarm:
        return (
            f"its last {len(spans)} cycles each ran past their expected length (typically by {usual}), "
            f"more than its normal days ever added up to (worn seal, compressor or thermostat?): "
            f"their last minutes, together {minutes}, are counted as that extra running"
        )
    return (
        f"this cycle ran past its expected length, as its recent cycles have (each by about {usual}): "
        f"its last {minutes} are counted as that extra running"
    )


def _baseline_reason(model: AnomalyModel, power: float, slot: int) -> str:
    usual = float(model.baseline[slot])
    if power < model.power_floor:
        return (
            f"power {format_watts(power)} is below anything in its history (the meter normally "
            f"never reads under {format_watts(2 * model.power_floor)}): supply cut, meter fault or bypass?"
        )
    if power > model.power_ceiling:
        return (
            f"power {format_watts(power)} is beyond anything in its history "
            f"(highest {format_watts(model.power_ceiling / 1.2)})"
        )
    when = slot_name(slot, weekly=model.weekly)
    if power > usual and usual > 1.0 and power >= 1.5 * usual:
        return f"power {format_watts(power)} is {power / usual:.1f}× the usual for {when} ({format_watts(usual)})"
    if power > usual:
        return f"power {format_watts(power)} is well above the usual {format_watts(usual)} for {when}"
    return f"power {format_watts(power)} is well below the usual {format_watts(usual)} for {when}"


def _forest_reason(model: AnomalyModel, row: np.ndarray, slot: int) -> str:
    """The single feature that is furthest outside the history's range, in plain words."""
    names = model.feature_names
    span = np.maximum(model.high - model.low, 1e-9)
    excess = np.maximum(row - model.high, model.low - row) / span
    for name in ("hour_sin", "hour_cos", "recent_runs"):
        if name in names:
            excess[names.index(name)] = -np.inf
    top = names[int(np.argmax(excess))]
    value = float(row[names.index(top)])
    power = float(row[names.index("power")])
    usual = float(model.baseline[slot])
    when = slot_name(slot, weekly=model.weekly)
    if top in ("on_run_s", "on_run_wh"):
        return (
            f"on for {format_duration(row[names.index('on_run_s')])} at {format_watts(power)}, "
            f"using {row[names.index('on_run_wh')]:.0f} Wh so far, more than its runs usually do"
        )
    if top == "change":
        largest = max(abs(model.low[names.index("change")]), abs(model.high[names.index("change")]))
        verb = "jumped" if value > 0 else "dropped"
        return (
            f"power {verb} by {format_watts(abs(value))} in one step, more than the usual "
            f"largest change of {format_watts(largest)}"
        )
    if top in ("power", "vs_usual", "sustained"):
        if usual > 1.0 and power >= 1.5 * usual:
            return f"power {format_watts(power)} is {power / usual:.1f}× the usual for {when} ({format_watts(usual)})"
        return f"power {format_watts(power)} is unusual for {when} (usually {format_watts(usual)})"
    metric = top.removesuffix("_change")
    unit = UNITS[metric]
    typical = float(model.typical[names.index(metric)])
    if top.endswith("_change"):
        return f"{metric} changed by {value:+.2f}{unit} in one step (usual level {typical:.2f}{unit})"
    return f"{metric} {value:.2f}{unit} is outside its usual range (typically {typical:.2f}{unit})"


def score_frame(model: AnomalyModel, frame: pd.DataFrame, carry: Carry | None = None) -> tuple[pd.DataFrame, Carry]:
    """Score a chunk of one meter's readings; returns ``score``, ``anomalous``, ``reason``.

    A reading is flagged by the forest (``score`` — the forest's anomaly score divided by
    the model's threshold — above 1), by the seasonal baseline (further from its slot's
    usual power than all but ``contamination`` of the history), or by the run rules: on
    longer than any run in the history, or past its typical length while the recent cycles
    have all been longer than the history ever showed; or by the cycle model, while its
    alarm stands, when a cycle runs clearly past its expected length (most of its verdicts
    come when a cycle ends, as ``earlier`` spans, below). A load with a cycle model is judged
    by it instead of the recent-runs rule and the forest (its ``score`` is still given). A whole house with less
    than three weeks of history is judged by its dead-meter floor, its ceiling and blocks of
    extra load instead of the hour's usual level and the forest. Pass the returned
    :class:`Carry` with the next chunk.

    ``earlier`` holds, on the reading where a verdict was reached after the fact (the cycle
    model's alarm, a long cycle's end while the alarm stands, or the step down that closes
    a block of extra load), the spans ``(first_ts, last_ts)`` of earlier readings (possibly
    in earlier chunks) now known to be anomalous, with ``earlier_reason`` in plain words;
    elsewhere it is empty.
    """
    if frame.empty:
        return pd.DataFrame(columns=list(SCORE_COLUMNS)), carry or Carry()
    for m in model.metrics:
        if m not in frame.columns:
            frame = frame.assign(**{m: np.nan})
    frame = frame.reset_index(drop=True)
    ts = frame["ts"].to_numpy(dtype="int64")
    cal = calendar(ts, model.tz)  # once: the features, the baseline's slots and the reasons all use it
    feats, new_carry = _features(
        model,
        frame,
        carry or Carry(),
        cal=cal,
        weekly=model.weekly,
        baseline=model.baseline,
        spread=model.spread,
        on_threshold=model.on_threshold,
        metrics=model.metrics,
        typical_run_s=model.typical_run_s,
    )
    matrix = np.column_stack([feats[name] for name in model.feature_names]).astype("float64")
    score = -model.forest.scores(matrix) / model.threshold
    run_s = feats["on_run_s"]
    ratio = feats["recent_runs"]
    cycling = model.typical_run_s > 0
    # Past the longest run, only the level that was on when it got there is flagged: a
    # program that ran one phase too long and then carried on normally is wrong in that phase.
    run_pos = feats["run_pos"]
    longest = _longest_here(model, run_pos)
    in_long_level = run_s - feats["level_s"] <= longest
    # With a cycle model, its CUSUM judges whether the cycles run long (the recent-runs rule
    # is its cruder forerunner), and the forest may not flag on its own: on the training
    # days held out in turn both flagged almost only normal readings (a fridge's defrost
    # heater, a water heater switching on); see docs/evaluation/anomaly.md.
    judged_by_cycles = model.cycles is not None
    # "Longer than any run in its history" holds for any appliance, regular or not.
    appliance = not getattr(model, "blocks", not cycling)
    by_rule = (appliance & (run_s > longest) & in_long_level) | (
        cycling & (ratio > model.recent_runs_fence) & (run_s > model.typical_run_s) & (not judged_by_cycles)
    )
    power = feats["power"]
    slots = _slots(cal, model.weekly)
    z = feats["sustained"]
    out_of_range = (power < model.power_floor) | (power > model.power_ceiling)
    house = bool(getattr(model, "blocks", not cycling))
    # A house's hour-of-day level from less than three weeks is a handful of days per hour: its
    # own fences and the forest flagged almost only normal readings on held-out days of IHEPC
    # and REFIT (docs/evaluation/anomaly.md); there the dead-meter floor, the ceiling and the
    # blocks of extra load judge the house, and the baseline only gives the reasons.
    house_by_usual = house and model.weekly
    by_baseline = out_of_range | (house_by_usual & ((z > model.z_high) | (z < model.z_low)))
    strange_metric = np.full(len(frame), "", dtype=object)
    for metric, (low, high) in model.metric_bounds.items():
        values = feats[metric]
        strange_metric[(strange_metric == "") & ((values < low) | (values > high))] = metric
    by_metric = strange_metric != ""
    cycle_carry = (carry or Carry()).cycle
    segment_start = _segment_starts(frame)
    verdicts = None
    if model.cycles is not None:
        verdicts, cycle_carry = _cycle_pass(model.cycles, ts, power, model.on_threshold, segment_start, cycle_carry)[:2]
    new_carry.cycle = cycle_carry
    by_forest = (score > 1.0) & (not judged_by_cycles) & (house_by_usual or not house)
    by_cycle = verdicts.flagged if verdicts is not None else np.zeros(len(frame), dtype=bool)
    flagged = by_forest | by_rule | by_baseline | by_metric | by_cycle
    reasons = []
    for i in range(len(frame)):
        if not flagged[i]:
            reasons.append("")
        elif by_cycle[i] and verdicts is not None:
            reasons.append(_cycle_reason(verdicts, i))
        elif by_rule[i]:
            reasons.append(
                _rule_reason(
                    model, float(run_s[i]), float(ratio[i]), float(power[i]), float(longest[i]), int(run_pos[i])
                )
            )
        elif by_baseline[i]:
            reasons.append(_baseline_reason(model, float(power[i]), int(slots[i])))
        elif by_metric[i]:
            metric = str(strange_metric[i])
            low, high = model.metric_bounds[metric]
            quarter = (high - low) / 4  # the bounds are the history's range widened by half
            reasons.append(
                f"{metric} {feats[metric][i]:.4g}{UNITS[metric]} is far outside its usual range "
                f"({low + quarter:.4g}–{high - quarter:.4g}{UNITS[metric]} in its history)"
            )
        else:
            reasons.append(_forest_reason(model, matrix[i], int(slots[i])))
    earlier: list[tuple[tuple[int, int], ...]] = (
        verdicts.earlier if verdicts is not None else [() for _ in range(len(frame))]
    )
    tails = verdicts.tail_excess_s if verdicts is not None else np.zeros(len(frame))
    alarms = verdicts.alarm if verdicts is not None else np.zeros(len(frame), dtype=bool)
    earlier_reasons = [
        _earlier_reason(model.cycles, spans, float(tail), bool(alarm))
        for spans, tail, alarm in zip(earlier, tails, alarms, strict=True)
    ]
    if getattr(model, "blocks", False):
        blocks, new_carry.steps = find_blocks(ts, power, segment_start, (carry or Carry()).steps, model.power_floor)
        step_s = model.cycles.step_s if model.cycles is not None else _step_s(ts)
        for i in (k for k, found in enumerate(blocks) if found):
            earlier[i] = (*earlier[i], *((b.first_ts, b.last_ts) for b in blocks[i]))
            earlier_reasons[i] = "; ".join(r for r in (earlier_reasons[i], block_reason(blocks[i], step_s)) if r)
    out = pd.DataFrame(
        {
            "ts": ts,
            "score": score,
            "anomalous": flagged,
            "reason": reasons,
            "earlier": pd.Series(earlier, dtype=object),
            "earlier_reason": earlier_reasons,
        }
    )
    return out, new_carry


def score_reading(model: AnomalyModel, reading: Reading, carry: Carry | None = None) -> tuple[Finding | None, Carry]:
    """Score one live reading; a :class:`Finding` when it is anomalous, else None."""
    scored, new_carry = score_frame(model, readings_frame([reading]), carry)
    row = scored.iloc[0]
    if not bool(row["anomalous"]):
        return None, new_carry
    return Finding(ts=int(row["ts"]), score=float(row["score"]), reason=str(row["reason"])), new_carry


def upgraded(model: AnomalyModel) -> AnomalyModel | None:
    """A stored model this version scores with, or None (fit again). Version 4 held
    scikit-learn's whole fitted forest; its compact form scores the very same numbers, so it
    is kept rather than refitted (which, for a utility's meters, would take the refresher
    hours during which they are not watched)."""
    if model.version == MODEL_VERSION and isinstance(model.forest, CompactForest):
        return model
    if model.version == 4 and isinstance(model.forest, IsolationForest):
        return replace(model, forest=CompactForest.of(model.forest), version=MODEL_VERSION)
    return None


def needs_refresh(model: AnomalyModel, history_end_ms: int, history_rows: int) -> bool:
    """Refit when the history has doubled, or a week has passed since the model's last reading.

    Early on this refits often (the model is learning the meter), later about weekly; a
    refit is also due when the history reaches three weeks and the baseline can go weekly.
    """
    grown = history_rows >= 2 * model.n_train
    week_passed = history_end_ms - model.trained_until >= 7 * 86_400_000
    can_go_weekly = (not model.weekly) and history_end_ms - model.trained_from >= WEEKLY_AFTER_MS
    return grown or week_passed or can_go_weekly


# --------------------------------------------------------------------------- when a reading was known


def index_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges ``[start, end)`` of consecutive True values."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype("int8")))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def decided_at(scored: pd.DataFrame) -> np.ndarray:
    """When each reading was known to be anomalous (epoch ms; -1 when never).

    A reading flagged as it arrives is decided at its own time; a reading inside an
    ``earlier`` span is decided when the span was reported (the retrospective verdict of
    the cycle model), so delays computed from this are honest.
    """
    ts = scored["ts"].to_numpy(dtype="int64")
    decided = np.where(scored["anomalous"].to_numpy(dtype=bool), ts, -1)
    for when, spans in zip(ts, scored["earlier"], strict=True):
        for first, last in spans:
            inside = (ts >= first) & (ts <= last) & (decided < 0)
            decided[inside] = when
    return decided
