"""Appliance detection live: readings posted to the API become events and runs a person can name.

A simulated home (standby, fridge, kettle, TV; ground truth from the simulator) reports
every 10 s through POST /api/v1/ingest. The live detector stores each ON/OFF step as it
happens; every event starts unidentified; a person names one kettle event; the kettle's
later switchings are then identified as the kettle, and its runs carry the name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.live_world import LiveWorld, live_world
from wattwise.analysis.nilm.bursts import burst_series
from wattwise.analysis.nilm.evaluate import SetSpec, fit_model, read_refit_layout
from wattwise.detectors import library
from wattwise.devices.simulator.appliances import appliance_named
from wattwise.devices.simulator.household import Household, initial_state, regular_times, simulate
from wattwise.devices.simulator.schedule import ApplianceEvent, OwnedAppliance
from wattwise.runtime import Services

T0 = 1_763_942_400_000  # 2025-11-24 00:00 UTC
DAY = 86_400_000
HOME = Household(
    seed=7,
    appliances=(
        OwnedAppliance(appliance=appliance_named("standby")),
        OwnedAppliance(appliance=appliance_named("fridge")),
        OwnedAppliance(appliance=appliance_named("kettle"), usage_scale=3.0),
        OwnedAppliance(appliance=appliance_named("tv")),
    ),
)


def simulated_days(days: int) -> list[tuple[list[dict[str, Any]], list[ApplianceEvent]]]:
    """The home's readings every 10 s and its true switchings, day by day."""
    state = initial_state(HOME, T0)
    out = []
    for d in range(days):
        state, samples, truth = simulate(HOME, state, regular_times(T0 + d * DAY, T0 + (d + 1) * DAY, 10_000))
        out.append((samples.rows(), truth))
    return out


def near(events: list[dict[str, Any]], ts: int, tolerance_ms: int = 30_000) -> dict[str, Any] | None:
    found = [e for e in events if abs(e["ts"] - ts) <= tolerance_ms]
    return min(found, key=lambda e: abs(e["ts"] - ts)) if found else None


def events_of(live: LiveWorld, meter: int, **params: Any) -> list[dict[str, Any]]:
    return live.get(f"/api/v1/devices/{meter}/appliance-events", limit=5000, **params)  # type: ignore[no-any-return]


def test_events_appear_as_readings_arrive_and_a_label_teaches_the_next_kettle(services: Services) -> None:
    (day1, truth1), (day2, truth2) = simulated_days(2)
    with live_world(services) as live:
        w = live.world
        live.post(day1)
        live.detectors.flush()

        events = events_of(live, w.meter_a)
        big_truth = [t for t in truth1 if abs(t.delta_w) >= 50 and t.state in ("on", "off")]
        found = [near(events, t.ts) for t in big_truth]
        assert sum(f is not None for f in found) >= 0.9 * len(big_truth)
        assert {e["label"] for e in events} == {"unidentified"}

        kettle_on = [t for t in truth1 if t.appliance == "kettle" and t.state == "on"]
        assert len(kettle_on) >= 3
        first = near(events, kettle_on[0].ts)
        assert first is not None and first["delta_p"] > 1500
        answer = w.client.put(
            f"/api/v1/appliance-events/{first['id']}/label", json={"name": "kettle"}, headers=w.auth()
        )
        assert answer.status_code == 200, answer.text
        labelled = answer.json()["events"]
        assert [e["label"] for e in labelled] == ["kettle"] * len(labelled)
        assert len(labelled) == 2, "the OFF event of the same run is named too"

        live.post(day2)
        live.detectors.flush()
        later = events_of(live, w.meter_a, since=T0 + DAY)
        kettle_truth = [t for t in truth2 if t.appliance == "kettle" and t.state in ("on", "off")]
        named = [near(later, t.ts) for t in kettle_truth]
        hits = sum(1 for e in named if e is not None and e["label"] == "kettle")
        assert len(kettle_truth) >= 4 and hits >= 0.75 * len(kettle_truth)
        others = [t for t in truth2 if t.appliance in ("fridge", "tv")]
        wrong = [e for e in (near(later, t.ts, 10_000) for t in others) if e is not None and e["label"] == "kettle"]
        assert not wrong, "a fridge or TV switching is never taken for the kettle"

        runs = live.get(f"/api/v1/devices/{w.meter_a}/appliance-runs", label="kettle", since=T0 + DAY)
        assert len(runs) >= 0.75 * len(kettle_truth) / 2
        truth_runs = [
            (on.ts, off.ts)
            for on, off in zip(
                [t for t in truth2 if t.appliance == "kettle" and t.state == "on"],
                [t for t in truth2 if t.appliance == "kettle" and t.state == "off"],
                strict=False,
            )
        ]
        for run in runs:
            assert run["closed"] and 1700 < run["power_w"] < 2300
            match = min(truth_runs, key=lambda tr: abs(tr[0] - run["start_ts"]))
            assert abs(run["duration_s"] - (match[1] - match[0]) / 1000) <= 30

        (kettle,) = [a for a in live.get(f"/api/v1/devices/{w.meter_a}/appliances") if a["name"] == "kettle"]
        assert kettle["runs"] >= len(runs) and 1700 < kettle["typical_power_w"] < 2300
        assert np.isclose(kettle["energy_wh"], sum(r["energy_wh"] for r in runs), rtol=0.5)


