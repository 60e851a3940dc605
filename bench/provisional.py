"""How far a fridge's provisional runs are from its final ones, on the REFIT and AMPds2 replays.

    PYTHONPATH=src .venv/bin/python bench/provisional.py [--data ../shared/data] [--chunk-s 600]

For each set, the evaluation's model (fitted and tuned on the training part, as
``rhythm_horizon_check``) replays each recording, training and test, ``--chunk-s`` of
readings at a time (a gateway posting every 10 min). After each post it asks for the
provisional runs as the service does (:meth:`LiveNilm.running`). Per rhythm appliance:

- delay before a final run first shows: median (and 90th percentile) minutes from its
  start until it was final (before: only final runs were shown) and until a provisional
  run overlapping it first showed (after);
- kept: of the run-time ever shown provisionally, the share inside a final run;
- covered: of the final runs' time, the share shown provisionally before it was final;
- running now: at each post, whether a provisional run shows it running at that moment,
  against whether a final run covers that moment (precision and recall over the posts);
- unchanged: whether the final runs are those of a replay that never asked (asking must
  not change a decision).

Nothing here is chosen: the model and horizon are the evaluation's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from wattwise.analysis.nilm import evaluate as ev
from wattwise.analysis.nilm.provisional import ReplayStats, provisional_replay

ROOT = Path(__file__).resolve().parents[1]


def summary(parts: list[ReplayStats]) -> dict[str, float | int | bool]:
    """One appliance's figures over several recordings."""
    joined = ReplayStats(
        final=[f for p in parts for f in p.final],
        first_shown=[s for p in parts for s in p.first_shown],
        shown=[s for p in parts for s in p.shown],
        posts=[s for p in parts for s in p.posts],
    )
    truth, shown, both = joined.running_now()
    before, after = joined.delays_s(provisional=False), joined.delays_s(provisional=True)
    return {
        "final_runs": len(joined.final),
        "shown_first": sum(s is not None for s in joined.first_shown),
        "delay_before_min_median": float(np.median(before)) / 60 if before else float("nan"),
        "delay_before_min_p90": float(np.percentile(before, 90)) / 60 if before else float("nan"),
        "delay_after_min_median": float(np.median(after)) / 60 if after else float("nan"),
        "delay_after_min_p90": float(np.percentile(after, 90)) / 60 if after else float("nan"),
        # spans of different recordings never overlap: their shares add up as one
        "kept_share": joined.kept_share(),
        "covered_share": joined.covered_share(),
        # at each post: shown running now, against the final runs
        "running_now_posts": truth,
        "running_now_precision": both / shown if shown else float("nan"),
        "running_now_recall": both / truth if truth else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--sets", default="refit,ampds2")
    parser.add_argument("--chunk-s", type=float, default=600.0)
    args = parser.parse_args()
    out: dict[str, dict[str, object]] = {}
    for spec in ev.load_sets(args.data, args.sets.split(",")):
        model = ev.tuned(ev.fit_model(spec)[0], spec, ev.choose_settings(spec))
        for part, recs in (("train", spec.train), ("test", spec.test)):
            per: dict[str, list[ReplayStats]] = {name: [] for name in model.cyclers}
            unchanged = True
            for rec in recs:
                step_s = float(np.median(np.diff(rec.ts))) / 1000.0
                chunk = max(1, round(args.chunk_s / step_s))
                asked = provisional_replay(model, rec.ts, rec.aggregate, rec.second, chunk)
                plain = provisional_replay(model, rec.ts, rec.aggregate, rec.second, chunk, ask=False)
                for name, st in asked.items():
                    per[name].append(st)
                    unchanged &= [f[:2] for f in st.final] == [f[:2] for f in plain[name].final]
            out[f"{spec.name}/{part}"] = {
                "unchanged": unchanged,
                **{name: summary(parts) for name, parts in per.items()},
            }
            print(spec.name, part, json.dumps(out[f"{spec.name}/{part}"]), flush=True)


if __name__ == "__main__":
    main()
