"""A meter's burst models from labels: what a label, a rename and a restart keep (no database)."""

from __future__ import annotations

import json

from wattwise.analysis.nilm.bursts import BurstModel
from wattwise.analysis.nilm.model import NilmModel
from wattwise.analysis.nilm.signatures import Features
from wattwise.detectors import library
from wattwise.detectors.nilm import MeterNilm
from wattwise.domain.readings import Reading


def microwave_uses(model: NilmModel, runs_s: list[float]) -> None:
    for d in runs_s:
        model.library.add("microwave", Features(1350.0, None, 1.0, 19.0, d, True))
        model.library.add("microwave", Features(1340.0, None, None, 19.0, d, False))


def test_labels_give_and_take_a_burst_model_but_never_a_sub_meters() -> None:
    model = library.new_model()
    microwave_uses(model, [40, 80])
    library.refresh_bursts(model, {"microwave"})
    assert model.bursts == {}
    microwave_uses(model, [32])
    library.refresh_bursts(model, {"microwave"})
    assert model.bursts["microwave"].from_labels and model.bursts["microwave"].step_w == 1350.0

    metered = BurstModel(1335.0, 1113.5, 300.0)
    model.bursts["microwave"] = metered
    microwave_uses(model, [900])  # a 15-min "use": the labels no longer say short
    library.refresh_bursts(model, {"microwave"})
    assert model.bursts["microwave"] == metered, "a sub-meter's model is not the labels' to take"


def test_a_model_stored_before_keeps_loading_and_one_from_labels_round_trips() -> None:
    model = library.new_model()
    microwave_uses(model, [40, 80, 32])
    library.refresh_bursts(model, {"microwave"})
    back = NilmModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert back.bursts == model.bursts and back.bursts["microwave"].from_labels
    old = model.to_dict()
    old["bursts"] = {"microwave": {"step_w": 1335.0, "draw_w": 1113.5, "max_s": 300.0}}  # before from_labels
    assert not NilmModel.from_dict(old).bursts["microwave"].from_labels
    del old["bursts"]  # before bursts
    assert NilmModel.from_dict(old).bursts == {}


def test_a_meter_without_a_burst_model_holds_no_readings_for_one() -> None:
    meter = MeterNilm.start(library.new_model(second="none"))
    for k in range(20):
        meter.feed([Reading(device_id=1, ts=(k * 100 + i) * 8000, power=300.0) for i in range(100)])
    assert meter.state()["live"]["burst_buffer"]["ts"] == [], "the saved state stays small"
