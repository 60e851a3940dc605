"""A meter whose model has a rhythm appliance (a fridge), as the service stores it: every
fridge run stored once, naming events already stored, across a restart (no database)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from wattwise.analysis.nilm.evaluate import Recording, SetSpec, fit_model, read_refit_layout
from wattwise.analysis.nilm.events import Event
from wattwise.analysis.nilm.model import NilmModel
from wattwise.detectors.nilm import MeterNilm
from wattwise.domain.readings import Reading
from wattwise.store.detections import NewRun

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nilm"
CHUNK = 60


@pytest.fixture(scope="module")
def ampds2() -> tuple[NilmModel, Recording]:
    """AMPds2's excerpts (tests/fixtures/nilm, see NOTICE.md): the model fitted on the
    training days has a fridge's rhythm; the test day is replayed."""
    train = read_refit_layout(FIXTURES / "ampds2_train_2013-11-21_22.csv")
    test = read_refit_layout(FIXTURES / "ampds2_test_2012-08-23.csv")
    model, _ = fit_model(SetSpec("ampds2", [train], [test], event_min_w=50.0))
    assert "fridge" in model.cyclers
    return model, test


@dataclass
class Store:
    """What the service writes (detectors/service.py `_nilm`), ids given in order."""

    events: list[Event] = field(default_factory=list)
    runs: list[NewRun] = field(default_factory=list)
    fridge_runs_given: int = 0
    #: times of the steps a fridge run shares with another load (a new event, its share)
    shared: set[int] = field(default_factory=set)
    relabelled: dict[int, str] = field(default_factory=dict)

    def serve(self, meter: MeterNilm, rec: Recording, start: int, end: int) -> None:
        for i in range(start, end, CHUNK):
            j = min(i + CHUNK, end)
            chunk = zip(rec.ts[i:j], rec.aggregate[i:j], strict=True)
            readings = [Reading(device_id=1, ts=int(t), power=float(p)) for t, p in chunk]
            update = meter.feed(readings)
            events = meter.to_store(update)
            ids = list(range(len(self.events), len(self.events) + len(events)))
            self.events += events
            meter.remember(events, ids)
            runs, labels = meter.new_runs(update)
            meter.prune()
            self.runs += runs
            self.relabelled.update({i: name for i, name, _ in labels})
            objects = {id(e) for e in self.events}
            fridge = [e for r in update.runs if r.label == "fridge" for e in (r.on, r.off) if e is not None]
            self.shared |= {e.ts for e in fridge if id(e) not in objects}
            self.fridge_runs_given += sum(r.label == "fridge" for r in update.runs)

    def check(self) -> None:
        fridge = [r for r in self.runs if r.label == "fridge"]
        assert len(fridge) >= 6, "the fridge cycles all through the day"
        assert len(fridge) == self.fridge_runs_given, "every final fridge run is stored"
        times = [e.ts for e in self.events]
        assert len(times) == len(set(times)), "no event is stored twice"
        ends = {r.end_ts: r for r in fridge}
        for r in fridge:  # each names stored events at its own times
            for i in (r.on_event_id, r.off_event_id):
                if i is None or r.start_ts <= self.events[i].ts <= r.end_ts:
                    continue
                # or, as offline, a run trimmed to start where the previous one ends
                # (one at a time) names its own ON, inside that previous run
                before = ends.get(r.start_ts)
                assert i == r.on_event_id and before is not None, "a named event outside its run"
                assert before.start_ts <= self.events[i].ts <= before.end_ts


def _meter(model: NilmModel) -> MeterNilm:
    return MeterNilm.start(replace(model, detector=replace(model.detector, second="none")))


def test_every_fridge_run_is_stored_once_naming_stored_events(ampds2: tuple[NilmModel, Recording]) -> None:
    model, rec = ampds2
    store = Store()
    store.serve(_meter(model), rec, 0, rec.ts.size)
    store.check()


def _restarted(meter: MeterNilm) -> MeterNilm:
    state = json.loads(json.dumps(meter.state()))
    return MeterNilm.start(meter.live.model, state)


def test_a_restart_mid_day_keeps_the_ids_the_fridge_chain_needs(ampds2: tuple[NilmModel, Recording]) -> None:
    model, rec = ampds2
    store = Store()
    meter = _meter(model)
    half = (rec.ts.size // 2) // CHUNK * CHUNK
    store.serve(meter, rec, 0, half)
    assert meter.live.rhythm.events, "mid-day, the chain's window holds stored events"
    store.serve(_restarted(meter), rec, half, rec.ts.size)
    store.check()


def test_a_state_saved_before_the_rhythm_ids_still_loads(ampds2: tuple[NilmModel, Recording]) -> None:
    model, rec = ampds2
    store = Store()
    meter = _meter(model)
    store.serve(meter, rec, 0, 600)
    old = json.loads(json.dumps(meter.state()))
    old = {k: old[k] for k in ("live", "open_ids", "last_ts")}
    resumed = MeterNilm.start(meter.live.model, old)
    assert [resumed.stored_id(e) for e in resumed.live.open_on] == old["open_ids"]
    store.serve(resumed, rec, 600, rec.ts.size)
    assert any(r.label == "fridge" for r in store.runs)


def test_a_shared_step_names_the_stored_step(ampds2: tuple[NilmModel, Recording]) -> None:
    """With shared steps allowed, the chain takes a bigger step (the fridge's and another
    load's) as a new event, the fridge's share, at the stored step's time."""
    model, rec = ampds2
    shared = replace(model, cyclers={k: replace(c, composite_cost=0.0) for k, c in model.cyclers.items()})
    store = Store()
    meter = _meter(shared)
    store.serve(meter, rec, 0, rec.ts.size)
    store.check()
    assert store.shared, "the chain shares some steps"
    named = {i for r in store.runs if r.label == "fridge" for i in (r.on_event_id, r.off_event_id)}
    steps = {i for i, e in enumerate(store.events) if e.ts in store.shared}
    assert steps <= named, "a fridge run names the stored step it shares"
    assert all(store.relabelled.get(i) != "fridge" for i in steps), "the step stays the other load's"
