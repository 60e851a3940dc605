"""Live anomaly scoring of one meter with the engine's seasonal baseline + Isolation Forest.

Fitting happens on the background task (:func:`fit`); scoring each chunk of readings is
light and runs on the detectors' worker. Consecutive flagged readings (closer than
``merge_ms``) are one finding whose end, score and reason follow the worst reading so far.

When the engine's cycle model decides, after enough evidence, that earlier cycles already
ran long, each of those earlier spans becomes a finding of its own, dated where it
happened, with ``detail.decided_ts`` saying when it was found out: a fridge whose cycles
crept longer for an hour shows that hour, not just the minute the alarm rose.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattwise.analysis.anomaly import AnomalyModel, Carry, fit_anomaly_model, score_frame, upgraded
from wattwise.analysis.features import load_model, readings_frame
from wattwise.analysis.nilm.signatures import local_hour
from wattwise.detectors.report import Report
from wattwise.domain.readings import Reading

log = logging.getLogger(__name__)

KIND = "anomaly"


def fit(history: pd.DataFrame, tz: str) -> AnomalyModel:
    """The meter's model from its own history (``ts``, ``power`` and any of V, I, PF, f)."""
    return fit_anomaly_model(history, tz=tz)


def stored(data: bytes) -> AnomalyModel | None:
    """A stored model this version can score with; None (fit again) for one an older version
    wrote, whose fields or classes may have changed since (``analysis.anomaly.upgraded``)."""
    try:
        model = load_model(data, AnomalyModel)
    except (AttributeError, ImportError, TypeError, ValueError, EOFError) as exc:
        log.warning("stored anomaly model unreadable (%s); fitting a new one", exc)
        return None
    return upgraded(model)


@dataclass(slots=True)
class MeterAnomaly:
    model: AnomalyModel
    merge_ms: int
    utc_offset_s: int = 0
    carry: Carry | None = None
    last_ts: int = -1
    last_flag_ts: int | None = None

    def use_model(self, model: AnomalyModel) -> None:
        self.model = model
        self.carry = None

    def score(self, readings: list[Reading]) -> list[Report]:
        fresh = [r for r in readings if r.power is not None and r.ts > self.last_ts]
        if not fresh:
            return []
        frame = readings_frame(fresh)
        self.last_ts = int(frame["ts"].iloc[-1])
        scored, self.carry = score_frame(self.model, frame, self.carry)
        reports: list[Report] = []
        power = frame["power"].to_numpy(dtype="float64")
        flagged = scored["anomalous"].to_numpy(dtype=bool)
        all_ts = scored["ts"].to_numpy(dtype="int64")
        all_scores = scored["score"].to_numpy(dtype="float64")
        all_reasons = scored["reason"].tolist()
        reports += self._earlier(scored, power)
        for i in flagged.nonzero()[0]:
            ts = int(all_ts[i])
            score = float(all_scores[i])
            reason = str(all_reasons[i])
            joins = self.last_flag_ts is not None and ts - self.last_flag_ts <= self.merge_ms
            self.last_flag_ts = ts
            if joins and reports:
                current = reports[-1]
                current.end_ts = ts
                if score > current.score:
                    current.score, current.reason = score, reason
                continue
            reports.append(
                Report(
                    kind=KIND,
                    start_ts=ts,
                    end_ts=ts,
                    score=score,
                    reason=reason,
                    level=float(power[i]),
                    hour=local_hour(ts, self.utc_offset_s),
                    detail={"power_w": float(power[i])},
                    continues=joins,
                )
            )
        return reports

    def _earlier(self, scored: pd.DataFrame, power: np.ndarray) -> list[Report]:
        """Findings for spans the engine judged anomalous after the fact (see module doc)."""
        reports: list[Report] = []
        spans_at = scored["earlier"].tolist()
        if not any(spans_at):
            return reports
        for i, spans in enumerate(spans_at):
            decided = int(scored["ts"].iloc[i])
            for first, last in spans:
                reports.append(
                    Report(
                        kind=KIND,
                        start_ts=int(first),
                        end_ts=int(last),
                        score=float(scored["score"].iloc[i]),
                        reason=str(scored["earlier_reason"].iloc[i]),
                        level=float(power[i]),
                        hour=local_hour(int(first), self.utc_offset_s),
                        detail={"power_w": float(power[i]), "decided_ts": decided},
                        retrospective=True,
                    )
                )
        return reports
