"""A rhythm learnt from labelled runs reads the rests after them in one query, however
many runs are labelled, and learns what reading each rest on its own gave."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from wattwise.analysis.nilm.rhythm_labels import MAX_REST_S, RUN_FACTOR, LabelledRun, cycle_model_from_labels
from wattwise.detectors import library
from wattwise.runtime import Services
from wattwise.store import detections
from wattwise.store.detections import NewEvent, NewRun
from wattwise.store.devices import create_device
from wattwise.store.sites import create_site

START = 1_700_000_000_000
MINUTE = 60_000


def _step(ts: int, delta_p: float) -> NewEvent:
    return NewEvent(ts, delta_p, 0.0, delta_p, 0, 100.0, 100.0 + delta_p, "unidentified", 0.0)


def _stored_fridge(services: Services, cycles: int) -> tuple[int, list[int]]:
    """A meter whose stored events are a fridge cycling (ON +100 W for about 35 min, off
    for about 55 min) with a kettle now and then, each fridge cycle a final run: the
    meter and the runs' ON event ids."""
    rng = random.Random(7)
    with services.engine.begin() as conn:
        device = create_device(conn, site_id=create_site(conn, "Cold home").id, name="main").device.id
        library.save_nilm(conn, device, library.new_model())
        t, ons = START, []
        for i in range(cycles):
            on_ms, off_ms = rng.randint(32, 38) * MINUTE, rng.randint(50, 60) * MINUTE
            steps = [_step(t, 100.0), _step(t + on_ms, -95.0)]
            if i % 3 == 1:  # a kettle in the rest
                steps += [_step(t + on_ms + 10 * MINUTE, 2000.0), _step(t + on_ms + 13 * MINUTE, -2000.0)]
            on, off, *_ = detections.insert_events(conn, device, steps)
            detections.insert_runs(conn, device, [NewRun(t, t + on_ms, 97.5, "unidentified", on, off)])
            ons.append(on)
            t += on_ms + off_ms
    return device, ons


@contextmanager
def _reads_of_events(services: Services) -> Iterator[list[str]]:
    """The statements that read the meter's stored events while inside."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "appliance_events" in statement:
            seen.append(statement)

    event.listen(services.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(services.engine, "before_cursor_execute", count)


def _label(services: Services, event_id: int) -> None:
    with services.engine.begin() as conn:
        library.label_event(conn, event_id, "fridge")


def _rests_one_by_one(services: Services, device: int) -> list[Any]:
    """What each labelled run's rest read on its own gives (as before: one query a run)."""
    with services.engine.connect() as conn:
        runs = [
            LabelledRun(library.event_of(on), library.event_of(off))
            for on, off in detections.user_runs(conn, device, "fridge")
        ]
        longest_ms = int((MAX_REST_S + RUN_FACTOR * max(r.on_s for r in runs)) * 1000)
        found = {}
        for r in runs:
            window = detections.Window(since=r.off.ts + 1, until=r.off.ts + longest_ms + 1, limit=5000)
            found.update({e.id: library.event_of(e) for e in detections.list_events(conn, device, window)})
    return [runs, sorted(found.values(), key=lambda e: e.ts)]


def test_a_rhythm_from_many_labelled_runs_reads_their_rests_in_one_query(services: Services) -> None:
    device, ons = _stored_fridge(services, cycles=40)
    for on in ons[:3]:
        _label(services, on)
    with _reads_of_events(services) as few:
        _label(services, ons[3])
    for on in ons[4:29]:
        _label(services, on)
    with _reads_of_events(services) as many:
        _label(services, ons[29])
    assert len(many) == len(few), "as many reads for 30 labelled runs as for 4"
    with services.engine.connect() as conn:
        stored = library.load_nilm(conn, device)
    assert stored is not None and "fridge" in stored.cyclers, "the labels give the fridge its rhythm"
    runs, rests = _rests_one_by_one(services, device)
    assert len(runs) == 30
    assert stored.cyclers["fridge"] == cycle_model_from_labels(runs, rests), "what per-run reads gave"
