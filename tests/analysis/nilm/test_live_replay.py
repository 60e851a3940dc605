"""What the live service reports, replayed on a recording and scored beside offline."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from wattwise.analysis.nilm.bursts import BurstModel, burst_series
from wattwise.analysis.nilm.evaluate import SetSpec, evaluate_live, evaluate_model, fit_model
from wattwise.analysis.nilm.events import DetectorConfig, detect_events
from wattwise.analysis.nilm.live import LiveNilm, live_power, replay
from wattwise.analysis.nilm.model import NilmModel
from wattwise.analysis.nilm.pairing import pair_events


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


def test_a_dishwashers_low_power_phases_are_filled_live_as_offline(refit_set: SetSpec) -> None:
    model, _ = fit_model(refit_set)
    rec = refit_set.train[0]  # the evening with a wash: its pauses are what is compared
    assert "dishwasher" in model.cycles
    key = lambda r: (r.start, r.end, r.power_w, r.label)  # noqa: E731
    meter, bare = LiveNilm(model), LiveNilm(replace(model, cycles={}))
    done, done_bare = [], []
    for i in range(0, rec.ts.size, 60):
        done += meter.feed_many(rec.ts[i : i + 60], rec.aggregate[i : i + 60]).runs
        done_bare += bare.feed_many(rec.ts[i : i + 60], rec.aggregate[i : i + 60]).runs
    fills = [r for r in done if key(r) not in set(map(key, done_bare))]
    expected = model.cycle_fill(done_bare)  # what the offline chain fills between these runs
    assert expected  # the dishwasher pauses between its steps on this evening
    assert sorted(map(key, fills)) == sorted(map(key, expected))
    out = replay(model, rec.ts, rec.aggregate, rec.second, chunk=60)
    unfilled = replay(replace(model, cycles={}), rec.ts, rec.aggregate, rec.second, chunk=60).runs
    # with its pauses filled, more of the dishwasher's running time is found
    on_w = refit_set.on_w("dishwasher")
    truth = rec.appliances["dishwasher"] > on_w
    with_fill = live_power(model, out, rec.ts)["dishwasher"] > on_w
    without = live_power(model, replace(out, runs=unfilled), rec.ts)["dishwasher"] > on_w
    assert (truth & with_fill).sum() > (truth & without).sum()


def test_a_restarted_meter_still_fills_the_pause_it_was_in(refit_set: SetSpec) -> None:
    model, _ = fit_model(refit_set)
    rec = refit_set.train[0]
    whole = replay(model, rec.ts, rec.aggregate, rec.second, chunk=60)
    meter = LiveNilm(model)
    runs = []
    for i in range(0, rec.ts.size, 60):
        if i == 600:  # the service restarts 80 min in, in a pause of the wash
            meter = LiveNilm.from_dict(model, json.loads(json.dumps(meter.to_dict())))
        runs += meter.feed_many(rec.ts[i : i + 60], rec.aggregate[i : i + 60]).runs
    runs += meter.running(int(rec.ts[-1]))
    key = lambda r: (r.start, r.end, r.label)  # noqa: E731
    assert sorted(map(key, runs)) == sorted(map(key, whole.runs))
    old_state = {k: v for k, v in meter.to_dict().items() if k != "last_end"}  # saved before fills existed
    assert LiveNilm.from_dict(model, old_state).last_end == {}


def test_standby_draw_counts_live_as_offline(ampds2_set: SetSpec) -> None:
    model, _ = fit_model(ampds2_set)
    rec = ampds2_set.test[0]
    model.standby_w = {"heat pump": 37.0}
    series = live_power(model, replay(model, rec.ts, rec.aggregate, rec.second), rec.ts)
    assert series["heat pump"].min() >= 37.0


def test_microwave_bursts_live_equal_offline_and_come_within_the_window(refit_set: SetSpec) -> None:
    model, _ = fit_model(refit_set)
    mw = model.bursts["microwave"]
    rec = refit_set.test[0]
    offline = burst_series(rec.ts, rec.aggregate, mw)
    assert (offline > 0).sum() >= 5  # the evening's microwave uses
    meter = LiveNilm(model)
    decided_at: dict[int, int] = {}
    live = np.full(rec.ts.size, np.nan)
    for i, (t, p) in enumerate(zip(rec.ts.tolist(), rec.aggregate.tolist(), strict=True)):
        if i == 2000:  # the service restarts, with a burst window's readings in hand
            meter = LiveNilm.from_dict(model, json.loads(json.dumps(meter.to_dict())))
        for at, watts in zip(*meter.feed(t, p).bursts.get("microwave", ([], [])), strict=True):
            k = int(np.searchsorted(rec.ts, at))
            decided_at[k] = i
            live[k] = watts
    for at, watts in zip(*meter.pending_bursts()["microwave"], strict=True):
        live[int(np.searchsorted(rec.ts, at))] = watts
    assert np.array_equal(live, offline)
    step_s = float(np.median(np.diff(rec.ts))) / 1000.0
    assert max(i - k for k, i in decided_at.items()) * step_s <= mw.max_s + 3 * step_s  # 63 s + 3 readings


def test_bursts_live_equal_offline_on_a_restless_signal() -> None:
    """Every sample's level and its neighbours' count: a noisy base with pulses of every
    length, some caught half-way, decided live in chunks of any size."""
    mw = BurstModel(step_w=1335.0, draw_w=1100.0, max_s=63.0)
    rng = np.random.default_rng(7)
    ts = np.arange(3000, dtype=np.int64) * 8000
    power = 300.0 + rng.normal(0.0, 60.0, ts.size) + 400.0 * (rng.random(ts.size) < 0.05)
    for start in rng.choice(ts.size - 20, 150, replace=False):
        power[start : start + rng.integers(1, 12)] += mw.step_w * rng.choice([1.0, 1.0, 0.5])
    model = NilmModel(DetectorConfig(second="none"), bursts={"microwave": mw})
    offline = burst_series(ts, power, mw)
    assert (offline > 0).sum() > 100
    for chunk in (1, 7, 60):
        out = replay(model, ts, power, chunk=chunk)
        assert np.array_equal(out.bursts["microwave"][0], ts)
        assert np.array_equal(out.bursts["microwave"][1], offline)


def test_live_runs_are_the_offline_pairings_runs_including_the_expired_ones(ampds2_set: SetSpec) -> None:
    """Every run the meter reports, live or at the last reading, is the one the offline
    pairing gives (before the offline-only stages); an ON left open past its appliance's
    longest run closes at its typical length in both."""
    model, _ = fit_model(ampds2_set)
    # the fills are compared on their own above, the rhythm chain in test_live_rhythm.py
    model = replace(model, cycles={}, cyclers={})
    for rec in (ampds2_set.train[0], ampds2_set.test[0]):
        live = replay(model, rec.ts, rec.aggregate, rec.second, chunk=60).runs
        events = model.identify(detect_events(rec.ts, rec.aggregate, rec.second, model.detector))
        typical, longest = model.durations()
        offline = model.identify_runs(pair_events(events, model.pairing, typical, longest, int(rec.ts[-1])))
        key = lambda r: (r.start, r.end, round(r.power_w, 6), r.label)  # noqa: E731
        assert sorted(map(key, live)) == sorted(map(key, offline))
        assert any(r.off is None and r.end < rec.ts[-1] for r in live)  # some did expire


def test_microwave_uses_come_out_live_as_runs_once_across_a_restart(refit_set: SetSpec) -> None:
    """Each stretch of samples the microwave's bursts credit becomes one microwave run,
    from its first sample to the first sample without it, with the energy its samples
    are credited with; a restart between any two feeds (one mid-use among them) neither
    repeats nor loses one; no paired run is reported for it besides."""
    model, _ = fit_model(refit_set)
    rec = refit_set.test[0]
    offline = burst_series(rec.ts, rec.aggregate, model.bursts["microwave"])
    on = offline > 0
    starts = np.flatnonzero(on & ~np.r_[False, on[:-1]])
    ends = np.flatnonzero(~on & np.r_[False, on[:-1]])  # the first sample without it
    expected = [(int(rec.ts[a]), int(rec.ts[b])) for a, b in zip(starts, ends, strict=False)]
    assert len(expected) >= 3
    meter = LiveNilm(model)
    runs = []
    for i in range(0, rec.ts.size, 60):
        meter = LiveNilm.from_dict(model, json.loads(json.dumps(meter.to_dict())))  # a restart
        runs += meter.feed_many(rec.ts[i : i + 60], rec.aggregate[i : i + 60]).runs
    mw = [r for r in runs if r.label == "microwave"]
    assert [(r.start, r.end) for r in mw] == expected
    step_s = float(np.median(np.diff(rec.ts))) / 1000.0
    for r, a, b in zip(mw, starts, ends, strict=False):
        assert r.power_w * (r.end - r.start) / 1000.0 == pytest.approx(offline[a:b].sum() * step_s, rel=0.02)
        assert r.off is not None and r.on.label == r.off.label == "microwave"
