"""Evaluation of NILM on sub-metered recordings: loaders, ground truth, metrics, learning.

Everything here reads files and arrays and returns numbers; nothing runs other programs.

Definitions (also in docs/evaluation/nilm.md):

- *True events* are the steps of at least ``event_min_w`` in each sub-meter, found with
  the same steady-segment rule as the detector on that clean single-appliance signal;
  where a recording carries each appliance's on/off states (OMPM), the state changes.
- A detected event *matches* a true event of the same sign within ``tolerance_s``
  (one-to-one, greedy in time order: each true event takes the nearest unmatched
  detected event). Precision, recall, F1 follow.
- *Identification* is scored on detected events that match a true event: the label
  must be that appliance ("unidentified" and other labels are errors). Accuracy and
  macro-F1 over the sub-metered appliances.
- *On/off F1*: per sample, state = power > threshold (true state: the known states where
  given); *MAE* in W; *FTE* as in
  Kolter & Johnson / NILMTK: Σₙ min(share of true energy, share of estimated energy).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from wattwise.analysis import model_data
from wattwise.analysis.nilm.apportion import MODES, learn_gains
from wattwise.analysis.nilm.bursts import BurstModel, burst_model_from_labels, learn_burst
from wattwise.analysis.nilm.calibration import isotonic_fit
from wattwise.analysis.nilm.classify import Classifier, ClassifierConfig
from wattwise.analysis.nilm.cycles import CycleModel, learn_cycle
from wattwise.analysis.nilm.decode import StateModel, decode, typical_powers
from wattwise.analysis.nilm.events import (
    DetectorConfig,
    Event,
    SecondChannel,
    detect_events,
    reactive_from_pf,
)
from wattwise.analysis.nilm.live import LiveNilm, live_power, replay
from wattwise.analysis.nilm.live_rhythm import cycle_s
from wattwise.analysis.nilm.model import NilmModel
from wattwise.analysis.nilm.pairing import PairingConfig
from wattwise.analysis.nilm.rhythm_labels import LabelledRun, cycle_model_from_labels
from wattwise.analysis.nilm.signatures import UNIDENTIFIED, Features, SignatureLibrary
from wattwise.domain.timestamps import timestamps_ms

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Label given in training to aggregate events no sub-meter explains (unmetered loads).
OTHER = "other"

#: NILMbench on/off thresholds (W); appliances not listed use ``DEFAULT_ON_W``.
ON_THRESHOLDS_W: dict[str, float] = {
    "fridge": 50.0,
    "washing_machine": 20.0,
    "washing machine": 20.0,
    "microwave": 200.0,
    "dishwasher": 10.0,
    "dish washer": 10.0,
    "kettle": 2000.0,
    "tv": 10.0,
}
DEFAULT_ON_W = 10.0


@dataclass(slots=True)
class Recording:
    """One continuous recording: aggregate, optional Q or PF, and sub-meters (W)."""

    ts: IntArray
    aggregate: FloatArray
    appliances: dict[str, FloatArray]
    second: FloatArray | None = None
    second_kind: SecondChannel = "none"
    name: str = ""
    #: sub-meter reactive power (var), where the sub-meters measure it
    appliances_q: dict[str, FloatArray] = field(default_factory=dict)
    #: each appliance's on/off where its sub-meter's watts alone cannot tell (OMPM: some
    #: sub-meters pick up their neighbours' current); ``appliances`` is then 0 W where off
    on_states: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.ts.size
        for k, v in self.appliances.items():
            if v.size != n:
                raise ValueError(f"appliance {k!r} has {v.size} samples, aggregate has {n}")
        if self.second is not None and self.second.size != n:
            raise ValueError("second channel length differs from aggregate")

    @property
    def interval_s(self) -> float:
        return float(np.median(np.diff(self.ts))) / 1000.0 if self.ts.size > 1 else 1.0

    def slice(self, mask: npt.NDArray[np.bool_], name: str = "") -> Recording:
        return Recording(
            self.ts[mask],
            self.aggregate[mask],
            {k: v[mask] for k, v in self.appliances.items()},
            None if self.second is None else self.second[mask],
            self.second_kind,
            name or self.name,
            {k: v[mask] for k, v in self.appliances_q.items()},
            {k: v[mask] for k, v in self.on_states.items()},
        )

    def reactive(self) -> FloatArray | None:
        """The aggregate Q in var (computed from PF when the meter gives PF)."""
        if self.second is None:
            return None
        return reactive_from_pf(self.aggregate, self.second) if self.second_kind == "pf" else self.second


@dataclass(slots=True)
class SetSpec:
    """How a data set is scored: thresholds and the event-matching tolerance."""

    name: str
    train: list[Recording]
    test: list[Recording]
    event_min_w: float
    on_thresholds_w: dict[str, float] = field(default_factory=dict)
    tolerance_s: float | None = None
    split: str = ""

    def on_w(self, appliance: str) -> float:
        return self.on_thresholds_w.get(appliance, ON_THRESHOLDS_W.get(appliance.lower(), DEFAULT_ON_W))

    def tol_s(self) -> float:
        if self.tolerance_s is not None:
            return self.tolerance_s
        return max(5.0, 3.0 * self.test[0].interval_s)

    @property
    def appliances(self) -> list[str]:
        return list(self.train[0].appliances)


# --------------------------------------------------------------------------- loading

_TS_NAMES = ("timestamp", "Timestamp", "time", "datetime", "date")


def read_refit_layout(path: str | Path, name: str = "") -> Recording:
    """A CSV in the REFIT layout: a timestamp column, ``aggregate`` (W), one column per
    sub-metered appliance (W); optional ``aggregate_q`` (var) or ``aggregate_pf``.

    Any sampling interval works; naive timestamps are taken as UTC.
    """
    df = pd.read_csv(path)
    ts_col = next((c for c in _TS_NAMES if c in df.columns), None)
    if ts_col is None:
        raise ValueError(f"{path}: no timestamp column (one of {', '.join(_TS_NAMES)})")
    if "aggregate" not in df.columns:
        raise ValueError(f"{path}: no 'aggregate' column; columns are {list(df.columns)}")
    return _frame_to_recording(df, ts_col, name or Path(path).stem)


def _frame_to_recording(df: pd.DataFrame, ts_col: str, name: str) -> Recording:
    ts = timestamps_ms(df[ts_col])
    second, kind = None, "none"
    for col, k in (("aggregate_q", "q"), ("aggregate_pf", "pf")):
        if col in df.columns:
            second, kind = df[col].to_numpy(np.float64), k
    skip = {ts_col, "aggregate", "aggregate_q", "aggregate_pf"}
    apps: dict[str, FloatArray] = {}
    for c in df.columns:
        if c in skip:
            continue
        vals = pd.to_numeric(df[c], errors="coerce").to_numpy(np.float64)
        if np.isnan(vals).all():
            continue
        apps[str(c)] = np.nan_to_num(vals, nan=0.0)
    order = np.argsort(ts, kind="stable")
    agg = pd.to_numeric(df["aggregate"], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(agg)
    if bad.any():
        agg = pd.Series(agg).ffill().bfill().to_numpy(np.float64)
    return Recording(
        ts[order],
        agg[order],
        {k: v[order] for k, v in apps.items()},
        None if second is None else second[order],
        kind,  # type: ignore[arg-type]
        name,
    )


def clip_glitches(rec: Recording, limit_w: float = 20000.0) -> Recording:
    """Sub-meter samples above ``limit_w`` are logger glitches (REFIT has 32,768 W and
    49,150.5 W single samples); replace them with the previous sample."""
    apps: dict[str, FloatArray] = {}
    for k, v in rec.appliances.items():
        s = pd.Series(np.where(v > limit_w, np.nan, v)).ffill().fillna(0.0)
        apps[k] = np.asarray(s.to_numpy(np.float64), dtype=np.float64)
    return replace(rec, appliances=apps)


def logger_gaps(rec: Recording, frozen_s: float = 600.0, jump_s: float = 300.0) -> npt.NDArray[np.bool_]:
    """Samples the logger did not really record: the aggregate repeating the very same
    value for ``frozen_s`` or more (a live house meter always moves by a watt or two;
    REFIT's cleaning forward-filled its outages, e.g. 13 h at exactly 2,729 W on
    2015-01-05), and the first sample after a time jump of ``jump_s`` or more."""
    p = rec.aggregate
    new = np.r_[True, p[1:] != p[:-1]]
    starts = np.flatnonzero(new)
    lens = np.diff(np.r_[starts, p.size])
    secs = lens * rec.interval_s
    run_id = np.cumsum(new) - 1
    gap = (secs >= frozen_s)[run_id]
    gap[1:] |= np.diff(rec.ts) >= jump_s * 1000.0
    return np.asarray(gap, dtype=bool)


def split_at_gaps(recs: Sequence[Recording], min_piece_s: float = 1800.0) -> list[Recording]:
    """Each recording cut into its stretches without logger gaps (shorter than
    ``min_piece_s`` dropped): learning from or scoring on an outage teaches levels and
    run lengths no appliance has."""
    out: list[Recording] = []
    for rec in recs:
        gap = logger_gaps(rec)
        if not gap.any():
            out.append(rec)
            continue
        piece = np.cumsum(gap)
        for k in np.unique(piece[~gap]):
            mask = (piece == k) & ~gap
            if mask.sum() * rec.interval_s >= min_piece_s:
                out.append(rec.slice(mask, f"{rec.name} part {len(out) + 1}"))
    return out


def load_refit_house2(path: Path) -> SetSpec:
    rec = clip_glitches(read_refit_layout(path, "refit-house2"))
    day = (rec.ts - rec.ts[0]) // 86_400_000
    return SetSpec(
        "refit-house2",
        [rec.slice(day < 4, "refit days 1-4")],
        [rec.slice(day >= 4, "refit days 5-7")],
        event_min_w=50.0,
        split="days 1-4 learn, days 5-7 test",
    )


def load_ampds2(folder: Path) -> SetSpec:
    def one(pattern: str) -> Recording:
        f = sorted(folder.glob(pattern))[0]
        df = pd.read_csv(f).rename(columns={"main": "aggregate", "main_Q": "aggregate_q"})
        return _frame_to_recording(df, "timestamp", f.stem)

    return SetSpec(
        "ampds2",
        [one("ampds2_enriched_train_*.csv")],
        [one("ampds2_enriched_test_*.csv")],
        event_min_w=50.0,
        split="given split: train 2013-11-21..27, test 2012-08-23",
    )


_LAB_COLS = {"Active (W)": "p", "Reactive (W)": "q"}


def _lab_session(folder: Path, name: str) -> Recording:
    files = {f.name.split(".")[0]: f for f in folder.glob("*.csv")}
    main = pd.read_csv(files.pop("main"))
    ts = timestamps_ms(main["Timestamp"])
    apps, apps_q = {}, {}
    for k, f in sorted(files.items()):
        d = pd.read_csv(f)
        if len(d) != len(main):
            raise ValueError(f"{f}: {len(d)} rows, main has {len(main)}")
        apps[k] = d["Active (W)"].to_numpy(np.float64)
        apps_q[k] = d["Reactive (W)"].to_numpy(np.float64)
    return Recording(
        ts,
        main["Active (W)"].to_numpy(np.float64),
        apps,
        main["Reactive (W)"].to_numpy(np.float64),
        "q",
        name,
        apps_q,
    )


def load_lab(folder: Path) -> SetSpec:
    """Both lab sessions; appliances missing from a session are zero there."""
    train, test = [], []
    for combo in sorted(p for p in folder.iterdir() if p.is_dir()):
        train.append(_lab_session(combo / "train_data", f"{combo.name} train"))
        test.append(_lab_session(combo / "test_data", f"{combo.name} test"))
    names = sorted({k for r in train + test for k in r.appliances})
    for r in train + test:
        for k in names:
            r.appliances.setdefault(k, np.zeros(r.ts.size))
            r.appliances_q.setdefault(k, np.zeros(r.ts.size))
        r.appliances = {k: r.appliances[k] for k in names}
    return SetSpec(
        "lab-1hz",
        train,
        test,
        event_min_w=200.0,
        on_thresholds_w={"kettle": 2000.0},
        split="train_data sessions learn, test_data sessions test",
    )


#: sub-meter file stem -> appliance, as in :data:`model_data.OMPM_METERS`
OMPM_METERS = {stem: name for name, stem in model_data.OMPM_METERS.items()}


#: How OMPM's truth is taken: ``states`` — each appliance's on/off from its own sub-meter
#: (:func:`wattwise.analysis.model_data.ompm_on_states`), its power 0 W where off;
#: ``sub-meter-watts`` — the raw sub-meter watts with 3 W thresholds (before 2026-11-24).
OmpmTruth = Literal["states", "sub-meter-watts"]


def load_ompm(folder: Path, truth: OmpmTruth = "states") -> SetSpec:
    """OMPM: sub-meters aligned to the aggregate on the reconstructed timestamps.

    The laptop, LED lamp and monitor sub-meters read 1-25 W while their appliance is off
    (they pick up part of the other loads' current, which the aggregate does not see), so
    by default each appliance's truth is its on/off from its own sub-meter and its power
    the sub-meter's where on, 0 W where off.
    """
    csv = folder / "csv_export"

    def read(stem: str) -> pd.DataFrame:
        d = pd.read_csv(csv / f"{stem}.csv")
        d["t"] = timestamps_ms(d["timestamp_est"])
        return d.sort_values("t").reset_index(drop=True)

    agg = read("meter1_aggregate")
    apps, apps_q, amps = {}, {}, {}
    for stem, name in OMPM_METERS.items():
        sub = read(stem)[["t", "active_power_W", "pf", "current_A"]]
        m = pd.merge_asof(agg[["t"]], sub, on="t", direction="nearest", tolerance=3000).ffill().fillna(0.0)
        apps[name] = m["active_power_W"].to_numpy(np.float64)
        apps_q[name] = reactive_from_pf(apps[name], m["pf"].to_numpy(np.float64))
        amps[f"{name}_current"] = m["current_A"].to_numpy(np.float64)
    ts = agg["t"].to_numpy(np.int64)
    states: dict[str, npt.NDArray[np.bool_]] = {}
    if truth == "states":
        on = model_data.ompm_on_states(pd.DataFrame({"ts": ts, **apps, **amps}))
        states = {name: on[name].to_numpy(bool) for name in apps}
        apps = {name: np.where(states[name], p, 0.0) for name, p in apps.items()}
        apps_q = {name: np.where(states[name], q, 0.0) for name, q in apps_q.items()}
    rec = Recording(
        ts,
        agg["active_power_W"].to_numpy(np.float64),
        apps,
        agg["pf"].to_numpy(np.float64),
        "pf",
        "ompm",
        apps_q,
        states,
    )
    first_hour = rec.ts - rec.ts[0] < 3_600_000
    return SetSpec(
        "ompm-pzem",
        [rec.slice(first_hour, "ompm first hour")],
        [rec.slice(~first_hour, "ompm second hour")],
        event_min_w=6.0,  # the LED lamp flickers by ±4 W while on
        on_thresholds_w=dict.fromkeys(OMPM_METERS.values(), 3.0),
        tolerance_s=5.0,
        split="first hour learn, rest (43 min) test",
    )


#: The real sets, by folder name under the shared data directory.
LOADERS: dict[str, tuple[str, Callable[[Path], SetSpec]]] = {
    "lab": ("lab-1hz-kettle-vacuum-waterheater", load_lab),
    "ompm": ("ompm-pzem004t-1hz", load_ompm),
    "refit": ("refit-house2-8s/REFIT_HF_validation.csv", load_refit_house2),
    "ampds2": ("ampds2-1min", load_ampds2),
}


def load_sets(data_dir: Path, names: Sequence[str] | None = None, ompm_truth: OmpmTruth = "states") -> list[SetSpec]:
    out = []
    for key, (rel, loader) in LOADERS.items():
        if names and key not in names:
            continue
        path = data_dir / rel
        if not path.exists():
            raise FileNotFoundError(f"{path} not found (needed for set {key!r})")
        spec = load_ompm(path, ompm_truth) if key == "ompm" else loader(path)
        out.append(replace(spec, train=split_at_gaps(spec.train), test=split_at_gaps(spec.test)))
    return out


# ------------------------------------------------------------------- ground truth


@dataclass(frozen=True, slots=True)
class TrueEvent:
    ts: int
    on: bool
    appliance: str
    delta_w: float


def true_events(rec: Recording, event_min_w: float) -> list[TrueEvent]:
    """Steps of at least ``event_min_w`` in each sub-meter."""
    cfg = DetectorConfig(
        min_step_w=event_min_w,
        tol_abs_w=max(1.0, event_min_w / 4.0),
        tol_rel=0.05,
        min_steady=2,
        level_n=3,
        second="none",
    )
    out = []
    for name, p in rec.appliances.items():
        if name in rec.on_states:
            out += state_events(rec.ts, p, rec.on_states[name], name)
            continue
        for e in detect_events(rec.ts, p, None, cfg):
            out.append(TrueEvent(e.ts, e.delta_p > 0, name, e.delta_p))
    return sorted(out, key=lambda e: e.ts)


def state_events(
    ts: IntArray, power: FloatArray, on: npt.NDArray[np.bool_], name: str, settle: int = 5
) -> list[TrueEvent]:
    """One true event per change of an appliance's on/off state, its ΔP the appliance's
    power over ``settle`` samples after the change less that over as many before (a lamp
    that warms up in a ramp or a fan that steps through its speeds switched once)."""
    out = []
    for i in np.flatnonzero(on[1:] != on[:-1]) + 1:
        before = power[max(0, i - settle) : i]
        after = power[i : i + settle]
        out.append(TrueEvent(int(ts[i]), bool(on[i]), name, float(np.median(after) - np.median(before))))
    return out


def true_on(rec: Recording, name: str, threshold_w: float) -> npt.NDArray[np.bool_]:
    """The appliance's true on/off per sample: its known states, else its power above the threshold."""
    if name in rec.on_states:
        return rec.on_states[name]
    return np.asarray(rec.appliances[name] > threshold_w, dtype=bool)


def match_events(detected: Sequence[Event], truth: Sequence[TrueEvent], tolerance_s: float) -> dict[int, int]:
    """Detected index → true index, one-to-one, same sign, nearest first in time order;
    among detections at the very same time (several switchings reported at one step), the
    one whose ΔP is nearest the true step's."""
    tol = tolerance_s * 1000.0
    det_ts = np.array([e.ts for e in detected], dtype=np.int64)
    det_on = np.array([e.delta_p > 0 for e in detected], dtype=bool)
    used = np.zeros(len(detected), dtype=bool)
    out: dict[int, int] = {}
    for j, t in enumerate(truth):
        lo = int(np.searchsorted(det_ts, t.ts - tol, side="left"))
        hi = int(np.searchsorted(det_ts, t.ts + tol, side="right"))
        best, best_d = -1, math.inf
        for i in range(lo, hi):
            if used[i] or det_on[i] != t.on:
                continue
            d = abs(int(det_ts[i]) - t.ts)
            tie = best >= 0 and d == best_d and det_ts[i] == det_ts[best]
            if d < best_d or (tie and abs(detected[i].delta_p - t.delta_w) < abs(detected[best].delta_p - t.delta_w)):
                best, best_d = i, d
        if best >= 0:
            used[best] = True
            out[best] = j
    return out


# ------------------------------------------------------------------------ metrics


def prf(tp: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_true if n_true else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def on_off_f1(truth: npt.NDArray[np.bool_], pred: FloatArray, threshold_w: float) -> float:
    """Per-sample F1 of the predicted power above ``threshold_w`` against the true states."""
    t, p = truth, pred > threshold_w
    tp = int(np.sum(t & p))
    return prf(tp, int(p.sum()), int(t.sum()))[2]


def fte(truth: Mapping[str, FloatArray], pred: Mapping[str, FloatArray]) -> float:
    """Fraction of total energy assigned correctly."""
    t_tot = sum(float(v.sum()) for v in truth.values())
    p_tot = sum(float(np.clip(pred[k], 0, None).sum()) for k in truth)
    if t_tot <= 0:
        return 0.0
    total = 0.0
    for k, v in truth.items():
        share_p = float(np.clip(pred[k], 0, None).sum()) / p_tot if p_tot > 0 else 0.0
        total += min(float(v.sum()) / t_tot, share_p)
    return total


def macro_f1(true_labels: Sequence[str], pred_labels: Sequence[str], classes: Sequence[str]) -> float:
    if not true_labels:
        return 0.0
    scores = []
    for c in classes:
        tp = sum(1 for t, p in zip(true_labels, pred_labels, strict=True) if t == c and p == c)
        n_pred = sum(1 for p in pred_labels if p == c)
        n_true = sum(1 for t in true_labels if t == c)
        if n_true == 0:
            continue
        scores.append(prf(tp, n_pred, n_true)[2])
    return float(np.mean(scores)) if scores else 0.0


def power_metrics(
    spec: SetSpec, recs: Sequence[Recording], preds: Sequence[Mapping[str, FloatArray]]
) -> dict[str, Any]:
    """On/off F1 and MAE per appliance and FTE, pooled over the test recordings."""
    truth = {a: np.concatenate([r.appliances[a] for r in recs]) for a in spec.appliances}
    pred = {a: np.concatenate([p[a] for p in preds]) for a in spec.appliances}
    states = {a: np.concatenate([true_on(r, a, spec.on_w(a)) for r in recs]) for a in spec.appliances}
    per = {
        a: {
            "on_off_f1": on_off_f1(states[a], pred[a], spec.on_w(a)),
            "mae_w": float(np.mean(np.abs(truth[a] - pred[a]))),
        }
        for a in spec.appliances
    }
    return {"appliances": per, "fte": fte(truth, pred)}


# ----------------------------------------------------------------- our method


@dataclass(slots=True)
class Labelled:
    """Detected training events with the appliance each one really is."""

    events: list[Event]
    labels: list[str | None]
    durations: list[float | None]


def label_training_events(spec: SetSpec, rec: Recording, events: list[Event]) -> Labelled:
    """Label each detected training event with the appliance whose sub-meter step it
    matches; events that are the sum of several appliances switching together are
    labelled ``None`` (they would teach a wrong signature), unexplained ones ``OTHER``."""
    truth = true_events(rec, spec.event_min_w)
    m = match_events(events, truth, spec.tol_s())
    run_s = _true_run_lengths(truth)
    labels: list[str | None] = []
    durations: list[float | None] = []
    for i, e in enumerate(events):
        if i not in m:
            labels.append(OTHER)
            durations.append(None)
            continue
        t = truth[m[i]]
        clean = abs(e.delta_p - t.delta_w) <= 0.25 * abs(t.delta_w) + spec.event_min_w / 2
        labels.append(t.appliance if clean else None)
        durations.append(run_s.get(m[i]))
    return Labelled(events, labels, durations)


def _learn_cycles(
    spec: SetSpec, rec: Recording, known: Mapping[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """Gaps between an appliance's big steps during which its sub-meter stays on."""
    out: dict[str, tuple[float, float]] = {}
    truth = true_events(rec, spec.event_min_w)
    for name, p in rec.appliances.items():
        evs = [t for t in truth if t.appliance == name]
        gaps: list[float] = []
        levels: list[float] = []
        for a, b in itertools.pairwise(evs):
            if a.on or not b.on:
                continue  # a gap runs from an OFF step to the next ON step
            i0, i1 = np.searchsorted(rec.ts, [a.ts, b.ts])
            seg = p[i0 + 1 : i1 - 1]
            if seg.size and float(np.min(seg)) > spec.on_w(name):
                gaps.append((b.ts - a.ts) / 1000.0)
                levels.append(float(np.median(seg)))
        if gaps:
            old_gap, _ = known.get(name, (0.0, 0.0))
            out[name] = (max(old_gap, 1.2 * max(gaps)), float(np.median(levels)))
    return out


def _true_run_lengths(truth: Sequence[TrueEvent]) -> dict[int, float]:
    """Seconds from each true ON to the same appliance's next true OFF (and back)."""
    out: dict[int, float] = {}
    open_on: dict[str, int] = {}
    for j, t in enumerate(truth):
        if t.on:
            open_on[t.appliance] = j
        elif t.appliance in open_on:
            i = open_on.pop(t.appliance)
            out[i] = out[j] = (t.ts - truth[i].ts) / 1000.0
    return out


def event_scores(
    spec: SetSpec, recs: Sequence[Recording], events: Sequence[Sequence[Event]]
) -> tuple[dict[str, float], list[str], list[str]]:
    """Event P/R/F1 and, for matched events, the true and the predicted labels."""
    tp = n_pred = n_true = 0
    t_lab: list[str] = []
    p_lab: list[str] = []
    for rec, evs in zip(recs, events, strict=True):
        truth = true_events(rec, spec.event_min_w)
        m = match_events(evs, truth, spec.tol_s())
        tp += len(m)
        n_pred += len(evs)
        n_true += len(truth)
        for i, j in sorted(m.items()):
            t_lab.append(truth[j].appliance)
            p_lab.append(evs[i].label or UNIDENTIFIED)
    p, r, f = prf(tp, n_pred, n_true)
    return (
        {"event_precision": p, "event_recall": r, "event_f1": f, "true_events": n_true},
        t_lab,
        p_lab,
    )


def has_unmetered_loads(spec: SetSpec) -> bool:
    """True when the sub-meters explain less than 80 % of the training aggregate energy."""
    agg = sum(float(np.sum(np.clip(r.aggregate, 0, None))) for r in spec.train)
    subs = sum(float(np.sum(v)) for r in spec.train for v in r.appliances.values())
    return subs < 0.8 * agg


def tune_detector(spec: SetSpec, second: SecondChannel) -> DetectorConfig:
    """Pick detector thresholds on the training recordings only.

    Where the sub-meters explain most of the aggregate the score is event F1; where
    unmetered loads dominate (REFIT, AMPds) a detection the sub-meters cannot explain
    is not necessarily wrong, so recall weighs more (F2).
    """
    agg = np.concatenate([r.aggregate for r in spec.train])
    beta = 2.0 if has_unmetered_loads(spec) else 1.0
    noise = float(np.median(np.abs(np.diff(agg))))
    best: tuple[float, DetectorConfig] | None = None
    for tol_mult in (0.5, 1.0, 2.0, 3.0, 5.0):
        tol = max(0.5, tol_mult * noise)
        for step_frac in (0.5, 0.8, 1.0, 1.5):
            for min_steady in (1, 2, 3):
                cfg = DetectorConfig(
                    min_step_w=max(1.5 * tol, step_frac * spec.event_min_w),
                    tol_abs_w=tol,
                    min_steady=min_steady,
                    second=second,
                )
                evs = [detect_events(r.ts, r.aggregate, r.second, cfg) for r in spec.train]
                sc = event_scores(spec, spec.train, evs)[0]
                p, r = sc["event_precision"], sc["event_recall"]
                score = (1 + beta**2) * p * r / (beta**2 * p + r) if p + r else 0.0
                if best is None or score > best[0] + 1e-9:
                    best = (score, cfg)
    assert best is not None
    return best[1]


def _reactive_noise(spec: SetSpec, det: DetectorConfig) -> float:
    """How much ΔQ scatters between switchings: twice its sample-to-sample noise."""
    qs = [r.second for r in spec.train if r.second is not None]
    if not qs:
        return 5.0
    q = [
        reactive_from_pf(r.aggregate, r.second) if det.second == "pf" else r.second
        for r in spec.train
        if r.second is not None
    ]
    noise = float(np.median(np.abs(np.diff(np.concatenate(q)))))
    return max(2.0, 2.0 * noise)


def fit_model(
    spec: SetSpec, use_hour: bool = True, teach_other: bool | None = None
) -> tuple[NilmModel, list[Labelled]]:
    """Our model from the training part: tuned detector, library of labelled runs.

    Where loads are unmetered, training events no sub-meter explains are taught as
    ``OTHER`` (as a user would mark "not one of mine"); where the sub-meters explain the
    whole aggregate such events are noise and are not taught.
    """
    if teach_other is None:
        teach_other = has_unmetered_loads(spec)
    kind = spec.train[0].second_kind
    det = tune_detector(spec, kind)
    model = NilmModel(
        detector=det,
        classifier=ClassifierConfig(noise_w=max(2.0, det.tol_abs_w), noise_q=_reactive_noise(spec, det)),
        pairing=PairingConfig(abs_tol_w=max(det.min_step_w * 0.5, det.tol_abs_w)),
        library=SignatureLibrary(),
        use_hour=use_hour,
    )
    labelled = []
    for rec in spec.train:
        evs = detect_events(rec.ts, rec.aggregate, rec.second, det)
        lab = label_training_events(spec, rec, evs)
        labelled.append(lab)
        model.cycles.update(_learn_cycles(spec, rec, model.cycles))
        for app_name, p in rec.appliances.items():
            idle = float(np.percentile(p, 5))  # drawn nearly all the time
            model.standby_w[app_name] = min(idle, model.standby_w.get(app_name, idle))
        # a user labels a run they saw start and stop: its length is the sub-meter's
        for e, name, dur in zip(evs, lab.labels, lab.durations, strict=True):
            if name is not None and (teach_other or name != OTHER):
                model.teach(e, name, dur)
    if not has_unmetered_loads(spec) and len(spec.appliances) <= 6:
        model.states = fit_states(spec, model.detector)
    else:
        model.cyclers = learn_cyclers(spec, labelled)
        model.bursts = learn_bursts(spec, labelled)
    return model, labelled


def _true_durations(spec: SetSpec, name: str) -> tuple[list[float], list[float]]:
    """ON and OFF durations (s) of one appliance's sub-meter in the training part."""
    on_s: list[float] = []
    off_s: list[float] = []
    for rec in spec.train:
        evs = [t for t in true_events(rec, spec.event_min_w) if t.appliance == name]
        for a, b in itertools.pairwise(evs):
            if a.on != b.on:
                (on_s if a.on else off_s).append((b.ts - a.ts) / 1000.0)
    return on_s, off_s


def _steps(labelled: Sequence[Labelled], name: str) -> list[float]:
    return [e.delta_p for lab in labelled for e, n in zip(lab.events, lab.labels, strict=True) if n == name]


def learn_bursts(spec: SetSpec, labelled: Sequence[Labelled]) -> dict[str, BurstModel]:
    """Appliances whose every training run is short, with their step and draw."""
    out: dict[str, BurstModel] = {}
    for name in spec.appliances:
        sub = np.concatenate([r.appliances[name] for r in spec.train])
        on = sub > spec.on_w(name)
        draw = float(np.median(sub[on])) if on.any() else 0.0
        bm = learn_burst(_true_durations(spec, name)[0], _steps(labelled, name), draw)
        if bm is not None:
            out[name] = bm
    return out


def largest_other_step(labelled: Sequence[Labelled], name: str) -> float | None:
    """The largest |ΔP| of a training step that one other load made alone (matched to
    another sub-meter or to none): what a step shared with ``name`` may hold besides
    it. Steps of several loads together (labelled None) do not count."""
    pairs = [(e, n) for lab in labelled for e, n in zip(lab.events, lab.labels, strict=True)]
    sizes = [abs(e.delta_p) for e, n in pairs if n not in (None, name)]
    return max(sizes) if sizes else None


def learn_cyclers(spec: SetSpec, labelled: Sequence[Labelled]) -> dict[str, CycleModel]:
    """The rhythm (ON and OFF durations, step size) of each appliance that cycles
    regularly on its own in the training part, from its sub-meter and the aggregate
    events matched to it."""
    out: dict[str, CycleModel] = {}
    span_s = sum(r.ts.size * r.interval_s for r in spec.train)
    for name in spec.appliances:
        on_s, off_s = _true_durations(spec, name)
        mine = [e for lab in labelled for e, n in zip(lab.events, lab.labels, strict=True) if n == name]
        steps = [e.delta_p for e in mine]
        step_var = [None if e.delta_q is None else e.delta_q * (1 if e.is_on else -1) for e in mine]
        cm = learn_cycle(on_s, off_s, steps, span_s, step_var=step_var, partner_w=largest_other_step(labelled, name))
        if cm is not None:
            out[name] = cm
    return out


def fit_states(spec: SetSpec, det: DetectorConfig, levels: int = 2) -> StateModel:
    """Joint-decoding levels from the training sub-meters; base load = what they miss."""
    apps = {a: np.concatenate([r.appliances[a] for r in spec.train]) for a in spec.appliances}
    agg = np.concatenate([r.aggregate for r in spec.train])
    base = float(np.median(agg - sum(apps.values())))
    with_q = all(set(r.appliances_q) >= set(spec.appliances) and r.second is not None for r in spec.train)
    apps_q = None
    base_var = 0.0
    if with_q:
        apps_q = {a: np.concatenate([r.appliances_q[a] for r in spec.train]) for a in spec.appliances}
        agg_q = np.concatenate([r.reactive() for r in spec.train])
        base_var = float(np.median(agg_q - sum(apps_q.values())))
    watts, var = typical_powers(apps, {a: spec.on_w(a) for a in spec.appliances}, apps_q, levels)
    gains, gain_base = learn_gains(apps, agg)
    return StateModel(
        watts, var, base_w=base, base_var=base_var, noise_w=max(2.0, det.tol_abs_w), gains=gains, gain_base_w=gain_base
    )


def evaluate_model(spec: SetSpec, model: NilmModel) -> dict[str, Any]:
    """All figures of one model on the set's test part (offline: whole recordings)."""
    outputs = [model.disaggregate(rec.ts, rec.aggregate, rec.second) for rec in spec.test]
    return score_outputs(spec, [res.events for res, _ in outputs], [series for _, series in outputs])


def evaluate_live(spec: SetSpec, model: NilmModel, chunk: int = 60) -> dict[str, Any]:
    """The same figures for what the live service reports: each test recording fed to
    :class:`LiveNilm` ``chunk`` readings at a time, its events and closed runs (and the
    power it decides live) turned into per-appliance power."""
    outputs = [replay(model, rec.ts, rec.aggregate, rec.second, chunk) for rec in spec.test]
    series = [live_power(model, out, rec.ts) for rec, out in zip(spec.test, outputs, strict=True)]
    return score_outputs(spec, [out.events for out in outputs], series)


def live_lag_agreement(
    spec: SetSpec, model: NilmModel, lags: Sequence[float] = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
) -> dict[float, float]:
    """Per lag (s), the share of the training part's samples at which the live joint
    decoding (:mod:`.live_decode`, fed 60 readings at a time) decides the combination
    the offline pass over the whole recording gives with the same levels (no re-fit, no
    apportioning: the lag is what is compared). No labels are used."""
    assert model.states is not None
    plain = replace(model.states, adapt=0, apportion="none")
    out: dict[float, float] = {}
    for lag in lags:
        same = total = 0
        for rec in spec.train:
            states = replace(plain, live_lag_s=lag)
            m = replace(model, states=states)
            events = detect_events(rec.ts, rec.aggregate, rec.second, m.detector)
            offline, _ = decode(rec.ts, rec.aggregate, events, states, rec.reactive())
            live = live_power(m, replay(m, rec.ts, rec.aggregate, rec.second), rec.ts)
            names = list(offline)
            a = np.column_stack([offline[n] for n in names])
            b = np.column_stack([live[n] for n in names])
            same += int(np.all(np.isclose(a, b), axis=1).sum())
            total += rec.ts.size
        out[lag] = same / max(total, 1)
    return out


def choose_live_lag(agreement: Mapping[float, float], slack: float = 0.001) -> float:
    """The smallest lag whose agreement with offline is within ``slack`` of the best
    (where no lag reaches full agreement, a longer wait buys almost nothing)."""
    best = max(agreement.values())
    return min(lag for lag, share in agreement.items() if share >= best - slack)


def score_outputs(
    spec: SetSpec, results: Sequence[Sequence[Event]], series: Sequence[Mapping[str, FloatArray]]
) -> dict[str, Any]:
    """All figures from a method's events and per-appliance power on the test part."""
    names = spec.appliances
    preds = [{a: s.get(a, np.zeros(rec.ts.size)) for a in names} for rec, s in zip(spec.test, series, strict=True)]
    ev, t_lab, p_lab = event_scores(spec, spec.test, results)
    acc = float(np.mean([t == p for t, p in zip(t_lab, p_lab, strict=True)])) if t_lab else 0.0
    ident_per = {}
    for a in names:
        tp = sum(1 for t, p in zip(t_lab, p_lab, strict=True) if t == a and p == a)
        ident_per[a] = prf(tp, sum(1 for p in p_lab if p == a), sum(1 for t in t_lab if t == a))[2]
    out = power_metrics(spec, spec.test, preds)
    for a in names:
        out["appliances"][a]["identification_f1"] = ident_per[a]
    out.update(ev)
    out["identification_accuracy"] = acc
    out["identification_macro_f1"] = macro_f1(t_lab, p_lab, names)
    out["calibration"] = calibration(results, spec)
    return out


def confidence_outcomes(events: Sequence[Sequence[Event]], spec: SetSpec) -> tuple[list[float], list[bool]]:
    """The confidence of each matched test event and whether its label was right."""
    conf: list[float] = []
    right: list[bool] = []
    for rec, evs in zip(spec.test, events, strict=True):
        truth = true_events(rec, spec.event_min_w)
        for i, j in match_events(evs, truth, spec.tol_s()).items():
            conf.append(evs[i].confidence)
            right.append(evs[i].label == truth[j].appliance)
    return conf, right


def calibration(events: Sequence[Sequence[Event]], spec: SetSpec) -> dict[str, float]:
    """Expected calibration error of the confidence on matched test events (10 bins)."""
    conf, right = confidence_outcomes(events, spec)
    if not conf:
        return {"ece": math.nan, "mean_confidence": math.nan, "accuracy": math.nan}
    c, r = np.array(conf), np.array(right, dtype=float)
    bins = np.clip((c * 10).astype(int), 0, 9)
    ece = sum(
        abs(c[bins == b].mean() - r[bins == b].mean()) * np.mean(bins == b) for b in range(10) if np.any(bins == b)
    )
    return {"ece": float(ece), "mean_confidence": float(c.mean()), "accuracy": float(r.mean())}


def zero_baseline(spec: SetSpec) -> dict[str, Any]:
    preds = [{a: np.zeros(r.ts.size) for a in spec.appliances} for r in spec.test]
    return power_metrics(spec, spec.test, preds)


def identification_f1(spec: SetSpec, full: NilmModel, library: SignatureLibrary) -> float:
    """The test part's identification macro-F1 when ``full`` names events from ``library``
    alone: a user's labels. The rhythm chains are learnt from the sub-meters, which labels do
    not give, so they are left out."""
    model = replace(full, library=library, cyclers={})
    events = [model.process(r.ts, r.aggregate, r.second).events for r in spec.test]
    _, t_lab, p_lab = event_scores(spec, spec.test, events)
    return macro_f1(t_lab, p_lab, spec.appliances)


def learning_curve(
    spec: SetSpec,
    full: NilmModel,
    counts: Sequence[int] = (0, 1, 3, 5, 10),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
) -> dict[int, dict[str, float]]:
    """Identification macro-F1 after ``n`` user labels per appliance (simulated from
    the training ground truth), mean and spread over seeds."""
    out: dict[int, dict[str, float]] = {}
    for n in counts:
        f1s = []
        for s in seeds:
            lib = full.library.subsample(n, seed=s) if n else SignatureLibrary()
            f1s.append(identification_f1(spec, full, lib))
        out[n] = {"macro_f1": float(np.mean(f1s)), "min": float(np.min(f1s)), "max": float(np.max(f1s))}
    return out


def cluster_labelling(spec: SetSpec, full: NilmModel, seeds: Sequence[int] = (0, 1, 2, 3, 4)) -> dict[str, Any]:
    """A user who names *one* event per appliance with its look-alikes (the dashboard's
    default, ``detectors.library.look_alikes``): the training part's detected events that
    look like it are named with it, in appliance order, each event once. Returns the test
    part's identification macro-F1 from that library (mean, min, max over seeds) and, per
    appliance, how many training events the one label named and what share of them truly
    were that appliance's (an unmatched event counts as another load's)."""
    pool: list[tuple[Features, str]] = []  # every detected training event: features, true appliance
    for rec in spec.train:
        evs = full.process(rec.ts, rec.aggregate, rec.second).events
        truth = true_events(rec, spec.event_min_w)
        matched = match_events(evs, truth, spec.tol_s())
        for i, ev in enumerate(evs):
            pool.append((full.features(ev), truth[matched[i]].appliance if i in matched else OTHER))
    features = [f for f, _ in pool]
    clf = Classifier(SignatureLibrary(), full.classifier)
    f1s: list[float] = []
    named_counts: dict[str, list[int]] = {a: [] for a in spec.appliances}
    right_shares: dict[str, list[float]] = {a: [] for a in spec.appliances}
    for seed in seeds:
        rng = random.Random(seed)
        lib = SignatureLibrary()
        taken: set[int] = set()
        for app in spec.appliances:
            own = [i for i, (_, truth) in enumerate(pool) if truth == app and i not in taken]
            if not own:
                continue
            anchor = rng.choice(own)
            named = [i for i in {anchor, *clf.similar(features[anchor], features)} if i not in taken]
            taken.update(named)
            for i in named:
                lib.add(app, pool[i][0])
            named_counts[app].append(len(named))
            right_shares[app].append(sum(pool[i][1] == app for i in named) / len(named))
        f1s.append(identification_f1(spec, full, lib))
    return {
        "macro_f1": float(np.mean(f1s)),
        "min": float(np.min(f1s)),
        "max": float(np.max(f1s)),
        "appliances": {
            a: {"named": float(np.mean(named_counts[a])), "right": float(np.mean(right_shares[a]))}
            for a in spec.appliances
            if named_counts[a]
        },
    }


def burst_label_curve(
    spec: SetSpec,
    full: NilmModel,
    counts: Sequence[int] = (0, 3, 5, 10),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
) -> dict[str, dict[int, dict[str, float]]]:
    """Per burst appliance, its on/off F1 on the test part when its burst model comes
    from ``n`` labelled uses (random ON events of its training labels, each with its
    run's length) instead of its sub-meter, as a site without sub-meters learns it
    (:func:`burst_model_from_labels`; n = 0: none, what such a site had before); mean,
    spread, mean MAE and how many seeds gave a model. Everything else is ``full``'s."""
    return {name: _burst_curve(spec, full, name, counts, seeds) for name in full.bursts}


def _burst_curve(
    spec: SetSpec, full: NilmModel, name: str, counts: Sequence[int], seeds: Sequence[int]
) -> dict[int, dict[str, float]]:
    """:func:`burst_label_curve` for one appliance."""
    uses = [f for f in full.library.appliances[name].exemplars if f.on]

    def draw(n: int, seed: int) -> BurstModel | None:
        return burst_model_from_labels(random.Random(seed).sample(uses, min(n, len(uses))))

    def score(bm: BurstModel | None) -> dict[str, float]:
        bursts = {k: v for k, v in full.bursts.items() if k != name} | ({} if bm is None else {name: bm})
        model = replace(full, bursts=bursts)
        preds = [model.disaggregate(r.ts, r.aggregate, r.second)[1] for r in spec.test]
        preds = [
            {a: p.get(a, np.zeros(r.ts.size)) for a in spec.appliances} for r, p in zip(spec.test, preds, strict=True)
        ]
        return dict(power_metrics(spec, spec.test, preds)["appliances"][name])

    return _over_draws(draw, score, counts, seeds)


M = TypeVar("M", BurstModel, CycleModel)


def _over_draws(
    draw: Callable[[int, int], M | None],
    score: Callable[[M | None], Mapping[str, float]],
    counts: Sequence[int],
    seeds: Sequence[int],
) -> dict[int, dict[str, float]]:
    """For each number of labels, the model each seed's draw learns (None: none) scored
    on the test part: mean, spread and mean MAE of the appliance's on/off F1, and how
    many seeds gave a model (the same model scores the same, so it is scored once)."""
    out: dict[int, dict[str, float]] = {}
    scored: dict[M | None, Mapping[str, float]] = {}
    for n in counts:
        f1s, maes, learnt = [], [], 0
        for seed in seeds:
            m = draw(n, seed)
            learnt += m is not None
            if m not in scored:
                scored[m] = score(m)
            f1s.append(scored[m]["on_off_f1"])
            maes.append(scored[m]["mae_w"])
        out[n] = {
            "on_off_f1": float(np.mean(f1s)),
            "min": float(np.min(f1s)),
            "max": float(np.max(f1s)),
            "mae_w": float(np.mean(maes)),
            "learnt": learnt,
        }
    return out


def labelled_cycles(spec: SetSpec, labelled: Sequence[Labelled], name: str) -> tuple[list[LabelledRun], list[Event]]:
    """The runs of ``name`` a person could label in the training part (an ON event
    matched to its sub-meter's switching-on and the OFF event matched to the same run's
    end, within the set's tolerance: the run they saw start and stop), and every
    detected training event in time order (where the rests after them are looked for)."""
    tol_ms = spec.tol_s() * 1000.0
    runs: list[LabelledRun] = []
    for lab in labelled:
        offs = [e for e, n in zip(lab.events, lab.labels, strict=True) if n == name and not e.is_on]
        for e, n, d in zip(lab.events, lab.labels, lab.durations, strict=True):
            if n != name or not e.is_on or d is None:
                continue
            ends = [o for o in offs if abs(o.ts - e.ts - d * 1000.0) <= tol_ms]
            if ends:
                runs.append(LabelledRun(e, ends[0]))
    events = sorted((e for lab in labelled for e in lab.events), key=lambda e: e.ts)
    return runs, events


def rhythm_label_curve(
    spec: SetSpec,
    full: NilmModel,
    labelled: Sequence[Labelled],
    counts: Sequence[int] = (0, 3, 5, 10),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
) -> dict[str, dict[int, dict[str, float]]]:
    """Per rhythm appliance, its on/off F1 and MAE on the test part replayed live when
    its rhythm comes from ``n`` labelled runs of the training part (random, each with
    its rests from the training events, :func:`cycle_model_from_labels`) instead of its
    sub-meter, as a site without sub-meters learns it (n = 0: none, what such a site had
    before); mean, spread, mean MAE and how many seeds gave a model. The labels' model
    has the service's decoding costs (a site without sub-meters has no folds to choose
    them on); everything else is ``full``'s."""
    return {name: _rhythm_curve(spec, full, labelled, name, counts, seeds) for name in full.cyclers}


def _rhythm_curve(
    spec: SetSpec,
    full: NilmModel,
    labelled: Sequence[Labelled],
    name: str,
    counts: Sequence[int],
    seeds: Sequence[int],
) -> dict[int, dict[str, float]]:
    """:func:`rhythm_label_curve` for one appliance."""
    runs, events = labelled_cycles(spec, labelled, name)

    def draw(n: int, seed: int) -> CycleModel | None:
        return cycle_model_from_labels(random.Random(seed).sample(runs, min(n, len(runs))), events)

    def score(cm: CycleModel | None) -> dict[str, float]:
        cyclers = {k: v for k, v in full.cyclers.items() if k != name} | ({} if cm is None else {name: cm})
        return dict(evaluate_live(spec, replace(full, cyclers=cyclers))["appliances"][name])

    return _over_draws(draw, score, counts, seeds)


def holdout_split(spec: SetSpec, fold: int = 0) -> SetSpec:
    """The training part cut in time, for choosing settings without touching the test
    part: fold 0 learns on the first half of each training recording and validates on
    the second, fold 1 the other way round."""
    train, val = [], []
    for r in spec.train:
        first = r.ts < r.ts[0] + 0.5 * (r.ts[-1] - r.ts[0])
        learn = first if fold == 0 else ~first
        train.append(r.slice(learn, r.name + " (learn)"))
        val.append(r.slice(~learn, r.name + " (validate)"))
    return replace(spec, train=train, test=val)


def relative_mae(spec: SetSpec, scores: Mapping[str, Any]) -> float:
    """Mean over appliances of MAE / MAE of predicting 0 W (lower is better).

    The reference is at least 1 W: an appliance never on in a validation half (OMPM's
    monitor) would otherwise let a fraction of a watt outweigh every other appliance."""
    zero = zero_baseline(spec)["appliances"]
    return float(np.mean([scores["appliances"][a]["mae_w"] / max(zero[a]["mae_w"], 1.0) for a in spec.appliances]))


@dataclass(frozen=True, slots=True)
class Settings:
    """What is chosen on the training hold-out."""

    min_confidence: float = 0.5
    noise_var: float = 5.0
    levels: int = 2
    #: what breaking a rhythm chain costs (a missed event against an odd duration)
    break_cost: float = 4.0
    #: joint decoding: report only its switchings, and the shortest segment it scores
    switches_only: bool = False
    min_segment: int = 1
    #: joint decoding: times the levels are re-fitted to the decoded recording
    adapt: int = 0
    #: how far (scale units) an event may lie from every exemplar before it is unknown,
    #: for an appliance with more than a few labels, and for one with a few
    reject_sigma: float = 3.0
    few_label_sigma: float = 3.0
    #: the identification threshold for an appliance with a few labels (None: as
    #: ``min_confidence``)
    few_label_confidence: float | None = None
    #: the library's ΔQ scale as a multiple of the one from the meter's Q noise
    q_noise_factor: float = 1.0
    #: how far a burst appliance's level is looked for on each side (s); None: as learnt
    burst_window_s: float | None = None
    #: rhythm chains: what taking a bigger step as the appliance's plus another load's
    #: costs (None: never)
    composite_cost: float | None = None
    #: joint decoding: how the decoded levels become watts (see :mod:`.apportion`)
    apportion: str = "none"


def tuned(model: NilmModel, spec: SetSpec, settings: Settings) -> NilmModel:
    """A copy of ``model`` with ``settings`` (its decoding levels refitted on ``spec``)."""
    states = None
    if model.states is not None:
        states = replace(
            fit_states(spec, model.detector, settings.levels),
            noise_var=settings.noise_var,
            min_segment=settings.min_segment,
            adapt=settings.adapt,
            apportion=settings.apportion,
        )
    classifier = replace(
        model.classifier,
        min_confidence=settings.min_confidence,
        reject_sigma=settings.reject_sigma,
        few_label_sigma=settings.few_label_sigma,
        few_label_confidence=settings.few_label_confidence,
        noise_q=model.classifier.noise_q * settings.q_noise_factor,
    )
    cyclers = {
        k: replace(c, break_cost=settings.break_cost, composite_cost=settings.composite_cost)
        for k, c in model.cyclers.items()
    }
    window = settings.burst_window_s
    bursts = {k: b if window is None else replace(b, max_s=window) for k, b in model.bursts.items()}
    return replace(
        model,
        classifier=classifier,
        states=states,
        cyclers=cyclers,
        bursts=bursts,
        switches_only=settings.switches_only,
    )


def choose_settings(
    spec: SetSpec,
    confidences: Sequence[float] = (0.5, 0.6, 0.7),
    noise_vars: Sequence[float] = (2.0, 5.0, 10.0, 20.0),
    levels: Sequence[int] = (2, 3, 4),
    break_costs: Sequence[float] = (2.0, 4.0),
    adapts: Sequence[int] = (0, 2),
    burst_windows: Sequence[float | None] = (None, 150.0, 300.0, 600.0),
    composite_costs: Sequence[float | None] = (None, 0.0, 2.0),
) -> Settings:
    """Identification threshold and, for the joint decoding, ΔQ noise, levels per
    appliance and whether to re-fit them to the decoded recording, or for rhythm chains
    what a break costs and whether (at what cost) they may take a bigger step as the
    appliance's plus another's, and for bursts how far their level is looked for: the
    lowest relative MAE, averaged over two folds of the training part (the test part is
    never seen); for the joint decoding, after its switching options, how its levels
    become watts (:mod:`.apportion`) by the same measure."""
    folds = [holdout_split(spec, k) for k in (0, 1)]
    models = [fit_model(f)[0] for f in folds]
    if models[0].states is None:
        rhythm = any(m.cyclers for m in models)
        costs = break_costs if rhythm else (Settings().break_cost,)
        composites = composite_costs if rhythm else (None,)
        windows = burst_windows if any(m.bursts for m in models) else (None,)
        grid = [
            Settings(c, break_cost=b, burst_window_s=w, composite_cost=x)
            for c in confidences
            for b in costs
            for w in windows
            for x in composites
        ]
    else:
        grid = [Settings(c, v, k, adapt=a) for c in confidences for v in noise_vars for k in levels for a in adapts]

    def score(g: Settings) -> float:
        return float(
            np.mean([relative_mae(f, evaluate_model(f, tuned(m, f, g))) for f, m in zip(folds, models, strict=True)])
        )

    best = min(grid, key=score)
    if models[0].states is not None:
        best = choose_switching(folds, models, best)
        # with the segments the decoding will score (the switching choice sets them)
        best = min((replace(best, apportion=m) for m in MODES), key=score)  # the first of equals: "none"
    return choose_library(folds, models, best)


def choose_switching(folds: Sequence[SetSpec], models: Sequence[NilmModel], best: Settings) -> Settings:
    """For the joint decoding, whether to report only its switchings and the shortest
    segment it scores: the highest mean event F1 over the folds (the power estimates
    barely move, so relative MAE cannot tell); the plain detector's events unless
    another choice does strictly better."""

    def f1(g: Settings) -> float:
        return float(
            np.mean([evaluate_model(f, tuned(m, f, g))["event_f1"] for f, m in zip(folds, models, strict=True)])
        )

    options = [replace(best, switches_only=s, min_segment=k) for s in (False, True) for k in (1, 2, 3)]
    return options[int(np.argmax([round(f1(g), 9) for g in options]))]  # the first of equals


def choose_library(
    folds: Sequence[SetSpec],
    models: Sequence[NilmModel],
    best: Settings,
    sigmas: Sequence[float] = (3.0, 5.0, 8.0),
    q_factors: Sequence[float] = (1.0, 2.5, 5.0),
    confidences: Sequence[float] = (0.5, 0.6, 0.7),
) -> Settings:
    """How far an event may lie from every labelled one before it is "unknown", in the
    two regimes of a library, and how much a load's ΔQ may scatter.

    An appliance with a few labels (at most the classifier's ``few_labels``): the
    distance, the ΔQ scale and the identification threshold with the best learning
    curve on the folds (mean identification macro-F1 after 1, 3, 5 and 10 labels, three
    draws) — a library that holds a few labels must name events from them (with the
    joint decoding that is the library's only job); the full model's threshold unless
    another is strictly better. Without a reactive channel the ΔQ scale has nothing to act on
    and stays 1. An appliance with more labels: the distance with the lowest relative
    MAE of the full model on the folds, the criterion the full model's other settings
    are chosen by; the few-label distance unless another is strictly better (a fold
    library with no such appliance cannot tell them apart). The first of equals."""

    def mean_over_folds(g: Settings, score: Callable[[SetSpec, NilmModel], float]) -> float:
        return round(float(np.mean([score(f, tuned(m, f, g)) for f, m in zip(folds, models, strict=True)])), 9)

    def curve(f: SetSpec, m: NilmModel) -> float:
        return float(np.mean([v["macro_f1"] for v in learning_curve(f, m, (1, 3, 5, 10), (0, 1, 2)).values()]))

    def power(f: SetSpec, m: NilmModel) -> float:
        return relative_mae(f, evaluate_model(f, m))

    has_reactive = any(r.second is not None for f in folds for r in f.train)
    scales = q_factors if has_reactive else (1.0,)  # no ΔQ to scale without a reactive channel
    thresholds = [best.min_confidence, *(c for c in confidences if c != best.min_confidence)]
    few = [
        replace(best, reject_sigma=r, few_label_sigma=r, q_noise_factor=q, few_label_confidence=c)
        for r in sigmas
        for q in scales
        for c in thresholds
    ]
    chosen = few[int(np.argmax([mean_over_folds(g, curve) for g in few]))]
    strict = [replace(chosen, reject_sigma=r) for r in sorted(sigmas, key=lambda r: r != chosen.few_label_sigma)]
    return min(strict, key=lambda g: mean_over_folds(g, power))


def fit_calibration(spec: SetSpec, settings: Settings) -> list[tuple[float, float]]:
    """The confidence map, from the events of the two training folds' validation halves
    (each scored by a model learnt on the other half, with the chosen settings)."""
    conf: list[float] = []
    right: list[bool] = []
    for k in (0, 1):
        fold = holdout_split(spec, k)
        model = tuned(fit_model(fold)[0], fold, settings)
        events = [model.disaggregate(r.ts, r.aggregate, r.second)[0].events for r in fold.test]
        c, r = confidence_outcomes(events, fold)
        conf += c
        right += r
    return isotonic_fit(conf, right)


def evaluate_set(spec: SetSpec, curve: bool = True) -> dict[str, Any]:
    """Our model, "predict 0 W" and the learning curve for one set."""
    model, labelled = fit_model(spec)
    settings = choose_settings(spec)
    model = tuned(model, spec, settings)
    model.calibration = fit_calibration(spec, settings)
    lags: dict[float, float] = {}
    if model.states is not None:
        lags = live_lag_agreement(spec, model)
        model.states = replace(model.states, live_lag_s=choose_live_lag(lags))
    ours = evaluate_model(spec, model)
    out: dict[str, Any] = {
        "set": spec.name,
        "split": spec.split,
        "tolerance_s": spec.tol_s(),
        "event_min_w": spec.event_min_w,
        "on_thresholds_w": {a: spec.on_w(a) for a in spec.appliances},
        "truth_states": sorted({a for r in spec.test for a in r.on_states}),
        "detector": model.detector.to_dict(),
        "min_confidence": model.classifier.min_confidence,
        "rhythm_break_cost": settings.break_cost,
        "burst_window_s": settings.burst_window_s,
        "rhythm_composite_cost": settings.composite_cost,
        "switches_only": settings.switches_only,
        "min_segment": settings.min_segment,
        "adapt": settings.adapt,
        "apportion": settings.apportion,
        "reject_sigma": settings.reject_sigma,
        "few_label_sigma": settings.few_label_sigma,
        "few_label_confidence": settings.few_label_confidence,
        "q_noise_factor": settings.q_noise_factor,
        "confidence_map": model.calibration,
        "decoding": None if model.states is None else asdict(model.states),
        "live_lag_agreement": {str(k): v for k, v in lags.items()},
        "rhythm": {k: asdict(v) for k, v in model.cyclers.items()},
        "bursts": {k: asdict(v) for k, v in model.bursts.items()},
        "methods": {"wattwise": ours, "wattwise_live": evaluate_live(spec, model), "predict_0w": zero_baseline(spec)},
    }
    if curve:
        out["learning_curve"] = learning_curve(spec, model)
        out["cluster_labelling"] = cluster_labelling(spec, model)
        out["burst_label_curve"] = burst_label_curve(spec, model)
        out["rhythm_label_curve"] = rhythm_label_curve(spec, model, labelled)
    return out


def write_peer_inputs(spec: SetSpec, folder: Path) -> None:
    """Train and test CSVs (REFIT layout, one file per recording) for the peer runner."""
    folder.mkdir(parents=True, exist_ok=True)
    for part, recs in (("train", spec.train), ("test", spec.test)):
        for i, r in enumerate(recs):
            df = pd.DataFrame({"timestamp": pd.to_datetime(r.ts, unit="ms", utc=True)})
            df["aggregate"] = r.aggregate
            for k, v in r.appliances.items():
                df[k] = v
            df.to_csv(folder / f"{part}_{i}.csv", index=False)


def read_peer_predictions(spec: SetSpec, folder: Path, method: str) -> dict[str, Any] | None:
    """Score a peer's predictions (``pred_<method>_<i>.csv``, one per test recording)."""
    preds = []
    for i, r in enumerate(spec.test):
        f = folder / f"pred_{method}_{i}.csv"
        if not f.exists():
            return None
        df = pd.read_csv(f)
        if len(df) != r.ts.size:
            raise ValueError(f"{f}: {len(df)} rows, test recording has {r.ts.size}")
        preds.append(
            {a: np.nan_to_num(df[a].to_numpy(np.float64)) if a in df else np.zeros(r.ts.size) for a in spec.appliances}
        )
    return power_metrics(spec, spec.test, preds)


def rhythm_horizon_check(
    spec: SetSpec, horizons: Sequence[float] = (0.5, 1.0, 2.0, 3.0)
) -> dict[float, dict[str, int]]:
    """How late a live rhythm chain must make its runs final to agree with the offline
    chain, from the training recordings only (no labels: the offline chain is the
    reference). Per horizon (typical cycles): the offline chain's runs that end at least
    the largest horizon before their recording's end (``offline``), how many of them the
    live meter made final unchanged (``same``), and final live runs the offline chain
    does not have (``not_offline``)."""
    model = tuned(fit_model(spec)[0], spec, choose_settings(spec))
    out: dict[float, dict[str, int]] = {}
    for h in horizons:
        tally = {"offline": 0, "same": 0, "not_offline": 0}
        for rec in spec.train:
            offline = {
                (r.label, r.start, r.end)
                for r in model.process(rec.ts, rec.aggregate, rec.second).runs
                if r.label in model.cyclers
            }
            meter = LiveNilm(model)
            meter.rhythm.horizon_cycles = h
            final: set[tuple[str, int, int]] = set()
            for i in range(0, rec.ts.size, 60):
                s = slice(i, i + 60)
                update = meter.feed_many(rec.ts[s], rec.aggregate[s], None if rec.second is None else rec.second[s])
                final |= {(r.label, r.start, r.end) for r in update.runs if r.label in model.cyclers}
            end = int(rec.ts[-1])
            settled = {k for k in offline if end - k[2] >= max(horizons) * cycle_s(model.cyclers[k[0]]) * 1000}
            tally["offline"] += len(settled)
            tally["same"] += len(settled & final)
            tally["not_offline"] += len(final - offline)
        out[h] = tally
    return out
