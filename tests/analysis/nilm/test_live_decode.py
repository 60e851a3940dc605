"""The joint decoding live: a fixed-lag Viterbi that gives the offline states once a
sample is old enough, comes back from a restart where it was, and reports its runs and
switchings through the live update."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pytest

from support import OMPM_DETECTOR, OMPM_EXCERPT, ompm_states
from wattwise.analysis.nilm.decode import decode, renamed_states, switch_events
from wattwise.analysis.nilm.evaluate import Recording, SetSpec, choose_live_lag, fit_model, read_refit_layout
from wattwise.analysis.nilm.events import detect_events
from wattwise.analysis.nilm.live import LiveNilm, LiveUpdate, live_power, replay
from wattwise.analysis.nilm.model import NilmModel

FloatArray = npt.NDArray[np.float64]


def _ompm_model(lag_s: float) -> tuple[Recording, NilmModel]:
    """7 minutes of OMPM's test part (the lamp, LED lamp, fan and laptop on from its
    first second, the monitor switching; tests/fixtures/nilm/NOTICE.md), with the levels,
    base and settings the evaluation learns from the first hour."""
    rec = read_refit_layout(OMPM_EXCERPT)
    return rec, NilmModel(detector=OMPM_DETECTOR, states=ompm_states(live_lag_s=lag_s), switches_only=True)


def _offline(rec: Recording, model: NilmModel) -> dict[str, FloatArray]:
    assert model.states is not None
    events = detect_events(rec.ts, rec.aggregate, rec.second, model.detector)
    return decode(rec.ts, rec.aggregate, events, model.states, rec.reactive())[0]


def _same(a: dict[str, FloatArray], b: dict[str, FloatArray]) -> FloatArray:
    """Per sample, whether every appliance has the same decided watts."""
    return np.all(np.column_stack([np.isclose(a[n], b[n]) for n in a]), axis=1)


def test_live_gives_the_offline_states_after_the_lag_and_not_before() -> None:
    rec, model = _ompm_model(60.0)
    offline = _offline(rec, model)
    live = live_power(model, replay(model, rec.ts, rec.aggregate, rec.second), rec.ts)
    assert _same(offline, live).all()
    # the loads on from the stream's first second are found on (the lamp: 48 W)
    assert (live["lamp"] == 48.4).all() and (live["fan"] > 0).all()
    # decided 30 s late, the first minute is decided before the steps that explain it
    rec, hasty = _ompm_model(30.0)
    early = live_power(hasty, replay(hasty, rec.ts, rec.aggregate, rec.second), rec.ts)
    assert not _same(offline, early).all()
    # however the readings are batched: one at a time, the same answer
    one_by_one = live_power(model, replay(model, rec.ts, rec.aggregate, rec.second, chunk=1), rec.ts)
    assert _same(live, one_by_one).all()


def test_no_sample_is_decided_before_it_is_the_lag_old() -> None:
    rec, model = _ompm_model(60.0)
    meter = LiveNilm(model)
    for i in range(0, rec.ts.size, 10):
        update = meter.feed_many(rec.ts[i : i + 10], rec.aggregate[i : i + 10], rec.second[i : i + 10])
        for at, _ in update.states.values():
            assert at.size == 0 or int(at[-1]) <= int(rec.ts[min(i + 9, rec.ts.size - 1)]) - 60_000


def test_the_switchings_and_runs_are_the_offline_ones() -> None:
    rec, model = _ompm_model(60.0)
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


def test_a_model_over_other_appliances_decides_the_undecided_samples_afresh() -> None:
    rec, model = _ompm_model(60.0)
    meter = LiveNilm(model)
    half = rec.ts.size // 2
    meter.feed_many(rec.ts[:half], rec.aggregate[:half], rec.second[:half])
    assert model.states is not None
    # the person's model no longer has the LED lamp: combinations are numbered anew
    fewer = {k: v for k, v in model.states.power_w.items() if k != "led"}
    q = {k: v for k, v in (model.states.reactive_var or {}).items() if k != "led"}
    meter.model = replace(model, states=replace(model.states, power_w=fewer, reactive_var=q))
    update = meter.feed_many(rec.ts[half:], rec.aggregate[half:], rec.second[half:])
    assert set(update.states) == set(fewer)
    assert not any(r.label == "led" for r in update.runs)


@pytest.mark.parametrize("restart", [False, True])
def test_a_renamed_appliance_goes_on_under_its_new_name(restart: bool) -> None:
    """A person renames the lamp while it is on: its run going carries on under the new
    name from where it began, and every sample is decided as by a meter never renamed (the
    numbering of the combinations is the same; before, the run going was dropped and the
    undecided samples decided afresh — until the nilm-pure round still so when the
    service restarted between the rename and the meter's next reading)."""
    rec, model = _ompm_model(60.0)
    assert model.states is not None
    whole = replay(model, rec.ts, rec.aggregate, rec.second)
    meter = LiveNilm(model)
    half = rec.ts.size // 2
    first = meter.feed_many(rec.ts[:half], rec.aggregate[:half], rec.second[:half])
    assert "lamp" in meter.decoder.going
    renamed = replace(model, states=renamed_states(model.states, "lamp", "desk lamp"))
    if restart:  # the saved state, renamed as the service does (library.rename_in_state)
        meter = LiveNilm.from_dict(renamed, json.loads(json.dumps(meter.to_dict())))
    meter.rename("lamp", "desk lamp")
    meter.model = renamed
    rest = meter.feed_many(rec.ts[half:], rec.aggregate[half:], rec.second[half:])
    last = meter.pending_states()
    going = {r.label: r for r in meter.running(int(rec.ts[-1]))}
    assert going["desk lamp"].start == int(rec.ts[0]) and "lamp" not in going
    for name, (at, watts) in whole.states.items():
        after = "desk lamp" if name == "lamp" else name
        got_at = np.concatenate(
            [p[k][0] for p, k in ((first.states, name), (rest.states, after), (last.states, after))]
        )
        got_w = np.concatenate([p[k][1] for p, k in ((first.states, name), (rest.states, after), (last.states, after))])
        assert np.array_equal(got_at, at) and np.allclose(got_w, watts)


def test_two_loads_decoded_jointly_cannot_be_merged() -> None:
    _, model = _ompm_model(60.0)
    assert model.states is not None
    with pytest.raises(ValueError, match="two loads"):
        renamed_states(model.states, "lamp", "led")
    assert renamed_states(model.states, "kettle", "geyser") is model.states  # not decoded: unchanged
