"""Load classification on real recordings kept in tests/fixtures/anomaly (see NOTICE.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wattwise.analysis import classify, classify_states, classify_validation, model_data

DATA = Path(__file__).parents[1] / "fixtures" / "anomaly" / "data"
OMPM_WHOLE = Path(__file__).parents[1] / "fixtures" / "anomaly" / "ompm-whole"
LAB = "2combi_kettle+vacuum"


def test_kettle_and_vacuum_are_named_in_a_session_recorded_weeks_later() -> None:
    train = model_data.load_lab(DATA, LAB, "train")  # recorded 2022-11-14
    test = model_data.load_lab(DATA, LAB, "test")  # recorded 2022-09-27
    result = classify.evaluate_split(train, test, ["kettle", "vacuum"])
    # Measured: 99.7 % of all readings, 100 % of steady ones, for both engines.
    for engine in ("", "tracker_"):
        assert result[f"{engine}accuracy"] >= 0.98
        assert result[f"{engine}accuracy_steady"] >= 0.99


def _ompm_split() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ompm = model_data.load_ompm(OMPM_WHOLE)
    truth = model_data.ompm_on_states(ompm)
    first = (ompm["ts"] < int(ompm["ts"].min()) + 3_600_000).to_numpy()
    return ompm[first], ompm[~first], truth[first], truth[~first]


def test_ompm_truth_follows_each_sub_meter_not_a_fixed_level() -> None:
    ompm = model_data.load_ompm(OMPM_WHOLE)
    truth = model_data.ompm_on_states(ompm)
    minute = ((ompm["ts"] - ompm["ts"].min()) / 60_000).to_numpy()

    def running(at: float) -> set[str]:
        row = truth.iloc[int(np.searchsorted(minute, at))]
        return {name for name in truth.columns if row[name]}

    # the 32 combinations were switched in counting order (fan = 1, laptop = 2, lamp = 4, ...)
    assert running(2.0) == {"fan"}
    assert running(6.5) == {"laptop"}  # its sub-meter reads 9 W; 1 W "off" before
    assert running(12.0) == {"incandescent_lamp"}  # laptop back to a 4 W standby
    assert running(23.0) == {"led_lamp"}
    assert running(47.5) == {"monitor"}  # the LED lamp's sub-meter still reads 6 W
    assert running(72.0) == {"led_lamp", "monitor"}
    assert running(92.5) == set(truth.columns)
    assert running(100.0) == set()
    # the laptop switched on 10 times (twice for a few seconds, seen by the aggregate too)
    # although its "off" draw crept from 1 W to 13 W
    assert int(np.sum(np.diff(truth["laptop"].to_numpy().astype(int)) == 1)) == 10


def test_switching_events_name_combinations_the_first_hour_never_showed() -> None:
    train, test, s_train, s_test = _ompm_split()
    result = classify.evaluate_split(train, test, list(model_data.OMPM_METERS), truth=(s_train, s_test))
    # Measured: 11 of the second part's combinations were never seen whole in the first hour
    # (the LED lamp and the monitor are never on together there); the forest names 15 % of
    # readings, the event tracker 91 %, each appliance 92-99 %. Its checks inside the first
    # hour alone (pairs of appliances never seen together, hidden stretches): 77 %.
    assert result["combinations_test_unseen"] >= 8
    assert result["tracker_accuracy"] >= 0.90
    assert result["tracker_accuracy"] >= result["accuracy"] + 0.5
    for name in model_data.OMPM_METERS:
        assert result[f"tracker_accuracy_{name}"] >= 0.90, name
    assert result["tracker_validation_score"] >= 0.75


def _two_loads(plan: list[tuple[int, bool, bool]], seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A steady 25 W fan and an LED driver that starts at 40 W and sinks 3 W a minute
    (to at least 20 W) for as long as it stays on; 1 reading a second."""
    rng = np.random.default_rng(seed)
    states = np.vstack([np.array([[fan, led]] * n) for n, fan, led in plan])
    led_w = np.zeros(len(states))
    for i in range(len(states)):
        was_on = i > 0 and states[i - 1, 1]
        led_w[i] = 0.0 if not states[i, 1] else (max(20.0, led_w[i - 1] - 0.05) if was_on else 40.0)
    power = 25.0 * states[:, 0] + led_w + rng.normal(0.0, 0.3, len(states))
    frame = pd.DataFrame({"ts": np.arange(len(states), dtype=np.int64) * 1000, "power": power})
    return frame, pd.DataFrame(states, columns=["fan", "led_lamp"])


