"""Ignore and Raise teach the detectors: an ignored pattern is not raised again, a raised one is.

Two simulated homes report through POST /api/v1/ingest. Each meter's models are fitted
from its own history by the detectors' background task. Then the same suspicious pattern
happens twice: the owner of home A answers Ignore the first time, the owner of home B
answers Raise. The second time, home A's finding is stored as ignored (naming the finding
it repeats) and home B's is raised again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from detectors.live_world import LiveWorld, live_world
from support import World
from wattwise.detectors import DetectorSettings
from wattwise.devices.simulator.frame import household_frame
from wattwise.runtime import Services

DAY = 86_400_000
HOUR = 3_600_000
MIDNIGHT_UTC = 1_763_942_400_000  # 2025-11-24 00:00 UTC
KOLKATA = 19_800_000  # site A is in Asia/Kolkata (UTC+05:30)
# each test fits only the model it is about (fitting forests is what takes time here)
THEFT_ONLY = DetectorSettings(theft_min_days=7, anomaly_min_rows=10**9)
ANOMALY_ONLY = DetectorSettings(theft_min_days=10**6, anomaly_min_rows=500)


class Home(NamedTuple):
    meter: int
    key: str
    start: int  # local midnight of the first day, UTC ms
    verdict: str  # what its owner answers
    frame: pd.DataFrame  # its readings, from the simulator


def homes(world: World, days: int, interval_s: float, seed: int) -> list[Home]:
    """Home A (Asia/Kolkata, its owner ignores) and home B (UTC, its owner raises)."""
    out = []
    for i, (meter, key, start, verdict) in enumerate(
        (
            (world.meter_a, world.key_a, MIDNIGHT_UTC - KOLKATA, "ignore"),
            (world.meter_b, world.key_b, MIDNIGHT_UTC, "raise"),
        )
    ):
        frame = household_frame(start, start + days * DAY, interval_s, seed=seed + i)
        out.append(Home(meter, key, start, verdict, frame))
    return out


def readings(
    frame: pd.DataFrame, lo: int, hi: int, change: Callable[[pd.DataFrame], pd.DataFrame] | None = None
) -> list[dict[str, Any]]:
    part = frame[(frame["ts"] >= lo) & (frame["ts"] < hi)].copy()
    if change is not None:
        part = change(part)
    return [
        {"ts": int(t), "power": round(float(p), 1), "voltage": float(v)}
        for t, p, v in zip(part["ts"], part["power"], part["voltage"], strict=True)
    ]


def judge(live: LiveWorld, finding: dict[str, Any], verdict: str) -> None:
    w = live.world
    answer = w.client.post(f"/api/v1/findings/{finding['id']}/feedback", json={"verdict": verdict}, headers=w.auth())
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == ("ignored" if verdict == "ignore" else "confirmed")
    assert answer.json()["verdict_by"] == "admin"


def kind_between(live: LiveWorld, meter: int, kind: str, lo: int, hi: int) -> list[dict[str, Any]]:
    found = live.get("/api/v1/findings", device_id=meter, kind=kind)
    return [f for f in found if f["start_ts"] < hi and f["end_ts"] > lo]


def test_theft_days_ignored_once_are_not_raised_again_and_raised_ones_are(services: Services) -> None:
    def tampered(part: pd.DataFrame) -> pd.DataFrame:
        return part.assign(power=part["power"] * 0.3)  # the meter under-reports by 70 %

    with live_world(services, THEFT_ONLY) as live:
        plan = homes(live.world, 11, 600, seed=3)
        for h in plan:
            live.post(readings(h.frame, h.start, h.start + 8 * DAY), key=h.key)
        live.detectors.refresh()  # eight honest days: each meter's forest is trained

        for h in plan:
            live.post(readings(h.frame, h.start + 8 * DAY, h.start + 9 * DAY + HOUR, tampered), key=h.key)
        live.detectors.flush()
        firsts = {}
        for h in plan:
            (first,) = kind_between(live, h.meter, "theft", h.start + 8 * DAY, h.start + 9 * DAY)
            assert first["status"] == "open" and first["start_ts"] == h.start + 8 * DAY
            assert "looks like tampering" in first["reason"] and "%" in first["reason"]
            judge(live, first, h.verdict)
            firsts[h.meter] = first
        live.detectors.refresh()  # the forests retrain with the verdicts

        for h in plan:
            live.post(readings(h.frame, h.start + 9 * DAY + HOUR, h.start + 10 * DAY + HOUR, tampered), key=h.key)
        live.detectors.flush()
        for h in plan:
            (second,) = kind_between(live, h.meter, "theft", h.start + 9 * DAY, h.start + 10 * DAY)
            if h.verdict == "ignore":
                assert second["status"] == "ignored" and second["suppressed_by"] == firsts[h.meter]["id"]
            else:
                assert second["status"] == "open" and second["suppressed_by"] is None
        assert len(live.get("/api/v1/findings", kind="theft", status="open")) == 1


def test_an_ignored_anomaly_pattern_is_not_raised_again_and_a_raised_one_is(sqlite_services: Services) -> None:
    def night_heater(at: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
        def change(part: pd.DataFrame) -> pd.DataFrame:
            on = (part["ts"] >= at) & (part["ts"] < at + 40 * 60_000)
            return part.assign(power=np.where(on, part["power"] + 3000.0, part["power"]))

        return change

    with live_world(sqlite_services, ANOMALY_ONLY) as live:
        plan = homes(live.world, 5, 120, seed=11)
        for h in plan:
            live.post(readings(h.frame, h.start, h.start + 3 * DAY), key=h.key)
        live.detectors.refresh()  # three days of history: each meter's anomaly model is fitted

        firsts = {}
        for h in plan:
            at = h.start + 3 * DAY + 2 * HOUR  # 02:00 local: a 3 kW heater left on at night
            live.post(readings(h.frame, h.start + 3 * DAY, h.start + 4 * DAY, night_heater(at)), key=h.key)
            live.detectors.flush()
            found = kind_between(live, h.meter, "anomaly", at, at + 40 * 60_000)
            assert found and found[0]["status"] == "open"
            assert "W" in found[0]["reason"]
            judge(live, found[0], h.verdict)
            firsts[h.meter] = found[0]
        live.detectors.refresh()

        for h in plan:
            at = h.start + 4 * DAY + 2 * HOUR + 5 * 60_000  # the next night, same heater
            live.post(readings(h.frame, h.start + 4 * DAY, h.start + 5 * DAY, night_heater(at)), key=h.key)
            live.detectors.flush()
            again = kind_between(live, h.meter, "anomaly", at, at + 40 * 60_000)
            assert again
            if h.verdict == "ignore":
                assert all(f["status"] == "ignored" and f["suppressed_by"] == firsts[h.meter]["id"] for f in again)
            else:
                assert any(f["status"] == "open" for f in again)
