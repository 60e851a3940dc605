"""Throughput of NILMTK's steady-state detector (what Hart85 uses), for bench/nilm.py.

Runs under the NILMTK virtualenv. Reads one CSV (timestamp ms, power W), times
``nilmtk.feature_detectors.steady_states.find_steady_states`` with its defaults on it
and prints one JSON line: samples, seconds, transitions found.

    python nilmtk_detector_bench.py SAMPLES.csv
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import pandas as pd

warnings.filterwarnings("ignore")

from nilmtk.feature_detectors.steady_states import find_steady_states  # noqa: E402


def main() -> None:
    df = pd.read_csv(sys.argv[1])
    frame = pd.DataFrame(
        df["power"].astype("float64").to_numpy(),
        index=pd.to_datetime(df["ts"], unit="ms", utc=True),
    )
    frame.columns = pd.MultiIndex.from_tuples([("power", "active")])
    t0 = time.process_time()
    _, transients = find_steady_states(frame)
    seconds = time.process_time() - t0
    print(json.dumps({"samples": len(frame), "seconds": seconds, "events": len(transients)}))


if __name__ == "__main__":
    main()
