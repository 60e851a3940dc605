"""Feature helpers shared by the anomaly, theft and classification engines.

They turn readings (or any frame with ``ts`` in UTC epoch ms) into calendar and electrical
features; calendar questions use the site's time zone, as the architecture asks.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import holidays
import numpy as np
import pandas as pd
from pandas import DatetimeTZDtype

from wattwise.domain.readings import METRICS, Reading

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def readings_frame(readings: Iterable[Reading]) -> pd.DataFrame:
    """Readings of one meter as a frame (``ts`` plus every metric; unmeasured ones are NaN),
    oldest first. Built from one array per column: the live anomaly step makes one for a
    meter's few readings, and a frame built row by row cost more than its scoring."""
    listed = list(readings)
    ts = np.fromiter((r.ts for r in listed), dtype="int64", count=len(listed))
    order = np.argsort(ts, kind="stable")
    columns: dict[str, np.ndarray] = {"ts": ts[order]}
    for m in METRICS:
        values = np.array([np.nan if (v := r.value(m)) is None else v for r in listed], dtype="float64")
        columns[m] = values[order]
    return pd.DataFrame(columns)


def local_times(ts_ms: np.ndarray, tz: str) -> pd.DatetimeIndex:
    """UTC epoch ms as wall-clock times in ``tz``."""
    return pd.to_datetime(np.asarray(ts_ms, dtype="int64"), unit="ms", utc=True).tz_convert(tz)


@functools.lru_cache(maxsize=256)
def _zone(tz: str) -> DatetimeTZDtype:
    """``tz`` resolved once, as pandas resolves it (its own tz object and transitions):
    resolving the name was most of what one conversion of a few readings cost."""
    return DatetimeTZDtype("ms", tz)


_UTC_MS = DatetimeTZDtype("ms", "UTC")


def wall_clock_ms(ts_ms: np.ndarray, tz: str) -> np.ndarray:
    """UTC epoch ms as wall-clock ms in ``tz`` (the local time's fields, counted as if UTC).

    pandas' own conversion (the same transitions :func:`local_times` uses), done once; the
    calendar fields are then whole-number arithmetic on the result, which is how pandas
    derives ``hour``, ``weekday`` … from it too.
    """
    utc = pd.DatetimeIndex(np.asarray(ts_ms, dtype="int64").astype("M8[ms]"), dtype=_UTC_MS)
    return np.asarray(utc.tz_convert(_zone(tz).tz).tz_localize(None).asi8, dtype="int64")


MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
#: 1970-01-01, local day 0, was a Thursday (Monday is 0)
EPOCH_WEEKDAY = 3


@dataclass(frozen=True, slots=True)
class Calendar:
    """The calendar fields of each timestamp in a site's time zone, as whole-number arrays.

    Built once per call by :func:`calendar` (numpy on the wall-clock ms), where the anomaly
    engine used to build :func:`calendar_frame` three times per scored chunk.
    """

    wall_ms: np.ndarray  # wall-clock ms (local fields counted as if UTC)

    @property
    def day(self) -> np.ndarray:
        """Local days since 1970-01-01."""
        return self.wall_ms // DAY_MS

    @property
    def hour(self) -> np.ndarray:
        return (self.wall_ms // HOUR_MS) % 24

    @property
    def weekday(self) -> np.ndarray:
        """Monday 0 … Sunday 6."""
        return (self.day + EPOCH_WEEKDAY) % 7

    @property
    def hour_of_week(self) -> np.ndarray:
        return np.asarray(self.weekday * 24 + self.hour, dtype="int64")

    @property
    def minute_of_day(self) -> np.ndarray:
        return (self.wall_ms // MINUTE_MS) % 1440

    @property
    def month(self) -> np.ndarray:
        """1 … 12."""
        return self.day.astype("M8[D]").astype("M8[M]").astype("int64") % 12 + 1

    def holiday(self, country: str | None) -> np.ndarray:
        """1 where the local date is a public holiday of ``country``; each date looked up once."""
        days, where = np.unique(self.day, return_inverse=True)
        return holiday_flags(days.astype("M8[D]").astype(object), country)[where.reshape(-1)]


def calendar(ts_ms: np.ndarray, tz: str = "UTC") -> Calendar:
    """The calendar fields of UTC epoch ms in ``tz`` (see :class:`Calendar`)."""
    return Calendar(wall_clock_ms(ts_ms, tz))


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
    cal = calendar(ts_ms, tz)
    return pd.DataFrame(
        {
            "hour": cal.hour,
            "weekday": cal.weekday,
            "hour_of_week": cal.hour_of_week,
            "minute_of_day": cal.minute_of_day,
            "holiday": cal.holiday(country),
            "season": season_of(cal.month),
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
