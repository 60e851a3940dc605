"""Feature helpers shared by the anomaly, theft and classification engines.

They turn readings (or any frame with ``ts`` in UTC epoch ms) into calendar and electrical
features; calendar questions use the site's time zone, as the architecture asks.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from typing import TypeVar

import holidays
import numpy as np
import pandas as pd

from wattwise.domain.readings import METRICS, Reading

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def readings_frame(readings: Iterable[Reading]) -> pd.DataFrame:
    """Readings of one meter as a frame (``ts`` plus every metric; unmeasured ones are NaN)."""
    rows = [{"ts": r.ts, **{m: (np.nan if r.value(m) is None else r.value(m)) for m in METRICS}} for r in readings]
    frame = pd.DataFrame(rows, columns=["ts", *METRICS])
    frame["ts"] = frame["ts"].astype("int64")
    return frame.sort_values("ts", kind="stable").reset_index(drop=True)


def local_times(ts_ms: np.ndarray, tz: str) -> pd.DatetimeIndex:
    """UTC epoch ms as wall-clock times in ``tz``."""
    return pd.to_datetime(np.asarray(ts_ms, dtype="int64"), unit="ms", utc=True).tz_convert(tz)


def season_of(month: np.ndarray, *, southern: bool = False) -> np.ndarray:
    """Meteorological season 0 winter, 1 spring, 2 summer, 3 autumn."""
    season = (np.asarray(month) % 12) // 3
    return (season + 2) % 4 if southern else season


def holiday_flags(dates: Iterable[object], country: str | None) -> np.ndarray:
    """1 where the date is a public holiday of ``country`` (the ``holidays`` package)."""
    date_list = list(dates)
    if not country:
        return np.zeros(len(date_list), dtype="int64")
    years = sorted({d.year for d in date_list})  # type: ignore[attr-defined]
    calendar = holidays.country_holidays(country, years=years)
    return np.array([1 if d in calendar else 0 for d in date_list], dtype="int64")


def calendar_frame(ts_ms: np.ndarray, tz: str = "UTC", country: str | None = None) -> pd.DataFrame:
    """Hour, weekday, hour of week, minute of day, holiday and season for each timestamp."""
    local = local_times(ts_ms, tz)
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


def slot_name(slot: int, *, weekly: bool) -> str:
    """Plain words for an hour-of-week (``Tuesday 14:00``) or hour-of-day (``14:00``) slot."""
    if weekly:
        return f"{DAY_NAMES[slot // 24]} {slot % 24:02d}:00"
    return f"{slot:02d}:00"


def format_watts(watts: float) -> str:
    """``2.4 kW`` above a kilowatt, ``85 W`` below, for messages a non-expert reads."""
    if abs(watts) >= 1000:
        return f"{watts / 1000:.1f} kW"
    return f"{watts:.0f} W"


def format_duration(seconds: float) -> str:
    """``47 min`` / ``2.5 h`` / ``30 s``."""
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


ModelT = TypeVar("ModelT")


def dump_model(model: object) -> bytes:
    """Serialise a fitted model for storage (pickle: load only what this installation wrote)."""
    return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)


def load_model(data: bytes, kind: type[ModelT]) -> ModelT:
    """Inverse of :func:`dump_model`; refuses bytes that do not hold a ``kind``."""
    model = pickle.loads(data)
    if not isinstance(model, kind):
        raise TypeError(f"expected a {kind.__name__}, got {type(model).__name__}")
    return model
