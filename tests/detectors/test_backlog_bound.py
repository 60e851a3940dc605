"""A detector worker far behind ingest holds at most ``backlog_max`` readings in memory; the
rest it reads back from the store, and finds exactly what it finds when it keeps up.

Each run posts the same streams (kettle switchings for NILM; a sag, a swell, a low-frequency
spell and a grid surge for the grid detector) to three meters through POST /api/v1/ingest.
The run with a tiny limit holds its worker up: first at its first batch, so the queue fills
and the meters' readings are only recorded, then while it reads the first meter back from
the store, when a late reading and the rest of the streams arrive.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select

from detectors.live_world import LiveWorld, live_world
from wattwise.detectors import Detectors, DetectorSettings
from wattwise.detectors.progress import Progress
from wattwise.domain.readings import Reading, StoredReading
from wattwise.runtime import Services
from wattwise.store.detector_inputs import readings_between
from wattwise.store.devices import create_device
from wattwise.store.findings_schema import appliance_events, findings

T0 = 1_763_942_400_000  # 2025-11-24 00:00 UTC
STEP_MS = 2000
READINGS = 600
BATCH = 23  # readings per upload, as a gateway would send them
LIMIT = 60  # readings the worker may have queued


def stream(seed: int) -> list[dict[str, Any]]:
    """A 230 V / 50 Hz supply every 2 s: a kettle twice, a sag, a swell, a low-frequency spell, a surge."""
    rows = []
    for i in range(READINGS):
        v, f, p = 231.0 + 0.3 * ((i * (seed + 3)) % 7) / 7, 50.0, 400.0 + 10 * seed
        if 60 <= i < 110 or 350 <= i < 380:
            p, v = 2400.0 + 50 * seed, v - 3.0  # a kettle: power up, voltage sags a little
        if 200 <= i < 203:
            v = 195.0
        if 300 <= i < 302:
            v = 258.0
        if 400 <= i < 410:
            f = 49.3
        if i >= 500:
            v += 9.0
            p = (400.0 + 10 * seed) * ((v / (v - 9.0)) ** 2)
        rows.append({"ts": T0 + STEP_MS * i + seed, "voltage": round(v, 1), "frequency": f, "power": round(p, 1)})
    return rows


#: posted during catch-up, two seconds before the last reading of the first half: late
LATE = {"ts": T0 + STEP_MS * 299 + 1000, "voltage": 150.0, "frequency": 50.0, "power": 9000.0}


def meters(live: LiveWorld, count: int, name: str) -> list[tuple[int, str]]:
    with live.world.services.engine.begin() as conn:
        made = [create_device(conn, site_id=live.world.site_b, name=f"{name} {i}") for i in range(count)]
    return [(m.device.id, m.key) for m in made]


def post_interleaved(
    live: LiveWorld, keys: list[str], rows: list[list[dict[str, Any]]], every: Callable[[], None]
) -> None:
    """Each meter's rows in uploads of :data:`BATCH`, the meters taking turns; ``every`` after each."""
    for i in range(0, max(len(r) for r in rows), BATCH):
        for key, mine in zip(keys, rows, strict=True):
            if mine[i : i + BATCH]:
                live.world.ingest(mine[i : i + BATCH], key=key)
                every()


def stored(services: Services, device_ids: list[int]) -> list[list[tuple[Any, ...]]]:
    """Each meter's events and findings, without ids and times of writing."""
    out = []
    with services.engine.connect() as conn:
        for d in device_ids:
            events = conn.execute(
                select(*(c for c in appliance_events.c if c.name not in ("id", "device_id", "created_ms")))
                .where(appliance_events.c.device_id == d)
                .order_by(appliance_events.c.ts, appliance_events.c.delta_p)
            ).all()
            found = conn.execute(
                select(
                    *(c for c in findings.c if c.name not in ("id", "device_id", "created_ms", "updated_ms", "detail"))
                )
                .where(findings.c.device_id == d)
                .order_by(findings.c.start_ts, findings.c.kind)
            ).all()
            out.append([tuple(r) for r in events] + [tuple(r) for r in found])
    return out


