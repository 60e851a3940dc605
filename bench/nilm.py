"""NILM event-detection throughput on one core, beside NILMTK's detector in the same run.

    .venv/bin/python bench/nilm.py [--data ../shared/data] [--samples 2000000]

Signal: REFIT house 2's real 8 s aggregate (or, without the data folder, the excerpt in
tests/fixtures/nilm), repeated end to end with continuing timestamps up to --samples.
Measured (CPU time of this process, so other jobs on the machine do not count):

- wattwise offline: ``detect_events`` over the whole array (vectorised numpy);
- wattwise live: ``StreamingDetector.feed_many`` in chunks of 60 samples (a minute of
  1 Hz data per call, as a bus subscriber would), and ``feed`` one sample at a time;
- reference: NILMTK's ``find_steady_states`` (the detector behind its Hart85), with its
  defaults, run in the NILMTK virtualenv on a slice of the same signal.

Prints samples per second and each one's ratio to the reference.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from wattwise.analysis.nilm.events import DetectorConfig, StreamingDetector, detect_events

ROOT = Path(__file__).resolve().parents[1]
PEER_PYTHON = Path(os.environ.get("WATTWISE_NILMTK_VENV", "/work/nilmtk-venv")) / "bin" / "python"
CONFIG = DetectorConfig(min_step_w=50.0, tol_abs_w=7.5, min_steady=2, second="none")


def load_signal(data: Path, samples: int) -> tuple[np.ndarray, np.ndarray, str]:
    refit = data / "refit-house2-8s" / "REFIT_HF_validation.csv"
    src = refit if refit.exists() else ROOT / "tests" / "fixtures" / "nilm" / "refit_house2_test_2015-01-08pm.csv"
    df = pd.read_csv(src, usecols=["timestamp", "aggregate"])
    p = df["aggregate"].to_numpy(np.float64)
    reps = -(-samples // p.size)
    power = np.tile(p, reps)[:samples]
    ts = 1_420_329_600_000 + np.arange(samples, dtype=np.int64) * 8000
    return ts, power, str(src.relative_to(src.parents[1]))


def cpu_rate(fn: Callable[[], int], n: int) -> tuple[float, int]:
    t0 = time.process_time()
    events = fn()
    return n / (time.process_time() - t0), events


def nilmtk_rate(ts: np.ndarray, power: np.ndarray) -> tuple[float, int] | None:
    if not PEER_PYTHON.exists():
        return None
    with tempfile.TemporaryDirectory(prefix="nilm-bench-") as tmp:
        f = Path(tmp) / "samples.csv"
        pd.DataFrame({"ts": ts, "power": power}).to_csv(f, index=False)
        script = ROOT / "bench" / "peers" / "nilmtk_detector_bench.py"
        out = subprocess.run([str(PEER_PYTHON), str(script), str(f)], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return res["samples"] / res["seconds"], int(res["events"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--samples", type=int, default=2_000_000)
    ap.add_argument("--reference-samples", type=int, default=200_000)
    ap.add_argument("--single-samples", type=int, default=100_000)
    args = ap.parse_args()
    ts, power, src = load_signal(args.data, args.samples)
    print(f"signal: {src}, {ts.size:,} samples (8 s real aggregate, repeated)")

    results: dict[str, tuple[float, int, int]] = {}
    rate, n_ev = cpu_rate(lambda: len(detect_events(ts, power, None, CONFIG)), ts.size)
    results["wattwise detect_events (offline, whole array)"] = (rate, n_ev, ts.size)

    def chunks() -> int:
        det = StreamingDetector(CONFIG)
        n = 0
        for i in range(0, ts.size, 60):
            n += len(det.feed_many(ts[i : i + 60], power[i : i + 60]))
        return n + len(det.flush())

    rate, n_ev = cpu_rate(chunks, ts.size)
    results["wattwise StreamingDetector.feed_many (60-sample chunks)"] = (rate, n_ev, ts.size)

    m = min(args.single_samples, ts.size)

    def singles() -> int:
        det = StreamingDetector(CONFIG)
        n = 0
        for t, p in zip(ts[:m].tolist(), power[:m].tolist(), strict=True):
            n += len(det.feed(t, p))
        return n + len(det.flush())

    rate, n_ev = cpu_rate(singles, m)
    results["wattwise StreamingDetector.feed (one sample per call)"] = (rate, n_ev, m)

    k = min(args.reference_samples, ts.size)
    ref = nilmtk_rate(ts[:k], power[:k])
    print()
    if ref is None:
        print(f"reference NOT run: no NILMTK virtualenv at {PEER_PYTHON.parent.parent}")
    else:
        print(
            f"{'NILMTK find_steady_states (reference)':<58}{ref[0]:>14,.0f} samples/s  "
            f"({k:,} samples, {ref[1]:,} transitions)"
        )
    for name, (rate, n_ev, n) in results.items():
        ratio = f"  x{rate / ref[0]:,.1f} vs reference" if ref else ""
        print(f"{name:<58}{rate:>14,.0f} samples/s  ({n:,} samples, {n_ev:,} events){ratio}")


if __name__ == "__main__":
    main()
