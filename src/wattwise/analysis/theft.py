"""Theft and loss: energy balance of a main meter against its sub-meters, a Random Forest
on daily consumption profiles, and the Ignore/Raise feedback that teaches both.

Energy balance, in plain words: what the main meter counts should equal what the sub-
meters count plus a base of unmetered loads (learned from a period the user vouches for).
Each interval's surplus is compared with what meter error (0.5 % of each meter's energy)
and the base's usual wobble can explain; a cumulative sum (CUSUM) of the part they cannot
explain rises steadily under a persistent loss and stays at zero otherwise, so a small loss
is flagged after a while and a large one fast, with few false alarms.

The Random Forest looks at one meter-day at a time: its 24 hourly energies against the
meter's own usual profile (total, peak, shape, zero hours, flat stretches) and the calendar
(weekday, public holiday, season). It is trained on real consumption into which the
standard theft patterns are injected (:data:`ATTACKS`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

from wattwise.analysis.features import calendar_frame

METER_ACCURACY = 0.005

# --------------------------------------------------------------------------- energy balance


@dataclass(frozen=True)
class BalanceModel:
    """Unmetered base (Wh per interval), its usual wobble, and the CUSUM settings."""

    base_wh: float
    sigma_wh: float
    accuracy: float = METER_ACCURACY
    slack: float = 0.5  # in sigmas: shifts smaller than ~2×slack σ are not chased
    limit: float = 8.0  # in sigmas: the alarm level of the cumulative sum


def fit_balance(main_wh: np.ndarray, subs_wh: np.ndarray, **settings: float) -> BalanceModel:
    """Learn the unmetered base and its wobble from a period assumed free of loss.

    Robust statistics (median, MAD) so that a few switching lags between meters do not
    inflate the base.
    """
    residual = np.asarray(main_wh, dtype="float64") - np.asarray(subs_wh, dtype="float64")
    if residual.size < 10:
        raise ValueError(f"need at least 10 intervals to learn the base, got {residual.size}")
    base = float(np.median(residual))
    mad = float(np.median(np.abs(residual - base))) * 1.4826
    floor = METER_ACCURACY * float(np.median(np.abs(main_wh))) + 1e-6
    return BalanceModel(base_wh=base, sigma_wh=max(mad, floor), **settings)


def balance_cusum(model: BalanceModel, main_wh: np.ndarray, subs_wh: np.ndarray, start: float = 0.0) -> np.ndarray:
    """The CUSUM statistic after each interval (in sigmas); an alarm is ``> model.limit``.

    ``start`` carries the statistic over from the previous chunk for live use.
    """
    main = np.asarray(main_wh, dtype="float64")
    subs = np.asarray(subs_wh, dtype="float64")
    tolerance = model.accuracy * (np.abs(main) + np.abs(subs))
    excess = main - subs - model.base_wh
    # Meter error may explain up to ``tolerance`` of the surplus; never count that part.
    unexplained = np.sign(excess) * np.maximum(np.abs(excess) - tolerance, 0.0)
    z = unexplained / model.sigma_wh - model.slack
    out = np.empty_like(z)
    s = start
    for i, value in enumerate(z):
        s = max(0.0, s + float(value))
        out[i] = s
    return np.asarray(out, dtype="float64")


def first_alarm(statistic: np.ndarray, limit: float) -> int | None:
    """Index of the first interval whose statistic exceeds ``limit``."""
    hits = np.flatnonzero(statistic > limit)
    return int(hits[0]) if hits.size else None


def describe_loss(model: BalanceModel, main_wh: np.ndarray, subs_wh: np.ndarray) -> str:
    """Plain words for the unexplained energy over a stretch of intervals."""
    main_total = float(np.sum(main_wh))
    missing = main_total - float(np.sum(subs_wh)) - model.base_wh * len(main_wh)
    share = 100.0 * missing / main_total if main_total else 0.0
    return (
        f"{missing / 1000:.2f} kWh ({share:.1f} % of the main meter) is not accounted for by the "
        f"sub-meters and the usual unmetered base"
    )


# --------------------------------------------------------------------------- theft patterns


def _scaled(day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return day * rng.uniform(0.1, 0.8)


def _cut_off(day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cap = float(np.quantile(day, rng.uniform(0.2, 0.7)))
    return np.asarray(np.minimum(day, cap), dtype="float64")


def _zeroed(day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = day.copy()
    length = int(rng.integers(4, 13))
    start = int(rng.integers(0, len(day) - length + 1))
    out[start : start + length] = 0.0
    return out


def _random_scaling(day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return day * rng.uniform(0.1, 0.8, size=day.shape)


def _flat_mean(day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    del rng
    return np.full_like(day, float(np.mean(day)))


def _reordered(day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    del rng
    return day[::-1].copy()


#: The standard theft patterns (Jokar et al., IEEE TSG 2016), applied to a day's 24 hourly
#: energies. The last two keep the day's total: they move consumption to cheaper hours.
ATTACKS = {
    "scaled_down": _scaled,
    "cut_off": _cut_off,
    "zeroed_interval": _zeroed,
    "random_scaling": _random_scaling,
    "flat_mean": _flat_mean,
    "reordered": _reordered,
}


def inject_theft(day: np.ndarray, attack: str, rng: np.random.Generator) -> np.ndarray:
    """A copy of a day's hourly energies as a meter under ``attack`` would report them."""
    if attack not in ATTACKS:
        raise ValueError(f"unknown theft pattern {attack!r}; known: {', '.join(ATTACKS)}")
    return ATTACKS[attack](np.asarray(day, dtype="float64"), rng)


