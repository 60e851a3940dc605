"""Naming a cluster of look-alike events at once does what naming them one by one does.

Two twin meters hold the same stored events: a fridge that cycled 160 times (320 ON and
OFF events, more than the library keeps of one appliance), a kettle now and then, one
fridge run whose OFF a person had named "pump", an OFF the detector paired twice. On one
meter a person names the first fridge event "fridge" with its look-alikes in one request;
on the other, the same events one request at a time (the look-alikes as listed before,
newest first, each one not already named with an earlier one's run). Both meters end with the same
names on their events and runs and the same library; the one request reads and writes the
meter's model once and its events' labels in one statement.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from support import World, build_world
from wattwise.detectors import library
from wattwise.runtime import Services
from wattwise.store import detections
from wattwise.store.detections import NewEvent, NewRun
from wattwise.store.devices import create_device

START = 1_763_942_400_000
MINUTE = 60_000
CYCLES = 160


def _stored_twin(services: Services, device: int, cycles: int = CYCLES) -> list[int]:
    """The meter's fridge cycles and kettles as the detector stores them (unidentified,
    each use a final run), and an extra final run pairing a later ON with an OFF already
    paired; the fridge's ON and OFF event ids in time order."""
    rng = random.Random(3)
    fridge: list[int] = []
    with services.engine.begin() as conn:
        library.save_nilm(conn, device, library.new_model())
        t = START
        for i in range(cycles):
            size, on_ms = rng.uniform(90, 110), rng.randint(30, 40) * MINUTE
            uses = [(t, on_ms, size)] + ([(t + on_ms + 9 * MINUTE, 4 * MINUTE, 2100.0)] if i % 20 == 7 else [])
            for start, length, power in uses:
                steps = [
                    NewEvent(start, power, 0.0, power, 0, 120.0, 120.0 + power, "unidentified", 0.0),
                    NewEvent(start + length, -power, 0.0, power, 0, 120.0 + power, 120.0, "unidentified", 0.0),
                ]
                on, off = detections.insert_events(conn, device, steps)
                detections.insert_runs(conn, device, [NewRun(start, start + length, power, "unidentified", on, off)])
                fridge += [on, off] if power < 1000 else []
            t += on_ms + rng.randint(45, 65) * MINUTE
        (on, off) = (fridge[100], fridge[103])
        ts = {e.id: e.ts for e in detections.get_events(conn, [on, off])}
        detections.insert_runs(conn, device, [NewRun(ts[on], ts[off], 100.0, "unidentified", on, off)])
    return fridge


def _label(w: World, event_id: int, *, alike: bool = False) -> list[int]:
    answer = w.client.put(
        f"/api/v1/appliance-events/{event_id}/label", json={"name": "fridge", "alike": alike}, headers=w.auth()
    )
    assert answer.status_code == 200, answer.text
    return [e["id"] for e in answer.json()["events"]]


def _what_the_meter_knows(w: World, meter: int, first_id: int) -> dict[str, Any]:
    """Its events' and runs' names (ids taken relative to the meter's first event), its
    appliances, its library's exemplars and which appliances have a rhythm."""
    events = w.client.get(f"/api/v1/devices/{meter}/appliance-events", params={"limit": 5000}, headers=w.auth())
    runs = w.client.get(f"/api/v1/devices/{meter}/appliance-runs", params={"limit": 5000}, headers=w.auth())
    apps = w.client.get(f"/api/v1/devices/{meter}/appliances", headers=w.auth())
    with w.services.engine.connect() as conn:
        model = library.load_nilm(conn, meter)
    assert model is not None
    return {
        "events": sorted((e["id"] - first_id, e["label"], e["labelled_by"]) for e in events.json()),
        "runs": sorted((r["on_event_id"] - first_id, r["label"]) for r in runs.json()),
        "appliances": apps.json(),
        "library": {n: a.exemplars for n, a in model.library.appliances.items()},
        "rhythm": sorted(model.cyclers),
    }


@contextmanager
def _statements(services: Services) -> Iterator[list[str]]:
    seen: list[str] = []

    def keep(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()).upper())

    event.listen(services.engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(services.engine, "before_cursor_execute", keep)


def test_naming_a_cluster_at_once_names_and_teaches_what_naming_it_one_by_one_does(services: Services) -> None:
    w = build_world(services)
    with w.client:
        with services.engine.begin() as conn:  # a twin in the same site: the same local hours
            twin = create_device(conn, site_id=w.site_a, name="twin").device.id
        at_once, one_by_one = _stored_twin(services, w.meter_a), _stored_twin(services, twin)
        for fridge in (at_once, one_by_one):
            _label(w, fridge[41])  # a person named this run "fridge" before
            w.client.put(f"/api/v1/appliance-events/{fridge[103]}/label", json={"name": "pump"}, headers=w.auth())

        with _statements(services) as seen:
            named = _label(w, at_once[0], alike=True)
        models_read = [s for s in seen if s.startswith("SELECT") and "FROM DETECTOR_MODELS" in s]
        models_written = [s for s in seen if s.startswith(("UPDATE DETECTOR_MODELS", "INSERT INTO DETECTOR_MODELS"))]
        labels_written = [s for s in seen if s.startswith("UPDATE APPLIANCE_EVENTS")]
        assert len(models_read) == 1 and len(models_written) == 1 and len(labels_written) == 1, seen

        alike = w.client.get(f"/api/v1/appliance-events/{one_by_one[0]}/look-alikes", headers=w.auth()).json()
        done = set(_label(w, one_by_one[0]))
        for other in sorted(alike, key=lambda e: (-e["ts"], -e["id"])):  # newest first, as the queue is
            if other["id"] not in done:
                done.update(_label(w, other["id"]))

        a = _what_the_meter_knows(w, w.meter_a, at_once[0])
        b = _what_the_meter_knows(w, twin, one_by_one[0])
    assert len(named) == len(done) > 300
    assert a == b
    assert len(a["library"]["fridge"]) == 300, "the library keeps the newest 300: the order taught counts"
    assert "pump" not in a["library"], "the pump's two events were in fridge runs: what they taught is taken back"
    assert a["rhythm"] == ["fridge"]
    assert {label for _, label, _ in a["events"]} == {"fridge", "unidentified"}  # the kettles wait


def test_a_cluster_longer_than_the_event_list_is_named_whole(services: Services) -> None:
    """Months of a fridge's cycles wait in the queue: more than the REST list's 500 events."""
    w = build_world(services)
    with w.client:
        fridge = _stored_twin(services, w.meter_a, cycles=300)
        named = _label(w, fridge[0], alike=True)
        events = w.client.get(
            f"/api/v1/devices/{w.meter_a}/appliance-events", params={"limit": 5000}, headers=w.auth()
        ).json()
    assert len(fridge) == 600
    assert set(fridge) <= set(named)
    assert {e["label"] for e in events if e["id"] in set(fridge)} == {"fridge"}
