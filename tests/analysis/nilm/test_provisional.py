"""A fridge's runs shown as they stand, before they are final: sooner, mostly kept, and
asking for them changes no final decision."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from wattwise.analysis.nilm.cycles import CycleModel
from wattwise.analysis.nilm.evaluate import Recording, SetSpec, fit_model
from wattwise.analysis.nilm.live import LiveNilm, LiveUpdate
from wattwise.analysis.nilm.live_rhythm import delay_s
from wattwise.analysis.nilm.model import NilmModel
from wattwise.analysis.nilm.provisional import ReplayStats, provisional_replay

CHUNK_S = 600  # a gateway posting every 10 min


def _model(which: str, refit_set: SetSpec, ampds2_set: SetSpec) -> NilmModel:
    if which == "ampds2":
        return fit_model(ampds2_set)[0]
    # the REFIT excerpt is too short to learn the rhythm from (test_live_rhythm.py)
    model, _ = fit_model(refit_set)
    return replace(model, cyclers={"fridge": CycleModel(95.0, 80.0, 0.2, 33 * 60.0, 0.35, 57 * 60.0, 0.35)})


def _posted(which: str, refit_set: SetSpec, ampds2_set: SetSpec) -> tuple[NilmModel, Recording, int]:
    """The set's model, its test excerpt, and the readings in one 10-min post."""
    rec = (refit_set if which == "refit" else ampds2_set).test[0]
    chunk = round(CHUNK_S / (float(np.median(np.diff(rec.ts))) / 1000.0))
    return _model(which, refit_set, ampds2_set), rec, chunk


@pytest.mark.parametrize("which", ["refit", "ampds2"])
def test_provisional_fridge_runs_show_sooner_are_mostly_kept_and_change_nothing(
    which: str, refit_set: SetSpec, ampds2_set: SetSpec
) -> None:
    model, rec, chunk = _posted(which, refit_set, ampds2_set)
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


def _said(update: LiveUpdate) -> list[Any]:
    """Everything an update tells the service: its events, labels and scores, and its runs."""
    events = [(e.ts, e.delta_p, e.label, e.confidence, e.scores) for e in update.events]
    runs = [(r.start, r.end, r.power_w, r.label, r.on.to_dict(), r.off and r.off.to_dict()) for r in update.runs]
    return [events, runs]


@pytest.mark.parametrize("which", ["refit", "ampds2"])
def test_asking_which_runs_stand_changes_nothing_the_meter_says_later(
    which: str, refit_set: SetSpec, ampds2_set: SetSpec
) -> None:
    model, rec, chunk = _posted(which, refit_set, ampds2_set)
    asked, plain = LiveNilm(model), LiveNilm(model)
    fridge_asked = 0
    for i in range(0, rec.ts.size, chunk):
        j = min(i + chunk, rec.ts.size)
        second = None if rec.second is None else rec.second[i:j]
        said = _said(asked.feed_many(rec.ts[i:j], rec.aggregate[i:j], second))
        assert said == _said(plain.feed_many(rec.ts[i:j], rec.aggregate[i:j], second)), f"after reading {i}"
        now = int(rec.ts[j - 1])
        first, again = asked.running(now), asked.running(now)
        assert [r.to_dict() for r in first] == [r.to_dict() for r in again], "the same answer twice"
        fridge_asked += any(r.label == "fridge" for r in first)
        assert asked.to_dict() == plain.to_dict(), f"the saved state after reading {i}"
    assert fridge_asked >= 10, "fridge runs stood undecided at many posts"
    # the events the chains hold keep the labels a meter never asked gives them
    held = [(e.ts, e.label, e.confidence) for e in [*asked.open_on, *asked.held_events()]]
    assert held == [(e.ts, e.label, e.confidence) for e in [*plain.open_on, *plain.held_events()]]


def test_a_replay_ends_with_the_chains_labels_on_their_events(ampds2_set: SetSpec) -> None:
    model = fit_model(ampds2_set)[0]
    rec = ampds2_set.test[0]
    meter = LiveNilm(model)
    meter.feed_many(rec.ts, rec.aggregate, rec.second)
    now = int(rec.ts[-1])
    own = {id(e): e for e in [*meter.open_on, *meter.held_events()]}
    before = {k: e.label for k, e in own.items()}
    standing = meter.running(now)
    taken = {id(e) for r in standing if r.label == "fridge" for e in (r.on, r.off) if e is not None and id(e) in own}
    assert any(before[k] != "fridge" for k in taken), "the chain takes events identified otherwise"
    assert {k: e.label for k, e in own.items()} == before, "asking labels nothing"
    ended = meter.end(now)
    assert [(r.start, r.end, r.label) for r in ended] == [(r.start, r.end, r.label) for r in standing]
    assert all(own[k].label == "fridge" for k in taken), "the end labels what the chains take"


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
