"""Theft suspicion for one meter, a day at a time, with the engine's Random Forest.

Fitting (background task): the meter's own whole days of history are the honest examples;
each of them with every standard theft pattern injected (the engine's ``ATTACKS``) is a
theft example. The people's verdicts on earlier theft findings are replayed into the
forest (``record_verdict``), so a refit never forgets them.

Live (worker): when a local day is complete, its 24 hourly energies are judged against the
meter's usual day. A day the forest finds suspicious is raised, unless the engine's
``alerts`` says it repeats a pattern a person ignored on this meter (then it is stored as
ignored, naming the finding it repeats).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from wattwise.analysis.features import dump_model, load_model
from wattwise.analysis.theft import (
    ATTACKS,
    TheftModel,
    Verdict,
    alerts,
    compacted,
    features_for_days,
    fit_theft_model,
    hourly_days,
    inject_theft,
    record_verdict,
    theft_probability,
    usual_profile,
)
from wattwise.detectors.report import Report

KIND = "theft"


@dataclass
class MeterTheft:
    """The fitted forest (compact: ``analysis.forest_scores.CompactClassifier``) with the meter's
    usual day and time zone (pickled in ``detector_models``)."""

    model: TheftModel
    usual: np.ndarray
    tz: str
    meter: str
    last_day: str  # the last local day judged (or trained on), "YYYY-MM-DD"

    def to_bytes(self) -> bytes:
        return dump_model(self)

    @staticmethod
    def from_bytes(data: bytes) -> MeterTheft:
        state = load_model(data, MeterTheft)
        state.model = compacted(state.model)  # one stored with scikit-learn's whole forest
        return state


def fit(history: pd.DataFrame, tz: str, meter: str, verdicts: Sequence[Verdict], min_days: int) -> MeterTheft | None:
    """Train from the meter's whole days; None while it has fewer than ``min_days`` of them."""
    frame = history.dropna(subset=["power"])
    if frame.empty:
        return None
    days = hourly_days(frame["ts"].to_numpy(), frame["power"].to_numpy(), tz)
    if len(days) < min_days:
        return None
    usual = usual_profile(days.to_numpy())
    honest = features_for_days(days, usual)
    rng = np.random.default_rng(0)
    attacked = pd.DataFrame(
        [inject_theft(days.iloc[i].to_numpy(), name, rng) for name in ATTACKS for i in range(len(days))],
        index=pd.DatetimeIndex([days.index[i] for _ in ATTACKS for i in range(len(days))]),
    )
    x = np.vstack([honest, features_for_days(attacked, usual)])
    y = np.concatenate([np.zeros(len(honest), dtype="int64"), np.ones(len(attacked), dtype="int64")])
    model = fit_theft_model(x, y)
    if verdicts:
        model.verdicts = list(verdicts[:-1])
        model = record_verdict(model, verdicts[-1])
    last_day = pd.Timestamp(days.index[-1]).strftime("%Y-%m-%d")
    return MeterTheft(model=model, usual=usual, tz=tz, meter=meter, last_day=last_day)


def with_verdict(state: MeterTheft, verdict: Verdict) -> MeterTheft:
    """The forest retrained with one more verdict (heavy: call off the event loop)."""
    return MeterTheft(record_verdict(state.model, verdict), state.usual, state.tz, state.meter, state.last_day)


def day_bounds(day: str, tz: str) -> tuple[int, int]:
    """UTC ms of a local day's first and next day's first instant."""
    zone = ZoneInfo(tz)
    d = date.fromisoformat(day)
    start = datetime(d.year, d.month, d.day, tzinfo=zone)
    nxt = d + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def local_day(ts_ms: int, tz: str) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, ZoneInfo(tz)).strftime("%Y-%m-%d")


def days_to_judge(state: MeterTheft, latest_ts: int) -> list[str]:
    """Local days after the last judged one that are over by ``latest_ts``."""
    today = local_day(latest_ts, state.tz)
    out = []
    d = date.fromisoformat(state.last_day) + timedelta(days=1)
    while d.isoformat() < today:
        out.append(d.isoformat())
        d += timedelta(days=1)
    return out[-31:]  # a meter silent for months is not judged day by day on its return


def judge_day(state: MeterTheft, day: str, frame: pd.DataFrame) -> Report | None:
    """A report when the forest finds ``day`` suspicious (``detail["ignored"]`` when a person
    ignored this pattern before); None for an honest day or one with hours missing."""
    state.last_day = max(state.last_day, day)
    frame = frame.dropna(subset=["power"])
    if frame.empty:
        return None
    days = hourly_days(frame["ts"].to_numpy(), frame["power"].to_numpy(), state.tz)
    days = days[[pd.Timestamp(i).strftime("%Y-%m-%d") == day for i in days.index]]
    if days.empty:
        return None
    x = features_for_days(days, state.usual)
    probability = float(theft_probability(state.model, x)[0])
    if probability < state.model.threshold:
        return None
    raised = bool(alerts(state.model, x, state.meter)[0])
    hourly = days.iloc[0].to_numpy()
    total, usual_total = float(hourly.sum()), float(state.usual.sum())
    zero_hours = int((hourly <= 1e-3 * max(float(np.mean(state.usual)), 1e-6)).sum())
    weekday = pd.Timestamp(day).day_name()
    reason = (
        f"{weekday} {day} looks like tampering or a bypass: {total / 1000:.1f} kWh against a usual "
        f"{usual_total / 1000:.1f} kWh ({100 * total / max(usual_total, 1e-9):.0f} %)"
        + (f", {zero_hours} hours at zero" if zero_hours else "")
        + f"; theft probability {probability:.2f}"
    )
    start, end = day_bounds(day, state.tz)
    return Report(
        kind=KIND,
        start_ts=start,
        end_ts=end,
        score=probability,
        reason=reason,
        level=total,
        hour=0.0,
        detail={"day": day, "features": x[0].tolist(), "probability": probability, "ignored": not raised},
    )


def nearest_ignored(
    state: MeterTheft, features: Sequence[float], judged: Sequence[tuple[int, list[float]]]
) -> int | None:
    """The ignored theft finding (id, its features) nearest to ``features``, in feature spreads."""
    row = np.asarray(features, dtype="float64")
    best: tuple[float, int] | None = None
    for finding_id, feats in judged:
        d = float(np.max(np.abs((np.asarray(feats) - row) / state.model.scale)))
        if best is None or d < best[0]:
            best = (d, finding_id)
    return None if best is None else best[1]
