"""What the anomaly engine costs a live meter, beside scoring the same readings offline in one go.

    .venv/bin/python bench/anomaly_live.py [--chunks 1 3 10 60] [--hours 6] [--repeat 5]

A simulated household (``household_frame``, a reading every 10 s) is fitted on 3 days of
its history; then its next ``--hours`` are scored:

- reference: ``score_frame`` over all of them at once, as `wattwise evaluate anomaly` and a
  CSV do;
- live: ``MeterAnomaly.score`` (what the detectors' worker calls) on chunks of n readings,
  as a meter's readings come off the bus, carrying its state from chunk to chunk.

Printed: CPU microseconds per reading (the best of ``--repeat``; CPU time of this process,
so other jobs on the machine do not count) and the ratio of each live chunk size to the
reference, and whether the live chunks flagged the very readings the reference flagged
with the very same scores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from wattwise.analysis import anomaly
from wattwise.analysis.features import readings_frame
from wattwise.detectors.anomaly import MeterAnomaly
from wattwise.devices.simulator.frame import household_frame
from wattwise.domain.readings import METRICS, Reading

T0 = 1_763_942_400_000  # 2025-11-24 00:00 UTC
DAY_MS = 86_400_000
TZ = "Europe/London"


def readings_of(frame: pd.DataFrame) -> list[Reading]:
    columns = [m for m in METRICS if m in frame.columns]
    out = []
    for row in frame[["ts", *columns]].itertuples(index=False):
        values = {m: None if pd.isna(v) else float(v) for m, v in zip(columns, row[1:], strict=True)}
        out.append(Reading(device_id=1, ts=int(row[0]), **values))
    return out


def best_cpu_us(run: object, readings: int, repeat: int) -> float:
    assert callable(run)
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best / readings * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, nargs="+", default=[1, 3, 10, 60])
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    live_from = T0 + 3 * DAY_MS
    frame = household_frame(T0, live_from + int(args.hours * 3_600_000), 10.0, seed=1)
    model = anomaly.fit_anomaly_model(frame[frame["ts"] < live_from].reset_index(drop=True), tz=TZ)
    live = readings_of(frame[frame["ts"] >= live_from].reset_index(drop=True))
    n = len(live)

    whole: list[pd.DataFrame] = []

    def offline() -> None:
        whole[:] = [anomaly.score_frame(model, readings_frame(live))[0]]

    reference = best_cpu_us(offline, n, args.repeat)
    print(f"household seed 1, fitted on 3 days; {n:,} readings scored ({args.hours:g} h every 10 s)")
    print(f"{'scored as':>22}  {'µs CPU/reading':>14}  {'ratio':>6}  same flags and scores")
    print(f"{'one frame (reference)':>22}  {reference:14.0f}  {1.0:6.2f}")
    for size in args.chunks:

        def chunked(size: int = size) -> None:
            meter = MeterAnomaly(model, merge_ms=600_000)
            for i in range(0, n, size):
                meter.score(live[i : i + size])

        us = best_cpu_us(chunked, n, args.repeat)
        carry = None
        parts = []
        for i in range(0, n, size):
            part, carry = anomaly.score_frame(model, readings_frame(live[i : i + size]), carry)
            parts.append(part)
        joined = pd.concat(parts, ignore_index=True)
        same = joined["anomalous"].tolist() == whole[0]["anomalous"].tolist() and np.array_equal(
            joined["score"].to_numpy(), whole[0]["score"].to_numpy()
        )
        print(f"{f'live, {size} at a time':>22}  {us:14.0f}  {us / reference:6.2f}  {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
