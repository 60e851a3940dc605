"""Long spans of simulated readings at numpy speed: history backfills, benchmarks, billing tests.

Works in chunks through the same ``simulate`` as the stepping model, carrying the state
from chunk to chunk, so a year of 2-second readings (≈15.8 M rows) is exactly what
15.8 M single steps would have produced, only much faster.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from wattwise.devices.simulator.household import (
    COLUMNS,
    Household,
    HouseholdState,
    Samples,
    initial_state,
    make_household,
    simulate,
)
from wattwise.devices.simulator.schedule import ApplianceEvent

CHUNK = 1 << 20


def simulate_span(
    household: Household,
    state: HouseholdState,
    end_ms: int,
    interval_ms: int,
    *,
    chunk: int = CHUNK,
) -> Iterator[tuple[HouseholdState, Samples, list[ApplianceEvent]]]:
    """Readings every ``interval_ms`` after ``state.ts`` up to ``end_ms``, ``chunk`` at a time."""
    if interval_ms <= 0:
        raise ValueError(f"interval must be positive, got {interval_ms} ms")
    if chunk <= 0:
        raise ValueError(f"chunk must be positive, got {chunk}")
    while state.ts + interval_ms <= end_ms:
        count = min(chunk, (end_ms - state.ts) // interval_ms)
        ts = state.ts + interval_ms * np.arange(1, count + 1, dtype=np.int64)
        state, samples, events = simulate(household, state, ts)
        yield state, samples, events


def household_frame(
    start_ms: int,
    end_ms: int,
    interval_s: float,
    seed: int,
    *,
    household: Household | None = None,
) -> pd.DataFrame:
    """Readings of the household drawn from ``seed`` every ``interval_s`` in (start, end].

    Columns ts (UTC ms), voltage, current, power, energy (Wh counter), frequency, pf.
    """
    if end_ms <= start_ms:
        raise ValueError(f"end ({end_ms}) must be after start ({start_ms})")
    interval_ms = round(interval_s * 1000)
    home = household if household is not None else make_household(seed)
    state = initial_state(home, start_ms)
    columns: dict[str, list[np.ndarray]] = {name: [] for name in COLUMNS}
    for _state, samples, _events in simulate_span(home, state, end_ms, interval_ms):
        for name in COLUMNS:
            columns[name].append(getattr(samples, name))
    if not columns["ts"]:
        return pd.DataFrame({name: np.zeros(0) for name in COLUMNS}).astype({"ts": np.int64})
    return pd.DataFrame({name: np.concatenate(parts) for name, parts in columns.items()})
