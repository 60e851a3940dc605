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
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

from wattwise.analysis.features import holiday_flags, season_of
from wattwise.analysis.forest_scores import CompactClassifier

METER_ACCURACY = 0.005
#: A balance that could not see this share of the main meter going missing is not worth
#: its false alarms: its base swings too much to watch.
MAX_UNSEEN_LOSS = 0.10

# --------------------------------------------------------------------------- energy balance


@dataclass(frozen=True)
class BalanceModel:
    """Unmetered base (Wh per interval), its usual wobble, the CUSUM settings, and whether
    the base held still while it was learned (``steady``)."""

    base_wh: float
    sigma_wh: float
    accuracy: float = METER_ACCURACY
    slack: float = 0.5  # in sigmas: shifts smaller than ~2×slack σ are not chased
    limit: float = 8.0  # in sigmas: the alarm level of the cumulative sum
    steady: bool = True
    coverage: float = 1.0  # share of the main meter's energy the sub-meters saw while learning
    min_detectable_share: float = 0.0  # smallest persistent loss (share of main) the CUSUM climbs on


def fit_balance(main_wh: np.ndarray, subs_wh: np.ndarray) -> BalanceModel:
    """Learn the unmetered base and its wobble from a period assumed free of loss.

    Robust statistics (median, MAD) so that a few switching lags between meters do not
    inflate the base. The learning period is then replayed through the CUSUM: if the
    statistic would have alarmed there, the unmetered loads swing more than any constant
    base can describe (heating, lights and sockets no sub-meter sees), and a loss could not
    be told from them; likewise when only a loss above :data:`MAX_UNSEEN_LOSS` of the main
    meter would make the CUSUM climb. Such a model is not ``steady`` and never alarms — a false alarm
    every evening teaches people to ignore the real one — and :func:`balance_verdict` says
    why in plain words.
    """
    main = np.asarray(main_wh, dtype="float64")
    subs = np.asarray(subs_wh, dtype="float64")
    residual = main - subs
    if residual.size < 10:
        raise ValueError(f"need at least 10 intervals to learn the base, got {residual.size}")
    base = float(np.median(residual))
    mad = float(np.median(np.abs(residual - base))) * 1.4826
    floor = METER_ACCURACY * float(np.median(np.abs(main))) + 1e-6
    model = BalanceModel(base_wh=base, sigma_wh=max(mad, floor))
    main_total = float(np.sum(np.abs(main)))
    mean_main = main_total / main.size
    # A loss share L adds L·main to the surplus; the CUSUM climbs once that beats the meter
    # tolerance plus the slack.
    tolerance = model.accuracy * float(np.mean(np.abs(main) + np.abs(subs)))
    detectable = (model.slack * model.sigma_wh + tolerance) / mean_main if mean_main > 0 else float("inf")
    # Replayed with each interval's share capped: one odd interval (a partial first one, a
    # meter that reported late) must not condemn the base; a drift that lasts does.
    in_sample = balance_cusum(model, main, subs, cap=model.limit / 4)
    return replace(
        model,
        steady=first_alarm(in_sample, model.limit) is None and detectable <= MAX_UNSEEN_LOSS,
        coverage=float(np.sum(np.abs(subs))) / main_total if main_total > 0 else 0.0,
        min_detectable_share=min(detectable, 1e6),
    )


def balance_cusum(
    model: BalanceModel, main_wh: np.ndarray, subs_wh: np.ndarray, start: float = 0.0, cap: float | None = None
) -> np.ndarray:
    """The CUSUM statistic after each interval (in sigmas); an alarm is ``> model.limit``.

    ``start`` carries the statistic over from the previous chunk for live use; ``cap``
    bounds what one interval may add (in sigmas). A model
    that is not ``steady`` gives zeros: it cannot tell a loss from the house's own swings.
    """
    main = np.asarray(main_wh, dtype="float64")
    subs = np.asarray(subs_wh, dtype="float64")
    if not model.steady:
        return np.zeros(main.size, dtype="float64")
    tolerance = model.accuracy * (np.abs(main) + np.abs(subs))
    excess = main - subs - model.base_wh
    # Meter error may explain up to ``tolerance`` of the surplus; never count that part.
    unexplained = np.sign(excess) * np.maximum(np.abs(excess) - tolerance, 0.0)
    z = unexplained / model.sigma_wh - model.slack
    if cap is not None:
        z = np.minimum(z, cap)
    out = np.empty_like(z)
    s = start
    for i, value in enumerate(z):
        s = max(0.0, s + float(value))
        out[i] = s
    return np.asarray(out, dtype="float64")


