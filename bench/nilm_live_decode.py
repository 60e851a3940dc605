"""Live joint-decoding throughput: readings per second through ``LiveNilm`` on one core.

    PYTHONPATH=src .venv/bin/python bench/nilm_live_decode.py [--data ../shared/data] [--sets lab,ompm]

Each set's model is the evaluation's (fitted, tuned and calibrated on the training part,
its live lag chosen there); its test recordings are fed as the service does, one reading
per ``feed`` call and 60 per ``feed_many`` call. Measured in CPU time of this process, so
other jobs on the machine do not count. A 1 Hz meter needs 1 reading/s.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from wattwise.analysis.nilm.evaluate import (
    SetSpec,
    choose_live_lag,
    choose_settings,
    fit_calibration,
    fit_model,
    live_lag_agreement,
    load_sets,
    tuned,
)
from wattwise.analysis.nilm.live import LiveNilm
from wattwise.analysis.nilm.model import NilmModel


def evaluation_model(spec: SetSpec) -> NilmModel:
    """The model the evaluation's `wattwise_live` row runs."""
    settings = choose_settings(spec)
    model = tuned(fit_model(spec)[0], spec, settings)
    model.calibration = fit_calibration(spec, settings)
    if model.states is not None:
        model.states = replace(model.states, live_lag_s=choose_live_lag(live_lag_agreement(spec, model)))
    return model


def rate(model: NilmModel, spec: SetSpec, step: int) -> float:
    """Readings per CPU second over the set's test recordings: ``feed`` one at a time
    (``step`` 1) or ``feed_many`` ``step`` at a time."""
    n = 0
    t0 = time.process_time()
    for rec in spec.test:
        meter = LiveNilm(model)
        second = rec.second
        for i in range(0, rec.ts.size, step):
            if step == 1:
                meter.feed(int(rec.ts[i]), float(rec.aggregate[i]), None if second is None else float(second[i]))
            else:
                s = slice(i, i + step)
                meter.feed_many(rec.ts[s], rec.aggregate[s], None if second is None else second[s])
        n += rec.ts.size
    return n / (time.process_time() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--sets", default="lab,ompm")
    args = ap.parse_args()
    for spec in load_sets(args.data, args.sets.split(",")):
        model = evaluation_model(spec)
        lag = None if model.states is None else model.states.live_lag_s
        one, many = rate(model, spec, 1), rate(model, spec, 60)
        print(f"{spec.name} (live lag {lag} s): feed {one:,.0f} readings/s, feed_many(60) {many:,.0f} readings/s")


if __name__ == "__main__":
    main()
