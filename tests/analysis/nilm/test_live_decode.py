"""The joint decoding live: a fixed-lag Viterbi that gives the offline states once a
sample is old enough, comes back from a restart where it was, and reports its runs and
switchings through the live update."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from wattwise.analysis.nilm.decode import StateModel, decode, switch_events
from wattwise.analysis.nilm.evaluate import Recording, SetSpec, choose_live_lag, fit_model, read_refit_layout
from wattwise.analysis.nilm.events import DetectorConfig, detect_events
from wattwise.analysis.nilm.live import LiveNilm, LiveUpdate, live_power, replay
from wattwise.analysis.nilm.model import NilmModel

OMPM_EXCERPT = Path(__file__).resolve().parents[2] / "fixtures" / "nilm" / "ompm_2023-02-16_1336.csv"
FloatArray = npt.NDArray[np.float64]


def _ompm_model(lag_s: float) -> tuple[Recording, NilmModel]:
    """7 minutes of OMPM's test part (the lamp, LED lamp, fan and laptop on from its
    first second, the monitor switching; tests/fixtures/nilm/NOTICE.md), with the levels,
    base and settings the evaluation learns from the first hour."""
    rec = read_refit_layout(OMPM_EXCERPT)
    det = DetectorConfig(min_step_w=9.0, tol_abs_w=0.5, min_steady=1, second="pf")
    states = StateModel(
        {"fan": [25.7], "laptop": [12.7], "lamp": [48.4], "led": [6.1, 10.4, 17.5, 23.5], "monitor": [19.3]},
        {"fan": [0.0], "laptop": [13.6], "lamp": [0.0], "led": [22.6, 24.0, 31.2, 36.0], "monitor": [24.9]},
        base_w=9.1,
        base_var=9.9,
        noise_w=2.0,
        noise_var=20.0,
        min_segment=3,
        live_lag_s=lag_s,
    )
    return rec, NilmModel(detector=det, states=states, switches_only=True)


def _offline(rec: Recording, model: NilmModel) -> dict[str, FloatArray]:
    assert model.states is not None
    events = detect_events(rec.ts, rec.aggregate, rec.second, model.detector)
    return decode(rec.ts, rec.aggregate, events, model.states, rec.reactive())[0]


def _same(a: dict[str, FloatArray], b: dict[str, FloatArray]) -> FloatArray:
    """Per sample, whether every appliance has the same decided watts."""
    return np.all(np.column_stack([np.isclose(a[n], b[n]) for n in a]), axis=1)


def test_live_gives_the_offline_states_after_the_lag_and_not_before() -> None:
    rec, model = _ompm_model(30.0)
    offline = _offline(rec, model)
    live = live_power(model, replay(model, rec.ts, rec.aggregate, rec.second), rec.ts)
    assert _same(offline, live).all()
    # the loads on from the stream's first second are found on (the lamp: 48 W)
    assert (live["lamp"] == 48.4).all() and (live["fan"] > 0).all()
    # decided 5 s late, a step's first seconds tip the monitor's state the wrong way
    rec, hasty = _ompm_model(5.0)
    early = live_power(hasty, replay(hasty, rec.ts, rec.aggregate, rec.second), rec.ts)
    assert not _same(offline, early).all()


def test_no_sample_is_decided_before_it_is_the_lag_old() -> None:
    rec, model = _ompm_model(30.0)
    meter = LiveNilm(model)
    for i in range(0, rec.ts.size, 10):
        update = meter.feed_many(rec.ts[i : i + 10], rec.aggregate[i : i + 10], rec.second[i : i + 10])
        for at, _ in update.states.values():
            assert at.size == 0 or int(at[-1]) <= int(rec.ts[min(i + 9, rec.ts.size - 1)]) - 30_000


def test_the_switchings_and_runs_are_the_offline_ones() -> None:
    rec, model = _ompm_model(30.0)
    out = replay(model, rec.ts, rec.aggregate, rec.second)
    events = detect_events(rec.ts, rec.aggregate, rec.second, model.detector)
    offline = switch_events(rec.ts, events, _offline(rec, model))
    assert offline  # the monitor switches in this stretch
    assert [(e.ts, e.label, e.delta_p) for e in out.events] == [(e.ts, e.label, e.delta_p) for e in offline]
    # a monitor run closes at its switching off, and carries the switchings as its events
    closed = [r for r in out.runs if r.off is not None and r.label == "monitor"]
    assert closed and all(r.on in out.events and r.off in out.events for r in closed)


def test_a_restart_mid_stream_decides_as_an_uninterrupted_meter(lab_set: SetSpec) -> None:
    model, _ = fit_model(lab_set)
    assert model.states is not None
    model.states = replace(model.states, live_lag_s=10.0)
    rec = lab_set.test[0]
    whole = replay(model, rec.ts, rec.aggregate, rec.second)
    meter = LiveNilm(model)
    got = LiveUpdate([], [])
    parts: list[dict[str, tuple[npt.NDArray[np.int64], FloatArray]]] = []
    restarted = False
    for i in range(0, rec.ts.size, 10):
        if i == 150:  # the service restarts 5 s after the vacuum went on, the water heater on
            assert meter.decoder.going and any(s.state < 0 for s in meter.decoder.segments)
            meter = LiveNilm.from_dict(model, json.loads(json.dumps(meter.to_dict())))
            restarted = True
        update = meter.feed_many(rec.ts[i : i + 10], rec.aggregate[i : i + 10], rec.second[i : i + 10])
        got.events += update.events
        got.runs += update.runs
        parts.append(update.states)
    assert restarted
    last = meter.pending_states()
    got.runs += last.runs
    parts.append(last.states)
    got.states = {
        n: (np.concatenate([p[n][0] for p in parts if n in p]), np.concatenate([p[n][1] for p in parts if n in p]))
        for n in model.states.power_w
    }
    key = lambda r: (r.start, r.end, r.label, round(r.power_w, 6))  # noqa: E731
    assert sorted(map(key, got.runs)) == sorted(map(key, [r for r in whole.runs if r.off is not None]))
    for name, (at, watts) in whole.states.items():
        assert np.array_equal(got.states[name][0], at)
        assert np.allclose(got.states[name][1], watts)
    assert live_power(model, got, rec.ts)["kettle"].max() > 1000  # the kettle's runs are in it


def test_the_lag_is_the_shortest_that_agrees_with_offline() -> None:
    assert choose_live_lag({5.0: 0.59, 30.0: 0.57, 120.0: 0.64, 300.0: 0.9, 600.0: 1.0}) == 600.0
    assert choose_live_lag({5.0: 1.0, 30.0: 1.0}) == 5.0
    assert choose_live_lag({5.0: 0.9995, 30.0: 1.0}) == 5.0  # within the slack