@contextmanager
def one_day_detected(services: Services) -> Iterator[tuple[LiveWorld, list[ApplianceEvent], list[dict[str, Any]]]]:
    """A simulated day posted and detected: the live installation, the day's truth, its events."""
    ((day, truth),) = simulated_days(1)
    with live_world(services) as live:
        live.post(day)
        live.detectors.flush()
        yield live, truth, events_of(live, live.world.meter_a)


def test_relabel_rename_and_merge_keep_events_and_library_in_step(services: Services) -> None:
    with one_day_detected(services) as (live, truth1, events):
        w = live.world
        kettles = [near(events, t.ts) for t in truth1 if t.appliance == "kettle" and t.state == "on"]
        fridge = near(events, next(t.ts for t in truth1 if t.appliance == "fridge" and t.state == "on"))
        assert fridge is not None and kettles[0] is not None and kettles[1] is not None

        def label(event_id: int, name: str, token: str | None = None) -> Any:
            return w.client.put(
                f"/api/v1/appliance-events/{event_id}/label", json={"name": name}, headers=w.auth(token)
            )

        assert label(kettles[0]["id"], "fridge").status_code == 200  # a slip of the finger
        assert label(kettles[0]["id"], "kettle").status_code == 200  # corrected: relabel
        assert label(fridge["id"], "cooler").status_code == 200
        assert label(kettles[1]["id"], "boiler").status_code == 200
        names = {a["name"]: a for a in live.get(f"/api/v1/devices/{w.meter_a}/appliances")}
        assert set(names) == {"kettle", "cooler", "boiler"}, "the slip taught nothing that stays"

        base = f"/api/v1/devices/{w.meter_a}/appliances"
        taken = w.client.post(f"{base}/cooler/rename", json={"name": "kettle"}, headers=w.auth())
        assert taken.status_code == 422 and "merge" in taken.json()["detail"]
        renamed = w.client.post(f"{base}/cooler/rename", json={"name": "fridge"}, headers=w.auth())
        assert renamed.status_code == 200 and renamed.json()["events_relabelled"] >= 1
        merged = w.client.post(f"{base}/merge", json={"source": "boiler", "into": "kettle"}, headers=w.auth())
        assert merged.status_code == 200
        names = {a["name"]: a for a in live.get(base)}
        assert set(names) == {"kettle", "fridge"} and names["kettle"]["labelled_events"] == 4
        assert {e["label"] for e in events_of(live, w.meter_a, label="boiler")} == set()
        assert len(events_of(live, w.meter_a, label="kettle")) >= 4

        missing = w.client.post(f"{base}/nothing/rename", json={"name": "x"}, headers=w.auth())
        assert missing.status_code == 404
        bad = label(fridge["id"], "unidentified")
        assert bad.status_code == 422

        # a viewer of site A sees the events but may not name them; site B's meter is not theirs
        assert events_of(live, w.meter_a, token=w.viewer_token)
        assert label(fridge["id"], "fan", token=w.viewer_token).status_code == 403
        other = w.client.get(f"/api/v1/devices/{w.meter_b}/appliance-events", headers=w.auth(w.viewer_token))
        assert other.status_code == 404


def test_appliances_need_sign_in(sqlite_services: Services) -> None:
    with live_world(sqlite_services) as live:
        for path in ("/api/v1/devices/1/appliances", "/api/v1/devices/1/appliance-events"):
            assert live.world.client.get(path).status_code == 401


REFIT = Path(__file__).resolve().parents[1] / "fixtures" / "nilm"  # see NOTICE.md there


