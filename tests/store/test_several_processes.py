"""Several server processes on one PostgreSQL store as one does (docs/scale.md).

Each case replays, on two connections, an interleaving that two processes' writers produce:
- one process's rollup refresh must not clear the marks of readings another stored meanwhile,
  or their minutes are never rolled up and the 1-minute, hourly and daily history miss them;
- one meter's readings stored by two processes at once (MQTT's shared subscription hands a
  meter's messages to whichever process is free) must count each interval's energy once, and
  a reading both receive is stored and announced once.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import event, text

from wattwise.domain.readings import Reading
from wattwise.runtime import Services
from wattwise.store import rollups
from wattwise.store.devices import create_device
from wattwise.store.readings import WriteResult, write_readings
from wattwise.store.series import query_series
from wattwise.store.sites import create_site

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def test_readings_another_process_stores_during_a_refresh_are_rolled_up(services: Services) -> None:
    with services.engine.begin() as conn:
        site = create_site(conn, "Campus")
        meter = create_device(conn, site_id=site.id, name="hall").device.id
        write_readings(conn, meter, [Reading(device_id=meter, ts=T0 + i * 1000, power=100.0) for i in range(60)])
    later = [Reading(device_id=meter, ts=T0 + 3_600_000 + i * 1000, power=500.0) for i in range(60)]
    other_done = threading.Event()

    def other_process_stores() -> None:  # its own connection, as another server process has
        with services.engine.begin() as conn:
            write_readings(conn, meter, later)
        other_done.set()

    def between_refresh_and_clearing(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("DELETE FROM rollup_dirty"):
            threading.Thread(target=other_process_stores).start()
            other_done.wait(timeout=1.0)  # a refresh that holds the marks makes it wait: that is fine

    with services.engine.connect() as refreshing:
        event.listen(refreshing, "before_cursor_execute", between_refresh_and_clearing)
        with refreshing.begin():
            rollups.refresh_marked(refreshing)
        event.remove(refreshing, "before_cursor_execute", between_refresh_and_clearing)
    assert other_done.wait(timeout=10)

    with services.engine.begin() as conn:  # the next refresh, in either process
        rollups.refresh_marked(conn)
        answers = {
            tier: query_series(conn, meter, metric="power", start=T0, end=T0 + 7_200_000, points=2, tier=tier)
            for tier in ("raw", "1m", "1h")
        }
        stored = conn.execute(text("SELECT count(*) FROM readings WHERE device_id = :d"), {"d": meter}).scalar()
    assert stored == 120
    assert answers["1m"].count == answers["1h"].count == answers["raw"].count == [60, 60]


def meter_with_a_reading(services: Services) -> int:
    with services.engine.begin() as conn:
        site = create_site(conn, "Campus")
        meter = create_device(conn, site_id=site.id, name="hall").device.id
        write_readings(conn, meter, [Reading(device_id=meter, ts=T0, power=3600.0)])
    return meter


def store_while_another_holds_its_transaction(
    services: Services, first: list[Reading], second: list[Reading]
) -> tuple[WriteResult, WriteResult]:
    """``first`` stored in a transaction left open while another connection stores ``second``."""
    results: list[WriteResult] = []
    device = first[0].device_id

    def other_process() -> None:
        with services.engine.begin() as conn:
            results.append(write_readings(conn, device, second))

    with services.engine.begin() as conn:
        mine = write_readings(conn, device, first)
        other = threading.Thread(target=other_process)
        other.start()
        other.join(timeout=1.0)  # it may wait for this commit: that is what it should do
    other.join(timeout=10)
    assert len(results) == 1
    return mine, results[0]


def test_one_meters_readings_stored_by_two_processes_at_once_count_each_interval_once(services: Services) -> None:
    meter = meter_with_a_reading(services)
    # 3.6 kW for one second is 1 Wh: two more seconds must add 2 Wh, not 1 + 2
    store_while_another_holds_its_transaction(
        services,
        [Reading(device_id=meter, ts=T0 + 1000, power=3600.0)],
        [Reading(device_id=meter, ts=T0 + 2000, power=3600.0)],
    )
    with services.engine.connect() as conn:
        wh = conn.execute(text("SELECT sum(wh) FROM readings WHERE device_id = :d"), {"d": meter}).scalar()
    assert wh == pytest.approx(2.0)


def test_a_reading_both_processes_receive_is_stored_and_announced_once(services: Services) -> None:
    meter = meter_with_a_reading(services)
    again = [Reading(device_id=meter, ts=T0 + 1000, power=3600.0)]
    mine, other = store_while_another_holds_its_transaction(services, again, list(again))
    assert (len(mine.stored), mine.duplicates) == (1, 0)
    assert (len(other.stored), other.duplicates) == (0, 1)  # a retry, not a second announcement


def test_a_refresh_waiting_between_two_processes_storing_the_same_meter_holds_nobody_up(services: Services) -> None:
    """Three processes: one stores meter A and then meter B in one transaction, a refresh
    waits for its marks, and a third stores meter B meanwhile. The third must wait for the
    refresh without holding meter B, or the first (waiting for B) and the refresh (waiting
    for the first) and the third (queued behind the refresh) wait for each other in a circle.
    PostgreSQL breaks such a circle only after its deadlock timeout (1 s; set to an hour here,
    so the circle shows as a standstill) with every writer standing still."""
    with services.engine.begin() as conn:
        site = create_site(conn, "Campus")
        meter_a, meter_b = (create_device(conn, site_id=site.id, name=n).device.id for n in ("a", "b"))
    done: list[str] = []

    def in_transaction(name: str, work: Any) -> threading.Thread:
        def run() -> None:
            with services.engine.begin() as conn:
                conn.execute(text("SET LOCAL deadlock_timeout = '1h'"))
                work(conn)
            done.append(name)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def waiting_for_locks(n: int) -> None:
        with services.engine.connect() as conn:
            for _ in range(500):
                waiting = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                        " WHERE NOT l.granted AND d.datname = current_database()"
                    )
                ).scalar_one()
                if waiting >= n:
                    return
                threading.Event().wait(0.01)
        raise AssertionError(f"{n} sessions never waited for a lock")

    a_stored, a_then_b = threading.Event(), threading.Event()

    def first(conn: Any) -> None:
        write_readings(conn, meter_a, [Reading(device_id=meter_a, ts=T0, power=100.0)])
        a_stored.set()  # it holds meter A's lock and its marks' lock
        a_then_b.wait(10)
        write_readings(conn, meter_b, [Reading(device_id=meter_b, ts=T0, power=100.0)])

    threads = [in_transaction("first", first)]
    assert a_stored.wait(10)
    threads.append(in_transaction("refresh", rollups.refresh_marked))
    waiting_for_locks(1)
    threads.append(
        in_transaction(
            "third", lambda c: write_readings(c, meter_b, [Reading(device_id=meter_b, ts=T0 + 1000, power=1.0)])
        )
    )
    waiting_for_locks(2)
    a_then_b.set()
    try:
        for thread in threads:
            thread.join(timeout=10)
        assert sorted(done) == ["first", "refresh", "third"]
    finally:
        with services.engine.connect() as conn:  # a circle left standing would hold the test up for an hour
            conn.execute(
                text(
                    "SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            conn.commit()
