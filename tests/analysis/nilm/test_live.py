"""A meter's live NILM: identified events as readings arrive, runs when they end."""

from __future__ import annotations

from wattwise.analysis.nilm.evaluate import Recording, SetSpec, fit_model
from wattwise.analysis.nilm.events import Event, detect_events
from wattwise.analysis.nilm.live import LiveNilm
from wattwise.analysis.nilm.pairing import Run
from wattwise.analysis.nilm.signatures import UNIDENTIFIED


def test_live_meter_reports_identified_events_and_finished_runs(lab_set: SetSpec) -> None:
    model, _ = fit_model(lab_set)
    rec: Recording = lab_set.test[0]
    meter = LiveNilm(model)
    events, runs = [], []
    for i, (t, p, q) in enumerate(zip(rec.ts.tolist(), rec.aggregate.tolist(), rec.second.tolist(), strict=True)):
        if i == 150:  # the service restarts mid-stream
            meter = LiveNilm.from_dict(model, meter.to_dict())
        update = meter.feed(t, p, q)
        events += update.events
        runs += update.runs
    offline = detect_events(rec.ts, rec.aggregate, rec.second, model.detector)
    assert [e.ts for e in events] == [e.ts for e in offline[: len(events)]]
    assert len(events) >= len(offline) - 1  # the last change may still be settling
    assert all(e.label != UNIDENTIFIED for e in events)
    kettle_runs = [r for r in runs if r.label == "kettle"]
    assert len(kettle_runs) >= 2
    assert all(10 <= r.duration_s <= 60 and 1900 <= r.power_w <= 2300 for r in kettle_runs)
    # a run as the REST API and the saved live state write it reads back as the same run
    assert [Run.from_dict(r.to_dict()) for r in runs] == runs


def _alike(e: Event, ref: Event) -> bool:
    """Same step size and reactive part (the vacuum also runs at a second power setting,
    with another ΔQ, which one label must not claim)."""
    return abs(abs(e.delta_p) - ref.delta_p) < 150 and abs(abs(e.delta_q or 0) - (ref.delta_q or 0)) < 40


def test_a_label_given_live_changes_the_next_identification(lab_set: SetSpec) -> None:
    model, _ = fit_model(lab_set)
    model.library.remove("vacuum")
    rec = lab_set.test[0]
    meter = LiveNilm(model)
    first_unknown = None
    recognised = 0
    for t, p, q in zip(rec.ts.tolist(), rec.aggregate.tolist(), rec.second.tolist(), strict=True):
        for e in meter.feed(t, p, q).events:
            if first_unknown is None and e.label == UNIDENTIFIED and e.delta_p > 0:
                first_unknown = e
                meter.label(e, "vacuum")
            elif first_unknown is not None and _alike(e, first_unknown):
                assert e.label == "vacuum"
                recognised += 1
    assert first_unknown is not None
    assert recognised >= 2  # the OFF of that run and the next run's ON and OFF
    assert "vacuum" in model.library.names()
