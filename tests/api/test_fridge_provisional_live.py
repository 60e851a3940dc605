"""A fridge running now shows as running now, through the REST API and the live channel: a
meter whose model has the fridge's rhythm (fitted on AMPds2's training days,
tests/fixtures/nilm, see NOTICE.md) gets its test day posted every 10 min, the service
restarting mid-day. Its runs are listed as they stand (``"final": false``) long before the
rhythm chain makes them final (2 h), each replaced by its final run, never listed twice,
kept across the restart, and counted in the appliance's energy."""

from __future__ import annotations

import statistics
from typing import Any

from api.test_fridge_live import CHUNK, ampds2_fridge
from detectors.live_world import LiveWorld, live_world
from detectors.test_bus_topics import Heard
from wattwise.analysis.nilm.live_rhythm import delay_s
from wattwise.detectors import library
from wattwise.runtime import Services


def fridge_runs(live: LiveWorld, meter: int) -> list[dict[str, Any]]:
    """The fridge's runs as listed, checked: none twice, provisional ones after the final ones."""
    runs = live.get(f"/api/v1/devices/{meter}/appliance-runs", label="fridge", limit=5000)
    spans = [(r["start_ts"], r["end_ts"]) for r in runs]
    assert len(spans) == len(set(spans)), "a run listed once"
    final = [r for r in runs if r["final"]]
    for r in runs:
        if not r["final"]:
            assert all(r["start_ts"] >= f["end_ts"] or r["end_ts"] <= f["start_ts"] for f in final)
    (fridge,) = [a for a in live.get(f"/api/v1/devices/{meter}/appliances") if a["name"] == "fridge"]
    assert fridge["runs"] == len(runs) and fridge["provisional_runs"] == len(runs) - len(final)
    assert abs(fridge["energy_wh"] - sum(r["energy_wh"] for r in runs)) < 1e-6, "provisional energy counts"
    return runs


def test_a_running_fridge_is_listed_now_and_replaced_by_its_final_run(services: Services) -> None:
    model, _, offline, rows = ampds2_fridge()
    split = len(rows) // 2 // CHUNK * CHUNK
    heard = Heard()
    services.bus.on("events", heard)
    first_listed: dict[int, int] = {}  # offline run's start -> the post at which a fridge run overlapping it showed
    final_at: dict[int, int] = {}  # offline run's start -> the post at which it was listed final
    with live_world(services) as live:
        meter = live.world.meter_a
        services.writer.run(lambda c: library.save_nilm(c, meter, model))
        for i in range(0, len(rows), CHUNK):
            if i == split:
                before = [r for r in fridge_runs(live, meter) if not r["final"]]
                live.restart()
                assert before and fridge_runs(live, meter) == fridge_runs(live, meter)
                assert [r for r in fridge_runs(live, meter) if not r["final"]] == before, "kept across the restart"
            live.post(rows[i : i + CHUNK])
            live.detectors.flush()
            now = rows[min(i + CHUNK, len(rows)) - 1]["ts"]
            for r in fridge_runs(live, meter):
                for o in offline:
                    if r["start_ts"] < o.end and r["end_ts"] > o.start:
                        first_listed.setdefault(o.start, now)
                        if r["final"] and (r["start_ts"], r["end_ts"]) == (o.start, o.end):
                            final_at.setdefault(o.start, now)
        listed = fridge_runs(live, meter)
    provisional = [r for r in listed if not r["final"]]
    assert provisional, "the last cycles are not final yet at the last reading"
    # before: a run showed once final, at least the chain's delay after its last event
    settled = [o for o in offline if o.start in final_at]
    assert len(settled) >= 6
    wait_s = delay_s(model.cyclers["fridge"])
    assert all((final_at[o.start] - (o.off or o.on).ts) / 1000 >= wait_s for o in settled)
    # now: most show within about one post of their start
    shown_s = [(first_listed[o.start] - o.start) / 1000 for o in settled]
    assert statistics.median(shown_s) <= 2 * CHUNK * 60
    # the live channel carries each meter's whole provisional set, the last one as listed
    sets = [m for m in heard.wait() if m["type"] == "provisional"]
    assert sets and all(m["device_id"] == meter for m in sets)
    last = [r for r in sets[-1]["runs"] if r["label"] == "fridge"]
    assert all(not r["final"] for m in sets for r in m["runs"])
    assert [(r["start_ts"], r["end_ts"]) for r in last] == sorted((r["start_ts"], r["end_ts"]) for r in provisional)
