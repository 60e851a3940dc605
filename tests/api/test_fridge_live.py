"""A fridge's runs live through the REST API: a meter whose model has the fridge's rhythm
(fitted on AMPds2's training days, tests/fixtures/nilm, see NOTICE.md) gets its test day
posted, the service restarting in the middle of a fridge cycle; each final fridge run is
stored once, naming events stored once."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from detectors.live_world import live_world
from wattwise.analysis.nilm.evaluate import Recording, SetSpec, fit_model, read_refit_layout
from wattwise.analysis.nilm.live_rhythm import delay_s
from wattwise.analysis.nilm.model import NilmModel
from wattwise.analysis.nilm.pairing import Run
from wattwise.detectors import library
from wattwise.runtime import Services

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nilm"
CHUNK = 10  # a gateway posting 10 min of 1-min readings at a time (some with no step in them)


def ampds2_fridge() -> tuple[NilmModel, Recording, list[Run], list[dict[str, Any]]]:
    """The model fitted on AMPds2's training days (the meter sends power only), the test
    day, the offline chain's fridge runs on it, and the day as readings to post."""
    train = read_refit_layout(FIXTURES / "ampds2_train_2013-11-21_22.csv")
    rec = read_refit_layout(FIXTURES / "ampds2_test_2012-08-23.csv")
    fitted, _ = fit_model(SetSpec("ampds2", [train], [rec], event_min_w=50.0))
    model = replace(fitted, detector=replace(fitted.detector, second="none"))
    offline = [r for r in model.process(rec.ts, rec.aggregate, None).runs if r.label == "fridge"]
    rows = [{"ts": t, "power": p} for t, p in zip(rec.ts.tolist(), rec.aggregate.tolist(), strict=True)]
    return model, rec, offline, rows


def test_a_fridge_run_is_stored_once_across_a_restart_mid_cycle(services: Services) -> None:
    model, rec, offline, rows = ampds2_fridge()
    middle = offline[len(offline) // 2]
    split = int((rec.ts < (middle.start + middle.end) // 2).sum())  # restart mid-cycle
    with live_world(services) as live:
        w = live.world
        services.writer.run(lambda c: library.save_nilm(c, w.meter_a, model))
        for i in range(0, split, CHUNK):
            live.post(rows[i : min(i + CHUNK, split)])
            live.detectors.flush()
        live.restart()
        with services.engine.connect() as conn:
            state = library.load_state(conn, w.meter_a)
        assert state is not None and state["rhythm_ids"], "restarted with stored events in the chain's window"
        for i in range(split - 30, len(rows), CHUNK):  # a gateway resending its last readings too
            live.post(rows[i : i + CHUNK])
            live.detectors.flush()

        listed = live.get(f"/api/v1/devices/{w.meter_a}/appliance-runs", label="fridge", limit=5000)
        runs = [r for r in listed if r["final"]]  # the provisional ones: test_fridge_provisional_live.py
        events = {e["id"]: e for e in live.get(f"/api/v1/devices/{w.meter_a}/appliance-events", limit=5000)}
    wait_ms = delay_s(model.cyclers["fridge"]) * 1000
    final = [r for r in offline if (r.off or r.on).ts <= rec.ts[-1] - wait_ms - CHUNK * 60_000]
    spans = sorted((r["start_ts"], r["end_ts"]) for r in runs)
    assert len(final) >= 6 and len(spans) == len(set(spans)), "each fridge run stored once"
    assert {(r.start, r.end) for r in final} <= set(spans) <= {(r.start, r.end) for r in offline}
    times = [e["ts"] for e in events.values()]
    assert len(times) == len(set(times)), "no event stored twice"
    for r in runs:
        assert r["on_event_id"] in events, "it names stored events"
        for i in (r["on_event_id"], r["off_event_id"]):
            assert i is None or r["start_ts"] <= events[i]["ts"] <= r["end_ts"]
