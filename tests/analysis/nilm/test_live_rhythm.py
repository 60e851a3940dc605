"""A fridge's rhythm chain live: the offline chain's runs, final a bounded delay late."""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import pairwise

import pytest

from wattwise.analysis.nilm.cycles import CycleModel
from wattwise.analysis.nilm.evaluate import Recording, SetSpec, fit_model, rhythm_horizon_check
from wattwise.analysis.nilm.live import LiveNilm, replay
from wattwise.analysis.nilm.live_rhythm import delay_s
from wattwise.analysis.nilm.model import NilmModel
from wattwise.analysis.nilm.pairing import Run

CHUNK = 60


def _key(r: Run) -> tuple[int, int, str]:
    return (r.start, r.end, r.label)


def _refit_model(refit_set: SetSpec) -> NilmModel:
    """The REFIT excerpt is half a day, too short to learn the fridge's rhythm from
    (fewer than 8 cycles): the rhythm the full training days give (docs: ON +95 W /
    OFF −80 W, ON 33 min, OFF 57 min) stands in."""
    model, _ = fit_model(refit_set)
    return replace(model, cyclers={"fridge": CycleModel(95.0, 80.0, 0.2, 33 * 60.0, 0.35, 57 * 60.0, 0.35)})


def _offline_chain(model: NilmModel, rec: Recording) -> list[Run]:
    return [r for r in model.process(rec.ts, rec.aggregate, rec.second).runs if r.label == "fridge"]


def _feed(meter: LiveNilm, rec: Recording, start: int = 0, end: int | None = None) -> list[tuple[int, Run]]:
    """Each final run with the time of the reading it came out at."""
    out = []
    stop = rec.ts.size if end is None else end
    for i in range(start, stop, CHUNK):
        j = min(i + CHUNK, stop)
        second = None if rec.second is None else rec.second[i:j]
        update = meter.feed_many(rec.ts[i:j], rec.aggregate[i:j], second)
        now = int(rec.ts[j - 1])
        out += [(now, r) for r in update.runs]
    return out


@pytest.mark.parametrize("which", ["refit", "ampds2"])
def test_live_fridge_runs_are_the_offline_chains_final_within_the_stated_delay(
    which: str, refit_set: SetSpec, ampds2_set: SetSpec
) -> None:
    model = _refit_model(refit_set) if which == "refit" else fit_model(ampds2_set)[0]
    rec = (refit_set if which == "refit" else ampds2_set).test[0]
    offline = _offline_chain(model, rec)
    assert len(offline) >= 6  # the fridge cycles all through the excerpt
    meter = LiveNilm(model)
    final = _feed(meter, rec)
    chain = [(now, r) for now, r in final if r.label == "fridge"]
    assert chain  # some runs are final before the excerpt ends
    wait_ms = delay_s(model.cyclers["fridge"]) * 1000
    step_ms = float(rec.ts[1] - rec.ts[0]) * CHUNK
    for now, r in chain:
        last = r.off.ts if r.off is not None else r.on.ts
        assert now - last <= wait_ms + step_ms  # bounded: the horizon plus one update
    # every final run is one the offline chain has; the rest come out (provisional) at the end
    assert {_key(r) for _, r in chain} <= {_key(r) for r in offline}
    everything = [r for _, r in final] + meter.running(int(rec.ts[-1]))
    live = sorted((r for r in everything if r.label == "fridge"), key=lambda r: r.start)
    assert [_key(r) for r in live] == sorted(_key(r) for r in offline)
    # the chain's runs replace the paired ones: one fridge run at a time
    assert all(a.end <= b.start for a, b in pairwise(live))


def test_without_the_rhythm_window_live_misses_runs_the_chain_finds(ampds2_set: SetSpec) -> None:
    model, _ = fit_model(ampds2_set)
    rec = ampds2_set.test[0]
    offline = {_key(r) for r in _offline_chain(model, rec)}
    paired_only = replay(replace(model, cyclers={}), rec.ts, rec.aggregate, rec.second)
    with_chain = replay(model, rec.ts, rec.aggregate, rec.second)
    assert len(offline & {_key(r) for r in with_chain.runs}) > len(offline & {_key(r) for r in paired_only.runs})


