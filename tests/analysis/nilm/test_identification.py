"""Identification with confidence, learning from labels, runs and energy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wattwise.analysis.nilm.energy import energy_per_day
from wattwise.analysis.nilm.evaluate import (
    SetSpec,
    evaluate_model,
    fit_model,
    label_training_events,
    zero_baseline,
)
from wattwise.analysis.nilm.events import Event, detect_events
from wattwise.analysis.nilm.model import NilmModel
from wattwise.analysis.nilm.pairing import Run, pair_events
from wattwise.analysis.nilm.signatures import UNIDENTIFIED, SignatureLibrary


def test_lab_appliances_are_identified_after_learning_from_the_training_session(
    lab_set: SetSpec,
) -> None:
    model, _ = fit_model(lab_set)
    scores = evaluate_model(lab_set, model)
    assert scores["identification_macro_f1"] >= 0.9
    assert scores["identification_accuracy"] >= 0.9
    for name in ("vacuum", "water_heater"):
        assert scores["appliances"][name]["on_off_f1"] >= 0.9


def test_an_event_unlike_any_known_appliance_is_unidentified(lab_set: SetSpec) -> None:
    model, _ = fit_model(lab_set)
    oven = Event(ts=0, delta_p=900.0, delta_q=400.0, peak_w=900.0, settle_ms=0, level_before=20.0, level_after=920.0)
    (ev,) = model.identify([oven])
    assert ev.label == UNIDENTIFIED
    assert ev.confidence < model.classifier.min_confidence


def test_one_user_label_teaches_the_kettle_at_once(lab_set: SetSpec) -> None:
    rec = lab_set.test[0]
    model, _ = fit_model(lab_set)
    empty = NilmModel(model.detector, model.classifier, model.pairing, SignatureLibrary())
    events = detect_events(rec.ts, rec.aggregate, rec.second, empty.detector)
    labels = label_training_events(lab_set, rec, events).labels
    assert {e.label for e in empty.identify(events)} == {UNIDENTIFIED}

    first_kettle = next(e for e, lab in zip(events, labels, strict=True) if lab == "kettle")
    empty.teach(first_kettle, "kettle")
    again = empty.identify(detect_events(rec.ts, rec.aggregate, rec.second, empty.detector))
    kettles = [e for e, lab in zip(again, labels, strict=True) if lab == "kettle"]
    assert len(kettles) >= 4
    assert sum(e.label == "kettle" for e in kettles) >= len(kettles) - 1
    assert all(e.label != "kettle" for e, lab in zip(again, labels, strict=True) if lab == "vacuum")


def test_library_survives_json_and_renames_and_merges(lab_set: SetSpec) -> None:
    model, _ = fit_model(lab_set)
    restored = NilmModel.from_dict(json.loads(json.dumps(model.to_dict())))
    rec = lab_set.test[0]
    a = [e.label for e in model.process(rec.ts, rec.aggregate, rec.second).events]
    b = [e.label for e in restored.process(rec.ts, rec.aggregate, rec.second).events]
    assert a == b

    lib = restored.library
    lib.rename("water_heater", "geyser")
    assert "geyser" in lib.names() and "water_heater" not in lib.names()
    n = len(lib.appliances["kettle"].exemplars) + len(lib.appliances["geyser"].exemplars)
    lib.merge("geyser", "kettle")
    assert len(lib.appliances["kettle"].exemplars) == n
    with pytest.raises(KeyError, match="geyser"):
        lib.merge("geyser", "kettle")
    with pytest.raises(ValueError, match="non-empty"):
        lib.add("  ", restored.features(Event(0, 1.0, None, 1.0, 0, 0.0, 1.0)))


def test_on_and_off_events_pair_into_runs_with_duration_and_energy() -> None:
    def ev(t: int, dp: float, label: str) -> Event:
        return Event(t, dp, None, dp, 0, 0.0, 0.0, label=label, confidence=0.9)

    events = [
        ev(0, 2000.0, "kettle"),
        ev(60_000, 120.0, "fridge"),
        ev(180_000, -2010.0, "kettle"),
        ev(1_260_000, -118.0, "fridge"),
    ]
    runs = pair_events(events)
    assert [(r.label, r.duration_s) for r in runs] == [("kettle", 180.0), ("fridge", 1200.0)]
    assert runs[0].energy_wh == pytest.approx(2005.0 * 180 / 3600)


def test_energy_per_day_splits_a_run_at_local_midnight() -> None:
    on = Event(0, 1000.0, None, 1000.0, 0, 0.0, 1000.0)
    # 23:00 to 01:00 in Kolkata (UTC+5:30)
    start = 1_700_000_000_000 - (1_700_000_000_000 + 19_800_000) % 86_400_000 + 82_800_000
    run = Run(start, start + 7_200_000, 1000.0, "heater", on, None)
    days = energy_per_day([run], "Asia/Kolkata")["heater"]
    assert sorted(days.values()) == pytest.approx([1.0, 1.0])


def test_refit_fridge_and_cooking_beat_predicting_zero(refit_set: SetSpec) -> None:
    model, _ = fit_model(refit_set)
    ours = evaluate_model(refit_set, model)
    zero = zero_baseline(refit_set)
    for name in ("fridge", "dishwasher", "microwave"):
        assert ours["appliances"][name]["mae_w"] < zero["appliances"][name]["mae_w"]
    assert ours["appliances"]["dishwasher"]["on_off_f1"] >= 0.45
    assert ours["appliances"]["fridge"]["on_off_f1"] >= 0.45
    assert np.isfinite(ours["fte"]) and ours["fte"] > 0.5


def test_joint_decoding_separates_two_appliances_switched_together() -> None:
    from wattwise.analysis.nilm.decode import StateModel, decode
    from wattwise.analysis.nilm.events import DetectorConfig

    # lamp (60 W) and kettle (2000 W) on together at 20 s, kettle off at 50 s, lamp at 80 s
    p = np.r_[np.full(20, 5.0), np.full(30, 2065.0), np.full(30, 65.0), np.full(20, 5.0)]
    ts = (np.arange(p.size) * 1000).astype(np.int64)
    events = detect_events(ts, p, None, DetectorConfig(min_step_w=30, tol_abs_w=5, second="none"))
    model = StateModel({"lamp": [60.0], "kettle": [2000.0]}, base_w=5.0)
    series, labels = decode(ts, p, events, model)
    assert labels == ["kettle", "kettle", "lamp"]  # the ON step is mostly the kettle's
    assert series["lamp"][25] == 60.0 and series["kettle"][25] == 2000.0
    assert series["lamp"][60] == 60.0 and series["kettle"][60] == 0.0
    assert series["lamp"][90] == 0.0
