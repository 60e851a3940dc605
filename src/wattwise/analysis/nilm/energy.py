"""Per-appliance power and energy from identified runs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from wattwise.analysis.nilm.pairing import Run
from wattwise.analysis.nilm.signatures import UNIDENTIFIED

FloatArray = npt.NDArray[np.float64]


def power_series(runs: Iterable[Run], ts: npt.ArrayLike, names: Sequence[str]) -> dict[str, FloatArray]:
    """Estimated power of each named appliance at each time in ``ts`` (epoch ms).

    A run contributes its power on samples with ``start <= t < end``.
    """
    t = np.asarray(ts, dtype=np.int64)
    diff = {n: np.zeros(t.size + 1, dtype=np.float64) for n in names}
    for r in runs:
        if r.label not in diff:
            continue
        i0 = int(np.searchsorted(t, r.start, side="left"))
        i1 = int(np.searchsorted(t, r.end, side="left"))
        diff[r.label][i0] += r.power_w
        diff[r.label][i1] -= r.power_w
    return {n: np.cumsum(d)[:-1] for n, d in diff.items()}


def energy_per_day(runs: Iterable[Run], tz: str = "UTC") -> dict[str, dict[str, float]]:
    """kWh per appliance per local calendar day ("YYYY-MM-DD"), runs split at midnight."""
    zone = ZoneInfo(tz)
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in runs:
        if r.label == UNIDENTIFIED or r.end <= r.start:
            continue
        start = pd.Timestamp(r.start, unit="ms", tz="UTC").tz_convert(zone)
        end = pd.Timestamp(r.end, unit="ms", tz="UTC").tz_convert(zone)
        cur = start
        while cur < end:
            midnight = (
                (cur.normalize() + pd.Timedelta(days=1))
                .tz_localize(None)
                .tz_localize(zone, ambiguous=False, nonexistent="shift_forward")
            )
            stop = min(end, midnight)
            hours = (stop - cur).total_seconds() / 3600.0
            out[r.label][cur.strftime("%Y-%m-%d")] += r.power_w * hours / 1000.0
            cur = stop
    return {k: dict(v) for k, v in out.items()}