def test_a_restarted_meter_keeps_its_rhythm_window(ampds2_set: SetSpec) -> None:
    model, _ = fit_model(ampds2_set)
    rec = ampds2_set.test[0]
    whole = replay(model, rec.ts, rec.aggregate, rec.second, chunk=CHUNK)
    meter = LiveNilm(model)
    half = (rec.ts.size // 2) // CHUNK * CHUNK
    runs = [r for _, r in _feed(meter, rec, end=half)]
    assert meter.rhythm.events  # mid-day, the window holds recent fridge-sized events
    # a later run carries only events the meter still holds: open ONs and those in use
    in_use = {e.ts for e in [*meter.open_on, *meter.rhythm.events_in_use()]}
    restarted = LiveNilm.from_dict(model, json.loads(json.dumps(meter.to_dict())))
    later = [r for _, r in _feed(meter, rec, start=half)]
    old = [e for r in later for e in (r.on, r.off) if e is not None and e.ts < rec.ts[half]]
    assert old and all(e.ts in in_use for e in old)
    runs += [r for _, r in _feed(restarted, rec, start=half)]
    runs += restarted.running(int(rec.ts[-1]))
    assert sorted(map(_key, runs)) == sorted(map(_key, whole.runs))


def test_a_state_saved_before_the_rhythm_window_still_loads(ampds2_set: SetSpec) -> None:
    model, _ = fit_model(ampds2_set)
    rec = ampds2_set.test[0]
    meter = LiveNilm(model)
    _feed(meter, rec, end=600)
    old = meter.to_dict()
    del old["rhythm"]
    resumed = LiveNilm.from_dict(model, old)
    assert resumed.rhythm.events == [] and resumed.rhythm.final_ts == {}
    later = _feed(resumed, rec, start=600)
    assert any(r.label == "fridge" for _, r in later)  # the chain starts again from the restart


def test_a_later_horizon_makes_more_live_fridge_runs_the_offline_ones(ampds2_set: SetSpec) -> None:
    check = rhythm_horizon_check(ampds2_set, horizons=(0.5, 3.0))
    soon, kept = check[0.5], check[3.0]
    assert kept["offline"] > 0
    assert kept["same"] >= soon["same"]
    assert kept["same"] >= kept["offline"] - 2  # the 3 cycles a live fridge run waits buy agreement


def test_a_renamed_rhythm_appliance_goes_on_from_where_its_chain_was(ampds2_set: SetSpec) -> None:
    """A person renames the fridge mid-day (the service reloads the model and the chain
    adopts the new name, as ``MeterNilm.use_model``, the open ONs relabelled from the
    store): one run at a time across the rename, none reported twice. Before, the new
    name's chain started with nothing final and reported again the runs of the window
    the old name had already made final (3 on this day)."""
    model, _ = fit_model(ampds2_set)
    rec = ampds2_set.test[0]
    meter = LiveNilm(model)
    half = (rec.ts.size // 2) // CHUNK * CHUNK
    runs = [r for _, r in _feed(meter, rec, end=half)]
    assert meter.rhythm.final_ts  # some of the fridge's runs are final already
    renamed = NilmModel.from_dict(model.to_dict())
    renamed.library.merge("fridge", "freezer")
    renamed.cyclers = {"freezer": renamed.cyclers.pop("fridge")}
    meter.model = renamed
    for e in meter.open_on:  # the store renamed them; the service reads their labels back
        e.label = "freezer" if e.label == "fridge" else e.label
    meter.rhythm.adopt(renamed, meter.open_on)
    later = [r for _, r in _feed(meter, rec, start=half)]
    assert any(r.label == "freezer" for r in later)
    cold = sorted((r for r in runs + later if r.label in ("fridge", "freezer")), key=lambda r: r.start)
    assert all(a.end <= b.start for a, b in pairwise(cold)), "one run at a time, none twice"


def _renamed(model: NilmModel, old: str, new: str) -> NilmModel:
    out = NilmModel.from_dict(model.to_dict())
    out.library.merge(old, new)
    out.cyclers = {new if n == old else n: cm for n, cm in out.cyclers.items()}
    return out


@pytest.mark.parametrize("old", ["other", "fridge"])
def test_a_meter_renamed_mid_day_goes_on_as_one_that_always_had_the_new_name(ampds2_set: SetSpec, old: str) -> None:
    """``LiveNilm.rename`` (what the service does on a rename, before it reloads the
    model): the runs waiting on the fridge's chain (the "other" runs with fridge-sized
    steps), the chain's events and progress go to the new name, so every later run is
    the one a meter whose appliance was always called so reports."""
    model, _ = fit_model(ampds2_set)
    rec = ampds2_set.test[0]
    always = _renamed(model, old, "oven")
    meter, other = LiveNilm(model), LiveNilm(always)
    half = (rec.ts.size // 2) // CHUNK * CHUNK
    _feed(meter, rec, end=half)
    _feed(other, rec, end=half)
    assert any(r.label == "other" for r in meter.rhythm.held), "a run waits on the chain at the rename"
    meter.rename(old, "oven")
    meter.model = always
    meter.rhythm.adopt(always, meter.open_on)
    later = _feed(meter, rec, start=half)
    assert any(r.label == "oven" for _, r in later)
    expected = _feed(other, rec, start=half)
    assert [(now, _told(r)) for now, r in later] == [(now, _told(r)) for now, r in expected]
    # the scores too, but for the last bit: the names' order changed the sums' order
    scores = [e.scores for _, r in later for e in (r.on, r.off) if e is not None]
    assert scores == [pytest.approx(e.scores, rel=1e-12) for _, r in expected for e in (r.on, r.off) if e is not None]
    assert meter.to_dict() == other.to_dict()


def _told(r: Run) -> dict[str, object]:
    """A run as the service stores it, its events' labels and confidences included."""
    out = r.to_dict()
    for side in ("on", "off"):
        if out[side] is not None:
            out[side] = {k: v for k, v in out[side].items() if k != "scores"}
    return out
