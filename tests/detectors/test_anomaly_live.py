"""The live anomaly detector on a real fridge whose cycles run one minute long (fixture data,
see tests/fixtures/anomaly/NOTICE.md): what a person finds among the meter's findings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from wattwise.analysis import anomaly, model_data
from wattwise.analysis.features import dump_model
from wattwise.detectors.anomaly import MeterAnomaly, stored
from wattwise.domain.readings import Reading

DATA = Path(__file__).parents[1] / "fixtures" / "anomaly" / "data"
FRIDGE = "Fridge/Fridge_1"


def test_cycles_found_long_after_the_fact_are_reported_where_they_happened() -> None:
    days = model_data.load_anomaly_normal(DATA, FRIDGE)
    history = pd.concat([d.frame.assign(segment=d.day) for d in days if d.day in {1, 2, 3, 4, 5}])
    detector = MeterAnomaly(anomaly.fit_anomaly_model(history), merge_ms=120_000)
    fault = next(d.frame for d in model_data.load_anomaly_faults(DATA, FRIDGE) if d.fault == "Minor_7.50")
    readings = [
        Reading(device_id=1, ts=int(t), power=float(p)) for t, p in zip(fault["ts"], fault["power"], strict=True)
    ]

    reports = []
    for start in range(0, len(readings), 37):  # readings arrive a few at a time
        reports += detector.score(readings[start : start + 37])

    past = [r for r in reports if r.retrospective]
    assert past, "the cycles that ran long before the alarm are reported"
    for r in past:
        assert r.start_ts <= r.end_ts < r.detail["decided_ts"]
        assert "expected length" in r.reason
        assert not r.continues
    labelled = fault.loc[fault["label"] == 1, "ts"]
    assert any(((labelled >= r.start_ts) & (labelled <= r.end_ts)).any() for r in past)


def test_a_model_stored_by_an_older_version_is_fitted_again_rather_than_trusted() -> None:
    days = model_data.load_anomaly_normal(DATA, FRIDGE)
    model = anomaly.fit_anomaly_model(pd.concat([d.frame.assign(segment=d.day) for d in days]))
    assert stored(dump_model(model)) is not None
    assert stored(dump_model(replace(model, version=anomaly.MODEL_VERSION - 1))) is None
    # a model whose class moved or vanished since it was written
    assert stored(dump_model(model).replace(b"wattwise.analysis.anomaly", b"wattwise.analysis.anomalx")) is None
