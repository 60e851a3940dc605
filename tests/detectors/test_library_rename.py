"""A merge of an appliance whose model came from a sub-meter into one whose model came
from people's labels keeps the sub-meter's (the labels' is learnt again from them)."""

from __future__ import annotations

from dataclasses import replace

from wattwise.analysis.nilm.bursts import BurstModel
from wattwise.analysis.nilm.cycles import CycleModel
from wattwise.analysis.nilm.signatures import Features
from wattwise.detectors import library
from wattwise.runtime import Services
from wattwise.store.devices import create_device
from wattwise.store.sites import create_site

METERED = CycleModel(95.0, 80.0, 0.2, 33 * 60.0, 0.35, 57 * 60.0, 0.35)


def test_a_sub_meters_models_survive_a_merge_into_a_name_the_labels_gave_models(sqlite_services: Services) -> None:
    """Before, the labels' model of the name merged into was kept and then taken away (its
    few labelled runs no longer supported it): the fridge lost its rhythm and the
    microwave its bursts, which only a new sub-meter fit could give back."""
    model = library.new_model()
    for name in ("fridge", "cooler", "microwave", "oven"):
        model.library.add(name, Features(100.0, None, 1.0, 19.0, 60.0, True))
    model.cyclers = {"fridge": METERED, "cooler": replace(METERED, on_w=120.0, from_labels=True)}
    model.bursts = {
        "microwave": BurstModel(1335.0, 1113.5, 300.0),
        "oven": BurstModel(1200.0, 1000.0, 200.0, from_labels=True),
    }
    with sqlite_services.engine.begin() as conn:
        device = create_device(conn, site_id=create_site(conn, "Merging home").id, name="main").device.id
        library.save_nilm(conn, device, model)
        library.rename_appliance(conn, device, "fridge", "cooler", merge=True)
        library.rename_appliance(conn, device, "microwave", "oven", merge=True)
        stored = library.load_nilm(conn, device)
    assert stored is not None
    assert stored.cyclers == {"cooler": METERED}
    assert stored.bursts == {"oven": BurstModel(1335.0, 1113.5, 300.0)}
