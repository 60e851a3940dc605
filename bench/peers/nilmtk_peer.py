"""Run one NILMTK algorithm (CO, FHMM or Hart85) as shipped, for Wattwise's evaluator.

Runs under the separate NILMTK virtualenv (/work/nilmtk-venv: `pip install --pre
nilmtk-s14pe nilm-metadata-s14pe "numpy<2.4"`), never imported by Wattwise itself.

    python nilmtk_peer.py FOLDER {co,fhmm,hart85} SEED

FOLDER holds train_<i>.csv and test_<i>.csv in the REFIT layout (timestamp, aggregate,
one column per appliance, W). Writes pred_<method>_<seed>_<i>.csv with one column per
appliance and one row per test sample. The evaluator scores them.
"""

from __future__ import annotations

import contextlib
import io
import random
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

if not hasattr(pd.DataFrame, "append"):
    # Hart85 still calls DataFrame.append, removed in pandas 2: a thin pd.concat wrapper.
    def _append(self: pd.DataFrame, other: object, ignore_index: bool = False, **_: object):
        if isinstance(other, pd.Series):
            other = other.to_frame().T
        return pd.concat([self, other], ignore_index=ignore_index)

    pd.DataFrame.append = _append  # type: ignore[attr-defined]

from nilmtk.disaggregate import CO, FHMMExact, Hart85  # noqa: E402

COLUMN = ("power", "active")


def _read(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path)
    df.index = pd.to_datetime(df.pop("timestamp"), utc=True, format="ISO8601")
    return df


def _frame(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """One power column under NILMTK's ('power', 'active') MultiIndex header."""
    out = pd.DataFrame(df[column].astype("float64").to_numpy(), index=df.index)
    out.columns = pd.MultiIndex.from_tuples([COLUMN])
    return out


def _mains(df: pd.DataFrame) -> pd.DataFrame:
    return _frame(df, "aggregate")


def main() -> None:
    folder, method, seed = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    random.seed(seed)
    np.random.seed(seed)
    train = [_read(p) for p in sorted(folder.glob("train_*.csv"))]
    test = [_read(p) for p in sorted(folder.glob("test_*.csv"))]
    apps = [c for c in train[0].columns if c != "aggregate"]
    if method == "hart85":
        # Hart85 trains on one frame only: join the training recordings in time order.
        joined = pd.concat(train).sort_index()
        train_main = [_mains(joined)]
        train_apps = [(a, [_frame(joined, a)]) for a in apps]
        algo = Hart85({})
    else:
        train_main = [_mains(t) for t in train]
        train_apps = [(a, [_frame(t, a) for t in train]) for a in apps]
        algo = CO({}) if method == "co" else FHMMExact({})
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            algo.partial_fit(train_main, train_apps)
        except IndexError as exc:
            if method != "hart85":
                raise
            # its steady-state detector found no transition above noise_level (70 W)
            sys.exit(f"Hart85 as shipped found no transition above its 70 W noise level ({exc})")
        for i, t in enumerate(test):
            pred = algo.disaggregate_chunk([_mains(t)])[0]
            out = pd.DataFrame(index=range(len(t)))
            for a in apps:
                col = pred[a].to_numpy(dtype="float64") if a in pred else np.zeros(len(t))
                out[a] = col[: len(t)] if len(col) >= len(t) else np.r_[col, np.zeros(len(t) - len(col))]
            out.to_csv(folder / f"pred_{method}_{seed}_{i}.csv", index=False)


if __name__ == "__main__":
    main()