def stretches(on: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Each stretch of True: its first index and the first index after it (closed ones only)."""
    starts = np.flatnonzero(on & ~np.r_[False, on[:-1]])
    ends = np.flatnonzero(~on & np.r_[False, on[:-1]])
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=False)]


def test_a_microwave_use_becomes_a_run_once_across_a_restart(services: Services) -> None:
    """A meter whose model learnt REFIT house 2's microwave from its sub-meter (days 1-4):
    an evening of the house's aggregate posted live, the service restarting in the middle
    of a use, gives each use the bursts find one microwave run (start at its first sample,
    end at the first sample without it), stored once, listed with its energy."""
    spec = SetSpec(
        "refit",
        [read_refit_layout(REFIT / "refit_house2_train_2015-01-05pm.csv")],
        [read_refit_layout(REFIT / "refit_house2_test_2015-01-08pm.csv")],
        event_min_w=50.0,
    )
    model, _ = fit_model(spec)
    rec = spec.test[0]
    rows = [{"ts": t, "power": p} for t, p in zip(rec.ts.tolist(), rec.aggregate.tolist(), strict=True)]
    decided = burst_series(rec.ts, rec.aggregate, model.bursts["microwave"])
    expected = stretches(decided > 0)
    first_use = expected[0][0]
    step = int(np.median(np.diff(rec.ts)))
    context = round(model.bursts["microwave"].max_s * 1000 / step) + 2  # samples a decision waits for
    split = first_use + context + 3  # the use's first samples decided before the restart, not its end
    with live_world(services) as live:
        w = live.world
        services.writer.run(lambda c: library.save_nilm(c, w.meter_a, model))
        live.post(rows[:split])
        live.detectors.flush()
        live.restart()
        with services.engine.connect() as conn:
            state = library.load_state(conn, w.meter_a)
        assert state is not None and "microwave" in state["live"]["burst_going"], "restarted mid-use"
        live.post(rows[split - 30 :])  # a gateway resending its last readings too
        live.detectors.flush()

        runs = sorted(
            live.get(f"/api/v1/devices/{w.meter_a}/appliance-runs", label="microwave"), key=lambda r: r["start_ts"]
        )
        assert len(runs) == len(expected) >= 5
        draw_w = model.bursts["microwave"].draw_w  # what its sub-meter draws while on
        for run, (a, b) in zip(runs, expected, strict=True):
            assert abs(run["start_ts"] - int(rec.ts[a])) <= step and abs(run["end_ts"] - int(rec.ts[b])) <= step
            assert run["closed"] and 0.25 * draw_w <= run["power_w"] <= draw_w
        # the sub-meter's microwave: most of its switchings-on start one of these runs
        true_starts = [int(rec.ts[a]) for a, _ in stretches(rec.appliances["microwave"] > 500)]
        found = [t for t in true_starts if any(abs(r["start_ts"] - t) <= step for r in runs)]
        assert len(found) >= 2 * len(true_starts) / 3
        named = [r["on_event_id"] for r in runs] + [r["off_event_id"] for r in runs]
        assert len(set(named)) == len(named)
        assert set(named) <= {e["id"] for e in events_of(live, w.meter_a, label="microwave")}
        events = events_of(live, w.meter_a)
        assert len({(e["ts"], e["delta_p"]) for e in events}) == len(events), "no event stored twice"
        (microwave,) = [a for a in live.get(f"/api/v1/devices/{w.meter_a}/appliances") if a["name"] == "microwave"]
        assert microwave["runs"] == len(runs)
        credited_wh = decided[: expected[-1][1]].sum() * step / 3_600_000
        assert np.isclose(microwave["energy_wh"], credited_wh, rtol=0.02)


def test_a_labelled_microwave_is_then_found_from_its_bursts(services: Services) -> None:
    """A site without sub-meters (the service's own model, no burst model): a person names
    the microwave's detected switchings-on of REFIT house 2's evening (2: too few to call it
    short and strong) and of the next evening's first use (3: enough); from then on its
    uses come as runs from its bursts, starting where its sub-meter's do. Relabelling one
    of those uses away takes the burst model away again."""
    train = read_refit_layout(REFIT / "refit_house2_train_2015-01-05pm.csv")
    test = read_refit_layout(REFIT / "refit_house2_test_2015-01-08pm.csv")

    def rows(rec: Any, a: int = 0, b: int | None = None) -> list[dict[str, Any]]:
        return [{"ts": t, "power": p} for t, p in zip(rec.ts[a:b].tolist(), rec.aggregate[a:b].tolist(), strict=True)]

    def uses(rec: Any) -> list[int]:
        return [int(rec.ts[a]) for a, _ in stretches(rec.appliances["microwave"] > 500)]

    step = int(np.median(np.diff(test.ts)))
    first_end = stretches(test.appliances["microwave"] > 500)[0][1]
    split = first_end + 20  # the first use's run closed, the next use still to come
    with live_world(services) as live:
        w = live.world
        base = f"/api/v1/devices/{w.meter_a}/appliances"

        def label_uses(starts: list[int], since: int) -> int:
            events = [e for e in events_of(live, w.meter_a, since=since) if e["delta_p"] > 500]
            named: set[int] = set()
            for t in starts:  # a person sees the switching within two samples of the use
                on = near(events, t, 2 * step)
                if on is not None and on["id"] not in named:
                    answer = w.client.put(
                        f"/api/v1/appliance-events/{on['id']}/label", json={"name": "microwave"}, headers=w.auth()
                    )
                    assert answer.status_code == 200, answer.text
                    named.add(on["id"])
            live.detectors.flush()
            return len(named)

        def microwave() -> dict[str, Any]:
            (found,) = [a for a in live.get(base) if a["name"] == "microwave"]
            return found  # type: ignore[no-any-return]

        live.post(rows(train))
        live.detectors.flush()
        assert label_uses(uses(train), int(train.ts[0])) == 2
        assert not microwave()["bursts"], "two labels are too few"

        live.post(rows(test, 0, split))
        live.detectors.flush()
        assert label_uses(uses(test)[:1], int(test.ts[0])) == 1
        assert microwave()["bursts"] and microwave()["labelled_events"] == 6
        labelled_ts = int(test.ts[split - 1])
        live.post(rows(test, split))
        live.detectors.flush()

        runs = live.get(base.replace("appliances", "appliance-runs"), label="microwave", since=labelled_ts)
        later = [t for t in uses(test) if t > labelled_ts]
        found = [t for t in later if any(abs(r["start_ts"] - t) <= step for r in runs)]
        # as many as the burst model fitted from the house's sub-meter (days 1-4) finds
        spec = SetSpec("refit", [train], [test], event_min_w=50.0)
        sub_metered = burst_series(test.ts, test.aggregate, fit_model(spec)[0].bursts["microwave"])
        sub_starts = [int(test.ts[a]) for a, _ in stretches(sub_metered > 0)]
        by_sub_meter = [t for t in later if any(abs(s - t) <= step for s in sub_starts)]
        assert len(later) >= 6 and len(found) >= max(len(by_sub_meter), len(later) / 2)
        assert len(runs) <= len(later) + 2, "few runs where the sub-meter shows none"
        for run in runs:
            assert run["closed"] and 1000 <= run["power_w"] <= 1500 and run["duration_s"] <= 120

        # one of its three uses was the kettle after all: two are too few again
        slips = [e for e in events_of(live, w.meter_a, label="microwave") if e["ts"] == uses(test)[0]]
        assert len(slips) == 1, "bursts start at the label: the evening already stored is not decided again"
        slip = slips[0]
        answer = w.client.put(f"/api/v1/appliance-events/{slip['id']}/label", json={"name": "kettle"}, headers=w.auth())
        assert answer.status_code == 200, answer.text
        live.detectors.flush()
        assert not microwave()["bursts"] and microwave()["labelled_events"] == 4
        with services.engine.connect() as conn:
            model = library.load_nilm(conn, w.meter_a)
        assert model is not None and model.bursts == {}


def test_naming_one_kettle_with_its_look_alikes_names_the_days_kettles_and_nothing_else(
    sqlite_services: Services,
) -> None:
    with one_day_detected(sqlite_services) as (live, truth, events):
        w = live.world
        kettle = [near(events, t.ts) for t in truth if t.appliance == "kettle" and t.state in ("on", "off")]
        others = [near(events, t.ts, 10_000) for t in truth if t.appliance in ("fridge", "tv")]
        kettle_ids = {e["id"] for e in kettle if e is not None}
        other_ids = {e["id"] for e in others if e is not None} - kettle_ids
        first_on = next(e for e in kettle if e is not None and e["delta_p"] > 0)

        alike = live.get(f"/api/v1/appliance-events/{first_on['id']}/look-alikes")
        # the kettle's other switchings, on and off: no fridge or TV
        assert {e["id"] for e in alike} <= kettle_ids - {first_on["id"]}
        assert len(alike) >= 2

        answer = w.client.put(
            f"/api/v1/appliance-events/{first_on['id']}/label",
            json={"name": "kettle", "alike": True},
            headers=w.auth(),
        )
        assert answer.status_code == 200, answer.text
        named = {e["id"] for e in events_of(live, w.meter_a, label="kettle")}
    assert len(named & kettle_ids) >= 0.9 * len(kettle_ids)
    assert not named & other_ids
