"""The writer thread: a failed write answers its own caller only, and the next writes still commit."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, text

from wattwise.domain.readings import Reading
from wattwise.runtime import Services
from wattwise.store import rollups
from wattwise.store.devices import create_device
from wattwise.store.readings import write_readings
from wattwise.store.sites import create_site
from wattwise.store.writer import Writer, _Task, in_meter_order

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def new_meter(services: Services) -> int:
    with services.engine.begin() as conn:
        site = create_site(conn, f"site-{random.random()}")
        return create_device(conn, site_id=site.id, name="m").device.id


def stored(services: Services, meter: int) -> int:
    with services.engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM readings WHERE device_id = :d"), {"d": meter}).scalar_one()
    return int(n)


def readings(meter: int, start: int, count: int) -> list[Reading]:
    return [Reading(device_id=meter, ts=T0 + (start + i) * 1000, power=100.0) for i in range(count)]


def test_a_write_whose_connection_broke_is_refused_and_the_next_one_commits(services: Services) -> None:
    meter = new_meter(services)

    def breaks(conn: Connection) -> None:
        write_readings(conn, meter, readings(meter, 0, 10))
        conn.invalidate()  # as when the database restarts under the writer
        raise ConnectionError("the database went away")

    with pytest.raises(ConnectionError):
        services.writer.run(breaks)
    written = services.writer.run(lambda c: write_readings(c, meter, readings(meter, 0, 10)))
    assert len(written.stored) == 10
    assert stored(services, meter) == 10


def test_one_callers_failing_write_costs_the_others_nothing(services: Services) -> None:
    meter = new_meter(services)

    def fails(conn: Connection) -> None:
        write_readings(conn, meter, readings(meter, 1000, 5))
        raise ValueError("this caller's own mistake")

    futures = [
        services.writer.post(lambda c, k=k: write_readings(c, meter, readings(meter, k * 10, 10))) for k in range(5)
    ]
    bad = services.writer.post(fails)
    futures += [
        services.writer.post(lambda c, k=k: write_readings(c, meter, readings(meter, k * 10, 10))) for k in range(5, 10)
    ]
    with pytest.raises(ValueError, match="own mistake"):
        bad.result(timeout=30)
    assert [len(f.result(timeout=30).stored) for f in futures] == [10] * 10
    assert stored(services, meter) == 100  # the failing caller's five readings were rolled back


def test_a_writer_stores_the_meters_of_a_group_in_one_order_so_two_writers_never_deadlock() -> None:
    """Each meter's batches keep their order; other work keeps its place."""
    done: list[str] = []

    def task(name: str, meter: int | None) -> _Task:
        return _Task(lambda _conn: done.append(name), meter=meter)

    group = [
        task("m5 first", 5),
        task("bookkeeping", None),
        task("m2 first", 2),
        task("m5 second", 5),
        task("m2 second", 2),
    ]
    for t in in_meter_order(group):
        t.work(None)  # type: ignore[arg-type]
    assert done == ["m2 first", "bookkeeping", "m2 second", "m5 first", "m5 second"]


def test_a_flush_refreshes_the_rollups_in_a_transaction_of_its_own(services: Services) -> None:
    """Grouped with stored readings, the refresh held their meters' locks and the marks' lock
    at once, in no set order: two processes doing so deadlocked (docs/scale.md)."""
    meter = new_meter(services)
    transactions: dict[str, list[object]] = {"maintenance": [], "readings": []}  # kept alive: ids stay unique

    def refresh(conn: Connection) -> None:
        transactions["maintenance"].append(conn.get_transaction())
        rollups.refresh_marked(conn)

    def store(k: int) -> Callable[[Connection], object]:
        def work(conn: Connection) -> object:
            transactions["readings"].append(conn.get_transaction())
            return write_readings(conn, meter, readings(meter, k * 10, 10))

        return work

    writer = Writer(services.engine, maintenance=refresh, interval=3600)
    gate = threading.Event()
    try:
        writer.post(lambda _conn: gate.wait(30))  # the writer is busy while the rest queues up
        futures = [writer.post(store(0)), writer.post(store(1))]
        flushing = threading.Thread(target=writer.flush)
        flushing.start()
        futures.append(writer.post(store(2)))
        gate.set()
        flushing.join(timeout=30)
        assert [len(f.result(timeout=30).stored) for f in futures] == [10, 10, 10]  # type: ignore[attr-defined]
    finally:
        gate.set()
        writer.close()
    assert transactions["readings"] and transactions["maintenance"]
    assert not {id(t) for t in transactions["readings"]} & {id(t) for t in transactions["maintenance"]}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_write_postgresql_aborts_to_break_a_deadlock_is_run_again_and_answered(services: Services) -> None:
    """Another session and the writer lock two meters' rows in opposite orders: PostgreSQL
    aborts the writer's transaction; the writer runs it again, and its caller gets the answer."""
    first, second = new_meter(services), new_meter(services)
    lock_row = text("SELECT id FROM devices WHERE id = :d FOR UPDATE")
    other_waits = threading.Event()
    attempts = []

    def other_session() -> None:
        with services.engine.begin() as conn:
            conn.execute(text("SET LOCAL deadlock_timeout = '1h'"))  # the writer's side finds the deadlock
            conn.execute(lock_row, {"d": second})
            other_waits.set()
            conn.execute(lock_row, {"d": first})

    def work(conn: Connection) -> object:
        attempts.append(1)
        if len(attempts) == 1:
            conn.execute(lock_row, {"d": first})
            threading.Thread(target=other_session).start()
            other_waits.wait(10)
            time.sleep(0.2)  # the other session now waits for the first meter's row
            conn.execute(lock_row, {"d": second})  # ... and this waits for the second's: a circle
        return write_readings(conn, first, readings(first, 0, 10))

    retries = services.writer.retries
    written = services.writer.run(work)
    assert len(written.stored) == 10
    assert (len(attempts), services.writer.retries - retries) == (2, 1)
    assert stored(services, first) == 10