# --------------------------------------------------------------------------- daily features


def hourly_days(ts_ms: np.ndarray, power_w: np.ndarray, tz: str = "UTC") -> pd.DataFrame:
    """Whole local days of hourly energy (Wh) from power samples: one row per day, 24 columns.

    Days with any hour missing are left out (a gap is not consumption).
    """
    local = pd.to_datetime(np.asarray(ts_ms, dtype="int64"), unit="ms", utc=True).tz_convert(tz)
    series = pd.Series(np.asarray(power_w, dtype="float64"), index=local)
    hourly_mean = series.resample("1h").mean()
    index = pd.DatetimeIndex(hourly_mean.index)
    table = pd.DataFrame({"day": index.normalize(), "hour": index.hour, "wh": hourly_mean.to_numpy()})
    wide = table.pivot_table(index="day", columns="hour", values="wh", aggfunc="first")
    wide = wide.reindex(columns=range(24)).dropna()
    return wide


FEATURE_NAMES = (
    "total_vs_usual",
    "peak_vs_usual",
    "min_vs_usual",
    "ratio_mean",
    "ratio_std",
    "ratio_min",
    "ratio_max",
    "zero_hours",
    "longest_zero_run",
    "flatness_vs_usual",
    "hours_at_peak",
    "shape_correlation",
    "night_share_vs_usual",
    "weekday",
    "holiday",
    "season",
)


def _longest_run(mask: np.ndarray) -> int:
    best = cur = 0
    for flag in mask:
        cur = cur + 1 if flag else 0
        best = max(best, cur)
    return best


def day_features(day: np.ndarray, usual: np.ndarray, weekday: int, holiday: int, season: int) -> np.ndarray:
    """What the forest sees for one meter-day: its 24 hourly Wh against the usual profile."""
    x = np.asarray(day, dtype="float64")
    u = np.asarray(usual, dtype="float64")
    eps = max(1e-3 * float(np.mean(u)), 1e-6)
    ratio = (x + eps) / (u + eps)
    peak = float(x.max())
    zero = x <= 1e-3 * max(float(np.mean(u)), 1e-6)
    flat_x = float(np.std(x) / (np.mean(x) + eps))
    flat_u = float(np.std(u) / (np.mean(u) + eps))
    corr = float(np.corrcoef(x, u)[0, 1]) if np.std(x) > 1e-9 and np.std(u) > 1e-9 else 0.0
    night = slice(0, 6)
    night_x = float(x[night].sum() / (x.sum() + eps))
    night_u = float(u[night].sum() / (u.sum() + eps))
    return np.array(
        [
            float((x.sum() + eps) / (u.sum() + eps)),
            (peak + eps) / (float(u.max()) + eps),
            (float(x.min()) + eps) / (float(u.min()) + eps),
            float(np.mean(ratio)),
            float(np.std(ratio)),
            float(np.min(ratio)),
            float(np.max(ratio)),
            float(zero.sum()),
            float(_longest_run(zero)),
            (flat_x + 1e-3) / (flat_u + 1e-3),
            float((x >= 0.99 * peak).sum()) if peak > 0 else 24.0,
            corr,
            night_x - night_u,
            float(weekday),
            float(holiday),
            float(season),
        ]
    )


def usual_profile(days: np.ndarray) -> np.ndarray:
    """A meter's usual day: the median of each hour over its reference days."""
    return np.asarray(np.median(np.asarray(days, dtype="float64"), axis=0), dtype="float64")


def features_for_days(days: pd.DataFrame, usual: np.ndarray, country: str | None = None) -> np.ndarray:
    """Feature rows for the days of :func:`hourly_days` (index = local midnight)."""
    if days.empty:
        return np.empty((0, len(FEATURE_NAMES)))
    index = pd.DatetimeIndex(days.index)
    ts = (index.tz_convert("UTC") if index.tz is not None else index).astype("datetime64[ms]").astype("int64")
    cal = calendar_frame(np.asarray(ts) + 12 * 3_600_000, "UTC", country)
    return np.vstack(
        [
            day_features(
                days.iloc[i].to_numpy(),
                usual,
                int(cal["weekday"].iloc[i]),
                int(cal["holiday"].iloc[i]),
                int(cal["season"].iloc[i]),
            )
            for i in range(len(days))
        ]
    )


