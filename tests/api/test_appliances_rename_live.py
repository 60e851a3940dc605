"""A rename reaches the runs the live detector still holds, through the REST API.

A meter whose model has the fridge's rhythm (fitted on AMPds2's training days,
tests/fixtures/nilm, see NOTICE.md) gets its test day posted 10 min at a time. A run of
another appliance whose steps are fridge-sized waits on the fridge's chain (hours) before
it is final. A person renames that appliance while the run waits — with the service
running, or just after a restart, before the meter's next reading — and the run, when
it becomes final, is stored under the new name, as is everything after.
"""

from __future__ import annotations

import pytest

from api.test_appliances_live import events_of
from api.test_fridge_live import CHUNK, ampds2_fridge
from detectors.live_world import live_world
from wattwise.analysis.nilm.live import LiveNilm
from wattwise.analysis.nilm.signatures import UNIDENTIFIED
from wattwise.detectors import library
from wattwise.runtime import Services


def first_held(rows: list[dict[str, object]]) -> tuple[int, int, str]:
    """Where the engine, fed as the service feeds it, first holds a named appliance's run
    waiting on the fridge's chain: the rows posted by then, the run's start, its name."""
    model, rec, _, _ = ampds2_fridge()
    meter = LiveNilm(model)
    for i in range(0, len(rows), CHUNK):
        meter.feed_many(rec.ts[i : i + CHUNK], rec.aggregate[i : i + CHUNK])
        named = [r for r in meter.rhythm.held if r.label != UNIDENTIFIED]
        if named:
            return i + CHUNK, named[0].start, named[0].label
    raise AssertionError("no named run ever waits on the fridge's chain")


@pytest.mark.parametrize("restart", [False, True])
def test_a_renamed_appliances_waiting_run_is_stored_under_the_new_name(services: Services, restart: bool) -> None:
    model, _, _, rows = ampds2_fridge()
    held_at, start, old = first_held(rows)
    with live_world(services) as live:
        meter = live.world.meter_a
        runs = f"/api/v1/devices/{meter}/appliance-runs"
        services.writer.run(lambda c: library.save_nilm(c, meter, model))
        for i in range(0, held_at, CHUNK):
            live.post(rows[i : i + CHUNK])
            live.detectors.flush()
        assert not [r for r in live.get(runs, limit=5000) if r["start_ts"] == start and r["final"]], "still held"
        if restart:  # the meter is not loaded again until its next reading
            live.restart()
        w = live.world
        answer = w.client.post(
            f"/api/v1/devices/{meter}/appliances/{old}/rename", json={"name": "oven"}, headers=w.auth()
        )
        assert answer.status_code == 200, answer.text
        for i in range(held_at, len(rows), CHUNK):
            live.post(rows[i : i + CHUNK])
            live.detectors.flush()
        (run,) = [r for r in live.get(runs, limit=5000) if r["start_ts"] == start and r["final"]]
        assert run["label"] == "oven"
        assert live.get(runs, label=old, limit=5000) == [], "no run keeps the old name"
        assert [e for e in events_of(live, meter) if e["label"] == old] == [], "nor any event"
        assert [a["name"] for a in live.get(f"/api/v1/devices/{meter}/appliances") if a["name"] == old] == []
