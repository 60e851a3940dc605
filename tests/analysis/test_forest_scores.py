"""Scoring with the forest walked tree by tree gives the very numbers, and so the very findings,
that scikit-learn's ``score_samples`` gave (fixture data: tests/fixtures/anomaly/NOTICE.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest

from wattwise.analysis import anomaly, model_data
from wattwise.analysis.forest_scores import forest_scores
from wattwise.detectors.anomaly import MeterAnomaly
from wattwise.detectors.report import Report
from wattwise.domain.readings import Reading

DATA = Path(__file__).parents[1] / "fixtures" / "anomaly" / "data"
TRAIN_DAYS = {1, 2, 3, 4, 5}


@pytest.mark.parametrize("max_features", [1.0, 0.5])
@pytest.mark.parametrize("max_samples", ["auto", 1])
def test_scores_are_bit_for_bit_scikit_learns(max_features: float, max_samples: str | int) -> None:
    rng = np.random.default_rng(7)
    history = rng.normal(size=(2000, 6))
    forest = IsolationForest(
        n_estimators=50, max_features=max_features, max_samples=max_samples, random_state=3, n_jobs=1
    ).fit(history)
    far = rng.normal(scale=40, size=(300, 6))
    for matrix in (history, far, far[:1], np.asfortranarray(far), far.astype(np.float32)):
        assert np.array_equal(forest_scores(forest, matrix), forest.score_samples(matrix))


def test_a_matrix_of_the_wrong_width_gets_scikit_learns_own_error() -> None:
    forest = IsolationForest(n_estimators=5, random_state=0).fit(np.zeros((50, 3)) + np.arange(50)[:, None])
    with pytest.raises(ValueError, match="3 features"):
        forest_scores(forest, np.zeros((2, 4)))


def _readings(frame: pd.DataFrame) -> list[Reading]:
    return [Reading(device_id=1, ts=int(t), power=float(p)) for t, p in zip(frame["ts"], frame["power"], strict=True)]


def _findings(model: anomaly.AnomalyModel, readings: list[Reading], size: int) -> list[Report]:
    detector = MeterAnomaly(model, merge_ms=120_000)
    found: list[Report] = []
    for start in range(0, len(readings), size):  # as the live detector gets them: a few at a time, often one
        found += detector.score(readings[start : start + size])
    return found


@pytest.mark.parametrize(
    ("appliance", "fault"),
    [("Fridge/Fridge_1", "Faulty_Compressor"), ("Washing_Machine/Washing_machine_1", None)],
)
def test_the_live_detector_finds_exactly_what_it_found_with_score_samples(
    appliance: str, fault: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    normal = [d.frame for d in model_data.load_anomaly_normal(DATA, appliance) if d.day in TRAIN_DAYS]
    model = anomaly.fit_anomaly_model(pd.concat([d.assign(segment=i) for i, d in enumerate(normal)]))
    faulty = next(d.frame for d in model_data.load_anomaly_faults(DATA, appliance) if fault in (None, d.fault))
    readings = _readings(faulty)
    now = {size: _findings(model, readings, size) for size in (3, 37)}
    whole_now, _ = anomaly.score_frame(model, faulty)
    monkeypatch.setattr(anomaly, "forest_scores", lambda forest, matrix: forest.score_samples(matrix))
    before = {size: _findings(model, readings, size) for size in (3, 37)}
    whole_before, _ = anomaly.score_frame(model, faulty)
    assert now[3], "the fault day raises findings"
    assert now == before
    pd.testing.assert_frame_equal(whole_now, whole_before)
