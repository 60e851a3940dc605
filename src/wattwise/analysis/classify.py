"""Load classification: which appliances, or which combination of them, is running.

From one meter's steady-state readings — active power P, reactive power Q (measured, or
from V, I and P), current I, power factor and, when the meter gives them, current
harmonics — a Random Forest with one yes/no output per appliance names what is on. One
output per appliance (rather than one class per combination) lets it name a combination
it never saw whole during training, as long as it saw each appliance.

Readings in the middle of a switch (power still moving) are not steady: they are left out
of training and reported as "changing" rather than guessed.

``shape_features`` and :func:`fit_shape_classifier` classify a whole recorded power
series by its shape (what kind of appliance drew it), as in the UCR archive's appliance
problems; :func:`nearest_neighbour` is the usual 1-NN Euclidean baseline beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

from wattwise.analysis.classify_states import StateTracker, fit_state_tracker, track_states
from wattwise.analysis.classify_validation import validate
from wattwise.analysis.nilm.events import DetectorConfig, detect_events

HARMONICS = ("h3", "h5", "h7", "h9")
#: A reading is steady when power moved less than this share (plus 2 W) since the last one.
STEADY_SHARE = 0.05


def steady_features(frame: pd.DataFrame) -> pd.DataFrame:
    """P, Q, I, PF (and harmonics relative to the fundamental) per reading, where measured."""
    out = pd.DataFrame({"power": frame["power"].to_numpy(dtype="float64")})
    if "reactive" in frame.columns:
        out["reactive"] = frame["reactive"].to_numpy(dtype="float64")
    elif {"voltage", "current"} <= set(frame.columns):
        apparent = frame["voltage"].to_numpy(dtype="float64") * frame["current"].to_numpy(dtype="float64")
        out["reactive"] = np.sqrt(np.maximum(apparent**2 - out["power"].to_numpy() ** 2, 0.0))
    for name in ("current", "pf"):
        if name in frame.columns:
            out[name] = frame[name].to_numpy(dtype="float64")
    if "h1" in frame.columns:
        fundamental = np.maximum(frame["h1"].to_numpy(dtype="float64"), 1e-3)
        for name in HARMONICS:
            if name in frame.columns:
                out[f"{name}_share"] = frame[name].to_numpy(dtype="float64") / fundamental
    return out.fillna(0.0)


def steady_mask(power: np.ndarray) -> np.ndarray:
    """True where power has settled: within 5 % (+2 W) of both neighbouring readings."""
    p = np.asarray(power, dtype="float64")
    tol = STEADY_SHARE * np.abs(p) + 2.0
    before = np.concatenate([[0.0], np.abs(np.diff(p))])
    after = np.concatenate([np.abs(np.diff(p)), [0.0]])
    return np.asarray((before <= tol) & (after <= tol))


def on_states(sub_power: pd.DataFrame, thresholds: dict[str, float] | None = None) -> pd.DataFrame:
    """Each appliance's on/off from its own sub-meter: on above 5 W or a tenth of its high level."""
    states = {}
    for name in sub_power.columns:
        p = sub_power[name].to_numpy(dtype="float64")
        limit = (thresholds or {}).get(name, max(5.0, 0.1 * float(np.quantile(p, 0.99))))
        states[name] = p > limit
    return pd.DataFrame(states)


def on_by_steps(ts: np.ndarray, power: np.ndarray, min_step_w: float) -> np.ndarray:
    """On from each rise of at least ``min_step_w`` in an appliance's own sub-meter until its
    next fall of as much (and on before a first fall).

    For a load whose off state is not zero and creeps (a laptop that keeps charging while
    "off"), no fixed level tells on from off, but its own switching steps do.
    """
    cfg = DetectorConfig(min_step_w=min_step_w, tol_abs_w=1.0, second="none", min_steady=3, level_n=5)
    t = np.asarray(ts, dtype=np.int64)
    events = detect_events(t, np.asarray(power, dtype="float64"), None, cfg)
    out = np.zeros(t.size, dtype=bool)
    if events:
        out[:] = events[0].delta_p < 0  # a recording that starts with it on begins with a fall
    for event in events:
        out[int(np.searchsorted(t, event.ts)) :] = event.delta_p > 0
    return out


