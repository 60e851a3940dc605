"""The live anomaly and theft models keep their forests in compact form: they give the very
numbers, and so the very findings, that scikit-learn's ``score_samples`` and ``predict_proba``
give, on random data and on real fixture data (tests/fixtures/anomaly/NOTICE.md)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest, RandomForestClassifier

from wattwise.analysis import anomaly, model_data, theft
from wattwise.analysis.features import dump_model
from wattwise.analysis.forest_scores import CompactClassifier, CompactForest
from wattwise.detectors import anomaly as live_anomaly
from wattwise.detectors.anomaly import MeterAnomaly
from wattwise.detectors.report import Report
from wattwise.detectors.theft import MeterTheft
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
    compact = CompactForest.of(forest)
    far = rng.normal(scale=40, size=(300, 6))
    for matrix in (history, far, far[:1], np.asfortranarray(far), far.astype(np.float32)):
        assert np.array_equal(compact.scores(matrix), forest.score_samples(matrix))


def test_values_right_beside_a_split_go_the_way_scikit_learn_sends_them() -> None:
    """A tree compares a float32 value with a float64 threshold: the float32 nearest the
    threshold may lie above it, and must still go right."""
    rng = np.random.default_rng(11)
    history = rng.normal(size=(3000, 3)).astype(np.float32)
    forest = IsolationForest(n_estimators=20, random_state=4, n_jobs=1).fit(history)
    rows = []
    for estimator in forest.estimators_:
        tree = estimator.tree_
        for node in np.flatnonzero(tree.children_left >= 0):
            nearest = np.float32(tree.threshold[node])
            below, above = np.nextafter(nearest, np.float32(-np.inf)), np.nextafter(nearest, np.float32(np.inf))
            for value in (below, nearest, above):
                row = np.median(history, axis=0)
                row[tree.feature[node]] = value
                rows.append(row)
    matrix = np.array(rows, dtype=np.float32)
    nearest_above = [
        np.float32(t) > t for e in forest.estimators_ for t in e.tree_.threshold[e.tree_.children_left >= 0]
    ]
    assert any(nearest_above), "some threshold's nearest float32 lies above it"
    assert np.array_equal(CompactForest.of(forest).scores(matrix), forest.score_samples(matrix))


def test_missing_values_take_the_side_scikit_learn_sends_them_to() -> None:
    rng = np.random.default_rng(5)
    history = rng.normal(size=(2000, 4))
    history[rng.random(history.shape) < 0.1] = np.nan
    forest = IsolationForest(n_estimators=30, random_state=1, n_jobs=1).fit(history)
    compact = CompactForest.of(forest)
    rows = rng.normal(scale=3, size=(400, 4))
    rows[rng.random(rows.shape) < 0.3] = np.nan
    assert compact.trees.nan_left is not None, "some split sends a missing value left"
    assert np.array_equal(compact.scores(rows), forest.score_samples(rows))


def test_the_compact_forest_is_a_fraction_of_scikit_learns_when_stored() -> None:
    rng = np.random.default_rng(2)
    forest = IsolationForest(n_estimators=100, random_state=0, n_jobs=1).fit(rng.normal(size=(5000, 10)))
    compact = CompactForest.of(forest)
    assert (compact.trees.left.dtype, compact.trees.feature.dtype, compact.trees.threshold.dtype) == (
        np.uint16,
        np.uint8,
        np.float32,
    )
    assert len(dump_model(compact)) * 4 < len(dump_model(forest))


def test_a_matrix_of_the_wrong_width_is_refused_naming_both_widths() -> None:
    forest = IsolationForest(n_estimators=5, random_state=0).fit(np.zeros((50, 3)) + np.arange(50)[:, None])
    with pytest.raises(ValueError, match="rows of 3 features; got an array of shape 2×4"):
        CompactForest.of(forest).scores(np.zeros((2, 4)))


class _ScikitLearns:
    """The fitted forest scored by scikit-learn itself, where the model holds its compact form."""

    def __init__(self, forest: IsolationForest) -> None:
        self.forest = forest

    def scores(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(self.forest.score_samples(matrix))


def _fit_keeping_the_forest(
    history: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> tuple[anomaly.AnomalyModel, IsolationForest]:
    fitted: list[IsolationForest] = []
    of = CompactForest.of

    def keep(forest: IsolationForest) -> CompactForest:
        fitted.append(forest)
        return of(forest)

    monkeypatch.setattr(CompactForest, "of", keep)
    model = anomaly.fit_anomaly_model(history)
    monkeypatch.setattr(CompactForest, "of", of)
    return model, fitted[0]


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
def test_the_live_detector_finds_exactly_what_scikit_learns_forest_finds(
    appliance: str, fault: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    normal = [d.frame for d in model_data.load_anomaly_normal(DATA, appliance) if d.day in TRAIN_DAYS]
    model, forest = _fit_keeping_the_forest(pd.concat([d.assign(segment=i) for i, d in enumerate(normal)]), monkeypatch)
    whole = replace(model, forest=_ScikitLearns(forest))
    faulty = next(d.frame for d in model_data.load_anomaly_faults(DATA, appliance) if fault in (None, d.fault))
    readings = _readings(faulty)
    now = {size: _findings(model, readings, size) for size in (3, 37)}
    before = {size: _findings(whole, readings, size) for size in (3, 37)}
    assert now[3], "the fault day raises findings"
    assert now == before
    compact_scored, _ = anomaly.score_frame(model, faulty)
    sklearn_scored, _ = anomaly.score_frame(whole, faulty)
    assert np.array_equal(compact_scored["score"].to_numpy(), sklearn_scored["score"].to_numpy())
    pd.testing.assert_frame_equal(compact_scored, sklearn_scored, check_exact=True)


def test_a_household_with_voltage_and_current_scores_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    ihepc = model_data.load_ihepc(DATA)[["ts", "power", "voltage", "current"]]
    cut = int(ihepc["ts"].min()) + 4 * 86_400_000
    model, forest = _fit_keeping_the_forest(ihepc[ihepc["ts"] < cut], monkeypatch)
    assert "voltage" in model.feature_names
    later = ihepc[ihepc["ts"] >= cut].reset_index(drop=True)
    compact_scored, _ = anomaly.score_frame(model, later)
    sklearn_scored, _ = anomaly.score_frame(replace(model, forest=_ScikitLearns(forest)), later)
    pd.testing.assert_frame_equal(compact_scored, sklearn_scored, check_exact=True)


def test_a_model_stored_with_scikit_learns_whole_forest_is_compacted_not_refitted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    normal = [d.frame for d in model_data.load_anomaly_normal(DATA, "Fridge/Fridge_1") if d.day in TRAIN_DAYS]
    model, forest = _fit_keeping_the_forest(pd.concat([d.assign(segment=i) for i, d in enumerate(normal)]), monkeypatch)
    version_4 = dump_model(replace(model, forest=forest, version=4))  # as the detectors stored it before
    restored = live_anomaly.stored(version_4)
    assert restored is not None
    assert isinstance(restored.forest, CompactForest)
    assert restored.version == anomaly.MODEL_VERSION
    faulty = next(d.frame for d in model_data.load_anomaly_faults(DATA, "Fridge/Fridge_1"))
    pd.testing.assert_frame_equal(
        anomaly.score_frame(restored, faulty)[0], anomaly.score_frame(model, faulty)[0], check_exact=True
    )
    assert live_anomaly.stored(dump_model(replace(model, forest=forest, version=3))) is None


def _theft_forest(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> RandomForestClassifier:
    forest = RandomForestClassifier(n_estimators=200, min_samples_leaf=2, random_state=0, n_jobs=1)
    return forest.fit(x, y, sample_weight=weights)


def test_the_theft_forests_probabilities_are_bit_for_bit_scikit_learns(ihepc_theft_rows: theft.TheftRows) -> None:
    rows = ihepc_theft_rows
    rng = np.random.default_rng(3)
    weights = np.where(rng.random(len(rows.y)) < 0.05, 20.0, 1.0)  # verdicts weigh more (record_verdict)
    for forest in (_theft_forest(rows.x, rows.y), _theft_forest(rows.x, rows.y, weights)):
        compact = CompactClassifier.of(forest, 1)
        column = list(forest.classes_).index(1)
        for matrix in (rows.x, rows.x[:1], rows.x * rng.uniform(0.5, 1.5, size=rows.x.shape)):
            assert np.array_equal(compact.probability(matrix), forest.predict_proba(matrix)[:, column])


def test_a_classifier_is_asked_only_for_a_class_it_was_fitted_on() -> None:
    forest = _theft_forest(np.arange(20.0)[:, None], np.zeros(20, dtype="int64"))
    with pytest.raises(ValueError, match=r"fitted on classes \[0\]; it gives no probability of 1"):
        CompactClassifier.of(forest, 1)


def test_a_theft_model_stored_with_scikit_learns_whole_forest_is_compacted_when_loaded(
    ihepc_theft_rows: theft.TheftRows,
) -> None:
    rows = ihepc_theft_rows
    forest = _theft_forest(rows.x, rows.y)
    fitted = theft.fit_theft_model(rows.x, rows.y)
    before = replace(fitted, forest=forest)  # as the detectors stored it before
    state = MeterTheft(model=before, usual=np.ones(24), tz="UTC", meter="1", last_day="2026-01-01")
    loaded = MeterTheft.from_bytes(dump_model(state))
    assert isinstance(loaded.model.forest, CompactClassifier)
    assert np.array_equal(
        theft.theft_probability(loaded.model, rows.x), forest.predict_proba(rows.x)[:, list(forest.classes_).index(1)]
    )
    assert np.array_equal(theft.theft_probability(loaded.model, rows.x), theft.theft_probability(fitted, rows.x))
