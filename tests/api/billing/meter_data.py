"""Meter readings for the billing tests: an hourly energy counter with a known pattern (and resets)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from support import World

Pattern = Callable[[datetime], float]  # Wh used in the hour that ends at a reading


def readings(
    first: datetime, count: int, used: Pattern, resets: dict[datetime, float] | None = None, start_wh: float = 1_523_400
) -> list[dict[str, Any]]:
    """``count`` hourly readings of a counter starting at ``first``; at a reset the counter restarts
    from zero and reads what was used since (``resets[ts]``)."""
    resets = resets or {}
    counter = start_wh
    out = []
    for i in range(count):
        ts = first + timedelta(hours=i)
        if i:
            counter = resets[ts] if ts in resets else counter + used(ts)
        out.append({"ts": ts.isoformat(), "energy": counter, "power": 300.0, "voltage": 230.0})
    return out


def post_readings(world: World, body: list[dict[str, Any]], key: str | None = None) -> None:
    result = world.ingest(body, key)
    assert (result["accepted"], result["rejected"]) == (len(body), []), result


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
