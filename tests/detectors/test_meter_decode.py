"""A meter whose model decodes all loads jointly: the decided runs reach the store with
their switchings, across a restart (no database: the store's ids are simulated), and a
rename reaches the decoding's model."""

from __future__ import annotations

import json

import pytest

from support import OMPM_DETECTOR, OMPM_EXCERPT, ompm_states
from wattwise.analysis.nilm.evaluate import read_refit_layout
from wattwise.analysis.nilm.events import Event
from wattwise.analysis.nilm.live import replay
from wattwise.analysis.nilm.model import NilmModel
from wattwise.analysis.nilm.signatures import Features
from wattwise.detectors import library
from wattwise.detectors.nilm import MeterNilm
from wattwise.domain.readings import Reading
from wattwise.runtime import Services
from wattwise.store.detections import NewRun
from wattwise.store.devices import create_device
from wattwise.store.sites import create_site


def _model(switches_only: bool) -> NilmModel:
    """OMPM's levels and settings as the evaluation learns them from the first hour."""
    return NilmModel(detector=OMPM_DETECTOR, states=ompm_states(live_lag_s=60.0), switches_only=switches_only)


@pytest.mark.parametrize("switches_only", [True, False])
def test_decoded_runs_are_stored_with_their_switchings_across_a_restart(switches_only: bool) -> None:
    """Without ``switches_only`` the update's events are the detector's, stored when
    detected and decided a lag later: the run names those rows, it does not store its
    events again (it did, relabelled, before the decoder's undecided events were held)."""
    rec = read_refit_layout(OMPM_EXCERPT)
    model = _model(switches_only)
    expected = [r for r in replay(model, rec.ts, rec.aggregate, rec.second).runs if r.off is not None]
    assert expected  # the monitor switches on and off in these 7 minutes
    meter = MeterNilm.start(model)
    stored: list[NewRun] = []
    rows: list[tuple[int, float]] = []
    shown: set[tuple[str, int]] = set()
    next_id = 1
    restarted = False
    for i in range(0, rec.ts.size, 10):
        if not restarted and meter.live.decoder.going.get("monitor"):  # restart inside a monitor run
            meter = MeterNilm.start(model, json.loads(json.dumps(meter.state())))
            restarted = True
        readings = [
            Reading(device_id=1, ts=int(t), power=float(p), pf=float(f))
            for t, p, f in zip(rec.ts[i : i + 10], rec.aggregate[i : i + 10], rec.second[i : i + 10], strict=True)
        ]
        update = meter.feed(readings)
        events = meter.to_store(update)
        rows += [(e.ts, e.delta_p) for e in events]
        meter.remember(events, list(range(next_id, next_id + len(events))))
        next_id += len(events)
        runs, _ = meter.new_runs(update)
        stored += runs
        shown |= {(r.label, r.start_ts) for r in meter.provisional()}
        meter.prune()
    assert restarted
    # the loads on from the first reading show as running (before: only the monitor did,
    # their own ON events being stored only when their runs close)
    assert {(n, int(rec.ts[0])) for n in ("fan", "lamp", "laptop")} <= shown
    assert len(rows) == len(set(rows)), "each event (or switching) is stored once"
    closed = [r for r in stored if r.off_event_id is not None]
    assert [(r.start_ts, r.end_ts, r.label) for r in closed] == [(r.start, r.end, r.label) for r in expected]


def test_a_rename_reaches_the_joint_decoding_and_a_merge_of_two_decoded_loads_is_refused(
    sqlite_services: Services,
) -> None:
    """Before, a rename left ``states`` under the old name: the live decoding went on
    giving runs to an appliance the library no longer had."""
    model = _model(switches_only=True)
    for name, step in (("monitor", 19.3), ("lamp", 48.4)):
        model.teach(Event(1_000, step, None, step, 0, 0.0, step, None, 0.0), name)
    with sqlite_services.engine.begin() as conn:
        site = create_site(conn, "Decoded home")
        device = create_device(conn, site_id=site.id, name="main").device.id
        library.save_nilm(conn, device, model)
    with sqlite_services.engine.begin() as conn, pytest.raises(ValueError, match="two loads"):
        library.rename_appliance(conn, device, "monitor", "lamp", merge=True)
    with sqlite_services.engine.begin() as conn:
        library.rename_appliance(conn, device, "monitor", "screen", merge=False)
        stored = library.load_nilm(conn, device)
    assert stored is not None and stored.states is not None
    assert list(stored.states.power_w) == ["fan", "laptop", "lamp", "led", "screen"]
    assert stored.states.reactive_var is not None and "screen" in stored.states.reactive_var


def test_labels_teach_a_jointly_decoded_model_no_burst_model_or_rhythm(sqlite_services: Services) -> None:
    """The decoding gives every run of such a model: before, three short strong labelled
    uses gave it a burst model (and a fridge's labels a rhythm) that nothing used, shown on
    the Appliances page as how its runs were found."""
    model = _model(switches_only=True)
    for d in (40.0, 80.0, 32.0):
        model.library.add("microwave", Features(1350.0, None, 1.0, 19.0, d, True))
        model.library.add("microwave", Features(1340.0, None, None, 19.0, d, False))
    with sqlite_services.engine.connect() as conn:
        library.refresh_learnt(conn, 1, model, {"microwave"})
    assert model.bursts == {} and model.cyclers == {}
    without = NilmModel(detector=OMPM_DETECTOR, library=model.library)
    with sqlite_services.engine.connect() as conn:
        library.refresh_learnt(conn, 1, without, {"microwave"})
    assert without.bursts["microwave"].from_labels  # the same labels do teach one where no decoding runs
