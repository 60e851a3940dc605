"""A fridge's runs shown as they stand, before they are final: sooner, mostly kept, and
asking for them changes no final decision."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from wattwise.analysis.nilm.cycles import CycleModel
from wattwise.analysis.nilm.evaluate import SetSpec, fit_model
from wattwise.analysis.nilm.live import LiveNilm
from wattwise.analysis.nilm.live_rhythm import delay_s
from wattwise.analysis.nilm.model import NilmModel
from wattwise.analysis.nilm.provisional import ReplayStats, provisional_replay, provisional_runs

CHUNK_S = 600  # a gateway posting every 10 min


def _model(which: str, refit_set: SetSpec, ampds2_set: SetSpec) -> NilmModel:
    if which == "ampds2":
        return fit_model(ampds2_set)[0]
    # the REFIT excerpt is too short to learn the rhythm from (test_live_rhythm.py)
    model, _ = fit_model(refit_set)
    return replace(model, cyclers={"fridge": CycleModel(95.0, 80.0, 0.2, 33 * 60.0, 0.35, 57 * 60.0, 0.35)})


@pytest.mark.parametrize("which", ["refit", "ampds2"])
def test_provisional_fridge_runs_show_sooner_are_mostly_kept_and_change_nothing(
    which: str, refit_set: SetSpec, ampds2_set: SetSpec
) -> None:
    model = _model(which, refit_set, ampds2_set)
    rec = (refit_set if which == "refit" else ampds2_set).test[0]
    chunk = round(CHUNK_S / (float(np.median(np.diff(rec.ts))) / 1000.0))
    asked = provisional_replay(model, rec.ts, rec.aggregate, rec.second, chunk)["fridge"]
    plain = provisional_replay(model, rec.ts, rec.aggregate, rec.second, chunk, ask=False)["fridge"]
    assert len(plain.final) >= 4  # the REFIT excerpt is half a day
    assert [f[:2] for f in asked.final] == [f[:2] for f in plain.final], "asking changes no final run"
    before, after = asked.delays_s(provisional=False), asked.delays_s(provisional=True)
    # final: at least the horizon after the run's last event
    assert np.median(before) >= delay_s(model.cyclers["fridge"])
    # shown: within about one post of the run's start, for most runs
    assert np.median(after) <= 2 * CHUNK_S
    assert sum(s is not None for s in asked.first_shown) >= 0.8 * len(asked.final)
    # more of what is shown is kept than not; almost every final run-time was shown first
    assert asked.kept_share() >= 0.5 and asked.covered_share() >= 0.9
    assert plain.shown == [] and np.isnan(plain.kept_share())


def test_asking_leaves_the_meters_events_as_they_were(ampds2_set: SetSpec) -> None:
    model = fit_model(ampds2_set)[0]
    rec = ampds2_set.test[0]
    meter = LiveNilm(model)
    half = rec.ts.size // 2
    meter.feed_many(rec.ts[:half], rec.aggregate[:half], None if rec.second is None else rec.second[:half])
    held = [*meter.open_on, *meter.rhythm.events_in_use()]
    labels = [(e.label, e.confidence) for e in held]
    runs = provisional_runs(meter, int(rec.ts[half - 1]))
    assert any(r.label == "fridge" for r in runs), "a fridge run not final yet"
    assert [(e.label, e.confidence) for e in held] == labels


def test_shares_and_delays_are_counted_on_time() -> None:
    st = ReplayStats(
        final=[(0, 100, 500), (200, 300, 900)],
        first_shown=[50, None],
        shown=[(0, 100), (120, 170)],
    )
    assert st.delays_s(provisional=False) == [0.5, 0.7]
    assert st.delays_s(provisional=True) == [0.05, 0.7]
    assert st.kept_share() == pytest.approx(100 / 150)
    assert st.covered_share() == pytest.approx(100 / 200)