def balance_verdict(model: BalanceModel) -> str:
    """What the balance can promise this site, in plain words."""
    covered = f"the sub-meters see {100 * model.coverage:.0f} % of the main meter's energy"
    if not model.steady:
        return (
            f"Not watching for losses: {covered} and the rest swings more than a steady base "
            f"(±{model.sigma_wh:.0f} Wh per interval around {model.base_wh:.0f} Wh), so a loss "
            "could not be told from unmetered loads. Put the largest unmetered loads on sub-meters."
        )
    return (
        f"Watching for losses: {covered}; a persistent loss above "
        f"{100 * model.min_detectable_share:.1f} % of the main meter is flagged, sooner the larger it is."
    )


def first_alarm(statistic: np.ndarray, limit: float) -> int | None:
    """Index of the first interval whose statistic exceeds ``limit``."""
    hits = np.flatnonzero(statistic > limit)
    return int(hits[0]) if hits.size else None


def missing_wh(model: BalanceModel, main_wh: np.ndarray, subs_wh: np.ndarray) -> float:
    """Energy over a stretch of intervals that neither the sub-meters nor the base explain."""
    return float(np.sum(main_wh)) - float(np.sum(subs_wh)) - model.base_wh * len(main_wh)


def describe_loss(model: BalanceModel, main_wh: np.ndarray, subs_wh: np.ndarray) -> str:
    """Plain words for the unexplained energy over a stretch of intervals."""
    main_total = float(np.sum(main_wh))
    missing = missing_wh(model, main_wh, subs_wh)
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
    weekday = np.asarray(index.weekday)
    holiday = holiday_flags(index.date, country)
    season = season_of(np.asarray(index.month))
    return np.vstack(
        [
            day_features(
                days.iloc[i].to_numpy(),
                usual,
                int(weekday[i]),
                int(holiday[i]),
                int(season[i]),
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

    forest: CompactClassifier  # what scoring needs of the fitted RandomForestClassifier: P(theft)
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
    forest = RandomForestClassifier(n_estimators=200, min_samples_leaf=2, random_state=random_state, n_jobs=1)
    forest.fit(x, y)
    spread = np.quantile(x, 0.9, axis=0) - np.quantile(x, 0.1, axis=0)
    return TheftModel(CompactClassifier.of(forest, 1), threshold, x, y, np.where(spread > 1e-9, spread, 1.0))


def compacted(model: TheftModel) -> TheftModel:
    """A model stored with scikit-learn's whole forest (before it was kept compact), with the
    compact one instead: the very same probabilities, a tenth of the memory."""
    if isinstance(model.forest, RandomForestClassifier):
        return replace(model, forest=CompactClassifier.of(model.forest, 1))
    return model


def theft_probability(model: TheftModel, x: np.ndarray) -> np.ndarray:
    """The forest's probability of theft for each feature row."""
    return model.forest.probability(np.asarray(x, dtype="float64"))


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
    forest = RandomForestClassifier(n_estimators=200, min_samples_leaf=2, random_state=random_state, n_jobs=1)
    forest.fit(x, y, sample_weight=weights)
    return TheftModel(
        CompactClassifier.of(forest, 1),
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


@dataclass(frozen=True)
class TheftRows:
    """Feature rows of meter-days, honest (0) and with an injected pattern (1)."""

    x: np.ndarray
    y: np.ndarray
    meter: np.ndarray
    day_index: np.ndarray  # position of the day among the meter's evaluated days
    attack: np.ndarray


def theft_rows(
    meters: Mapping[str, tuple[pd.DataFrame, str | None]],
    *,
    reference_days: int = 3,
    seed: int = 0,
) -> TheftRows:
    """For every meter (hourly days, holiday country): its first ``reference_days`` days set
    the usual profile; every later day gives one honest row and one row with a theft pattern
    (the patterns taken in turn, their parameters drawn at random)."""
    rng = np.random.default_rng(seed)
    names = list(ATTACKS)
    xs, ys, ms, ds, atk = [], [], [], [], []
    turn = 0
    for meter, (days, country) in meters.items():
        if len(days) <= reference_days:
            continue
        usual = usual_profile(days.iloc[:reference_days].to_numpy())
        later = days.iloc[reference_days:]
        honest = features_for_days(later, usual, country)
        stolen_days = later.copy()
        kinds = []
        for i in range(len(later)):
            kind = names[turn % len(names)]
            turn += 1
            stolen_days.iloc[i] = inject_theft(later.iloc[i].to_numpy(), kind, rng)
            kinds.append(kind)
        stolen = features_for_days(stolen_days, usual, country)
        n = len(later)
        xs += [honest, stolen]
        ys += [np.zeros(n, dtype="int64"), np.ones(n, dtype="int64")]
        ms += [np.full(n, meter), np.full(n, meter)]
        ds += [np.arange(n), np.arange(n)]
        atk += [np.full(n, "none"), np.array(kinds)]
    return TheftRows(np.vstack(xs), np.concatenate(ys), np.concatenate(ms), np.concatenate(ds), np.concatenate(atk))


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score)) if len(set(np.asarray(y).tolist())) == 2 else float("nan")


def _ranked(y: np.ndarray, score: np.ndarray, attacks: np.ndarray) -> dict[str, float]:
    out = {
        "roc_auc": _auc(y, score),
        "precision_at_10": precision_at_k(y, score, 10),
        "precision_at_20": precision_at_k(y, score, 20),
        "accuracy_at_0_5": float(np.mean((score >= 0.5) == (y == 1))),
        "rows": float(len(y)),
    }
    for attack in ATTACKS:
        keep = (attacks == attack) | (y == 0)
        out[f"roc_auc_{attack}"] = _auc(y[keep], score[keep])
    return out


def evaluate_by_meter(rows: TheftRows, *, random_state: int = 0) -> dict[str, float]:
    """Leave one meter out: the forest never sees any day of the meter it scores."""
    score = np.zeros(len(rows.y))
    for meter in sorted(set(rows.meter.tolist())):
        test = rows.meter == meter
        model = fit_theft_model(rows.x[~test], rows.y[~test], random_state=random_state)
        score[test] = theft_probability(model, rows.x[test])
    return _ranked(rows.y, score, rows.attack)


def evaluate_by_days(rows: TheftRows, *, random_state: int = 0) -> dict[str, float]:
    """Held-out days: learn from the earlier half of every meter's days, score the later half."""
    later = np.zeros(len(rows.y), dtype=bool)
    for meter in set(rows.meter.tolist()):
        mine = rows.meter == meter
        cut = (int(rows.day_index[mine].max()) + 1) // 2
        later |= mine & (rows.day_index >= cut)
    model = fit_theft_model(rows.x[~later], rows.y[~later], random_state=random_state)
    return _ranked(rows.y[later], theft_probability(model, rows.x[later]), rows.attack[later])


def evaluate_balance(
    ts_ms: np.ndarray,
    main_w: np.ndarray,
    subs_w: np.ndarray,
    *,
    interval: str,
    learn_share: float = 0.3,
    losses: tuple[float, ...] = (0.05, 0.2),
    loss_starts_after: int = 10,
) -> dict[str, float]:
    """Energy balance on a recording with sub-meters: learn the base on the first
    ``learn_share``; in the rest, count false alarms with no loss, then add each loss (a
    share of the main meter's energy that never reaches a sub-meter) from
    ``loss_starts_after`` intervals in and time the first alarm."""
    index = pd.to_datetime(np.asarray(ts_ms, dtype="int64"), unit="ms")
    frame = pd.DataFrame({"main": main_w, "subs": subs_w}, index=index)
    hours = pd.Timedelta(interval).total_seconds() / 3600.0
    wh = (frame.resample(interval).mean() * hours).dropna()
    learn = int(len(wh) * learn_share)
    model = fit_balance(wh["main"].to_numpy()[:learn], wh["subs"].to_numpy()[:learn])
    main = wh["main"].to_numpy()[learn:]
    subs = wh["subs"].to_numpy()[learn:]
    quiet = first_alarm(balance_cusum(model, main, subs), model.limit)
    out = {
        "intervals_tested": float(len(main)),
        "interval_s": hours * 3600.0,
        "false_alarm_after_s": float("nan") if quiet is None else (quiet + 1) * hours * 3600.0,
        "base_wh": model.base_wh,
        "sigma_wh": model.sigma_wh,
        "steady": float(model.steady),
        "coverage": model.coverage,
        "min_detectable_share": model.min_detectable_share,
    }
    for loss in losses:
        lossy = main.copy()
        lossy[loss_starts_after:] *= 1.0 + loss
        hit = first_alarm(balance_cusum(model, lossy, subs)[loss_starts_after:], model.limit)
        out[f"delay_s_loss_{round(loss * 100)}pct"] = float("nan") if hit is None else (hit + 1) * hours * 3600.0
    return out


def rows_from_series(
    meters: dict[str, tuple[np.ndarray, np.ndarray, str]], *, tz: str = "UTC", seed: int = 0
) -> TheftRows:
    """:func:`theft_rows` from raw power series ``name: (ts, power W, holiday country)``."""
    days = {name: (hourly_days(ts, power, tz), country) for name, (ts, power, country) in meters.items()}
    return theft_rows(days, seed=seed)
