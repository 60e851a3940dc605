"""The calendar features built once per call with numpy give what pandas' fields gave.

``features.calendar`` replaced ``calendar_frame`` (pandas, built three times per scored
chunk) inside the anomaly engine. ``pandas_calendar_frame`` below is that old pandas code,
kept here as the reference: the fields must agree everywhere, DST changes, half-hour zones,
dates before 1970 and holidays included, and the anomaly engine must fit and score bit for
bit the same on real recordings whose scored days cross a DST change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wattwise.analysis import anomaly, features, model_data
from wattwise.analysis.features import dump_model, holiday_flags, season_of

DATA = Path(__file__).parents[1] / "fixtures" / "anomaly" / "data"
MINUTE_MS = 60_000
DAY_MS = 86_400_000


def pandas_calendar_frame(ts_ms: np.ndarray, tz: str = "UTC", country: str | None = None) -> pd.DataFrame:
    """``features.calendar_frame`` as it was before the numpy calendar (the reference)."""
    local = pd.to_datetime(np.asarray(ts_ms, dtype="int64"), unit="ms", utc=True).tz_convert(tz)
    hour = np.asarray(local.hour, dtype="int64")
    weekday = np.asarray(local.weekday, dtype="int64")
    return pd.DataFrame(
        {
            "hour": hour,
            "weekday": weekday,
            "hour_of_week": weekday * 24 + hour,
            "minute_of_day": hour * 60 + np.asarray(local.minute, dtype="int64"),
            "holiday": holiday_flags(local.date, country),
            "season": season_of(np.asarray(local.month)),
        }
    )


class PandasCalendar:
    """The fields the anomaly engine reads from a ``features.Calendar``, taken from the reference."""

    def __init__(self, ts_ms: np.ndarray, tz: str) -> None:
        frame = pandas_calendar_frame(ts_ms, tz)
        self.hour = frame["hour"].to_numpy()
        self.hour_of_week = frame["hour_of_week"].to_numpy()
        self.minute_of_day = frame["minute_of_day"].to_numpy()


def _offsets_s(ts_ms: np.ndarray, tz: str) -> set[int]:
    local = pd.to_datetime(ts_ms, unit="ms", utc=True).tz_convert(tz)
    return {int(o.total_seconds()) for o in (local.tz_localize(None) - local.tz_convert(None))}


@pytest.mark.parametrize(
    ("tz", "country", "start"),
    [
        ("Europe/Paris", "FR", "2024-01-01"),
        ("America/New_York", "US", "2023-01-01"),
        ("Australia/Lord_Howe", "AU", "2023-01-01"),  # DST moves the clock by 30 minutes
        ("America/St_Johns", "CA", "2023-01-01"),  # a half-hour zone with DST
        ("Asia/Kolkata", "IN", "2023-01-01"),
        ("Europe/London", "GB", "1967-06-01"),  # before 1970, into British Standard Time
        ("UTC", None, "2023-01-01"),
    ],
)
def test_every_calendar_field_is_the_one_pandas_gave_across_dst_changes_and_holidays(
    tz: str, country: str | None, start: str
) -> None:
    first = int(pd.Timestamp(start, tz="UTC").value // 1_000_000)
    # every 7 min 13 s for two years: every minute of the day meets each DST change in turn
    ts = first + np.arange(0, 2 * 365 * DAY_MS, 433_000, dtype="int64")
    ours = features.calendar_frame(ts, tz, country)
    reference = pandas_calendar_frame(ts, tz, country)
    assert list(ours.columns) == list(reference.columns)
    for column in reference.columns:
        assert np.array_equal(ours[column].to_numpy(), reference[column].to_numpy()), column
    if tz != "UTC" and tz != "Asia/Kolkata":
        assert len(_offsets_s(ts, tz)) == 2  # the span crosses DST changes, both ways
    if country:
        assert ours["holiday"].sum() > 0
    # one reading at a time, as the live detectors often score them
    for t in ts[:: len(ts) // 50]:
        one = features.calendar(np.array([t]), tz)
        row = reference.iloc[int(np.flatnonzero(ts == t)[0])]
        assert (int(one.hour[0]), int(one.weekday[0]), int(one.minute_of_day[0])) == (
            row["hour"],
            row["weekday"],
            row["minute_of_day"],
        )


def _shifted(frame: pd.DataFrame, to: str) -> pd.DataFrame:
    """The recording moved in time (whole minutes) so that it starts at ``to`` UTC."""
    shift = int(pd.Timestamp(to, tz="UTC").value // 1_000_000) - int(frame["ts"].min())
    return frame.assign(ts=frame["ts"] + shift // MINUTE_MS * MINUTE_MS)


def _fit_and_score(history: pd.DataFrame, later: pd.DataFrame, tz: str) -> tuple[bytes, pd.DataFrame]:
    """Fit on ``history``, then score ``later`` as the live detector does: chunks of 1, 7 and
    60 readings in turn, each with the carry of the one before."""
    model = anomaly.fit_anomaly_model(history, tz=tz)
    parts, carry, i, sizes = [], None, 0, (1, 7, 60)
    while i < len(later):
        size = sizes[len(parts) % len(sizes)]
        scored, carry = anomaly.score_frame(model, later.iloc[i : i + size], carry)
        parts.append(scored)
        i += size
    return dump_model(model), pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize(
    ("name", "tz", "start", "cut_days"),
    [
        # a house with voltage and current: scored days cross the spring change (02:00 → 03:00)
        ("ihepc", "Europe/Paris", "2007-03-20 17:00", 4),
        # an appliance whose forest and run rules flag: scored days cross the autumn change
        ("dishwasher", "America/New_York", "2023-11-01 12:00", 3),
    ],
)
def test_anomaly_fits_and_scores_bit_for_bit_as_with_the_pandas_calendar(
    monkeypatch: pytest.MonkeyPatch, name: str, tz: str, start: str, cut_days: int
) -> None:
    if name == "ihepc":
        recording = model_data.load_ihepc(DATA)[["ts", "power", "voltage", "current"]]
    else:
        # five separate days of its recording, laid one after another, each its own segment
        days = model_data.load_anomaly_normal(DATA, "Dishwasher/Dishwasher_1")
        recording = pd.concat(
            [
                d.frame.assign(ts=d.frame["ts"] - d.frame["ts"].min() + k * (DAY_MS + 3_600_000), segment=d.day)
                for k, d in enumerate(days)
            ],
            ignore_index=True,
        )
    recording = _shifted(recording, start)
    cut = int(recording["ts"].min()) + cut_days * DAY_MS
    history = recording[recording["ts"] < cut]
    later = recording[recording["ts"] >= cut].reset_index(drop=True)
    if name == "ihepc":  # 40 min of 2 kW extra load just after the change, for the house to find
        since = int(pd.Timestamp("2007-03-25 03:00", tz=tz).value // 1_000_000)
        block = (later["ts"] >= since) & (later["ts"] < since + 40 * MINUTE_MS)
        later.loc[block, "power"] += 2000.0
    assert len(_offsets_s(later["ts"].to_numpy(), tz)) == 2, "the scored days must cross a DST change"

    model_ours, scored_ours = _fit_and_score(history, later, tz)
    monkeypatch.setattr(anomaly, "calendar", PandasCalendar)
    model_pandas, scored_pandas = _fit_and_score(history, later, tz)

    assert model_ours == model_pandas
    pd.testing.assert_frame_equal(scored_ours, scored_pandas, check_exact=True)
    # the comparison covers verdicts and their reasons, not only quiet scores
    flagged = scored_ours["anomalous"] | (scored_ours["earlier"].map(len) > 0)
    assert flagged.any()
    reasons = scored_ours.loc[scored_ours["anomalous"], "reason"].tolist()
    reasons += scored_ours.loc[scored_ours["earlier"].map(len) > 0, "earlier_reason"].tolist()
    assert all(reasons)