def on_by_smoothed_level(values: np.ndarray, threshold: float, window: int = 31) -> np.ndarray:
    """On where the running median (``window`` readings) of a sub-meter quantity is at or
    above ``threshold``: a sub-meter that picks up some of its neighbours' current reads a
    little while its own appliance is off, and the median ignores the neighbours' inrush."""
    smooth = pd.Series(np.asarray(values, dtype="float64")).rolling(window, center=True, min_periods=1).median()
    return np.asarray(smooth.to_numpy() >= threshold)


@dataclass
class LoadClassifier:
    """A fitted multi-output forest: one on/off answer per appliance."""

    forest: RandomForestClassifier
    appliances: tuple[str, ...]
    feature_names: tuple[str, ...]


def fit_load_classifier(features: pd.DataFrame, states: pd.DataFrame, *, random_state: int = 0) -> LoadClassifier:
    """Learn from steady readings only (the caller's rows; transients are dropped here)."""
    keep = steady_mask(features["power"].to_numpy())
    forest = RandomForestClassifier(n_estimators=200, min_samples_leaf=1, random_state=random_state, n_jobs=1)
    forest.fit(features.to_numpy()[keep], states.to_numpy(dtype="int64")[keep])
    return LoadClassifier(forest, tuple(states.columns), tuple(features.columns))


def predict_states(model: LoadClassifier, features: pd.DataFrame) -> np.ndarray:
    """An on/off matrix (rows × appliances)."""
    missing = [f for f in model.feature_names if f not in features.columns]
    if missing:
        raise ValueError(f"the classifier needs {', '.join(missing)}, which these readings lack")
    pred = model.forest.predict(features[list(model.feature_names)].to_numpy())
    return np.asarray(pred, dtype=bool).reshape(len(features), len(model.appliances))


def describe_running(model: LoadClassifier | StateTracker, row: np.ndarray) -> str:
    """Plain words for one on/off row: ``fan + incandescent lamp`` or ``nothing``."""
    names = [a.replace("_", " ") for a, on in zip(model.appliances, row, strict=True) if on]
    return " + ".join(names) if names else "nothing"


def combination_accuracy(truth: np.ndarray, pred: np.ndarray) -> float:
    """Share of readings where every appliance's on/off is right (the combination is named)."""
    return float(np.mean(np.all(np.asarray(truth) == np.asarray(pred), axis=1)))


# --------------------------------------------------------------------------- shape


def shape_features(series: np.ndarray) -> np.ndarray:
    """Shape descriptors of each row: value distribution, step sizes, spectrum, persistence.

    They do not depend on where in the series an appliance switches, only on how it draws
    power, so two recordings of the same appliance started at different times look alike.
    """
    x = np.asarray(series, dtype="float64")
    qs = np.linspace(0.0, 1.0, 21)
    level = np.quantile(x, qs, axis=1).T
    steps = np.abs(np.diff(x, axis=1))
    step_q = np.quantile(steps, np.linspace(0.5, 1.0, 11), axis=1).T
    spectrum = np.abs(np.fft.rfft(x - x.mean(axis=1, keepdims=True), axis=1))
    bands = np.array_split(np.arange(1, spectrum.shape[1]), 16)
    band_energy = np.log1p(np.stack([spectrum[:, b].sum(axis=1) for b in bands], axis=1))
    centred = x - x.mean(axis=1, keepdims=True)
    var = np.maximum((centred**2).sum(axis=1), 1e-12)
    acf = np.stack([(centred[:, lag:] * centred[:, :-lag]).sum(axis=1) / var for lag in (1, 5, 20, 60, 180)], axis=1)
    above = x > np.median(x, axis=1, keepdims=True)
    crossings = np.abs(np.diff(above.astype("int8"), axis=1)).sum(axis=1, keepdims=True)
    return np.hstack([level, step_q, band_energy, acf, crossings])