def test_a_drifting_load_is_followed_through_its_steps() -> None:
    """After ten minutes on, the LED draws 22 W; the fan joins, and the total (47 W) is what
    the LED alone drew when it came on, the trap for any reading-by-reading classifier."""
    train, s_train = _two_loads([(120, False, False), (120, True, False), (120, False, False), (300, False, True)], 0)
    test, s_test = _two_loads([(120, True, False), (120, False, False), (600, False, True), (120, True, True)], 1)
    model = classify_states.fit_state_tracker(train["ts"].to_numpy(), train, s_train)
    tracked = classify_states.track_states(model, test["ts"].to_numpy(), test)
    assert classify.combination_accuracy(s_test.to_numpy(), tracked) >= 0.97
    assert tracked[-100:].all()  # fan + LED, not the LED alone
    assert classify.describe_running(model, tracked[-1]) == "fan + led lamp"


def _fan_and_laptop(
    plan: list[tuple[int, bool, bool]], laptop_w: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A 25 W fan at unity power factor and a laptop supply drawing ``laptop_w`` W and 20 var."""
    rng = np.random.default_rng(seed)
    states = np.vstack([np.array([[fan, laptop]] * n) for n, fan, laptop in plan])
    power = 25.0 * states[:, 0] + laptop_w * states[:, 1] + rng.normal(0.0, 0.3, len(states))
    reactive = 20.0 * states[:, 1] + rng.normal(0.0, 0.5, len(states))
    frame = pd.DataFrame({"ts": np.arange(len(states), dtype=np.int64) * 1000, "power": power, "reactive": reactive})
    return frame, pd.DataFrame(states, columns=["fan", "laptop"])


def test_a_load_that_draws_less_than_in_training_is_still_named_when_it_switches_with_another() -> None:
    """Trained with the laptop at 14 W; it now draws 8 W and comes on as the fan goes off
    (-17 W where training says -11 W). Both readings of that step are far from anything
    seen, but "fan off, laptop on" is much nearer than "fan off" alone, and its reactive
    power came with it. (A Gaussian capped at 3 spreads scored both as equally wrong and
    named 87 % of these readings.)"""
    off, fan, laptop, both = (120, False, False), (120, True, False), (120, False, True), (120, True, True)
    train, s_train = _fan_and_laptop([off, fan, off, laptop, off, fan, both, laptop, off], 14.0, 0)
    # the fan goes off as the laptop comes on at 4 min
    test, s_test = _fan_and_laptop([off, fan, (180, False, True), both, fan, laptop, off], 8.0, 1)
    model = classify_states.fit_state_tracker(train["ts"].to_numpy(), train, s_train)
    tracked = classify_states.track_states(model, test["ts"].to_numpy(), test)
    assert classify.combination_accuracy(s_test.to_numpy(), tracked) >= 0.99


def test_labels_marked_unknown_teach_the_tracker_nothing() -> None:
    """The validation hides labels with ``known``: whatever they say, the model is the same."""
    train, s_train = _fan_and_laptop(
        [(120, False, False), (120, True, False), (120, False, True), (120, True, True)], 14, 0
    )
    hidden = np.zeros(len(train), dtype=bool)
    hidden[360:] = True
    wrong = s_train.copy()
    wrong.loc[hidden, "fan"] = False
    ts = train["ts"].to_numpy()
    a = classify_states.fit_state_tracker(ts, train, s_train, known=~hidden)
    b = classify_states.fit_state_tracker(ts, train, wrong, known=~hidden)
    assert np.allclose(a.level, b.level) and np.allclose(a.step_on, b.step_on)
    c = classify_states.fit_state_tracker(ts, train, wrong)
    assert not np.allclose(a.level, c.level)


def test_validation_hides_pairs_never_seen_together_and_stretches_of_time() -> None:
    on = np.zeros((600, 3), dtype=bool)
    on[100:300, 0] = on[200:400, 1] = on[500:, 2] = True
    pairs = classify_validation.pair_masks(on)
    assert len(pairs) == 1 and pairs[0].sum() == 100  # only appliances 0 and 1 were on together
    windows = classify_validation.window_masks(np.arange(3600, dtype=np.int64) * 1000, minutes=(10,))
    assert len(windows) == 6 and all(w.sum() == 600 for w in windows)
    tail = classify_validation.window_masks(np.arange(3630, dtype=np.int64) * 1000, minutes=(10,))
    assert len(tail) == 6  # the last 30 s are too few readings to score
    assert classify_validation.window_masks(np.arange(600, dtype=np.int64) * 1000, minutes=(10,)) == []  # all of it


def test_on_by_steps_follows_a_standby_that_creeps() -> None:
    standby = np.linspace(1.0, 13.0, 600)
    on = np.zeros(600, dtype=bool)
    on[100:200] = on[300:400] = True
    power = standby + 8.0 * on
    ts = np.arange(600, dtype=np.int64) * 1000
    assert classify.on_by_steps(ts, power, 4.0).tolist() == on.tolist()
    assert classify.on_by_steps(ts[150:], power[150:], 4.0).tolist() == on[150:].tolist()


def test_what_is_running_is_said_in_words() -> None:
    train = model_data.load_lab(DATA, LAB, "train")
    features = classify.steady_features(train)
    model = classify.fit_load_classifier(features, classify.on_states(train[["kettle", "vacuum"]]))
    states = classify.predict_states(model, features)
    words = {classify.describe_running(model, row) for row in states}
    assert {"nothing", "kettle", "vacuum", "kettle + vacuum"} <= words
    with pytest.raises(ValueError, match="reactive"):
        classify.predict_states(model, features.drop(columns=["reactive"]))


def test_harmonics_are_used_when_the_meter_measures_them() -> None:
    features = classify.steady_features(model_data.load_lab(DATA, LAB, "train"))
    assert {"h3_share", "h5_share", "reactive", "pf", "current"} <= set(features.columns)
    pzem = classify.steady_features(model_data.load_ompm(DATA))
    assert "reactive" in pzem.columns and "h3_share" not in pzem.columns


def _windows(appliance: str, days: set[int]) -> np.ndarray:
    out = []
    for day in model_data.load_anomaly_normal(DATA, appliance):
        if day.day in days:
            power = day.frame["power"].to_numpy()
            out += [power[i : i + 180] for i in range(0, len(power) - 180, 90)]
    return np.array(out)


def test_shape_classifier_tells_a_fridge_from_a_dishwasher_on_unseen_days() -> None:
    def split(days: set[int]) -> tuple[np.ndarray, np.ndarray]:
        fridge, dish = _windows("Fridge/Fridge_1", days), _windows("Dishwasher/Dishwasher_1", days)
        x = np.vstack([fridge, dish])
        x = (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-9)
        return x, np.array([0] * len(fridge) + [1] * len(dish))

    x_train, y_train = split({1, 2, 3})
    x_test, y_test = split({4, 5})
    result = classify.evaluate_shape(x_train, y_train, x_test, y_test)
    assert result["accuracy"] >= 0.9
    assert result["accuracy"] >= result["baseline_1nn_accuracy"]


def test_transients_are_not_steady() -> None:
    power = pd.Series([100.0, 100.5, 2100.0, 2101.0, 2100.0, 100.0]).to_numpy()
    assert classify.steady_mask(power).tolist() == [True, False, False, True, False, False]


def test_the_tracker_names_what_is_wrong_with_its_input() -> None:
    frame = pd.DataFrame({"ts": np.arange(50, dtype=np.int64) * 1000, "power": np.r_[np.zeros(25), np.full(25, 100.0)]})
    kettle = pd.DataFrame({"kettle": np.r_[np.zeros(25, bool), np.ones(25, bool)]})
    with pytest.raises(ValueError, match="10 label rows for 50 readings"):
        classify_states.fit_state_tracker(frame["ts"].to_numpy(), frame, kettle[:10])
    many = pd.DataFrame({f"a{i}": kettle["kettle"] for i in range(9)})
    with pytest.raises(ValueError, match="at most 8 appliances"):
        classify_states.fit_state_tracker(frame["ts"].to_numpy(), frame, many)
    model = classify_states.fit_state_tracker(frame["ts"].to_numpy(), frame, kettle)
    assert (
        classify_states.track_states(model, frame["ts"].to_numpy(), frame)[:, 0].tolist() == kettle["kettle"].tolist()
    )
