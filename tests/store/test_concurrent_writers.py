"""Several real server processes store readings into one PostgreSQL at once (docs/scale.md).

Three processes (``writer_process.py``, each with its own writer thread, pipeline and
rollup maintenance) upload overlapping meters in different orders, several uploads at once,
and flush their writers as the history page does; a fourth refreshes the rollups in a loop.
Each reading is sent by two of them. Afterwards every acknowledged reading is stored once
with its value and energy, the processes' acknowledgements add up to the rows stored, and
every rollup tier equals a recomputation from the raw readings.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from support import own_database
from wattwise.config import Settings
from wattwise.domain.energy import interval_energy
from wattwise.runtime import Services, energy_rules, start_services
from wattwise.store import rollups
from wattwise.store.devices import create_device
from wattwise.store.sites import create_site

log = logging.getLogger(__name__)
WRITERS = 3
SECONDS = 4.0
CHILD = Path(__file__).with_name("writer_process.py")
sys.path.insert(0, str(CHILD.parent))
from writer_process import STEP_MS, T0, reading_value  # noqa: E402  (what the children send, to check it)


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh database of its own, which the processes and the test share."""
    with own_database("wattwise_concurrency") as url:
        yield url


class LockWaits:
    """Samples, from outside, which of the database's sessions wait for a lock and on what."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._name = url.rsplit("/", 1)[1]
        self.seen: Counter[str] = Counter()
        self.longest_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LockWaits:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as conn:
            while not self._stop.wait(0.02):
                rows = conn.execute(
                    "SELECT wait_event, extract(epoch FROM clock_timestamp() - state_change) FROM pg_stat_activity"
                    " WHERE datname = %s AND wait_event_type = 'Lock'",
                    (self._name,),
                ).fetchall()
                for event, waited in rows:
                    self.seen[event] += 1
                    self.longest_s = max(self.longest_s, float(waited))


def run_processes(url: str, meters: list[int]) -> list[dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    child = [sys.executable, str(CHILD)]
    commands = [[*child, "write", url, str(i), str(WRITERS), str(SECONDS), *map(str, meters)] for i in range(WRITERS)]
    commands.append([*child, "refresh", url, str(WRITERS), str(WRITERS), str(SECONDS)])
    children = [
        subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands
    ]
    reports = []
    for child in children:
        out, err = child.communicate(timeout=90)
        assert child.returncode == 0, f"a process died: {err[-3000:]}"
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def deadlocks(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").fetchone()
    return int(row[0]) if row else 0


TIER_SQL = (
    "SELECT device_id, ts / {w} * {w}, count(*), count(power), sum(power), min(power), max(power), sum(wh)"
    " FROM readings GROUP BY 1, 2"
)
ROLLUP_SQL = "SELECT device_id, ts, n, power_n, power_sum, power_min, power_max, wh FROM {table}"


def keyed(rows: Any) -> dict[tuple[int, int], tuple[float, ...]]:
    return {(r[0], r[1]): tuple(float(v) for v in r[2:]) for r in rows}


@pytest.fixture
def svc(database: str, tmp_path: Path) -> Iterator[Services]:
    """The test's own view of the database (migrated before the processes start)."""
    services = start_services(Settings(database=database, data_dir=tmp_path))
    yield services
    services.close()


def test_processes_storing_the_same_meters_at_once_store_each_acknowledged_reading_once(
    database: str, svc: Services
) -> None:
    with svc.engine.begin() as conn:
        site = create_site(conn, "Campus")
        meters = [create_device(conn, site_id=site.id, name=f"hall {i}").device.id for i in range(6)]
    rules = energy_rules(svc.settings)
    before = deadlocks(database)

    with LockWaits(database) as waits:
        reports = run_processes(database, meters)
    aborted = deadlocks(database) - before
    writers = [r for r in reports if r["mode"] == "write"]
    refresher = next(r for r in reports if r["mode"] == "refresh")

    with svc.engine.begin() as conn:
        rollups.refresh_marked(conn)
    with svc.engine.connect() as conn:
        stored = {
            (r.device_id, r.ts): (r.power, r.wh)
            for r in conn.execute(text("SELECT device_id, ts, power, wh FROM readings ORDER BY device_id, ts"))
        }
        tiers = {
            t.table: (
                keyed(conn.execute(text(ROLLUP_SQL.format(table=t.table)))),
                keyed(conn.execute(text(TIER_SQL.format(w=t.width_ms)))),
            )
            for t in rollups.TIERS
        }

    logged: Counter[str] = Counter()
    for r in reports:
        logged.update(r["logged"])
    retried = sum(n for line, n in logged.items() if "running it again" in line)
    log.info(
        f"{len(stored)} readings stored by {WRITERS} processes in {sum(r['uploads'] for r in writers)} uploads"
        f" ({sum(r['duplicates'] for r in writers)} second copies), {refresher['refreshes']} extra refreshes;"
        f" deadlock aborts: {aborted}, transactions run again: {retried}; lock waits sampled: {dict(waits.seen)},"
        f" longest {waits.longest_s:.2f} s"
    )
    assert [r["errors"] for r in reports] == [[]] * len(reports)  # no upload, flush or refresh failed
    assert aborted == 0  # the locks are always taken in one order: no circle to break
    assert all(r["uploads"] > 10 for r in writers)
    # every acknowledged reading is stored, with its value, and nothing else is
    acknowledged = {(int(m), k) for r in writers for m, ks in r["acknowledged"].items() for k in ks}
    assert set(stored) == {(m, T0 + k * STEP_MS) for m, k in acknowledged}
    assert all(power == reading_value(m, (ts - T0) // STEP_MS) for (m, ts), (power, _) in stored.items())
    # ... once: each reading two processes received was announced as new by one of them
    assert sum(r["accepted"] for r in writers) == len(stored)
    # each interval's energy counted once, whatever order the processes stored the readings in
    previous: dict[int, tuple[int, float]] = {}
    for (m, ts), (power, wh) in stored.items():  # in meter and time order
        last = previous.get(m)
        expected = 0.0 if last is None else interval_energy(last[0], None, last[1], ts, None, power, rules)
        assert wh == pytest.approx(expected), (m, ts)
        previous[m] = (ts, power)
    for table, (rolled, recomputed) in tiers.items():
        assert rolled.keys() == recomputed.keys(), table  # every bucket with readings, and no other
        assert rolled == {k: pytest.approx(v) for k, v in recomputed.items()}, table
