"""A site without sub-meters: a person's labelled runs say whether an appliance cycles on
its own (a fridge), and give it the rhythm the sub-meter rule would."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattwise.analysis.nilm.cycles import CycleModel
from wattwise.analysis.nilm.evaluate import SetSpec, fit_model, labelled_cycles, read_refit_layout
from wattwise.analysis.nilm.events import Event
from wattwise.analysis.nilm.live_rhythm import LiveRhythm
from wattwise.analysis.nilm.model import NilmModel
from wattwise.analysis.nilm.pairing import Run
from wattwise.analysis.nilm.rhythm_labels import LabelledRun, cycle_model_from_labels, rest_after

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "nilm"
MIN = 60_000


def step(minute: float, dp: float) -> Event:
    return Event(int(minute * MIN), dp, None, dp, 0, 0.0, max(dp, 0.0))


@pytest.fixture(scope="module")
def ampds2() -> tuple[SetSpec, NilmModel, list[LabelledRun], list[Event]]:
    train = read_refit_layout(FIXTURES / "ampds2_train_2013-11-21_22.csv")
    spec = SetSpec("ampds2", [train], [train], event_min_w=50.0)
    model, labelled = fit_model(spec)
    runs, events = labelled_cycles(spec, labelled, "fridge")
    return spec, model, runs, events


def test_three_labelled_fridge_runs_give_a_rhythm_near_the_sub_meters(
    ampds2: tuple[SetSpec, NilmModel, list[LabelledRun], list[Event]],
) -> None:
    _, model, runs, events = ampds2
    sub = model.cyclers["fridge"]
    assert len(runs) >= 15
    assert cycle_model_from_labels(runs[:2], events) is None, "two runs are too few"
    cm = cycle_model_from_labels(runs[:3], events)
    assert cm is not None and cm.from_labels and not sub.from_labels
    assert abs(cm.on_s - sub.on_s) <= 0.25 * sub.on_s, (cm.on_s, sub.on_s)
    assert abs(cm.on_w - sub.on_w) <= 0.15 * sub.on_w and abs(cm.off_w - sub.off_w) <= 0.15 * sub.off_w
    every = cycle_model_from_labels(runs, events)
    assert every is not None and abs(every.off_s - sub.off_s) <= 0.25 * sub.off_s, (every.off_s, sub.off_s)


def test_a_big_appliance_with_regular_runs_is_not_taken_for_a_fridge(
    ampds2: tuple[SetSpec, NilmModel, list[LabelledRun], list[Event]],
) -> None:
    spec, _, _, events = ampds2
    # a 2 kW heater switching for 10 min every 30 min, labelled three times
    heater = [LabelledRun(step(m, 2000.0), step(m + 10, -2000.0)) for m in (0, 40, 80)]
    rests = [step(m, d) for m in range(40, 200, 40) for d in (2000.0,)] + [
        step(m + 10, -2000.0) for m in range(40, 200, 40)
    ]
    assert cycle_model_from_labels(heater, sorted(rests, key=lambda e: e.ts)) is None
    fridge = [LabelledRun(step(m, 120.0), step(m + 10, -110.0)) for m in (0, 40, 80)]
    rests = [step(m, 120.0) for m in range(40, 200, 40)] + [step(m + 10, -110.0) for m in range(40, 200, 40)]
    cm = cycle_model_from_labels(fridge, sorted(rests, key=lambda e: e.ts))
    assert cm is not None and cm.on_s == pytest.approx(600.0) and cm.off_s == pytest.approx(1800.0)
    assert cm.on_w == 120.0 and cm.off_w == 110.0
    assert spec.name == "ampds2" and events


def test_the_rest_is_to_the_next_cycle_not_to_a_lone_step_of_its_size() -> None:
    run = LabelledRun(step(0, 120.0), step(10, -110.0))
    lone = step(15, 118.0)  # another load of the fridge's size, staying on for an hour
    events = [lone, step(40, 121.0), step(50, -112.0), step(75, -118.0)]
    assert rest_after(run, events, 120.0, 110.0, 600.0) == 30 * 60.0
    assert rest_after(run, [lone, step(75, -118.0)], 120.0, 110.0, 600.0) is None
    assert rest_after(run, [step(30 + 240, 120.0), step(30 + 250, -110.0)], 120.0, 110.0, 600.0) is None, (
        "no further than 4 h"
    )


def test_irregular_runs_or_rests_make_none() -> None:
    runs = [LabelledRun(step(m, 120.0), step(m + d, -110.0)) for m, d in ((0, 10), (100, 40), (200, 3))]
    later = sorted(
        [step(m, 120.0) for m in (40, 140, 240)] + [step(m + 10, -110.0) for m in (40, 140, 240)], key=lambda e: e.ts
    )
    assert cycle_model_from_labels(runs, later) is None, "ON lengths 3-40 min: not a thermostat"
    regular = [LabelledRun(step(m, 120.0), step(m + 10, -110.0)) for m in (0, 100, 200)]
    assert cycle_model_from_labels(regular, []) is None, "no next cycle seen after any of them"


def test_a_rhythm_taken_away_lets_the_runs_waiting_on_it_pass() -> None:
    cm = CycleModel(120.0, 110.0, 0.2, 600.0, 0.35, 1800.0, 0.35, from_labels=True)
    with_rhythm = NilmModel(cyclers={"fridge": cm})
    rhythm = LiveRhythm()
    on, off = step(0, 120.0), step(30, -115.0)  # a paired TV run with fridge-sized steps
    tv = Run(on.ts, off.ts, 117.0, "tv", on, off)
    assert rhythm.step(with_rhythm, [on, off], [tv], 31 * MIN) == [], "it waits on the chain"
    assert rhythm.held == [tv]
    assert rhythm.step(NilmModel(), [], [], 32 * MIN) == [tv], "the labels took the rhythm away"
    assert rhythm.held == [] and rhythm.events == []


def test_a_rhythm_the_labels_just_gave_takes_the_open_on_of_its_size() -> None:
    cm = CycleModel(120.0, 110.0, 0.2, 600.0, 0.35, 1800.0, 0.35, from_labels=True)
    fridge_on, kettle_on = step(0, 118.0), step(1, 2000.0)
    rhythm = LiveRhythm()
    rhythm.adopt(NilmModel(cyclers={"fridge": cm}), [fridge_on, kettle_on])
    assert rhythm.events == [fridge_on], "the run going at the label is the chain's to end"
    off = step(10, -112.0)
    three_cycles_later = 10 * MIN + 3 * 2400 * 1000  # the run is final then
    runs = rhythm.step(NilmModel(cyclers={"fridge": cm}), [off], [], three_cycles_later)
    assert [(r.start, r.end) for r in runs] == [(fridge_on.ts, off.ts)]