@contextmanager
def held(live: LiveWorld, name: str) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Hold the worker in its method ``name`` (first call only) until the second event is set;
    the first is set when it got there."""
    arrived, release = threading.Event(), threading.Event()
    original = getattr(live.detectors, name)

    def hold(*args: Any) -> Any:
        if not arrived.is_set():
            arrived.set()
            assert release.wait(60), "the test never released the worker"
        return original(*args)

    setattr(live.detectors, name, hold)
    try:
        yield arrived, release
    finally:
        release.set()
        delattr(live.detectors, name)


def test_a_worker_far_behind_holds_its_limit_and_finds_exactly_what_it_finds_when_it_keeps_up(
    services: Services,
) -> None:
    streams = [stream(seed) for seed in range(3)]
    halves = [[s[:300] for s in streams], [s[300:] for s in streams]]

    with live_world(services) as live:  # keeps up: every batch is queued
        reference = meters(live, 3, "kept up")
        keys = [k for _, k in reference]
        post_interleaved(live, keys, halves[0], lambda: None)
        live.detectors.flush()
        live.world.ingest([LATE], key=keys[0])  # late: the detectors are past it
        post_interleaved(live, keys, halves[1], lambda: None)
        live.detectors.flush()
        assert live.detectors.progress.reread == 0
        expected = stored(services, [d for d, _ in reference])
        assert all(any(row[0] == "sag" for row in rows) for rows in expected)
        assert all(len([row for row in rows if isinstance(row[0], int)]) >= 4 for rows in expected)  # kettle events

        live.detectors()  # the same installation, its detectors now with a tiny limit
        live.detectors = Detectors(services, DetectorSettings(backlog_max=LIMIT)).start()
        behind = meters(live, 3, "behind")
        keys = [k for _, k in behind]
        progress = live.detectors.progress
        most: list[int] = [0, 0]  # the most queued, the most waiting in all

        def watch() -> None:
            assert progress.queued <= LIMIT
            most[0], most[1] = max(most[0], progress.queued), max(most[1], progress.backlog)

        with held(live, "_readings") as (busy, release_worker), held(live, "_from_store") as (rereading, release):
            post_interleaved(live, keys, halves[0], watch)  # the worker is held at its first batch
            assert busy.is_set()
            assert progress.spilled > 0 and progress.backlog > LIMIT
            release_worker.set()
            assert rereading.wait(60)  # it has done the queue and reads the first record back
            live.world.ingest([LATE], key=keys[0])  # arrives during catch-up
            post_interleaved(live, keys, halves[1], watch)
            assert progress.lag_s() > 0
            release.set()
            live.detectors.flush()
        assert progress.backlog == 0 and progress.queued == 0 and progress.lag_s() == 0
        assert most[0] <= LIMIT < most[1]
        # every reading was processed once; the ranges read back also held readings done before
        assert progress.processed == 3 * READINGS + 1
        assert progress.reread >= progress.spilled + 3 * 300
        with services.engine.connect() as conn:
            kept = readings_between(conn, behind[0][0], LATE["ts"], LATE["ts"] + 1, limit=2)
        assert [(r.ts, r.voltage) for r in kept] == [(LATE["ts"], 150.0)]  # stored, not lost
        # the late 150 V reading raised no sag in either run: it came behind what was done
        assert stored(services, [d for d, _ in behind]) == expected


def test_a_limit_below_one_reading_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="backlog limit must be at least 1 reading, got 0"):
        Progress(0)


def test_readings_read_back_are_the_ones_the_bus_carried(services: Services) -> None:
    """The store's copy of a reading is the bus's: the same values, ``None`` where unmeasured."""
    with live_world(services) as live:
        device_id, key = meters(live, 1, "read back")[0]
        carried: list[Reading] = []
        services.bus.on("readings", lambda m: carried.extend(s.reading for s in m.payload))
        live.world.ingest([{"ts": T0, "power": 12.5}, {"ts": T0 + 1000, "power": 3.25, "voltage": 229.9}], key=key)
        live.detectors.flush()
        with services.engine.connect() as conn:
            assert readings_between(conn, device_id, T0, T0 + 2000, limit=10) == carried
            assert readings_between(conn, device_id, T0, T0 + 2000, limit=1) == carried[:1]
            assert readings_between(conn, device_id, T0 + 1, T0 + 2000, limit=10) == carried[1:]


def batch(device_id: int, *ts: int) -> list[StoredReading]:
    return [StoredReading(reading=Reading(device_id=device_id, ts=t, power=1.0), wh=0.0) for t in ts]


def test_a_meter_waiting_in_the_store_is_never_queued_until_it_is_read_through() -> None:
    clock = [0.0]
    progress = Progress(10, clock=lambda: clock[0])
    assert progress.admit(batch(1, *range(6))).queued  # room: queued
    assert progress.admit(batch(2, 98, 99)).queued
    spilled = progress.admit(batch(2, 100, 101, 102))  # no room for three: recorded
    assert spilled.queued == [] and spilled.nudge and spilled.started
    assert (progress.queued, progress.spilled, progress.backlog) == (8, 3, 11)
    assert progress.take_spilled() == []  # meter 2's readings 98 and 99, queued before, come first
    assert progress.wants_nudge()  # so the worker asks again, behind them
    progress.done(2)  # the queue is empty again
    clock[0] = 5.0
    # meter 2 has readings in the store: its next ones wait behind them, even with room
    later = progress.admit(batch(2, 103) + batch(1, 6))
    assert [s.reading.device_id for s in later.queued] == [1]
    assert not later.nudge and not later.started  # one "reread" is on the queue already
    assert progress.lag_s() == 5.0  # meter 2's first recorded reading has waited since 0
    [(device_id, record)] = progress.take_spilled()
    assert (device_id, record.lo, record.hi, record.readings) == (2, 100, 103, 4)
    # a late reading while it is read back starts a new record: the meter stays in the store
    late = progress.admit(batch(2, 50))
    assert late.queued == [] and late.nudge and not late.started
    progress.done(1)
    assert progress.reread_done(2, rows=4) is False
    assert not progress.wants_nudge()  # the "reread" the late reading put is still on the queue
    [(_, record)] = progress.take_spilled()
    assert (record.lo, record.hi, record.readings) == (50, 50, 1)
    assert progress.reread_done(2, rows=1) is True  # nothing waits in the store: the spell ended
    assert (progress.backlog, progress.processed, progress.reread, progress.lag_s()) == (0, 14, 5, 0.0)
    assert progress.admit(batch(2, 104)).queued  # queued again
