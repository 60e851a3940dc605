"""More labels never make the library name less: an appliance with a few labels is named
from its own threshold, so labelling more of the loads that compete with it (a freezer's
"not one of mine" steps beside the fridge's) does not turn its events "unidentified";
runs and stored models keep that threshold."""

from __future__ import annotations

import json
from dataclasses import replace

from wattwise.analysis.nilm.classify import Classifier, ClassifierConfig
from wattwise.analysis.nilm.events import Event
from wattwise.analysis.nilm.model import NilmModel
from wattwise.analysis.nilm.signatures import UNIDENTIFIED, Features, SignatureLibrary


def _step(watts: float) -> Features:
    return Features(dp=watts, dq=None, peak_ratio=None, hour=None, duration_s=None, on=True)


def _label(clf: Classifier, watts: float) -> tuple[str, float]:
    label, conf, _ = clf.identify([_step(watts)])[0]
    return label, conf


def _fridge_and_others(n: int) -> SignatureLibrary:
    """Five or ten fridge labels, and as many "not one of mine" labels spread over the
    house's steps, one in five of them a fridge-sized step of another load (a freezer)."""
    lib = SignatureLibrary()
    fridge = (118.0, 119.0, 120.0, 121.0, 122.0, 117.0, 119.5, 120.5, 121.5, 123.0)
    others = (131.0, 400.0, 800.0, 1500.0, 3000.0, 126.0, 133.0, 900.0, 1700.0, 2500.0)
    for w in fridge[:n]:
        lib.add("fridge", _step(w))
    for w in others[:n]:
        lib.add("other", _step(w))
    return lib


def test_labelling_more_of_the_other_loads_does_not_turn_the_fridges_events_unidentified() -> None:
    strict_only = ClassifierConfig(min_confidence=0.7, few_label_sigma=5.0)
    regimes = replace(strict_only, few_label_confidence=0.5)
    five, ten = _fridge_and_others(5), _fridge_and_others(10)
    assert _label(Classifier(five, strict_only), 120.0)[0] == "fridge"
    # ten labels each: the freezer's steps are better known, the fridge's posterior falls
    label, conf = _label(Classifier(ten, strict_only), 120.0)
    assert 0.5 <= conf < 0.7
    assert label == UNIDENTIFIED  # one threshold for every library: more labels, less named
    assert _label(Classifier(five, regimes), 120.0)[0] == "fridge"
    assert _label(Classifier(ten, regimes), 120.0)[0] == "fridge"


def _fridge_and_freezer(labels_each: int) -> SignatureLibrary:
    """Two loads 1.2 scale units apart: an event between them is about 60/40."""
    lib = SignatureLibrary()
    for name, w in (("fridge", 120.0), ("freezer", 135.0)):
        for i in range(labels_each):
            lib.add(name, _step(w + i * 0.003))
    return lib


def test_an_appliance_with_a_few_labels_is_named_from_its_own_threshold() -> None:
    config = ClassifierConfig(min_confidence=0.7, few_label_confidence=0.5, few_label_sigma=5.0)
    label, conf = _label(Classifier(_fridge_and_freezer(3), config), 125.0)
    assert 0.5 <= conf < 0.7
    assert label == "fridge"
    label, conf = _label(Classifier(_fridge_and_freezer(30), config), 125.0)
    assert 0.5 <= conf < 0.7
    assert label == UNIDENTIFIED  # the library knows dozens: the full model's threshold


def test_a_run_of_a_few_label_appliance_is_named_from_its_threshold_too() -> None:
    model = NilmModel(classifier=ClassifierConfig(min_confidence=0.7, few_label_confidence=0.5, few_label_sigma=5.0))
    for name, w in (("fridge", 120.0), ("freezer", 135.0)):
        for i in range(3):
            model.library.add(name, Features(w + i * 0.1, None, None, None, 600.0, True))
            model.library.add(name, Features(w + i * 0.1, None, None, None, 600.0, False))
    on = Event(ts=0, delta_p=125.0, delta_q=None, peak_w=125.0, settle_ms=1000, level_before=50.0, level_after=175.0)
    off = Event(
        ts=600_000, delta_p=-125.0, delta_q=None, peak_w=-125.0, settle_ms=1000, level_before=175.0, level_after=50.0
    )
    result = model.process_events([on, off], until_ts=700_000)
    assert [r.label for r in result.runs] == ["fridge"]


def test_a_stored_model_keeps_its_few_label_threshold_and_an_older_one_loads_without() -> None:
    config = ClassifierConfig(min_confidence=0.7, few_label_confidence=0.5, few_label_sigma=5.0)
    model = NilmModel(classifier=config)
    restored = NilmModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert restored.classifier == config
    old = model.to_dict()
    del old["classifier"]["few_label_confidence"]  # saved before it existed
    assert NilmModel.from_dict(old).classifier.threshold(3) == 0.7
