"""Truth from known on/off states: a sub-meter's phantom watts are not its appliance's."""

from __future__ import annotations

import numpy as np

from wattwise.analysis.nilm.evaluate import Recording, SetSpec, power_metrics, true_events


def _lamp_with_phantom_watts() -> Recording:
    """A lamp on for samples 40-79; its sub-meter reads 5-20 W of its neighbours' current
    while off (a 12 W bump at 10-19), and it warms up in a ramp when switched on."""
    ts = (1_700_000_000_000 + np.arange(120) * 1000).astype(np.int64)
    sub = np.full(120, 5.0)
    sub[10:20] = 17.0
    sub[40:80] = 33.0
    sub[40:44] = [15.0, 18.0, 24.0, 28.0]
    on = np.zeros(120, dtype=bool)
    on[40:80] = True
    return Recording(ts, 50.0 + np.where(on, sub, 0.0), {"lamp": np.where(on, sub, 0.0)}, on_states={"lamp": on})


def test_true_events_are_the_state_changes_only() -> None:
    rec = _lamp_with_phantom_watts()
    truth = true_events(rec, 6.0)
    assert [(t.on, t.ts) for t in truth] == [(True, int(rec.ts[40])), (False, int(rec.ts[80]))]
    assert truth[0].delta_w > 15.0  # the ramp's level, counted once
    assert truth[1].delta_w < -30.0


def test_on_off_f1_and_mae_score_against_the_states_not_the_raw_watts() -> None:
    rec = _lamp_with_phantom_watts()
    spec = SetSpec("phantom", [rec], [rec], event_min_w=6.0, on_thresholds_w={"lamp": 3.0})
    exact = power_metrics(spec, [rec], [{"lamp": rec.appliances["lamp"]}])
    assert exact["appliances"]["lamp"]["on_off_f1"] == 1.0
    assert exact["appliances"]["lamp"]["mae_w"] == 0.0
    phantom = np.full(120, 5.0)  # predicting the sub-meter's pick-up is wrong everywhere it is off
    wrong = power_metrics(spec, [rec], [{"lamp": phantom}])
    assert wrong["appliances"]["lamp"]["on_off_f1"] < 0.6
