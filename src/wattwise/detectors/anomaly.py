"""Live anomaly scoring of one meter with the engine's seasonal baseline + Isolation Forest.

Fitting happens on the background task (:func:`fit`); scoring each chunk of readings is
light and runs on the detectors' worker. Consecutive flagged readings (closer than
``merge_ms``) are one finding whose end, score and reason follow the worst reading so far.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from wattwise.analysis.anomaly import AnomalyModel, Carry, fit_anomaly_model, score_frame
from wattwise.analysis.features import readings_frame
from wattwise.analysis.nilm.signatures import local_hour
from wattwise.detectors.report import Report
from wattwise.domain.readings import Reading

KIND = "anomaly"


def fit(history: pd.DataFrame, tz: str) -> AnomalyModel:
    """The meter's model from its own history (``ts``, ``power`` and any of V, I, PF, f)."""
    return fit_anomaly_model(history, tz=tz)


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