@dataclass
class ShapeClassifier:
    forest: RandomForestClassifier


def fit_shape_classifier(series: np.ndarray, labels: np.ndarray, *, random_state: int = 0) -> ShapeClassifier:
    forest = RandomForestClassifier(n_estimators=500, random_state=random_state, n_jobs=1)
    forest.fit(shape_features(series), labels)
    return ShapeClassifier(forest)


def predict_shape(model: ShapeClassifier, series: np.ndarray) -> np.ndarray:
    return np.asarray(model.forest.predict(shape_features(series)))


def nearest_neighbour(train: np.ndarray, labels: np.ndarray, test: np.ndarray) -> np.ndarray:
    """The 1-NN Euclidean baseline: each test series takes the label of the closest train one."""
    a = np.asarray(train, dtype="float64")
    b = np.asarray(test, dtype="float64")
    d = (b**2).sum(axis=1)[:, None] + (a**2).sum(axis=1)[None, :] - 2.0 * b @ a.T
    return np.asarray(np.asarray(labels)[np.argmin(d, axis=1)])


# --------------------------------------------------------------------------- protocols


def _scores(
    truth: np.ndarray, pred: np.ndarray, steady: np.ndarray, appliances: list[str], prefix: str
) -> dict[str, float]:
    out = {
        f"{prefix}accuracy": combination_accuracy(truth, pred),
        f"{prefix}accuracy_steady": combination_accuracy(truth[steady], pred[steady]),
    }
    for i, name in enumerate(appliances):
        out[f"{prefix}accuracy_{name}"] = float(np.mean(truth[:, i] == pred[:, i]))
    return out


def evaluate_split(
    train: pd.DataFrame,
    test: pd.DataFrame,
    appliances: list[str],
    *,
    truth: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> dict[str, float]:
    """Learn on ``train``, test on ``test``, with both engines in the same run: the
    per-reading forest (``accuracy*``, the baseline) and the event-tracking state decoder
    (``tracker_accuracy*``). Combination accuracy on every reading and on the steady ones,
    and each appliance's on/off accuracy; ``tracker_validation_*`` are the tracker's checks
    inside the training part alone (:mod:`classify_validation`), the figures its design is
    chosen on. Labels are ``truth`` (train, test) when given,
    else each sub-meter above 5 W or a tenth of its high level (:func:`on_states`)."""
    s_train, s_test = truth if truth is not None else (on_states(train[appliances]), on_states(test[appliances]))
    f_train, f_test = steady_features(train), steady_features(test)
    model = fit_load_classifier(f_train, s_train)
    pred = predict_states(model, f_test)
    tracker = fit_state_tracker(train["ts"].to_numpy(), train, s_train)
    tracked = track_states(tracker, test["ts"].to_numpy(), test)
    labels = s_test.to_numpy(dtype=bool)
    steady = steady_mask(f_test["power"].to_numpy())
    seen = {tuple(r) for r in s_train.to_numpy().tolist()}
    checks = validate(train["ts"].to_numpy(), train, s_train)
    return {
        **_scores(labels, pred, steady, appliances, ""),
        **_scores(labels, tracked, steady, appliances, "tracker_"),
        **{f"tracker_validation_{name}": value for name, value in checks.items()},
        "test_readings": float(len(test)),
        "combinations_train": float(len(seen)),
        "combinations_test_unseen": float(len({tuple(r) for r in labels.tolist()} - seen)),
    }


def evaluate_shape(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> dict[str, float]:
    """Shape forest beside the 1-NN Euclidean baseline on the same split."""
    model = fit_shape_classifier(x_train, y_train)
    return {
        "accuracy": float(np.mean(predict_shape(model, x_test) == y_test)),
        "baseline_1nn_accuracy": float(np.mean(nearest_neighbour(x_train, y_train, x_test) == y_test)),
        "test_series": float(len(y_test)),
    }