# --------------------------------------------------------------------------- the forest


@dataclass
class Verdict:
    """A user's answer to a theft alert: ``ignore`` (normal for us) or ``raise`` (theft)."""

    meter: str
    day: str
    verdict: str
    features: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.verdict not in ("ignore", "raise"):
            raise ValueError(f"verdict must be 'ignore' or 'raise', got {self.verdict!r}")


@dataclass
class TheftModel:
    """The forest, its alert threshold, the training rows and the user's verdicts."""

    forest: RandomForestClassifier
    threshold: float
    train_x: np.ndarray
    train_y: np.ndarray
    scale: np.ndarray
    verdicts: list[Verdict] = field(default_factory=list)
    feedback_weight: float = 20.0
    #: an ignored pattern covers new days within this distance (in feature spreads)
    ignore_radius: float = 1.0


def fit_theft_model(x: np.ndarray, y: np.ndarray, *, threshold: float = 0.5, random_state: int = 0) -> TheftModel:
    """Train the forest on feature rows ``x`` and labels ``y`` (1 = theft)."""
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="int64")
    if len(set(y.tolist())) < 2:
        raise ValueError("training needs both honest and theft days")
    forest = RandomForestClassifier(n_estimators=300, min_samples_leaf=2, random_state=random_state, n_jobs=1)
    forest.fit(x, y)
    spread = np.quantile(x, 0.9, axis=0) - np.quantile(x, 0.1, axis=0)
    return TheftModel(forest, threshold, x, y, np.where(spread > 1e-9, spread, 1.0))


def theft_probability(model: TheftModel, x: np.ndarray) -> np.ndarray:
    """The forest's probability of theft for each feature row."""
    proba = model.forest.predict_proba(np.asarray(x, dtype="float64"))
    classes = list(model.forest.classes_)
    return np.asarray(proba[:, classes.index(1)]) if 1 in classes else np.zeros(len(x))


def _nearest(model: TheftModel, row: np.ndarray, meter: str, verdict: str) -> float:
    pts = [np.asarray(v.features) for v in model.verdicts if v.meter == meter and v.verdict == verdict]
    if not pts:
        return float("inf")
    return float(min(np.max(np.abs((p - row) / model.scale)) for p in pts))


def alerts(model: TheftModel, x: np.ndarray, meter: str) -> np.ndarray:
    """Which rows of one meter raise a theft alert, after the user's verdicts.

    A day the forest finds suspicious is not alerted when it is within ``ignore_radius`` of
    a pattern the user ignored on this meter, unless a raised pattern is nearer still.
    """
    x = np.asarray(x, dtype="float64")
    flagged = theft_probability(model, x) >= model.threshold
    for i in np.flatnonzero(flagged):
        ignored = _nearest(model, x[i], meter, "ignore")
        raised = _nearest(model, x[i], meter, "raise")
        if ignored <= model.ignore_radius and ignored < raised:
            flagged[i] = False
    return flagged


def record_verdict(model: TheftModel, verdict: Verdict, *, random_state: int = 0) -> TheftModel:
    """Store the user's verdict and retrain with every verdict as a weighted example."""
    verdicts = [*model.verdicts, verdict]
    fx = np.array([v.features for v in verdicts], dtype="float64")
    fy = np.array([0 if v.verdict == "ignore" else 1 for v in verdicts], dtype="int64")
    x = np.vstack([model.train_x, fx])
    y = np.concatenate([model.train_y, fy])
    weights = np.concatenate([np.ones(len(model.train_y)), np.full(len(fy), model.feedback_weight)])
    forest = RandomForestClassifier(n_estimators=300, min_samples_leaf=2, random_state=random_state, n_jobs=1)
    forest.fit(x, y, sample_weight=weights)
    return TheftModel(
        forest,
        model.threshold,
        model.train_x,
        model.train_y,
        model.scale,
        verdicts,
        model.feedback_weight,
        model.ignore_radius,
    )


def verdicts_to_json(verdicts: list[Verdict]) -> str:
    """The verdicts as JSON, for the store."""
    return json.dumps([asdict(v) for v in verdicts])


def verdicts_from_json(text: str) -> list[Verdict]:
    return [Verdict(**item) for item in json.loads(text)]


# --------------------------------------------------------------------------- evaluation


def precision_at_k(y_true: np.ndarray, score: np.ndarray, k: int) -> float:
    """Share of real thefts among the ``k`` highest-scored rows."""
    order = np.argsort(-np.asarray(score), kind="stable")[:k]
    return float(np.mean(np.asarray(y_true)[order])) if k else float("nan")
