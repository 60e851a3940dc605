"""A fridge's rhythm picks its runs out of a house's events; a microwave shows as bursts;
confidence is calibrated; logger outages are not learnt."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import numpy as np

from wattwise.analysis.nilm.bursts import BurstModel, burst_edges, burst_series, learn_burst
from wattwise.analysis.nilm.calibration import apply_calibration, isotonic_fit
from wattwise.analysis.nilm.cycles import CycleModel, composite_bound, decode_cycles, learn_cycle
from wattwise.analysis.nilm.evaluate import (
    OTHER,
    Labelled,
    Recording,
    SetSpec,
    Settings,
    evaluate_model,
    fit_model,
    largest_other_step,
    split_at_gaps,
    tuned,
)
from wattwise.analysis.nilm.events import Event

MIN = 60_000


def _event(minute: float, dp: float) -> Event:
    return Event(int(minute * MIN), dp, None, dp, 0, 0.0, dp)


def _minute(e: Event | None) -> int | None:
    return None if e is None else e.ts // MIN


def _fridge() -> CycleModel:
    return CycleModel(
        on_w=90.0, off_w=86.0, rel_tol=0.2, on_s=30 * 60.0, on_log_sd=0.25, off_s=60 * 60.0, off_log_sd=0.25
    )


def test_a_regular_fridge_is_learnt_and_an_occasional_load_is_not() -> None:
    steps = [95.0, -80.0] * 20  # a compressor starts higher than it stops
    fridge = learn_cycle([1800.0] * 20, [3600.0] * 20, steps, span_s=20 * 5400.0)
    assert fridge is not None and abs(fridge.on_s - 1800.0) < 1
    assert (fridge.on_w, fridge.off_w) == (95.0, 80.0)
    # the same cycles over ten times as long a recording: it does not run all day
    assert learn_cycle([1800.0] * 20, [3600.0] * 20, steps, span_s=200 * 5400.0) is None
    assert learn_cycle([60.0, 3000.0] * 10, [3600.0] * 20, steps, span_s=20 * 5400.0) is None


def test_the_rhythm_keeps_the_fridge_runs_and_leaves_a_lookalike_load_out() -> None:
    fridge = [_event(90 * k, 88.0) for k in range(6)] + [_event(90 * k + 30, -86.0) for k in range(6)]
    # a 95 W load switched on for 5 minutes in the middle of a fridge OFF period
    lookalike = [_event(150, 95.0), _event(155, -95.0)]
    kettle = [_event(100, 2000.0), _event(103, -2000.0)]
    pairs = decode_cycles(fridge + lookalike + kettle, _fridge())
    assert [(_minute(on), _minute(off)) for on, off in pairs] == [(90 * k, 90 * k + 30) for k in range(6)]


def test_a_missed_off_event_breaks_the_chain_without_losing_the_rest() -> None:
    events = [_event(90 * k, 88.0) for k in range(5)] + [_event(90 * k + 30, -86.0) for k in range(5) if k != 2]
    pairs = decode_cycles(events, _fridge())
    assert len(pairs) == 5
    assert sum(off is None for _, off in pairs) == 1


def test_a_chain_that_starts_with_an_off_keeps_the_run_before_it() -> None:
    # the first ON happened before the data starts (or the detector missed it)
    events = [_event(30, -86.0)] + [_event(90 * k, 88.0) for k in (1, 2)] + [_event(90 * k + 30, -86.0) for k in (1, 2)]
    pairs = decode_cycles(events, _fridge())
    assert [(_minute(on), _minute(off)) for on, off in pairs] == [(None, 30), (90, 120), (180, 210)]


def test_a_frozen_logger_stretch_is_cut_out_of_a_recording() -> None:
    n = 3 * 450  # three hours at 8 s
    ts = np.arange(n, dtype=np.int64) * 8000
    rng = np.random.default_rng(0)
    agg = 400.0 + rng.normal(0, 3, n).round()
    agg[450:900] = 2729.0  # one hour repeating the same reading: an outage, forward-filled
    rec = Recording(ts, agg, {"fridge": np.zeros(n)})
    pieces = split_at_gaps([rec])
    assert [p.ts.size for p in pieces] == [450, 450]
    assert all(not np.any(p.aggregate == 2729.0) for p in pieces)
    assert split_at_gaps([rec.slice(np.arange(n) < 450)])[0].ts.size == 450


def test_an_over_confident_posterior_is_mapped_to_how_often_it_was_right() -> None:
    # posteriors near 0.9 that were right only half of the time, and sure ones that were right
    conf = [0.9] * 40 + [0.99] * 40
    right = [True, False] * 20 + [True] * 40
    knots = isotonic_fit(conf, right)
    assert abs(apply_calibration(knots, 0.9) - 0.5) < 1e-9
    assert apply_calibration(knots, 0.99) == 1.0
    assert isotonic_fit(conf[:5], right[:5]) == []  # too few events: left as it is
    assert apply_calibration([], 0.7) == 0.7


def test_microwave_pulses_are_found_sample_by_sample_and_a_long_load_is_not() -> None:
    mw = learn_burst([16.0, 40.0, 48.0], [1330.0, -1340.0, 1350.0], draw_w=1110.0)
    assert mw == BurstModel(1340.0, 1110.0, 66.0)  # 1.5 x the usual (75th percentile) run
    assert learn_burst([16.0, 40.0, 48.0], [90.0, -90.0], draw_w=85.0) is None  # weak: not a burst
    assert learn_burst([16.0, 4000.0, 48.0], [1330.0], draw_w=1110.0) is None  # runs for an hour
    agg = np.full(60, 500.0)
    agg[10:12] = 1840.0  # two-sample pulse
    agg[14] = 1845.0  # one-sample pulse: a step detector sees a spike
    agg[30:50] = 1840.0  # same size, 160 s long: an oven or a kettle, not the microwave
    agg[55:57] = [3500.0, 1840.0]  # a 3 kW kettle caught half-way through switching off
    est = burst_series(np.arange(60, dtype=np.int64) * 8000, agg, mw)
    assert np.flatnonzero(est > 500).tolist() == [10, 11, 14]
    assert est[10] == 1110.0


def test_a_pulse_caught_half_way_through_a_sample_is_credited_with_its_part() -> None:
    mw = BurstModel(step_w=1340.0, draw_w=1110.0, max_s=72.0)
    agg = np.full(30, 500.0)
    agg[10:12] = 1840.0
    agg[12] = 500.0 + 670.0  # the microwave stopped half-way through this 8 s sample
    est = burst_series(np.arange(30, dtype=np.int64) * 8000, agg, mw)
    assert np.flatnonzero(est).tolist() == [10, 11, 12]
    assert abs(est[12] - 555.0) < 1.0


def test_a_burst_model_saved_as_json_or_given_its_windows_in_any_order_is_the_same() -> None:
    mw = BurstModel(step_w=1340.0, draw_w=1110.0, max_s=72.0)
    assert BurstModel(**json.loads(json.dumps(asdict(mw)))) == mw
    assert replace(mw, window_shares=(1.0, 0.25, 0.5)) == mw  # the same windows in any order


def test_the_steps_that_open_and_close_a_burst_are_named_after_it() -> None:
    mw = BurstModel(step_w=1340.0, draw_w=1110.0, max_s=72.0)
    agg = np.full(30, 500.0)
    agg[10:14] = 1840.0
    ts = np.arange(30, dtype=np.int64) * 8000
    on, off, kettle = _event(0, 1335.0), _event(0, -1338.0), _event(0, 2500.0)
    on.ts, off.ts, kettle.ts = int(ts[10]), int(ts[14]), int(ts[20])
    edges = burst_edges([on, off, kettle], ts, burst_series(ts, agg, mw), mw)
    assert edges == [on, off]


def test_where_the_meter_gives_q_a_lamp_of_the_fridges_watts_is_told_apart() -> None:
    steps = [95.0, -80.0] * 20
    fridge = learn_cycle([1800.0] * 20, [3600.0] * 20, steps, span_s=20 * 5400.0, step_var=[6.0, 3.0] * 20)
    assert fridge is not None and (fridge.on_var, fridge.off_var) == (6.0, 3.0)
    events = [_event(90 * k, 95.0) for k in (0, 1, 3)] + [_event(90 * k + 30, -80.0) for k in (0, 1, 3)]
    for e in events:
        e.delta_q = 6.0 if e.is_on else -3.0
    # a lamp of the same watts, switched exactly when the fridge would have run
    lamp_on, lamp_off = _event(180, 95.0), _event(210, -80.0)
    lamp_on.delta_q, lamp_off.delta_q = 60.0, -60.0
    pairs = decode_cycles([*events, lamp_on, lamp_off], fridge)
    assert [_minute(on) for on, _ in pairs] == [0, 90, 270]
    blind = replace(fridge, on_var=None, off_var=None)  # without Q the lamp passes for the fridge
    assert [_minute(on) for on, _ in decode_cycles([*events, lamp_on, lamp_off], blind)] == [0, 90, 180, 270]


def test_on_a_real_refit_evening_the_rhythm_finds_the_fridge_runs(refit_set: SetSpec) -> None:
    """The rhythm learnt from REFIT's four training days (docs/evaluation/nilm.md), on
    the 12 h test excerpt: fridge runs found well beyond what the signatures alone give."""
    model, _ = fit_model(refit_set)
    alone = evaluate_model(refit_set, model)["appliances"]["fridge"]
    model.cyclers = {
        "fridge": CycleModel(
            on_w=95.0, off_w=80.5, rel_tol=0.2, on_s=1968.0, on_log_sd=0.35, off_s=3392.0, off_log_sd=0.35
        )
    }
    with_rhythm = evaluate_model(refit_set, model)["appliances"]["fridge"]
    assert with_rhythm["on_off_f1"] >= 0.7 > alone["on_off_f1"]
    assert with_rhythm["mae_w"] < alone["mae_w"]


def test_on_a_real_refit_evening_the_microwave_bursts_are_found(refit_set: SetSpec) -> None:
    model, _ = fit_model(refit_set)
    assert "microwave" in model.bursts
    assert evaluate_model(refit_set, model)["appliances"]["microwave"]["on_off_f1"] >= 0.75


def test_a_long_window_finds_a_two_minute_use_but_not_a_rise_that_never_comes_back() -> None:
    mw = BurstModel(step_w=1340.0, draw_w=1110.0, max_s=300.0)
    agg = np.full(200, 500.0)
    agg[20:35] = 1840.0  # the microwave on for two minutes
    # a washing machine heats at 2 kW from sample 80 to 150; halfway through, 1.34 kW
    # more for a minute (another of its loads, or a second load) that ends with the heat
    agg[80:150] = 2500.0
    agg[120:150] = 3840.0
    est = burst_series(np.arange(200, dtype=np.int64) * 8000, agg, mw)
    assert np.flatnonzero(est > 0).tolist() == list(range(20, 35))
    # without the check that both sides' levels agree, the rise in the heating is a burst
    loose = burst_series(np.arange(200, dtype=np.int64) * 8000, agg, replace(mw, level_tol=10.0))
    assert np.any(loose[120:150] > 0)


def test_a_fridge_switching_in_the_same_minute_as_another_load_keeps_its_chain() -> None:
    # six fridge cycles; its third ON falls in the same sample as a 400 W load's ON
    events = [_event(90 * k, 88.0) for k in range(6) if k != 2] + [_event(90 * k + 30, -86.0) for k in range(6)]
    events.append(_event(180, 88.0 + 400.0))
    plain = decode_cycles(events, _fridge())
    assert (180, 210) not in [(_minute(on), _minute(off)) for on, off in plain]
    pairs = decode_cycles(events, replace(_fridge(), composite_cost=0.0))
    assert [(_minute(on), _minute(off)) for on, off in pairs] == [(90 * k, 90 * k + 30) for k in range(6)]
    on = pairs[2][0]
    assert on is not None and on.delta_p == 90.0  # the fridge's own share of the step
    assert all(e.delta_p != 90.0 for e in events)  # the 488 W step itself is left as it was


def test_a_shared_step_bigger_than_the_fridge_and_any_other_load_together_is_not_taken() -> None:
    # as above, but the third ON shares its minute with a 7 kW step; the largest single
    # step of another load the house has shown is 500 W
    events = [_event(90 * k, 88.0) for k in range(6) if k != 2] + [_event(90 * k + 30, -86.0) for k in range(6)]
    events.append(_event(180, 88.0 + 7000.0))
    shared = replace(_fridge(), composite_cost=0.0)
    unbounded = [(_minute(on), _minute(off)) for on, off in decode_cycles(events, shared)]
    assert (180, 210) in unbounded
    bounded = replace(shared, composite_max_w=composite_bound(90.0, 500.0, 0.2))
    pairs = [(_minute(on), _minute(off)) for on, off in decode_cycles(events, bounded)]
    assert (180, 210) not in pairs and (90, 120) in pairs and (270, 300) in pairs
    # a step the fridge and the 500 W load can make together is still shared
    events[-1] = _event(180, 88.0 + 480.0)
    assert (180, 210) in [(_minute(on), _minute(off)) for on, off in decode_cycles(events, bounded)]


def test_the_bound_of_a_shared_step_is_learnt_from_single_steps_of_other_loads() -> None:
    evs = [_event(k, dp) for k, dp in enumerate([95.0, -80.0, 2000.0, -3000.0, 700.0])]
    # the 3 kW step is two loads switching together (None): it does not count
    lab = Labelled(evs, ["fridge", "fridge", "heat pump", None, OTHER], [None] * 5)
    assert largest_other_step([lab], "fridge") == 2000.0
    assert largest_other_step([Labelled(evs[:2], ["fridge", "fridge"], [None, None])], "fridge") is None
    steps = [95.0, -80.0] * 20
    fridge = learn_cycle([1800.0] * 20, [3600.0] * 20, steps, span_s=20 * 5400.0, partner_w=2000.0)
    assert fridge is not None and fridge.composite_max_w == composite_bound(95.0, 2000.0, fridge.rel_tol)
    assert fridge.composite_max_w == (95.0 + 2000.0) * (1.0 + fridge.rel_tol)
    unbound = learn_cycle([1800.0] * 20, [3600.0] * 20, steps, span_s=20 * 5400.0)
    assert unbound is not None and unbound.composite_max_w is None


def test_a_use_on_top_of_a_load_that_switched_on_a_minute_before_is_still_found() -> None:
    mw = BurstModel(step_w=1340.0, draw_w=1110.0, max_s=300.0)
    # as on REFIT 2015-01-08 18:18: a 560 W load on 80 s before a 96 s microwave use,
    # off with it, and the house below its earlier level afterwards
    agg = np.full(120, 300.0)
    agg[30:52] = 860.0
    agg[40:52] += 1225.0
    agg[52:55] = 690.0
    agg[55:] = 410.0
    ts = np.arange(120, dtype=np.int64) * 8000
    found = np.flatnonzero(burst_series(ts, agg, mw) > 0)
    assert set(found) <= set(range(40, 52)) and found.size >= 8
    # a 5-minute window alone takes the level from before the other load and finds nothing
    assert not np.any(burst_series(ts, agg, replace(mw, window_shares=(1.0,))) > 0)


def test_on_a_real_refit_evening_a_five_minute_window_finds_the_microwave(refit_set: SetSpec) -> None:
    """The window the training folds chose on REFIT (300 s), on the 12 h test excerpt:
    every scale up to it finds the uses, the 5-minute window alone loses two of them to
    loads that switched a minute or two before."""
    model, _ = fit_model(refit_set)
    model.bursts = {k: replace(b, max_s=300.0) for k, b in model.bursts.items()}
    assert evaluate_model(refit_set, model)["appliances"]["microwave"]["on_off_f1"] >= 0.85
    model.bursts = {k: replace(b, window_shares=(1.0,)) for k, b in model.bursts.items()}
    assert evaluate_model(refit_set, model)["appliances"]["microwave"]["on_off_f1"] < 0.75


def test_on_a_real_ampds2_day_steps_shared_with_other_loads_extend_the_fridge_chain(ampds2_set: SetSpec) -> None:
    """AMPds2 at 1 min: the fridge often switches in the same minute as another load.
    Learnt from two November days, on the August test day, letting the chain take such
    steps (at the fridge's own share) finds more of the fridge's runs and lowers its MAE."""
    model, _ = fit_model(ampds2_set)
    fridge = model.cyclers["fridge"]
    assert fridge.on_var is not None  # the meter gives Q
    scores = {}
    for cost in (None, 0.0):
        model.cyclers = {"fridge": replace(fridge, break_cost=2.0, composite_cost=cost)}
        scores[cost] = evaluate_model(ampds2_set, model)["appliances"]["fridge"]
    assert scores[0.0]["on_off_f1"] >= 0.55 > scores[None]["on_off_f1"] + 0.05
    assert scores[0.0]["mae_w"] < scores[None]["mae_w"] - 2.0


def test_the_settings_chosen_on_the_folds_reach_the_bursts_and_the_rhythm(refit_set: SetSpec) -> None:
    model, _ = fit_model(refit_set)
    model.cyclers = {"fridge": _fridge()}
    learnt = model.bursts["microwave"].max_s
    same = tuned(model, refit_set, Settings())
    assert same.bursts["microwave"].max_s == learnt and same.cyclers["fridge"].composite_cost is None
    chosen = tuned(model, refit_set, Settings(burst_window_s=300.0, composite_cost=0.0))
    assert chosen.bursts["microwave"].max_s == 300.0
    assert chosen.cyclers["fridge"].composite_cost == 0.0
