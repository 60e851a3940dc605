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


#: What ``timestamps_ms(..., strict=False)`` gives a cell that holds no time.
UNREADABLE = int(np.iinfo(np.int64).min)


def timestamps_ms(column: pd.Series, timezone: str = "UTC", *, strict: bool = True) -> np.ndarray:
    """Epoch ms (int64) from epoch seconds/ms or date strings (naive ones are in ``timezone``).

    A column of text may hold numbers too (one bad cell makes a CSV column text): they are
    Unix times, as in a column of numbers, never read as dates. A cell that is no time fails
    the whole column, or with ``strict=False`` (the importer, which rejects that row only and
    keeps the others) becomes ``UNREADABLE``.
    """
    if pd.api.types.is_numeric_dtype(column):
        return _epoch_ms(column.to_numpy(dtype="float64"))
    out = np.full(len(column), UNREADABLE, dtype="int64")
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64")
    is_number = ~np.isnan(numbers)
    out[is_number] = _epoch_ms(numbers[is_number])
    is_text = np.flatnonzero(~is_number & column.notna().to_numpy())
    if is_text.size:
        parsed = pd.to_datetime(column.iloc[is_text], utc=False, format="mixed", errors="raise" if strict else "coerce")
        if parsed.dt.tz is None:
            parsed = parsed.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        ms = np.asarray(parsed.dt.tz_convert("UTC").astype("int64") // 1_000_000)
        out[is_text] = np.where(parsed.isna().to_numpy(), UNREADABLE, ms)
    return out


def _epoch_ms(values: np.ndarray) -> np.ndarray:
    """``epoch_ms`` over an array; NaN (no time) gives ``UNREADABLE``."""
    scale = np.where(np.abs(values) >= SECONDS_BELOW, 1.0, 1000.0)
    with np.errstate(invalid="ignore"):
        ms = np.round(values * scale)
    return np.where(np.isnan(ms), UNREADABLE, ms).astype("int64")
