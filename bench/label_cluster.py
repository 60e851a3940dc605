"""How long naming a cluster of look-alike events takes, against naming one event.

    PYTHONPATH=src .venv/bin/python bench/label_cluster.py [--runs 240] [--repeat 3] [--db sqlite postgresql]

Each meter holds what the live detector stores for a household whose fridge cycled
``--runs`` times (about two weeks at 240: an ON and an OFF event a cycle, paired into a
final run, each step 95-105 W) with a kettle in every 24th rest, all unidentified (500
events at 240: the newest 500 unidentified events are all a label looks among), stored
through the detector's own store functions (``detections.insert_events``, ``insert_runs``).
The evaluation's clusters were fridges (225 and 809 events, docs/evaluation/nilm.md), and a
fridge's labelled runs are what a rhythm is learnt from: each label reads their rests.
A ``wattwise serve`` in a subprocess answers; the timed request is the dashboard's default,
``PUT /api/v1/appliance-events/{id}/label {"name": "fridge", "alike": true}`` on the first
fridge ON event, which names it and every look-alike (the other cycles' ON and OFF events).
The reference, timed in the same run on a twin meter, names one fridge event (and its
run's OFF). Each is done once per meter on ``--repeat`` fresh meters; the medians are
printed and their ratio.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import httpx
from common import fresh_database, server
from sqlalchemy import Connection

from wattwise.detectors import library
from wattwise.store import detections
from wattwise.store.detections import NewEvent, NewRun
from wattwise.store.devices import create_device
from wattwise.store.engine import migrate, open_engine
from wattwise.store.sites import create_site
from wattwise.store.tokens import SESSION_TOKEN_NAME
from wattwise.store.users import create_token, create_user

START = 1_760_000_000_000
MINUTE = 60_000
#: a kettle in every this many of the fridge's rests
KETTLE_EVERY = 24


def _step(ts: int, delta_p: float, level: float) -> NewEvent:
    return NewEvent(ts, delta_p, 0.0, abs(delta_p), 0, level, level + delta_p, "unidentified", 0.0)


def _stored_meter(conn: Connection, device: int, fridge_runs: int) -> int:
    """A fridge cycling ``fridge_runs`` times (ON 95-105 W for 32-38 min, off 50-60 min),
    a kettle in some rests, each use a final run: the first fridge ON event's id."""
    library.save_nilm(conn, device, library.new_model())
    rng = random.Random(7)
    t, first = START, None
    for i in range(fridge_runs):
        size, on_ms, off_ms = rng.uniform(95, 105), rng.randint(32, 38) * MINUTE, rng.randint(50, 60) * MINUTE
        uses = [(t, on_ms, size)]
        if i % KETTLE_EVERY == KETTLE_EVERY - 1:
            uses.append((t + on_ms + 10 * MINUTE, 3 * MINUTE, rng.uniform(1960, 2040)))
        for start, length, power in uses:
            on, off = detections.insert_events(
                conn, device, [_step(start, power, 150.0), _step(start + length, -power, 150.0 + power)]
            )
            detections.insert_runs(conn, device, [NewRun(start, start + length, power, "unidentified", on, off)])
            first = first or on
        t += on_ms + off_ms
    assert first is not None
    return first


def stored_household(database: str, meters: int, fridge_runs: int) -> tuple[str, list[int]]:
    """``meters`` twin meters with the fridge's and kettle's stored events and runs; an
    administrator's token and, per meter, its first fridge ON event."""
    engine = open_engine(database)
    migrate(engine)
    with engine.begin() as conn:
        token = create_token(conn, create_user(conn, "bench", "bench-password", is_admin=True).id, SESSION_TOKEN_NAME)
        site = create_site(conn, "Bench home")
        devices = [create_device(conn, site_id=site.id, name=f"main-{m}").device.id for m in range(meters)]
        anchors = [_stored_meter(conn, device, fridge_runs) for device in devices]
    engine.dispose()
    return token, anchors


def timed_label(url: str, token: str, event_id: int, *, alike: bool) -> tuple[float, int]:
    """Seconds the PUT took, and the number of events it named."""
    began = time.perf_counter()
    answer = httpx.put(
        f"{url}/api/v1/appliance-events/{event_id}/label",
        json={"name": "fridge", "alike": alike},
        headers={"Authorization": f"Bearer {token}"},
        timeout=600,
    )
    took = time.perf_counter() - began
    answer.raise_for_status()
    return took, len(answer.json()["events"])


def measure(kind: str, fridge_runs: int, repeat: int) -> None:
    with fresh_database(kind, "label_cluster") as database:
        token, anchors = stored_household(database, 2 * repeat, fridge_runs)
        with server(database) as url:
            one, cluster, named_one, named_cluster = [], [], 0, 0
            for r in range(repeat):
                took, named_one = timed_label(url, token, anchors[2 * r], alike=False)
                one.append(took)
                took, named_cluster = timed_label(url, token, anchors[2 * r + 1], alike=True)
                cluster.append(took)
    t_one, t_cluster = statistics.median(one), statistics.median(cluster)
    print(
        f"{kind:10s} one event ({named_one} named): {t_one * 1000:7.1f} ms   "
        f"cluster ({named_cluster} named): {t_cluster * 1000:8.1f} ms   ratio {t_cluster / t_one:6.1f}x"
        f"   (median of {repeat}; cluster runs {', '.join(f'{c:.2f}' for c in cluster)} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=240, help="fridge cycles stored on each meter")
    parser.add_argument("--repeat", type=int, default=3, help="meters labelled each way")
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    for kind in args.db:
        measure(kind, args.runs, args.repeat)


if __name__ == "__main__":
    main()
