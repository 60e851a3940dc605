"""Timestamps as people's files carry them, turned into the project's epoch milliseconds.

One rule for every reader (the CSV/Parquet importer, the evaluation loaders): numbers are
epoch seconds or milliseconds, told apart by size; text is parsed, and text without a zone
is wall-clock time in ``timezone``.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

#: Epoch seconds stay below this until the year 5138; epoch milliseconds pass it in 1973.
SECONDS_BELOW = 1e11
#: The instants a date can name (ISO 8601, a file name, a local day): the years 1 to 9999, UTC.
FIRST_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z
LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``; ValueError for any name that is none.

    The zone database is a folder of files, so a name can fail as unknown, as a path it
    refuses (``../x``) or as a file name too long for the system (an ``OSError``).
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {name[:100]!r}") from exc


def calendar_error(name: str, ts_ms: int, spare_ms: int = 0) -> str | None:
    """Why ``ts_ms`` cannot be written as a date, or None; ``spare_ms`` keeps that much room at
    either end, for a local date in another zone or the day after it."""
    if FIRST_MS + spare_ms <= ts_ms <= LAST_MS - spare_ms:
        return None
    room = " with a day to spare" if spare_ms else ""
    return f"{name}: must be a time in the years 1 to 9999{room}, got {ts_ms} ms"


def epoch_ms(number: float) -> int:
    """One Unix time, in seconds or milliseconds, as epoch ms."""
    return round(number) if abs(number) >= SECONDS_BELOW else round(number * 1000)


def timestamps_ms(column: pd.Series, timezone: str = "UTC") -> np.ndarray:
    """Epoch ms (int64) from epoch seconds/ms or date strings (naive ones are in ``timezone``)."""
    if pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype="float64")
        scale = np.where(np.abs(values) >= SECONDS_BELOW, 1.0, 1000.0)
        return np.round(values * scale).astype("int64")
    parsed = pd.to_datetime(column, utc=False, format="mixed")
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    parsed = parsed.dt.tz_convert("UTC")
    return np.asarray(parsed.astype("int64") // 1_000_000)
