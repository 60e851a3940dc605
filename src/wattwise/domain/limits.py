"""Physical ranges a reading must respect to be believed.

They are deliberately wide (three-phase industrial meters, export) and only catch what
cannot be a measurement: a corrupted frame, a unit mix-up, a clock far in the future.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

MAX_FUTURE_MS = 5 * 60 * 1000
#: 2000-01-01T00:00Z. Earlier is a meter whose clock is not set (ts 0, or seconds since boot):
#: filed in 1970, its next readings at the same small times would count as duplicates.
MIN_TS_MS = 946_684_800_000
MAX_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class Range:
    low: float
    high: float
    unit: str


RANGES: dict[str, Range] = {
    "voltage": Range(-1000.0, 1000.0, "V"),
    "current": Range(-1000.0, 1000.0, "A"),
    "power": Range(-1_000_000.0, 1_000_000.0, "W"),
    "energy": Range(0.0, 1e12, "Wh"),
    "frequency": Range(40.0, 70.0, "Hz"),
    "pf": Range(-1.0, 1.0, ""),
}


def check_value(metric: str, value: float) -> str | None:
    """Return why ``value`` cannot be a measurement of ``metric``, or None if it can."""
    if math.isnan(value) or math.isinf(value):
        return f"{metric}: must be a finite number, got {value}"
    rng = RANGES[metric]
    if not rng.low <= value <= rng.high:
        unit = f" {rng.unit}" if rng.unit else ""
        return f"{metric}: {value:g}{unit} is outside the physical range [{rng.low:g}, {rng.high:g}]"
    return None


def check_values(values: Mapping[str, float | None]) -> list[str]:
    """Return every range violation among ``values`` (None means not measured)."""
    errors = [
        err for metric, value in values.items() if value is not None and (err := check_value(metric, value)) is not None
    ]
    if values.get("power") is None and values.get("current") is None:
        errors.append("power/current: a reading needs at least one of power or current")
    return errors


def check_ts(ts_ms: int, now_ms: int) -> str | None:
    """Refuse timestamps more than five minutes ahead of the server's clock, or before 2000."""
    if ts_ms > now_ms + MAX_FUTURE_MS:
        return f"ts: {ts_ms} ms is more than 5 minutes in the future (server time {now_ms} ms)"
    if ts_ms < MIN_TS_MS:
        return f"ts: {ts_ms} ms is before 2000: set the meter's clock, or leave ts out to use the server's"
    return None
