"""The event detector: steps found, noise and spikes ignored, live equals offline."""

from __future__ import annotations

import numpy as np
import pytest

from wattwise.analysis.nilm.evaluate import Recording, SetSpec, event_scores, true_events
from wattwise.analysis.nilm.events import (
    DetectorConfig,
    Event,
    StreamingDetector,
    detect_events,
    suggest_config,
)

LAB = DetectorConfig(min_step_w=100.0, tol_abs_w=2.0, min_steady=2, second="q")


def _ms(seconds: np.ndarray) -> np.ndarray:
    return (1_700_000_000_000 + seconds * 1000).astype(np.int64)


def test_a_kettle_switching_on_and_off_gives_one_on_and_one_off_event() -> None:
    rng = np.random.default_rng(1)
    p = np.r_[np.full(30, 50.0), np.full(40, 2050.0), np.full(30, 50.0)] + rng.normal(0, 1, 100)
    q = np.r_[np.full(30, 10.0), np.full(40, 30.0), np.full(30, 10.0)]
    events = detect_events(_ms(np.arange(100.0)), p, q, LAB)
    assert [round(e.delta_p, -1) for e in events] == [2000.0, -2000.0]
    assert events[0].ts == _ms(np.array([30.0]))[0]
    assert events[0].delta_q == pytest.approx(20.0, abs=1)


def test_noise_and_a_one_sample_spike_give_no_event() -> None:
    rng = np.random.default_rng(2)
    p = 300.0 + rng.normal(0, 0.7, 200)
    p[100] = 2500.0  # a glitch or a very short transient
    assert detect_events(_ms(np.arange(200.0)), p, None, LAB) == []


def test_an_inrush_shows_as_peak_and_settling_time() -> None:
    p = np.r_[np.full(20, 100.0), [3000.0, 1800.0, 1400.0], np.full(20, 1100.0)]
    (ev,) = detect_events(_ms(np.arange(p.size, dtype=float)), p, None, LAB)
    assert ev.delta_p == pytest.approx(1000.0)
    assert ev.peak_w == pytest.approx(2900.0)
    assert ev.settle_ms == 3000


def test_bad_input_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="equal length"):
        detect_events([1, 2, 3], [1.0, 2.0], None, LAB)
    with pytest.raises(ValueError, match="backwards"):
        detect_events([3, 2, 1], [1.0, 2.0, 3.0], None, LAB)
    with pytest.raises(ValueError, match="min_step_w"):
        DetectorConfig(min_step_w=0)


def test_detector_finds_the_lab_appliance_switchings(lab_set: SetSpec) -> None:
    rec = lab_set.test[0]
    events = detect_events(rec.ts, rec.aggregate, rec.second, LAB)
    scores = event_scores(lab_set, lab_set.test, [events])[0]
    # 16 switchings of kettle, vacuum and water heater, matched within ±5 s
    assert scores["true_events"] >= 14
    assert scores["event_f1"] >= 0.95


def test_detector_finds_most_refit_fridge_and_cooking_events(refit_set: SetSpec) -> None:
    rec = refit_set.test[0]
    cfg = DetectorConfig(min_step_w=50.0, tol_abs_w=7.5, min_steady=2, second="none")
    events = detect_events(rec.ts, rec.aggregate, None, cfg)
    scores = event_scores(refit_set, refit_set.test, [events])[0]
    # the aggregate also holds unmetered loads, so recall is the meaningful figure
    assert scores["event_recall"] >= 0.75


def _feed_one_by_one(rec: Recording, cfg: DetectorConfig) -> tuple[list, StreamingDetector]:
    det = StreamingDetector(cfg)
    out = []
    for t, p, q in zip(rec.ts, rec.aggregate, rec.second, strict=True):
        out += det.feed(int(t), float(p), float(q))
    return out + det.flush(), det


def test_live_detection_gives_the_same_events_as_offline(lab_test: Recording) -> None:
    offline = detect_events(lab_test.ts, lab_test.aggregate, lab_test.second, LAB)
    live, det = _feed_one_by_one(lab_test, LAB)
    assert [e.to_dict() for e in live] == [e.to_dict() for e in offline]
    assert len(det.to_dict()["p"]) <= 10  # only a short tail is kept


def test_chunks_and_a_restart_from_saved_state_change_nothing(lab_test: Recording) -> None:
    offline = detect_events(lab_test.ts, lab_test.aggregate, lab_test.second, LAB)
    det = StreamingDetector(LAB)
    got = []
    for i in range(0, lab_test.ts.size, 37):
        sl = slice(i, i + 37)
        got += det.feed_many(lab_test.ts[sl], lab_test.aggregate[sl], lab_test.second[sl])
        det = StreamingDetector.from_dict(det.to_dict())  # e.g. the service restarted
    got += det.flush()
    assert [e.to_dict() for e in got] == [e.to_dict() for e in offline]


def test_live_detector_refuses_samples_from_the_past() -> None:
    det = StreamingDetector(LAB)
    det.feed(2000, 100.0, 0.0)
    with pytest.raises(ValueError, match="older"):
        det.feed(1000, 100.0, 0.0)


def test_thresholds_can_be_suggested_from_the_signal_noise(lab_train: Recording) -> None:
    cfg = suggest_config(lab_train.aggregate, smallest_load_w=1800.0)
    assert cfg.min_step_w == pytest.approx(900.0)
    events = detect_events(lab_train.ts, lab_train.aggregate, lab_train.second, cfg)
    truth = true_events(lab_train, 200.0)
    assert abs(len(events) - len(truth)) <= 2


def test_live_equals_offline_on_a_noisy_house_aggregate(refit_set: SetSpec) -> None:
    rec = refit_set.test[0]
    cfg = DetectorConfig(min_step_w=50.0, tol_abs_w=7.5, min_steady=2, second="none")
    offline = detect_events(rec.ts, rec.aggregate, None, cfg)
    det = StreamingDetector(cfg)
    live = []
    for i, (t, p) in enumerate(zip(rec.ts.tolist(), rec.aggregate.tolist(), strict=True)):
        if i % 500 < 100:  # a mix of single samples and chunks, as a bus may deliver them
            live += det.feed(t, p)
        elif i % 500 == 100:
            live += det.feed_many(rec.ts[i : i + 400], rec.aggregate[i : i + 400])
    live += det.flush()
    assert len(offline) > 50
    assert [e.to_dict() for e in live] == [e.to_dict() for e in offline]


def test_a_merge_moves_an_events_label_and_counts_its_score_for_the_name_it_joins() -> None:
    kettle = Event.own(0, 2000.0, "kettle")
    kettle.scores = {"kettle": 0.5, "boiler": 0.3, "unidentified": 0.2}
    toaster = Event.own(0, 900.0, "toaster")
    toaster.scores = {"toaster": 0.9, "kettle": 0.1}
    for e in (kettle, toaster):
        e.rename("kettle", "boiler")
    assert (kettle.label, kettle.scores) == ("boiler", {"boiler": 0.8, "unidentified": 0.2})
    assert (toaster.label, toaster.scores) == ("toaster", {"toaster": 0.9, "boiler": 0.1})
    toaster.rename("toaster", "toaster")
    assert (toaster.label, toaster.scores) == ("toaster", {"toaster": 0.9, "boiler": 0.1})
