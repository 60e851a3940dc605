"""What the live service reports, replayed on a recording and scored beside offline."""

from __future__ import annotations

import numpy as np

from wattwise.analysis.nilm.evaluate import SetSpec, evaluate_live, evaluate_model, fit_model
from wattwise.analysis.nilm.events import detect_events
from wattwise.analysis.nilm.live import live_power, replay


def test_replay_in_chunks_reports_the_offline_events_and_the_runs_still_going(lab_set: SetSpec) -> None:
    model, _ = fit_model(lab_set)
    rec = lab_set.test[0]
    out = replay(model, rec.ts, rec.aggregate, rec.second, chunk=60)
    offline = detect_events(rec.ts, rec.aggregate, rec.second, model.detector)
    assert [e.ts for e in out.events] == [e.ts for e in offline[: len(out.events)]]
    assert len(out.events) >= len(offline) - 1
    # every run has its end at or before the last reading; the open ones end there
    assert all(r.end <= rec.ts[-1] for r in out.runs)
    series = live_power(model, out, rec.ts)
    kettle_on = series["kettle"] > 1000
    assert kettle_on.sum() >= 20  # two kettle runs of tens of seconds, at 1 Hz


def test_the_live_row_is_scored_like_the_offline_one(lab_set: SetSpec) -> None:
    model, _ = fit_model(lab_set)
    live = evaluate_live(lab_set, model)
    offline = evaluate_model(lab_set, model)
    assert set(live) == set(offline)
    assert set(live["appliances"]) == set(offline["appliances"])
    # the same detector: the same events, live or offline
    assert live["event_f1"] == offline["event_f1"]
    assert live["appliances"]["kettle"]["on_off_f1"] >= 0.9
    assert np.isfinite(live["fte"])
