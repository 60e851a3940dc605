"""One library, two regimes: an appliance a user has labelled a few times accepts events
further from its exemplars than one the library knows from dozens, and the regime
follows the library as it grows, per appliance, through a stored model too."""

from __future__ import annotations

import json

from wattwise.analysis.nilm.classify import Classifier, ClassifierConfig
from wattwise.analysis.nilm.model import NilmModel
from wattwise.analysis.nilm.signatures import UNIDENTIFIED, Features, SignatureLibrary

#: a few labels: 5 scale units; dozens: 3 (ΔP's scale is 10 % of the step)
CONFIG = ClassifierConfig(reject_sigma=3.0, few_label_sigma=5.0, few_labels=10)


def _step(watts: float) -> Features:
    return Features(dp=watts, dq=None, peak_ratio=None, hour=None, duration_s=None, on=True)


def _teach(lib: SignatureLibrary, name: str, watts: float, n: int) -> None:
    for i in range(n):
        lib.add(name, _step(watts * (0.99 + 0.02 * i / max(n - 1, 1))))


def _label(clf: Classifier, watts: float) -> str:
    return clf.identify([_step(watts)])[0][0]


def test_an_appliance_with_a_few_labels_is_strict_once_it_holds_dozens() -> None:
    lib = SignatureLibrary()
    clf = Classifier(lib, CONFIG)
    _teach(lib, "heater", 1000.0, 10)
    assert _label(clf, 1350.0) == "heater"  # 3.5 units away: accepted from a few labels
    assert _label(clf, 1800.0) == UNIDENTIFIED  # 8 units: too far even so
    lib.add("heater", _step(1000.0))  # the 11th label: the library now knows its spread
    assert _label(clf, 1350.0) == UNIDENTIFIED
    assert _label(clf, 1150.0) == "heater"


def test_each_appliance_is_judged_by_how_many_labels_it_holds() -> None:
    lib = SignatureLibrary()
    _teach(lib, "kettle", 2000.0, 30)
    _teach(lib, "lamp", 60.0, 3)
    clf = Classifier(lib, CONFIG)
    assert _label(clf, 60.0 + 3.5 * 6.0) == "lamp"  # the lamp's scale is 6 W
    assert _label(clf, 2000.0 + 3.5 * 200.0) == UNIDENTIFIED


def test_a_stored_model_keeps_its_regimes_and_an_older_one_loads_with_one() -> None:
    model = NilmModel(classifier=CONFIG)
    _teach(model.library, "heater", 1000.0, 5)
    restored = NilmModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert restored.classifier == CONFIG
    assert _label(Classifier(restored.library, restored.classifier), 1350.0) == "heater"

    old = model.to_dict()
    del old["classifier"]["few_label_sigma"], old["classifier"]["few_labels"]
    before = NilmModel.from_dict(old)  # saved before the regimes existed
    assert _label(Classifier(before.library, before.classifier), 1350.0) == UNIDENTIFIED
    assert _label(Classifier(before.library, before.classifier), 1150.0) == "heater"
