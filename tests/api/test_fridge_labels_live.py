"""A fridge's rhythm learnt from a person's labels, live through the REST API.

A meter with the service's own model (no sub-meter, no rhythm) gets AMPds2's two
training days (tests/fixtures/nilm, see NOTICE.md; 1-min readings, power only). A person
names fridge runs they saw start and stop (where the service paired the fridge's ON
with its own OFF: with an empty library it often does not): the fridge gets a rhythm
at once when three of them show the fridge's next cycle after them. The test day, posted as the next day, then has its
fridge runs from the chain, stored through the service as the offline chain of the
same model gives them; relabelling one of those runs away takes the rhythm away.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path
from typing import Any

from api.test_appliances_live import events_of, near, stretches
from detectors.live_world import LiveWorld, live_world
from wattwise.analysis.nilm.evaluate import read_refit_layout
from wattwise.analysis.nilm.live_rhythm import cycle_s, delay_s
from wattwise.detectors import library
from wattwise.runtime import Services

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nilm"
STEP = 60_000
DAY = 86_400_000


def rows(ts: Any, power: Any) -> list[dict[str, Any]]:
    return [{"ts": t, "power": p} for t, p in zip(ts.tolist(), power.tolist(), strict=True)]


def labelable(live: LiveWorld, meter: int, ts: Any, fridge: Any) -> list[int]:
    """The stored ON events of the sub-meter's fridge runs whose stored run starts and
    ends within a sample of the sub-meter's (what a person would name), of the runs
    that ended at least 4 h before the last reading."""
    events = [e for e in events_of(live, meter) if e["delta_p"] > 0]
    runs = {r["on_event_id"]: r for r in live.get(f"/api/v1/devices/{meter}/appliance-runs", limit=5000)}
    out = []
    for a, b in stretches(fridge > 50):
        if ts[-1] - ts[b] < 4 * 3_600_000:
            break  # one that ended hours ago: the service has seen what followed it
        on = near(events, int(ts[a]), STEP)
        run = None if on is None else runs.get(on["id"])
        if run is not None and run["closed"] and abs(run["end_ts"] - int(ts[b])) <= STEP:
            out.append(int(on["id"]))  # type: ignore[index]
    return out


def test_three_labelled_fridge_runs_give_it_a_rhythm_live(services: Services) -> None:
    train = read_refit_layout(FIXTURES / "ampds2_train_2013-11-21_22.csv")
    test = read_refit_layout(FIXTURES / "ampds2_test_2012-08-23.csv")
    # the test day as the day after the training days (whole days: the same hours)
    ts = test.ts + (int(train.ts[-1]) // DAY + 1) * DAY - int(test.ts[0]) // DAY * DAY
    with live_world(services) as live:
        w = live.world
        base = f"/api/v1/devices/{w.meter_a}/appliances"

        def label(event_id: int, name: str) -> None:
            answer = w.client.put(f"/api/v1/appliance-events/{event_id}/label", json={"name": name}, headers=w.auth())
            assert answer.status_code == 200, answer.text
            live.detectors.flush()

        def found(name: str) -> dict[str, Any]:
            (app,) = [a for a in live.get(base) if a["name"] == name]
            return app  # type: ignore[no-any-return]

        live.post(rows(train.ts, train.aggregate))
        live.detectors.flush()
        named = labelable(live, w.meter_a, train.ts, train.appliances["fridge"])
        assert len(named) == 4
        for i in named[:2]:
            label(i, "fridge")
        assert not found("fridge")["rhythm"], "two runs are too few"
        label(named[2], "fridge")
        # the first run's next cycle is hidden under a 3.5 kW load: two rests are too few
        assert not found("fridge")["rhythm"]
        label(named[3], "fridge")
        assert found("fridge")["rhythm"], "the fourth gives it a rhythm at once"
        with services.engine.connect() as conn:
            model = library.load_nilm(conn, w.meter_a)
        assert model is not None and model.cyclers["fridge"].from_labels
        cm = model.cyclers["fridge"]
        assert 100 <= cm.on_w <= 160 and 300 <= cm.on_s <= 1200, cm

        live.post(rows(ts, test.aggregate))
        live.detectors.flush()
        since = int(ts[0])
        runs = live.get(base.replace("appliances", "appliance-runs"), label="fridge", since=since, limit=5000)
        spans = sorted((r["start_ts"], r["end_ts"]) for r in runs)
        assert len(spans) == len(set(spans)), "each fridge run stored once"
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), "a chain's runs never overlap"

        # as the offline chain of the same model gives them over the day (away from where
        # the live chain began, at the label, and from the runs not final yet)
        offline = {(r.start, r.end) for r in model.process(ts, test.aggregate, None).runs if r.label == "fridge"}
        settled = [
            s
            for s in spans
            if s[0] >= since + 3 * cycle_s(cm) * 1000 and s[1] <= int(ts[-1]) - (delay_s(cm) * 1000 + 10 * STEP)
        ]
        assert len(settled) >= 10 and set(settled) <= offline
        true_starts = [int(ts[a]) for a, _ in stretches(test.appliances["fridge"] > 50)]
        hit = [t for t in true_starts if any(abs(s[0] - t) <= 3 * STEP for s in spans)]  # the set's ±180 s
        # more of the sub-meter's fridge runs than the same labels found without a rhythm
        # (11 against 9 of 32: the rests the service's untuned events show are short)
        no_rhythm = replace(model, cyclers={}).process(ts, test.aggregate, None)
        paired = [r.start for r in no_rhythm.runs if r.label == "fridge"]
        without = [t for t in true_starts if any(abs(s - t) <= 3 * STEP for s in paired)]
        assert len(hit) > len(without), (len(hit), len(without), len(true_starts))

        # a rename takes the rhythm along (its labelled runs are stored under the new name)
        answer = w.client.post(f"{base}/fridge/rename", json={"name": "freezer"}, headers=w.auth())
        assert answer.status_code == 200, answer.text
        live.detectors.flush()
        assert found("freezer")["rhythm"]
        # one of them was not the freezer after all: two rests are too few again
        label(named[1], "kettle")
        assert not found("freezer")["rhythm"]
        with services.engine.connect() as conn:
            model = library.load_nilm(conn, w.meter_a)
        assert model is not None and model.cyclers == {}
